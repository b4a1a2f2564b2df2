"""Degraded-video evaluation: corrupt ImageNet-normalised frames at test time.

Frames arrive ImageNet-normalised (Contract 3). A degradation maps them back
to [0, 1] pixels, corrupts them, and normalises again:

* ``"noise"``: additive Gaussian pixel noise, ``severity`` = sigma in [0, 1]
  pixel units (default 0.2), clipped to [0, 1].
* ``"low_light"``: brightness scaled by ``severity`` (default 0.3) and
  re-quantised to 8 bits, the precision loss of a dark 8-bit recording.

Noise is drawn per example from ``fold_in(key, index)``, so a window gets the
same corruption whatever batch or host it lands in.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
KINDS = ("noise", "low_light")
DEFAULT_SEVERITY = {"noise": 0.2, "low_light": 0.3}


def degrade(frames: jax.Array, kind: str, severity: float | None,
            key: jax.Array, index: jax.Array | None = None) -> jax.Array:
  """``frames [b, T, H, W, 3]`` (ImageNet-normalised) -> same, degraded."""
  if kind not in KINDS:
    raise ValueError(f"unknown video degradation {kind!r}; one of {KINDS}")
  severity = DEFAULT_SEVERITY[kind] if severity is None else float(severity)
  mean = jnp.asarray(IMAGENET_MEAN, jnp.float32)
  std = jnp.asarray(IMAGENET_STD, jnp.float32)
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
