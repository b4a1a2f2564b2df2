"""Import a MOMENT (``momentfm``) checkpoint into ``models.moment``.

Input, one of:

* a ``MOMENTPipeline.save_pretrained`` directory (the layout of
  ``AutonLab/MOMENT-1-*``): ``config.json`` (momentfm's config with its
  ``t5_config``) and ``model.safetensors`` (or ``pytorch_model.bin``);
* a raw state dict file: ``.safetensors`` (read with numpy), or ``.pth`` /
  ``.pt`` / ``.bin`` (``torch.save`` output, read with torch, which is then
  needed). A dict wrapping the state dict under ``model_state_dict`` /
  ``state_dict`` / ``model`` and a DataParallel ``module.`` prefix are
  accepted. Sizes come from the weights; ``max_distance`` and ``norm_eps``,
  which no weight shows, take the flan-t5 values (128, 1e-6).

Output: ``load`` returns ``{"params": ...}``, the variables of a ``MOMENT``
(complete when the checkpoint has a classification head; otherwise only
``head`` is missing, which fine-tuning initialises anyway), so it serves as
the ``models.IMPORTERS`` entry ``moment``. ``spec_overrides`` gives the
``moment.create`` fields the checkpoint fixes (sizes, and the head
reduction when it has a classification head).

Key map (``<i>`` = block; torch ``Linear`` weights are transposed):

=================================================  ============================
momentfm                                           ours
=================================================  ============================
``patch_embedding.value_embedding.weight``         ``patch_embedding/
                                                   value_embedding/kernel``
``patch_embedding.mask_embedding``                 ``patch_embedding/
                                                   mask_embedding``
``encoder.block.0.layer.0.SelfAttention.``         ``encoder/
``relative_attention_bias.weight``                 relative_attention_bias``
``encoder.block.<i>.layer.0.layer_norm``           ``encoder/block_<i>/
                                                   attn_norm/scale``
``encoder.block.<i>.layer.0.SelfAttention.``       ``encoder/block_<i>/attn/
``{q,k,v,o}``                                      {q,k,v,o}``
``encoder.block.<i>.layer.1.layer_norm``           ``.../mlp_norm/scale``
``encoder.block.<i>.layer.1.DenseReluDense.``      ``.../mlp/{wi_0,wi_1,wo}``
``{wi_0,wi_1,wo}``
``encoder.final_layer_norm``                       ``encoder/final_norm/scale``
``head.linear`` (classification head)              ``head``
=================================================  ============================

Every key must be consumed (a partial load is an error naming the keys),
except these, reported in ``ignored``: ``encoder.embed_tokens.weight`` (T5's
token table; MOMENT feeds patch embeddings instead), the fixed
``patch_embedding.position_embedding.pe`` (checked against our table), and
a ``head.linear`` that is not a classification head with the requested
class count (the pretraining checkpoints carry the reconstruction head
``Linear(d -> patch_len)``). A head counts as a classification head when
the config's task is ``classification``; without a config, when it does not
have the reconstruction head's shape. Only momentfm's defaults are
supported: RevIN without affine, no value-embedding bias, sinusoidal
positions, stride = patch length, a gated-GELU flan-t5 encoder.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Any, Mapping

from absl import logging
import numpy as np

from egoimu_jax.models import layers
from egoimu_jax.models import torch_convert as tc

CONFIG_FILE = "config.json"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
PE_KEY = "patch_embedding.position_embedding.pe"
TOKEN_TABLE_KEY = "encoder.embed_tokens.weight"
HEAD_PREFIX = "head.linear"
_WRAPPERS = ("model_state_dict", "state_dict", "model")
_ATTN = "encoder.block.{i}.layer.0.SelfAttention"
_FF = "encoder.block.{i}.layer.1.DenseReluDense"


@dataclasses.dataclass(frozen=True)
class MomentWeights:
  params: dict[str, Any]          # our layout; "head" only if imported
  spec_overrides: dict[str, Any]  # moment.create fields the weights fix
  ignored: tuple[str, ...]        # checkpoint keys not imported


def read_checkpoint(path: str) -> tuple[dict[str, Any] | None,
                                        dict[str, np.ndarray]]:
  """``(config or None, state_dict)`` of a directory or a raw file."""
  if os.path.isdir(path):
    config_path = os.path.join(path, CONFIG_FILE)
    if not os.path.isfile(config_path):
      raise FileNotFoundError(f"{path}: no {CONFIG_FILE}; expected a MOMENT "
                              "save_pretrained directory or a state dict file")
    with open(config_path) as f:
      config = json.load(f)
    for name in WEIGHT_FILES:
      if os.path.isfile(os.path.join(path, name)):
        return config, _read_file(os.path.join(path, name))
    raise FileNotFoundError(f"{path}: none of {list(WEIGHT_FILES)}")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"MOMENT checkpoint {path!r} does not exist")
  return None, _read_file(path)


def _read_file(path: str) -> dict[str, np.ndarray]:
  if path.endswith(".safetensors"):
    return _unwrap(tc.read_safetensors(path), path)
  state = tc.torch_load(path)
  return _unwrap({k: v for k, v in state.items()}, path)


def _unwrap(state: Mapping[str, Any], source: str) -> dict[str, Any]:
  """The state dict inside a training checkpoint dict, without ``module.``."""
  for key in _WRAPPERS:
    if isinstance(state.get(key), Mapping):
      state = state[key]
      break
  if not state or not all(isinstance(k, str) for k in state):
    raise ValueError(f"{source}: not a state dict")
  if all(k.startswith("module.") for k in state):
    state = {k[len("module."):]: v for k, v in state.items()}
  return dict(state)


def _task(config: Mapping[str, Any] | None) -> str | None:
  if config is None:
    return None
  kwargs = config.get("model_kwargs") or {}
  return kwargs.get("task_name", config.get("task_name"))


def _check_config(config: Mapping[str, Any] | None, source: str) -> None:
  if config is None:
    return
  t5 = config.get("t5_config") or {}
  problems = []
  want = dict(transformer_type="encoder_only", revin_affine=False,
              value_embedding_bias=False, add_positional_embedding=True)
  problems += [f"{k}={config[k]!r} (only {v!r})" for k, v in want.items()
               if k in config and config[k] != v]
  if config.get("patch_stride_len", config.get("patch_len")) != config.get(
      "patch_len"):
    problems.append(f"patch_stride_len={config['patch_stride_len']} != "
                    f"patch_len={config['patch_len']}")
  if t5.get("feed_forward_proj", "gated-gelu") != "gated-gelu":
    problems.append(f"t5_config.feed_forward_proj="
                    f"{t5['feed_forward_proj']!r} (only 'gated-gelu')")
  if t5.get("dense_act_fn", "gelu_new") != "gelu_new":
    problems.append(f"t5_config.dense_act_fn={t5['dense_act_fn']!r} (only "
                    "'gelu_new')")
  if problems:
    raise ValueError(f"{source}: unsupported MOMENT config: " +
                     "; ".join(problems))


def _shapes(sd: Mapping[str, np.ndarray], config: Mapping[str, Any] | None,
            source: str) -> dict[str, Any]:
  """``moment.create`` size fields from the weights, checked against the
  config's ``t5_config`` / ``patch_len`` where present."""
  emb = "patch_embedding.value_embedding.weight"
  bias = _ATTN.format(i=0) + ".relative_attention_bias.weight"
  for key in (emb, bias, _ATTN.format(i=0) + ".q.weight",
              _FF.format(i=0) + ".wi_0.weight"):
    if key not in sd:
      raise KeyError(f"{source}: missing key {key!r}")
  width, patch_len = sd[emb].shape
  num_buckets, num_heads = sd[bias].shape
  blocks = {int(m.group(1)) for k in sd
            if (m := re.match(r"encoder\.block\.(\d+)\.", k))}
  t5 = (config or {}).get("t5_config") or {}
  spec = dict(
      patch_len=int(patch_len), width=int(width),
      depth=max(blocks) + 1, num_heads=int(num_heads),
      head_dim=int(sd[_ATTN.format(i=0) + ".q.weight"].shape[0]) // num_heads,
      mlp_dim=int(sd[_FF.format(i=0) + ".wi_0.weight"].shape[0]),
      num_buckets=int(num_buckets),
      max_distance=int(t5.get("relative_attention_max_distance", 128)),
      norm_eps=float(t5.get("layer_norm_epsilon", 1e-6)))
  said = {"patch_len": ("patch_len", (config or {}).get("patch_len"))}
  for field, key in (("width", "d_model"), ("depth", "num_layers"),
                     ("num_heads", "num_heads"), ("head_dim", "d_kv"),
                     ("mlp_dim", "d_ff"),
                     ("num_buckets", "relative_attention_num_buckets")):
    said[field] = (f"t5_config.{key}", t5.get(key))
  bad = [f"{key}={v}, weights {spec[field]}"
         for field, (key, v) in said.items()
         if v is not None and int(v) != spec[field]]
  if bad:
    raise ValueError(f"{source}: weights do not match config.json: " +
                     "; ".join(bad))
  return spec


def _rms(sd: tc.StateDict, prefix: str) -> dict[str, np.ndarray]:
  return {"scale": sd[f"{prefix}.weight"]}


def _head(sd: tc.StateDict, spec: Mapping[str, Any], task: str | None,
          num_classes: int | None, source: str
          ) -> tuple[dict[str, Any] | None, str | None, list[str]]:
  """``(head params or None, head_reduction or None, ignored keys)``."""
  keys = [k for k in sd if k.startswith(HEAD_PREFIX + ".")]
  if not keys:
    return None, None, []
  classes, features = sd[f"{HEAD_PREFIX}.weight"].shape
  d = spec["width"]
  pretrain_shape = (classes, features) == (spec["patch_len"], d)
  why = None
  if task not in (None, "classification"):
    why = f"a {task!r} head"
  elif task is None and pretrain_shape:
    why = "the reconstruction head's shape"
  elif features % d:
    why = f"{features} inputs, not a multiple of d_model {d}"
  elif num_classes is not None and classes != num_classes:
    why = f"{classes} classes, model {num_classes}"
  if why:
    sd.mark_used(*keys)
    logging.info("%s: head.linear not imported (%s)", source, why)
    return None, None, keys
  return (tc.linear(sd, HEAD_PREFIX),
          "mean" if features == d else "concat", [])


def convert(state_dict: Mapping[str, Any],
            config: Mapping[str, Any] | None = None,
            num_classes: int | None = None,
            source: str = "MOMENT checkpoint") -> MomentWeights:
  """Maps a momentfm ``MOMENT`` state dict onto our parameter tree.

  Args:
    state_dict: ``MOMENT`` / ``MOMENTPipeline`` weights (arrays or tensors).
    config: momentfm's config (config.json contents), if known.
    num_classes: the label count the model will have; a classification head
      with another count is left out (reported in ``ignored``). None
      imports any classification head.
    source: name used in error messages.
  """
  _check_config(config, source)
  sd = tc.StateDict(state_dict, source)
  spec = _shapes(sd, config, source)
  ignored = []
  if TOKEN_TABLE_KEY in sd:
    sd.mark_used(TOKEN_TABLE_KEY)
    ignored.append(TOKEN_TABLE_KEY)
  if PE_KEY in sd:
    table = np.asarray(sd[PE_KEY], np.float32).reshape(-1, spec["width"])
    ours = layers.sincos_1d(table.shape[0], spec["width"])
    # float32 angles drift ~3e-4 rad by position 5000.
    if not np.allclose(table, ours, atol=1e-3):
      raise ValueError(f"{source}: {PE_KEY} is not MOMENT's sinusoid table")
    ignored.append(PE_KEY)

  encoder: dict[str, Any] = {
      "relative_attention_bias": sd[
          _ATTN.format(i=0) + ".relative_attention_bias.weight"]}
  for i in range(spec["depth"]):
    attn, ff = _ATTN.format(i=i), _FF.format(i=i)
    encoder[f"block_{i}"] = {
        "attn_norm": _rms(sd, f"encoder.block.{i}.layer.0.layer_norm"),
        "attn": {n: tc.linear(sd, f"{attn}.{n}") for n in "qkvo"},
        "mlp_norm": _rms(sd, f"encoder.block.{i}.layer.1.layer_norm"),
        "mlp": {n: tc.linear(sd, f"{ff}.{n}")
                for n in ("wi_0", "wi_1", "wo")},
    }
  encoder["final_norm"] = _rms(sd, "encoder.final_layer_norm")
  params: dict[str, Any] = {
      "patch_embedding": {
          "value_embedding": tc.linear(
              sd, "patch_embedding.value_embedding"),
          "mask_embedding": sd["patch_embedding.mask_embedding"]},
      "encoder": encoder,
  }
  head, reduction, head_ignored = _head(sd, spec, _task(config), num_classes,
                                        source)
  if head is not None:
    params["head"] = head
    spec["head_reduction"] = reduction
  sd.assert_all_used()
  return MomentWeights(_as_float32(params), spec,
                       tuple(sorted(ignored + head_ignored)))


def spec_overrides(path: str) -> dict[str, Any]:
  """``moment.create`` fields a checkpoint (directory or file) fixes."""
  config, state = read_checkpoint(path)
  return convert(state, config, source=path).spec_overrides


def _as_float32(tree: Mapping[str, Any]) -> dict[str, Any]:
  return {k: _as_float32(v) if isinstance(v, Mapping) else
          np.asarray(v, np.float32) for k, v in tree.items()}


def load(path: str, num_classes: int | None = None) -> dict[str, Any]:
  """``{"params": ...}`` of a ``MOMENT`` from a checkpoint (see module doc).

  ``num_classes``: see ``convert``. Build the model with
  ``moment.create(..., **spec_overrides(path))`` (``variant="small"`` is
  MOMENT-1-small).
  """
  config, state = read_checkpoint(path)
  weights = convert(state, config, num_classes=num_classes, source=path)
  logging.info("MOMENT %s: %d blocks, width %d, head %s; ignored %s", path,
               weights.spec_overrides["depth"],
               weights.spec_overrides["width"],
               "imported" if "head" in weights.params else "absent",
               list(weights.ignored))
  return {"params": weights.params}
