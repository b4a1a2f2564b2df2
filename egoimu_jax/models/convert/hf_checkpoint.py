"""Reads a transformers ``save_pretrained`` directory with numpy.

The directory holds ``config.json`` and the weights as ``model.safetensors``,
a sharded ``model.safetensors.index.json`` or ``pytorch_model.bin``. Safetensors
are read with safetensors' numpy API, bf16 tensors (numpy has no bfloat16)
through its flax API as float32, so torch is needed only for ``.bin`` files,
and the error says so when it is missing. Nothing is downloaded.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from egoimu_jax.models import torch_convert as tc


def read_config(ckpt_dir: str, model_type: str) -> dict[str, Any]:
  """config.json of the directory; its ``model_type`` must be ``model_type``."""
  config_path = os.path.join(ckpt_dir, "config.json")
  if not os.path.isfile(config_path):
    raise FileNotFoundError(f"{config_path}: no config.json; expected a "
                            "transformers save_pretrained directory")
  with open(config_path) as f:
    config = json.load(f)
  if config.get("model_type") != model_type:
    raise ValueError(f"{config_path}: model_type is "
                     f"{config.get('model_type')!r}, not {model_type!r}")
  return config


def read(ckpt_dir: str, model_type: str) -> tuple[dict[str, Any],
                                                  dict[str, np.ndarray]]:
  """``(config, state_dict)`` of the directory, tensors as numpy arrays."""
  config = read_config(ckpt_dir, model_type)
  single = os.path.join(ckpt_dir, "model.safetensors")
  index = os.path.join(ckpt_dir, "model.safetensors.index.json")
  binary = os.path.join(ckpt_dir, "pytorch_model.bin")
  if os.path.isfile(single):
    return config, tc.read_safetensors(single)
  if os.path.isfile(index):
    with open(index) as f:
      shards = sorted(set(json.load(f)["weight_map"].values()))
    state: dict[str, np.ndarray] = {}
    for shard in shards:
      state.update(tc.read_safetensors(os.path.join(ckpt_dir, shard)))
    return config, state
  if os.path.isfile(binary):
    try:
      import torch  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise ImportError(
          f"{binary}: reading .bin checkpoints needs torch, which is not "
          "installed; convert the checkpoint to safetensors (transformers: "
          "save_pretrained(..., safe_serialization=True)) or install "
          "torch") from e
    state = torch.load(binary, map_location="cpu", weights_only=True)
    return config, {k: tc.to_numpy(v) for k, v in state.items()}
  raise FileNotFoundError(f"{ckpt_dir}: no model.safetensors, "
                          "model.safetensors.index.json or pytorch_model.bin")

