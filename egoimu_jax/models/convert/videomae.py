"""Import a transformers ``VideoMAE`` encoder into our ViT video tower.

Input: a directory written by ``save_pretrained`` (``VideoMAEModel``,
``VideoMAEForPreTraining`` or ``VideoMAEForVideoClassification``) holding
``config.json`` and ``model.safetensors`` (or a sharded
``model.safetensors.index.json``, or ``pytorch_model.bin``), read by
``hf_checkpoint``: safetensors with numpy (bf16 through safetensors' flax
API), so torch is not needed; ``.bin`` files need torch and say so if it is
missing. Nothing is ever downloaded.

Output: ``{"patch_embed": {"proj": {kernel, bias}}, "encoder":
{"block_<i>": ...}}`` in ``layers.PatchEmbed`` / ``layers.Encoder`` layout.
``load_into_evimae`` places it at ``video_tokens/patch_embed`` and
``video_encoder`` of an EVI-MAE parameter tree after checking every shape.

How VideoMAE's encoder maps onto ours, and what differs:

* Patch embedding: ``Conv3d`` weight ``[D, 3, t, p, p]`` -> conv kernel
  ``[t, p, p, 3, D]``. Inputs differ only in layout: transformers takes
  ``[b, T, 3, H, W]``, we take ``[b, T, H, W, 3]``; token order is the same
  (``t``-major).
* Position embeddings: both use the same fixed sinusoid table over the
  flattened token index (not a parameter; nothing to import).
* Attention biases: VideoMAE has query and value biases only (stored as
  ``q_bias``/``v_bias``, or ``query.bias``/``value.bias``); our attention
  has a key bias too, imported as zeros, which is exactly equivalent (a key
  bias shifts all logits of a query equally, and softmax cancels it).
* LayerNorm epsilon: transformers configs say ``1e-12``, the original
  VideoMAE code ``1e-6`` (our default). ``spec_overrides`` carries the
  checkpoint's value so a parity check can match it; the difference is
  below float32 resolution for unit-variance activations.
* Head: VideoMAE either mean-pools and applies ``fc_norm`` (classification
  checkpoints) or ends in ``layernorm`` (``use_mean_pooling=False``).
  EVI-MAE's video tower has no final norm (the unified block's
  ``norm_video`` follows it), so those weights are reported as ignored, as
  are the pretraining decoder, ``encoder_to_decoder``, ``mask_token`` and
  classifier.
* EVI-MAE additionally adds a learned modality embedding to the video tokens
  (``video_tokens/modality``); it has no VideoMAE counterpart and keeps its
  initialisation.

``load_classifier`` imports the same encoder into ``models.videomae``'s
``VideoMAEClassifier`` (``patch_embed`` and ``encoder`` at the top level),
plus, from classification checkpoints, ``fc_norm`` and ``classifier`` (as
``head``); ``classifier_overrides`` gives the model fields a checkpoint's
config describes.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, Mapping

from absl import logging
import flax
import numpy as np

from egoimu_jax.models import torch_convert as tc
from egoimu_jax.models.convert import hf_checkpoint

IGNORED_PREFIXES = ("decoder.", "encoder_to_decoder.", "mask_token",
                    "fc_norm.", "layernorm.", "classifier.",
                    "position_embeddings")


@dataclasses.dataclass(frozen=True)
class VideoMAEWeights:
  params: dict[str, Any]        # {"patch_embed": ..., "encoder": ...}
  config: dict[str, Any]        # the checkpoint's config.json
  ignored: tuple[str, ...]      # checkpoint keys with no counterpart here

  def spec_overrides(self) -> dict[str, Any]:
    """EVI-MAE spec fields that describe this video tower."""
    c = self.config
    return dict(width=c["hidden_size"], video_depth=c["num_hidden_layers"],
                video_heads=c["num_attention_heads"],
                mlp_ratio=c["intermediate_size"] / c["hidden_size"],
                video_patch=_square(c["patch_size"], "patch_size"),
                tubelet=c["tubelet_size"],
                image_size=_square(c["image_size"], "image_size"),
                num_frames=c["num_frames"],
                norm_eps=c.get("layer_norm_eps", 1e-12))


def _square(v, name):
  if isinstance(v, (list, tuple)):
    if len(set(v)) != 1:
      raise ValueError(f"non-square VideoMAE {name}={v} is not supported")
    return int(v[0])
  return int(v)


def read_checkpoint(ckpt_dir: str) -> tuple[dict[str, Any],
                                            dict[str, np.ndarray]]:
  """``(config, state_dict)`` of a ``save_pretrained`` directory."""
  return hf_checkpoint.read(ckpt_dir, "videomae")


def convert(state_dict: Mapping[str, Any], config: Mapping[str, Any],
            source: str = "VideoMAE checkpoint") -> VideoMAEWeights:
  """Maps a VideoMAE state dict onto ``{"patch_embed", "encoder"}``."""
  if config.get("hidden_act", "gelu") != "gelu":
    raise ValueError(f"{source}: hidden_act={config['hidden_act']!r}; only "
                     "exact 'gelu' is supported")
  if config.get("num_channels", 3) != 3:
    raise ValueError(f"{source}: num_channels={config['num_channels']}; the "
                     "video tower takes RGB")
  # Strip the wrapper prefix of VideoMAEFor* checkpoints.
  prefix = "videomae." if any(k.startswith("videomae.embeddings.")
                              for k in state_dict) else ""
  sd = tc.StateDict({k[len(prefix):]: v for k, v in state_dict.items()
                     if k.startswith(prefix)}, source)
  ignored = [k for k in state_dict if not k.startswith(prefix)]
  ignored += [k for k in sd if k.startswith(IGNORED_PREFIXES)]
  sd.mark_used(*ignored)

  params: dict[str, Any] = {
      "patch_embed": {"proj": tc.conv(
          sd, "embeddings.patch_embeddings.projection")}}
  encoder = {}
  for i in range(int(config["num_hidden_layers"])):
    p = f"encoder.layer.{i}"
    a = f"{p}.attention.attention"
    d = int(config["hidden_size"])
    attn = {}
    for name in ("query", "key", "value"):
      lin = tc.linear(sd, f"{a}.{name}")
      legacy = f"{a}.{name[0]}_bias"
      if "bias" not in lin:
        lin["bias"] = (tc.to_numpy(sd[legacy]) if legacy in sd else
                       np.zeros((d,), lin["kernel"].dtype))
      attn[name] = lin
    attn["out"] = tc.linear(sd, f"{p}.attention.output.dense")
    encoder[f"block_{i}"] = {
        "norm1": tc.layer_norm(sd, f"{p}.layernorm_before"),
        "attn": attn,
        "norm2": tc.layer_norm(sd, f"{p}.layernorm_after"),
        "mlp": {"fc1": tc.linear(sd, f"{p}.intermediate.dense"),
                "fc2": tc.linear(sd, f"{p}.output.dense")}}
  params["encoder"] = encoder
  sd.assert_all_used()
  params = _as_float32(params)
  return VideoMAEWeights(params, dict(config), tuple(sorted(ignored)))


def _as_float32(tree):
  return {k: _as_float32(v) if isinstance(v, Mapping) else
          np.asarray(v, np.float32) for k, v in tree.items()}


def load(ckpt_dir: str) -> VideoMAEWeights:
  config, state = read_checkpoint(ckpt_dir)
  weights = convert(state, config, source=ckpt_dir)
  logging.info("VideoMAE %s: %d encoder blocks; ignored %d keys (%s...)",
               ckpt_dir, config["num_hidden_layers"], len(weights.ignored),
               ", ".join(weights.ignored[:5]))
  return weights


def load_into_evimae(params: Mapping[str, Any], weights: VideoMAEWeights | str,
                     embed_path: tuple[str, ...] = ("video_tokens",
                                                    "patch_embed"),
                     encoder_path: tuple[str, ...] = ("video_encoder",)
                     ) -> dict[str, Any]:
  """A copy of ``params`` (an EVI-MAE ``params`` tree, or a whole variables
  dict with ``params``) with the video tower replaced by ``weights`` (or the
  checkpoint directory it names). Shapes must match exactly."""
  if isinstance(weights, str):
    weights = load(weights)
  tree = flax.core.unfreeze(params)
  root = tree["params"] if "params" in tree else tree
  for path, new in ((embed_path, weights.params["patch_embed"]),
                    (encoder_path, weights.params["encoder"])):
    parent = root
    for key in path[:-1]:
      parent = parent[key]
    if path[-1] not in parent:
      raise KeyError(f"target params have no {'/'.join(path)}; is this an "
                     "EVI-MAE model with a video tower?")
    old = parent[path[-1]]
    tc.check_like(new, old, what=f"VideoMAE weights at {'/'.join(path)}")
    parent[path[-1]] = _cast_like(new, old)
  return tree


def _cast_like(new: Any, old: Any) -> Any:
  """``new`` with each leaf cast to the dtype of the matching ``old`` leaf."""
  if isinstance(new, Mapping):
    return {k: _cast_like(v, old[k]) for k, v in new.items()}
  return np.asarray(new, dtype=old.dtype)


# Classification-head keys of ``VideoMAEForVideoClassification``.
_HEAD_MODULES = {"fc_norm": "fc_norm", "classifier": "head"}


def classifier_overrides(config: Mapping[str, Any]) -> dict[str, Any]:
  """``models.videomae.create`` fields a checkpoint's config describes.

  ``fc_norm_eps`` is torch's LayerNorm default (1e-5): transformers builds
  ``fc_norm`` without the config's ``layer_norm_eps``. ``num_classes`` is
  not included (choose it for the task; see ``load_classifier``'s ``head``).
  """
  c = config
  return dict(width=int(c["hidden_size"]), depth=int(c["num_hidden_layers"]),
              num_heads=int(c["num_attention_heads"]),
              mlp_dim=int(c["intermediate_size"]),
              patch_size=_square(c["patch_size"], "patch_size"),
              tubelet=int(c["tubelet_size"]),
              image_size=_square(c["image_size"], "image_size"),
              num_frames=int(c["num_frames"]),
              norm_eps=float(c.get("layer_norm_eps", 1e-12)),
              fc_norm_eps=1e-5)


def convert_classifier(state_dict: Mapping[str, Any], config: Mapping[str, Any],
                       source: str = "VideoMAE checkpoint") -> VideoMAEWeights:
  """``convert`` plus the classification head when the checkpoint has one.

  ``params`` holds ``patch_embed`` and ``encoder``, and ``fc_norm`` / ``head``
  for ``VideoMAEForVideoClassification`` checkpoints with mean pooling.
  Checkpoints that classify from token 0 after ``layernorm``
  (``use_mean_pooling=False`` with a classifier) are rejected: that head
  differs from this model's.
  """
  weights = convert(state_dict, config, source)
  has = lambda m: f"{m}.weight" in state_dict  # noqa: E731
  if has("classifier") and not has("fc_norm"):
    raise ValueError(f"{source}: classifier without fc_norm "
                     "(use_mean_pooling=False) pools token 0 after "
                     "'layernorm'; VideoMAEClassifier mean-pools into fc_norm")
  params = dict(weights.params)
  used = set()
  for src, dst in _HEAD_MODULES.items():
    if not has(src):
      continue
    keys = {f"{src}.weight", f"{src}.bias"} & set(state_dict)
    sd = tc.StateDict({k: state_dict[k] for k in keys}, source)
    params[dst] = (tc.layer_norm(sd, src) if src == "fc_norm" else
                   tc.linear(sd, src))
    sd.assert_all_used()
    used |= keys
  ignored = tuple(k for k in weights.ignored if k not in used)
  return VideoMAEWeights(_as_float32(params), dict(config), ignored)


def load_classifier(ckpt_dir: str, into: Mapping[str, Any] | None = None, *,
                    head: bool = True) -> dict[str, Any]:
  """``{"params": ...}`` of a ``VideoMAEClassifier`` from a checkpoint.

  Args:
    ckpt_dir: a ``save_pretrained`` directory (``VideoMAEModel``,
      ``VideoMAEForPreTraining`` or ``VideoMAEForVideoClassification``).
    into: the model's initial ``params`` (or a variables dict holding them;
      arrays or ``jax.ShapeDtypeStruct``). Given, the result is a full copy
      with every imported subtree replaced after an exact shape check, cast
      to the target dtypes; the rest (e.g. a head the checkpoint lacks) keeps
      the target's values. None: only the imported subtrees.
    head: import the checkpoint's ``classifier`` (if any) as ``head``;
      False leaves it out (another label set). ``fc_norm`` is imported
      either way when present.

  Returns:
    ``{"params": ...}``. What the checkpoint holds but the model does not
    (decoder, ``layernorm``, ``mask_token``, ...) is logged.
  """
  config, state = read_checkpoint(ckpt_dir)
  weights = convert_classifier(state, config, source=ckpt_dir)
  new = dict(weights.params)
  dropped = list(weights.ignored)
  if not head and "head" in new:
    del new["head"]
    dropped += [k for k in state if k.startswith("classifier.")]
  counts = collections.Counter(k.split(".")[0] for k in dropped)
  logging.info("VideoMAE classifier import from %s: %s; not imported: %s",
               ckpt_dir, ", ".join(sorted(new)),
               ", ".join(f"{m} ({n} keys)" for m, n in sorted(counts.items()))
               or "nothing")
  if into is None:
    return {"params": new}
  tree = flax.core.unfreeze(into)
  root = tree["params"] if "params" in tree else tree
  root = dict(root)
  for name, sub in new.items():
    if name not in root:
      raise KeyError(f"target params have no {name!r}; is this a "
                     "VideoMAEClassifier?")
    try:
      tc.check_like(sub, root[name], what=f"VideoMAE weights at {name}")
    except ValueError as e:
      if name != "head":
        raise
      raise ValueError(f"{e}; head=False keeps the model's own head (a "
                       "different label set)") from e
    root[name] = _cast_like(sub, root[name])
  return {"params": root}
