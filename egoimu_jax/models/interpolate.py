"""Linear resampling along time with torch's ``F.interpolate`` semantics.

``F.interpolate(x, size, mode="linear", align_corners=False)`` is how
Mantis and MOMENT stretch a window to their pretraining length; matching its
sampling (in float32, as torch's CPU kernel) keeps converted checkpoints'
outputs at parity.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def resample_indices(size_in: int, size_out: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """``(i0, i1, lam)`` of torch's linear interpolation, align_corners=False.

  Output ``j`` reads source position ``max((j + 0.5) * size_in / size_out -
  0.5, 0)``, computed in float32 as torch's CPU kernel; ``i0`` is its floor,
  ``i1 = min(i0 + 1, size_in - 1)`` and ``lam`` the fraction.
  """
  scale = np.float32(size_in) / np.float32(size_out)
  j = np.arange(size_out, dtype=np.float32)
  src = np.maximum(scale * (j + np.float32(0.5)) - np.float32(0.5),
                   np.float32(0.0))
  i0 = np.minimum(np.floor(src).astype(np.int64), size_in - 1)
  lam = np.clip(src - i0.astype(np.float32), 0.0, 1.0).astype(np.float32)
  i1 = np.minimum(i0 + 1, size_in - 1)
  return i0, i1, lam


def resample_linear(x: jax.Array, size: int, axis: int = -1) -> jax.Array:
  """``F.interpolate(x, size, mode="linear", align_corners=False)`` along
  ``axis`` (a no-op when the length already is ``size``)."""
  axis = axis % x.ndim
  n = x.shape[axis]
  if n == size:
    return x
  i0, i1, lam = resample_indices(n, size)
  shape = [1] * x.ndim
  shape[axis] = size
  lam = jnp.asarray(lam.reshape(shape), x.dtype)
  return (jnp.take(x, i0, axis=axis) * (1 - lam) +
          jnp.take(x, i1, axis=axis) * lam)
