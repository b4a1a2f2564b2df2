"""Degraded-video evaluation: corrupt normalised frames at test time.

Frames arrive normalised with the run's ``input.frame_mean/frame_std``
(Contract 3). A degradation maps them back to [0, 1] pixels, corrupts them,
and normalises again:

* ``"noise"``: additive Gaussian pixel noise, ``severity`` = sigma in [0, 1]
  pixel units (default 0.2), clipped to [0, 1].
* ``"low_light"``: brightness scaled by ``severity`` (default 0.3) and
  re-quantised to 8 bits, the precision loss of a dark 8-bit recording.

Noise is drawn per example from ``fold_in(key, index)``, so a window gets the
same corruption whatever batch or host it lands in.

It is model-agnostic: an evaluation variant sets ``input.video_degradation``
(and optionally ``degradation_severity``, ``degradation_seed``), and the
trainer's eval step applies ``batch_transform(config.input)`` to the batch
before any model sees it.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
KINDS = ("noise", "low_light")
DEFAULT_SEVERITY = {"noise": 0.2, "low_light": 0.3}


def degrade(frames: jax.Array, kind: str, severity: float | None,
            key: jax.Array, index: jax.Array | None = None,
            mean: Sequence[float] = IMAGENET_MEAN,
            std: Sequence[float] = IMAGENET_STD) -> jax.Array:
  """``frames [b, T, H, W, 3]`` (normalised by mean/std) -> same, degraded."""
  if kind not in KINDS:
    raise ValueError(f"unknown video degradation {kind!r}; one of {KINDS}")
  severity = DEFAULT_SEVERITY[kind] if severity is None else float(severity)
  mean = jnp.asarray(mean, jnp.float32)
  std = jnp.asarray(std, jnp.float32)
  x = frames.astype(jnp.float32) * std + mean
  if kind == "noise":
    b = x.shape[0]
    if index is None:
      index = jnp.arange(b)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(
        index.astype(jnp.uint32))
    noise = jax.vmap(lambda k: jax.random.normal(k, x.shape[1:]))(keys)
    x = jnp.clip(x + severity * noise, 0.0, 1.0)
  else:
    x = jnp.round(jnp.clip(x * severity, 0.0, 1.0) * 255.0) / 255.0
  return ((x - mean) / std).astype(frames.dtype)


def batch_transform(input_config: Mapping[str, Any]
                    ) -> Optional[Callable[[dict], dict]]:
  """``batch -> batch`` degrading ``frames`` as ``input_config`` asks
  (``video_degradation``; ``degradation_severity`` < 0 = the kind's
  default), or None when it asks for nothing."""
  kind = input_config.get("video_degradation", "")
  if not kind:
    return None
  if kind not in KINDS:
    raise ValueError(f"input.video_degradation={kind!r}; one of {KINDS}")
  severity = input_config.get("degradation_severity", -1.0)
  severity = None if severity is None or severity < 0 else float(severity)
  seed = int(input_config.get("degradation_seed", 0))
  mean = tuple(input_config.get("frame_mean", IMAGENET_MEAN))
  std = tuple(input_config.get("frame_std", IMAGENET_STD))

  def transform(batch: dict) -> dict:
    if "frames" not in batch:
      raise ValueError("input.video_degradation is set but batches have no "
                       "frames (input.frames=False)")
    return {**batch, "frames": degrade(
        batch["frames"], kind, severity, jax.random.key(seed),
        batch.get("index"), mean, std)}

  return transform
