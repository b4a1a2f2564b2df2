"""Test helper: transformers ``save_pretrained`` directories and reference
models, built offline."""

import json
import os
import re
import sys

import numpy as np
import pytest

import model_testlib

# A transformers VideoMAE config of the tiny geometry (4 x 32^2, patch 8,
# tubelet 2).
VIDEOMAE_SMALL = dict(
    model_type="videomae", image_size=32, patch_size=8, num_frames=4,
    tubelet_size=2, hidden_size=48, num_hidden_layers=2,
    num_attention_heads=4, intermediate_size=192, hidden_act="gelu",
    num_channels=3, layer_norm_eps=1e-12, qv_bias=True, use_mean_pooling=True)


def videomae_state_dict(config, rng, prefix="", legacy_bias=True):
  """Random float32 weights under transformers' VideoMAE encoder names and
  shapes (numpy), each key ``prefix`` + name, drawn from ``rng`` in key
  order. ``legacy_bias``: ``q_bias`` / ``v_bias`` (else ``query.bias`` /
  ``value.bias``)."""
  d, m = config["hidden_size"], config["intermediate_size"]
  t, p = config["tubelet_size"], config["patch_size"]
  r = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
  sd = {"embeddings.patch_embeddings.projection.weight": r(d, 3, t, p, p),
        "embeddings.patch_embeddings.projection.bias": r(d)}
  for i in range(config["num_hidden_layers"]):
    pre = f"encoder.layer.{i}"
    a = f"{pre}.attention.attention"
    for name in ("query", "key", "value"):
      sd[f"{a}.{name}.weight"] = r(d, d)
    bias = ("q_bias", "v_bias") if legacy_bias else ("query.bias",
                                                      "value.bias")
    sd[f"{a}.{bias[0]}"], sd[f"{a}.{bias[1]}"] = r(d), r(d)
    for name, shape in (("attention.output.dense", (d, d)),
                        ("intermediate.dense", (m, d)),
                        ("output.dense", (d, m))):
      sd[f"{pre}.{name}.weight"], sd[f"{pre}.{name}.bias"] = (
          r(*shape), r(shape[0]))
    for name in ("layernorm_before", "layernorm_after"):
      sd[f"{pre}.{name}.weight"], sd[f"{pre}.{name}.bias"] = r(d), r(d)
  return {prefix + k: v for k, v in sd.items()}


def write_config(path, config) -> str:
  """``config`` as ``path/config.json`` (``path`` is created)."""
  os.makedirs(path, exist_ok=True)
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump(config, f)
  return str(path)


def write_checkpoint(path, config, state_dict) -> str:
  """A ``save_pretrained``-style directory: ``config.json`` and
  ``model.safetensors`` of the numpy ``state_dict``."""
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  write_config(path, config)
  save_file(state_dict, os.path.join(path, "model.safetensors"))
  return str(path)


def assert_bin_needs_torch(read_checkpoint, path, config, monkeypatch):
  """``read_checkpoint`` of a directory with ``config`` and an empty
  ``pytorch_model.bin``, torch made unimportable for the test
  (``monkeypatch``), says that it needs torch."""
  write_config(path, config)
  with open(os.path.join(path, "pytorch_model.bin"), "wb"):
    pass
  monkeypatch.setitem(sys.modules, "torch", None)
  with pytest.raises(ImportError, match="needs torch"):
    read_checkpoint(str(path))


def assert_rejects_missing_and_extra(load, path, config, sd, missing, extra):
  """``load`` refuses ``config``'s checkpoint of ``sd`` without the weight
  ``missing`` (a KeyError naming it) and with one weight more, ``extra``
  (a ValueError: not converted), each written below ``path``."""
  model_testlib.assert_missing_weight(
      lambda d: load(write_checkpoint(os.path.join(path, "missing"), config,
                                      d)), sd, missing, re.escape(missing))
  more = dict(sd, **{extra: np.zeros(3, np.float32)})
  with pytest.raises(ValueError, match=f"not converted.*{re.escape(extra)}"):
    load(write_checkpoint(os.path.join(path, "extra"), config, more))


def reference(model_cls, config_cls, config, seed=0, **overrides):
  """A transformers ``model_cls`` of ``config`` (config.json contents plus
  ``overrides``) in eval mode, every parameter drawn from N(0, 0.2) after
  ``torch.manual_seed(seed)``: non-trivial norms, biases and embeddings too.
  Nothing is downloaded."""
  import torch  # pylint: disable=g-import-not-at-top
  os.environ.setdefault("HF_HUB_OFFLINE", "1")
  torch.manual_seed(seed)
  cfg = config_cls(**{k: v for k, v in config.items() if k != "model_type"},
                   **overrides)
  model = model_cls(cfg).eval()
  with torch.no_grad():
    for p in model.parameters():
      p.normal_(0.0, 0.2)
  return model
