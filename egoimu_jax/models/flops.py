"""Analytic FLOP counts, for MFU (achieved / peak FLOP/s) in the trainer.

``models.forward_flops(config.model)`` looks a model's count up in
``models.FLOPS`` (registry name -> ``"module:function"``, called with the
``config.model`` fields like the model constructor) and returns the matmul
FLOPs of one forward pass per example, 2 per multiply-add; training costs
about 3x that (backward ~ 2x forward). Elementwise work (softmax, norms,
activations) is not counted, so MFU figures are slightly conservative.

Shared pieces (``transformer_block``, ``dense``, ``conv``) live here, with
EVI-MAE's and IMU-MAE's counts; other models keep ``forward_flops`` next to
their module.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from egoimu_jax.models import evimae_spec as evimae_lib
from egoimu_jax.models import masking


def dense(n: int, d_in: int, d_out: int) -> float:
  """A ``[n, d_in] @ [d_in, d_out]`` matmul."""
  return 2.0 * n * d_in * d_out


def conv(out_positions: int, kernel_volume: int, c_in: int, c_out: int,
         groups: int = 1) -> float:
  """A convolution with ``out_positions`` outputs per channel."""
  return 2.0 * out_positions * kernel_volume * (c_in // groups) * c_out


def transformer_block(n: int, d: int, mlp: int) -> float:
  """Matmul FLOPs of one transformer block on ``n`` tokens of width ``d``."""
  return 8 * n * d * d + 4 * n * n * d + 4 * n * d * mlp


def evimae(spec: evimae_lib.EVIMAESpec,
           modalities: Sequence[str] = ("imu", "video"),
           task: str = "pretrain", train: bool = True) -> float:
  """Analytic matmul FLOPs for one example (2 per multiply-add).

  ``task="pretrain"`` counts masked encoders, the IMU tower's extra full pass
  for graph nodes, the unified streams, the graph MAE and the pixel decoder;
  ``"finetune"`` the unmasked towers, graph encoder, unified block and head.
  ``train`` multiplies by 3 (backward ~ 2x forward). Elementwise work
  (softmax, norms, GELU) is not counted.
  """
  s = spec
  pre = task == "pretrain"
  if task not in ("pretrain", "finetune"):
    raise ValueError(f"task must be 'pretrain' or 'finetune', got {task!r}")
  f = 0.0
  w = s.width
  n_tok, n_vis = {}, {}
  g = len(s.imu_groups)
  if "imu" in modalities:
    n = s.num_tokens["imu"]
    k = n - masking.num_masked(n, s.imu_mask_ratio) if pre else n
    n_tok["imu"], n_vis["imu"] = n, k
    patch_in = math.prod(s.imu_patch) * len(s.imu_groups[0])
    f += 2 * g * n * patch_in * s.imu_width
    per_block = lambda m: transformer_block(m, s.imu_width,  # noqa: E731
                                       s.mlp_dim(s.imu_width))
    f += s.imu_depth * per_block(k)
    if s.use_graph:
      f += s.imu_depth * g * per_block(n)
      h, d = s.graph_hidden, s.imu_width
      enc = 2 * g * (d * h + h * h) + (s.graph_layers - 1) * 2 * g * 2 * h * h
      dec = 2 * g * (h * h + h * h + h * d) if pre else 0
      f += enc + dec
  if "video" in modalities:
    t, hh, ww = s.video_grid
    n = t * hh * ww
    k = (t * (hh * ww - masking.num_masked(hh * ww, s.video_mask_ratio))
         if pre and s.video_mask_mode == "tube" else
         n - masking.num_masked(n, s.video_mask_ratio) if pre else n)
    n_tok["video"], n_vis["video"] = n, k
    f += 2 * n * math.prod(s.video_patch_shape) * 3 * w
    f += s.video_depth * transformer_block(k, w, s.mlp_dim(w))
  total_vis = sum(n_vis.values())
  if len(modalities) == 2:
    f += transformer_block(total_vis, w, s.mlp_dim(w))
  if pre or len(modalities) == 1:
    f += sum(transformer_block(k, w, s.mlp_dim(w)) for k in n_vis.values())
  if pre:
    dw = s.decoder_width
    n_all = sum(n_tok.values())
    f += 2 * total_vis * w * dw
    f += s.decoder_depth * transformer_block(n_all, dw, s.mlp_dim(dw))
    f += sum(2 * n_tok[m] * dw * s.patch_dim[m] for m in n_tok)
  return 3.0 * f if train else f


def evimae_pretrain(variant: str = "S", modalities: Sequence[str] = ("imu",
                                                                     "video"),
                    **overrides: Any) -> float:
  """``evimae`` forward FLOPs per example, from its ``config.model`` fields."""
  spec = evimae_lib.make_spec(variant, **_spec_fields(overrides))
  return evimae(spec, tuple(modalities), "pretrain", train=False)


def evimae_finetune(variant: str = "S", modalities: Sequence[str] = ("imu",
                                                                     "video"),
                    **overrides: Any) -> float:
  """``evimae_classifier`` / ``imu_mae_classifier`` forward FLOPs."""
  spec = evimae_lib.make_spec(variant, **_spec_fields(overrides))
  return evimae(spec, tuple(modalities), "finetune", train=False)


def imu_mae_pretrain(variant: str = "S", **overrides: Any) -> float:
  spec = evimae_lib.make_spec(variant, **_spec_fields(overrides))
  return evimae(spec, ("imu",), "pretrain", train=False)


def _spec_fields(overrides: dict[str, Any]) -> dict[str, Any]:
  """``config.model`` fields that are spec fields (not dtype, num_classes,
  test-time options)."""
  skip = {"dtype", "param_dtype", "num_classes", "drop_modality"}
  return {k: v for k, v in overrides.items() if k not in skip}
