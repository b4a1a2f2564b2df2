"""transformers CLIP image-tower weights -> ``models.clip_vision``.

Reads a ``save_pretrained`` directory of ``CLIPVisionModelWithProjection``
(``model_type`` ``clip_vision_model``) or of the whole ``CLIPModel``
(``clip``, e.g. ``openai/clip-vit-base-patch32``; its text tower is left
out) with ``hf_checkpoint`` (numpy; no torch for safetensors). The
``models.IMPORTERS`` entry ``clip``; build the tower with
``clip_vision.create(..., **spec_overrides(config))``.

Key map (``vision_model.`` prefix): ``embeddings.patch_embedding`` ->
``patch_embed``, ``embeddings.class_embedding`` -> ``cls_token``,
``embeddings.position_embedding`` -> ``pos_embed``, ``pre_layrnorm`` ->
``pre_norm``, ``encoder.layers.{i}.{layer_norm1, self_attn.{q,k,v,out}_proj,
layer_norm2, mlp.fc1, mlp.fc2}`` -> ``encoder/block_{i}/{norm1,
attn/{query,key,value,out}, norm2, mlp/fc1, mlp/fc2}``, ``post_layernorm``
-> ``post_norm``; ``visual_projection`` -> ``projection``.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

from absl import logging
import numpy as np

from egoimu_jax.models import torch_convert as tc
from egoimu_jax.models.convert import hf_checkpoint

MODEL_TYPES = ("clip_vision_model", "clip")
VISION = "vision_model."
# Keys that are buffers, not weights.
_BUFFERS = ("vision_model.embeddings.position_ids",)


def vision_config(config: Mapping[str, Any]) -> dict[str, Any]:
  """The vision tower's config (``vision_config`` of a ``CLIPModel``)."""
  if config.get("model_type") == "clip":
    vision = dict(config.get("vision_config") or {})
    vision.setdefault("projection_dim", config.get("projection_dim", 512))
    return vision
  return dict(config)


def spec_overrides(config: Mapping[str, Any]) -> dict[str, Any]:
  """``clip_vision.create`` fields the checkpoint fixes."""
  v = vision_config(config)
  if v.get("hidden_act", "quick_gelu") != "quick_gelu":
    raise ValueError(f"CLIP hidden_act={v['hidden_act']!r}: only quick_gelu")
  if v.get("num_channels", 3) != 3:
    raise ValueError(f"CLIP num_channels={v['num_channels']}: only RGB")
  return dict(image_size=int(v.get("image_size", 224)),
              patch_size=int(v.get("patch_size", 32)),
              width=int(v.get("hidden_size", 768)),
              depth=int(v.get("num_hidden_layers", 12)),
              num_heads=int(v.get("num_attention_heads", 12)),
              mlp_dim=int(v.get("intermediate_size", 3072)),
              projection_dim=int(v.get("projection_dim", 512)),
              norm_eps=float(v.get("layer_norm_eps", 1e-5)))


def convert(state_dict: Mapping[str, Any], config: Mapping[str, Any],
            source: str = "CLIP checkpoint") -> dict[str, Any]:
  """The image tower's parameter tree (float32 numpy) from a state dict."""
  spec = spec_overrides(config)
  wanted = {k: v for k, v in state_dict.items()
            if k.startswith(VISION) or k.startswith("visual_projection.")}
  sd = tc.StateDict(wanted, source)
  sd.mark_used(*[k for k in _BUFFERS if k in wanted])
  e = f"{VISION}embeddings"
  patch = tc.conv(sd, f"{e}.patch_embedding")
  params: dict[str, Any] = {
      "patch_embed": patch,
      "cls_token": sd[f"{e}.class_embedding"],
      "pos_embed": sd[f"{e}.position_embedding.weight"],
      "pre_norm": tc.layer_norm(sd, f"{VISION}pre_layrnorm"),
      "post_norm": tc.layer_norm(sd, f"{VISION}post_layernorm"),
      "projection": tc.linear(sd, "visual_projection"),
  }
  encoder = {}
  for i in range(spec["depth"]):
    p = f"{VISION}encoder.layers.{i}"
    encoder[f"block_{i}"] = {
        "norm1": tc.layer_norm(sd, f"{p}.layer_norm1"),
        "attn": {name: tc.linear(sd, f"{p}.self_attn.{proj}_proj")
                 for name, proj in (("query", "q"), ("key", "k"),
                                    ("value", "v"), ("out", "out"))},
        "norm2": tc.layer_norm(sd, f"{p}.layer_norm2"),
        "mlp": {"fc1": tc.linear(sd, f"{p}.mlp.fc1"),
                "fc2": tc.linear(sd, f"{p}.mlp.fc2")},
    }
  params["encoder"] = encoder
  sd.assert_all_used()
  n = (spec["image_size"] // spec["patch_size"]) ** 2
  if params["pos_embed"].shape != (1 + n, spec["width"]):
    raise ValueError(f"{source}: position_embedding has shape "
                     f"{params['pos_embed'].shape}, config gives "
                     f"{(1 + n, spec['width'])}")
  return _as_float32(params)


def _as_float32(tree: Mapping[str, Any]) -> dict[str, Any]:
  return {k: _as_float32(v) if isinstance(v, Mapping) else
          np.asarray(v, np.float32) for k, v in tree.items()}


def read_checkpoint(ckpt_dir: str) -> tuple[dict[str, Any], dict[str, Any]]:
  """``(config, state_dict)`` of a CLIP vision or CLIP directory."""
  path = os.path.join(ckpt_dir, "config.json")
  if not os.path.isfile(path):  # hf_checkpoint's error: no config.json
    hf_checkpoint.read_config(ckpt_dir, MODEL_TYPES[0])
  with open(path) as f:
    model_type = json.load(f).get("model_type", "")
  if model_type not in MODEL_TYPES:
    raise ValueError(f"{path}: model_type {model_type!r}; the clip importer "
                     f"reads {MODEL_TYPES}")
  return hf_checkpoint.read(ckpt_dir, model_type)


def load(ckpt_dir: str) -> dict[str, Any]:
  """``{"params": ...}`` of the image tower (no ``head``: never trained
  here; importers leave the head fresh)."""
  config, state = read_checkpoint(ckpt_dir)
  params = convert(state, config, source=ckpt_dir)
  logging.info("CLIP image tower %s: %d blocks, embedding %d", ckpt_dir,
               len(params["encoder"]), params["projection"]["kernel"].shape[1])
  return {"params": params}
