"""Import a transformers ``TimeSformer`` checkpoint into ``models.timesformer``.

Input: a directory written by ``save_pretrained`` (``TimesformerModel`` or
``TimesformerForVideoClassification``) holding ``config.json`` and
``model.safetensors`` (or a sharded ``model.safetensors.index.json``, or
``pytorch_model.bin``, which needs torch), read by ``hf_checkpoint``:
safetensors with numpy (bf16 tensors through safetensors' flax API); nothing
is downloaded.

Output: ``load`` returns ``{"params": ...}``, the variables of a
``TimeSformer`` (complete when the checkpoint has a classifier; otherwise
only ``head`` is missing, which fine-tuning initialises anyway), so it can
serve as a ``models.IMPORTERS`` entry. ``spec_overrides`` gives the
``timesformer.create`` fields a checkpoint's config.json fixes (geometry and
sizes; not ``num_classes``, which the task chooses); ``convert`` returns
both, plus the checkpoint keys left out.

Key map (``<i>`` = block):

==============================================  ==============================
transformers                                    ours
==============================================  ==============================
``embeddings.patch_embeddings.projection``      ``patch_embed/proj`` (Conv2d
                                                ``[d, 3, p, p]`` -> ``[p, p, 3,
                                                d]``)
``embeddings.cls_token``                        ``cls_token``
``embeddings.position_embeddings``              ``pos_embed``
``embeddings.time_embeddings``                  ``time_embed``
``encoder.layer.<i>.temporal_layernorm``        ``encoder/block_<i>/
                                                temporal_norm``
``...temporal_attention.attention.qkv``         ``.../temporal_attn/{query,
                                                key,value}`` (rows split in
                                                thirds, q first)
``...temporal_attention.output.dense``          ``.../temporal_attn/out``
``...temporal_dense``                           ``.../temporal_dense``
``...layernorm_before``                         ``.../norm1``
``...attention.attention.qkv``                  ``.../attn/{query,key,value}``
``...attention.output.dense``                   ``.../attn/out``
``...layernorm_after``                          ``.../norm2``
``...intermediate.dense`` / ``...output.dense``  ``.../mlp/fc1`` / ``fc2``
``layernorm``                                   ``norm``
``classifier``                                  ``head``
==============================================  ==============================

``TimesformerForVideoClassification`` prefixes everything but ``classifier``
with ``timesformer.``. Every checkpoint key must be consumed (a partial load
is an error naming the keys) except a ``classifier`` whose label count
differs from the ``num_classes`` asked for, which is reported as ignored.
Only ``attention_type="divided_space_time"`` with exact GELU and RGB input
is supported.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from absl import logging
import numpy as np

from egoimu_jax.models import torch_convert as tc
from egoimu_jax.models.convert import hf_checkpoint

MODEL_TYPE = "timesformer"
PREFIX = "timesformer."


@dataclasses.dataclass(frozen=True)
class TimesformerWeights:
  params: dict[str, Any]        # our layout; "head" only from a classifier
  spec_overrides: dict[str, Any]  # timesformer.create fields from config.json
  ignored: tuple[str, ...]      # checkpoint keys not imported


def read_config(ckpt_dir: str) -> dict[str, Any]:
  """config.json of a TimeSformer ``save_pretrained`` directory."""
  return hf_checkpoint.read_config(ckpt_dir, MODEL_TYPE)


def read_checkpoint(ckpt_dir: str) -> tuple[dict[str, Any],
                                            dict[str, np.ndarray]]:
  """``(config, state_dict)`` of a TimeSformer ``save_pretrained`` directory."""
  return hf_checkpoint.read(ckpt_dir, MODEL_TYPE)


def _square(value: Any, name: str) -> int:
  if isinstance(value, (list, tuple)):
    if len(set(value)) != 1:
      raise ValueError(f"non-square TimeSformer {name}={value} is not "
                       "supported")
    value = value[0]
  return int(value)


def spec_overrides(config: Mapping[str, Any] | str) -> dict[str, Any]:
  """``timesformer.create`` fields that a checkpoint's config.json fixes.

  ``config`` is the config.json contents or the checkpoint directory.
  """
  c = read_config(config) if isinstance(config, str) else config
  return dict(image_size=_square(c.get("image_size", 224), "image_size"),
              patch_size=_square(c.get("patch_size", 16), "patch_size"),
              num_frames=int(c.get("num_frames", 8)),
              width=int(c.get("hidden_size", 768)),
              depth=int(c.get("num_hidden_layers", 12)),
              num_heads=int(c.get("num_attention_heads", 12)),
              mlp_dim=int(c.get("intermediate_size", 3072)),
              qkv_bias=bool(c.get("qkv_bias", True)),
              norm_eps=float(c.get("layer_norm_eps", 1e-6)))


def _check_config(config: Mapping[str, Any], source: str) -> None:
  problems = []
  if config.get("attention_type", "divided_space_time") != (
      "divided_space_time"):
    problems.append(f"attention_type={config['attention_type']!r} (only "
                    "'divided_space_time')")
  if config.get("hidden_act", "gelu") != "gelu":
    problems.append(f"hidden_act={config['hidden_act']!r} (only exact "
                    "'gelu')")
  if config.get("num_channels", 3) != 3:
    problems.append(f"num_channels={config['num_channels']} (only RGB)")
  if problems:
    raise ValueError(f"{source}: unsupported TimeSformer config: " +
                     "; ".join(problems))


def _attention(sd: tc.StateDict, prefix: str, width: int) -> dict[str, Any]:
  """``TimeSformerAttention`` (fused ``qkv`` + ``output.dense``) ->
  ``layers.Attention``."""
  qkv = tc.linear(sd, f"{prefix}.attention.qkv")
  kernel = qkv["kernel"]  # [d, 3d]: columns (q | k | v), heads inside each
  if kernel.shape != (width, 3 * width):
    raise ValueError(f"{sd.source}: {prefix}.attention.qkv.weight has shape "
                     f"{kernel.shape[::-1]}, expected {(3 * width, width)}")
  out = {}
  for j, name in enumerate(("query", "key", "value")):
    out[name] = {"kernel": kernel[:, j * width:(j + 1) * width]}
    if "bias" in qkv:
      out[name]["bias"] = qkv["bias"][j * width:(j + 1) * width]
  out["out"] = tc.linear(sd, f"{prefix}.output.dense")
  return out


def convert(state_dict: Mapping[str, Any], config: Mapping[str, Any],
            num_classes: int | None = None,
            source: str = "TimeSformer checkpoint") -> TimesformerWeights:
  """Maps a transformers TimeSformer state dict onto our parameter tree.

  Args:
    state_dict: ``TimesformerModel`` or ``TimesformerForVideoClassification``
      weights (arrays or tensors).
    config: the checkpoint's config (config.json contents).
    num_classes: the label count the model will have. A ``classifier`` with
      another count is reported in ``ignored`` instead of becoming ``head``;
      None imports any classifier.
    source: name used in error messages.

  Returns:
    The parameter tree, the config's ``spec_overrides`` and the keys left
    out.
  """
  _check_config(config, source)
  spec = spec_overrides(config)
  d = spec["width"]
  wrapped = any(k.startswith(PREFIX) for k in state_dict)
  renamed = {(k[len(PREFIX):] if wrapped and k.startswith(PREFIX) else k): v
             for k, v in state_dict.items()}
  sd = tc.StateDict(renamed, source)
  ignored: list[str] = []

  params: dict[str, Any] = {
      "patch_embed": {"proj": tc.conv(
          sd, "embeddings.patch_embeddings.projection")},
      "cls_token": sd["embeddings.cls_token"],
      "pos_embed": sd["embeddings.position_embeddings"],
      "time_embed": sd["embeddings.time_embeddings"],
  }
  encoder = {}
  for i in range(spec["depth"]):
    p = f"encoder.layer.{i}"
    encoder[f"block_{i}"] = {
        "temporal_norm": tc.layer_norm(sd, f"{p}.temporal_layernorm"),
        "temporal_attn": _attention(sd, f"{p}.temporal_attention", d),
        "temporal_dense": tc.linear(sd, f"{p}.temporal_dense"),
        "norm1": tc.layer_norm(sd, f"{p}.layernorm_before"),
        "attn": _attention(sd, f"{p}.attention", d),
        "norm2": tc.layer_norm(sd, f"{p}.layernorm_after"),
        "mlp": {"fc1": tc.linear(sd, f"{p}.intermediate.dense"),
                "fc2": tc.linear(sd, f"{p}.output.dense")},
    }
  params["encoder"] = encoder
  params["norm"] = tc.layer_norm(sd, "layernorm")

  if "classifier.weight" in sd:
    labels = sd["classifier.weight"].shape[0]
    if num_classes is None or num_classes == labels:
      params["head"] = tc.linear(sd, "classifier")
    else:
      ignored += [k for k in sd if k.startswith("classifier.")]
      sd.mark_used(*ignored)
      logging.info("%s: classifier has %d labels, model %d: head not "
                   "imported", source, labels, num_classes)
  sd.assert_all_used()
  params = _as_float32(params)
  _check_shapes(params, spec, source)
  return TimesformerWeights(params, spec, tuple(sorted(ignored)))


def _check_shapes(params: Mapping[str, Any], spec: Mapping[str, Any],
                  source: str) -> None:
  """The embedding tables must match the config's geometry."""
  d, n = spec["width"], (spec["image_size"] // spec["patch_size"]) ** 2
  want = {"cls_token": (1, 1, d), "pos_embed": (1, 1 + n, d),
          "time_embed": (1, spec["num_frames"], d)}
  bad = [f"{k}: {params[k].shape} != {v}" for k, v in want.items()
         if params[k].shape != v]
  if bad:
    raise ValueError(f"{source}: weights do not match config.json: " +
                     "; ".join(bad))


def _as_float32(tree: Mapping[str, Any]) -> dict[str, Any]:
  return {k: _as_float32(v) if isinstance(v, Mapping) else
          np.asarray(v, np.float32) for k, v in tree.items()}


def load(ckpt_dir: str, num_classes: int | None = None) -> dict[str, Any]:
  """``{"params": ...}`` of a ``TimeSformer`` from a checkpoint directory.

  ``num_classes``: see ``convert``. Build the model with
  ``timesformer.create(..., **spec_overrides(ckpt_dir))``.
  """
  config, state = read_checkpoint(ckpt_dir)
  weights = convert(state, config, num_classes=num_classes, source=ckpt_dir)
  logging.info("TimeSformer %s: %d blocks, head %s; ignored %s", ckpt_dir,
               weights.spec_overrides["depth"],
               "imported" if "head" in weights.params else "absent",
               list(weights.ignored))
  return {"params": weights.params}
