"""CrossHAR's augmentations of IMU windows ``[b, T, 6]`` (acc xyz, gyro xyz).

* ``axis_permutation``: one of the 6 permutations of the x, y, z axes per
  window, the same for acc and gyro (identity included). The reference
  expands its data set 6x with every permutation (``channel_aug``); drawing
  one per window and step samples the same distribution.
* ``scaling`` (the weak view): each channel times a factor ``~ N(2, 1.1)``.
* ``segment_permutation`` + ``jitter`` (the strong view): the window is cut
  into ``k`` segments, ``k`` uniform in ``1..max_segments - 1`` (the
  reference's ``randint(1, max_segments)``), at distinct cut points, the
  segments are concatenated in a random order, and ``N(0, 0.01)`` noise is
  added. (The reference may cut at step 0, an empty segment; here every
  segment is non-empty.)
* ``views``: ``[b, 2, T, 6]`` = (weak, strong) of the axis-permuted window.

The model instance-normalises every view afterwards, as the reference does.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

AXIS_PERMUTATIONS = np.array(list(itertools.permutations(range(3))), np.int32)


def axis_permutation(rng: jax.Array, x: jax.Array) -> jax.Array:
  """Permutes the xyz axes of acc and gyro alike, per window."""
  if x.shape[-1] != 6:
    raise ValueError(f"axis_permutation needs 6 channels, got {x.shape[-1]}")
  perms = jnp.asarray(AXIS_PERMUTATIONS)
  p = perms[jax.random.randint(rng, (x.shape[0],), 0, len(perms))]
  channels = jnp.concatenate([p, p + 3], axis=1)  # [b, 6]
  return jnp.take_along_axis(x, channels[:, None, :], axis=2)


def scaling(rng: jax.Array, x: jax.Array, mean: float = 2.0,
            sigma: float = 1.1) -> jax.Array:
  """Per window and channel, ``x * f`` with ``f ~ N(mean, sigma)``."""
  f = mean + sigma * jax.random.normal(rng, (x.shape[0], 1, x.shape[2]),
                                       jnp.float32)
  return x * f.astype(x.dtype)


def jitter(rng: jax.Array, x: jax.Array, sigma: float = 0.01) -> jax.Array:
  return x + sigma * jax.random.normal(rng, x.shape, jnp.float32).astype(
      x.dtype)


def segment_order(rng: jax.Array, batch: int, length: int,
                  max_segments: int = 8) -> jax.Array:
  """int32 ``[batch, length]``: source step of each output step.

  Row ``i`` cuts ``0..length-1`` into ``k_i`` contiguous segments and lists
  them in a random order, each in its own (increasing) order.
  """
  if max_segments < 2:
    raise ValueError(f"max_segments must be >= 2, got {max_segments}")
  k_num, k_cut, k_order = jax.random.split(rng, 3)
  num = jax.random.randint(k_num, (batch,), 1, max_segments)
  num = jnp.minimum(num, length)
  # The num - 1 lowest-noise steps of 1..length-1 start new segments.
  noise = jax.random.uniform(k_cut, (batch, length - 1))
  rank = jnp.argsort(jnp.argsort(noise, axis=1), axis=1)
  starts = rank < (num - 1)[:, None]
  segment = jnp.concatenate([jnp.zeros((batch, 1), jnp.int32),
                             jnp.cumsum(starts, axis=1, dtype=jnp.int32)], 1)
  # Segments sorted by a random key per segment; steps keep their order
  # within a segment (stable sort).
  key = jax.random.uniform(k_order, (batch, max_segments))
  step_key = jnp.take_along_axis(key, segment, axis=1)
  return jnp.argsort(step_key, axis=1, stable=True).astype(jnp.int32)


def segment_permutation(rng: jax.Array, x: jax.Array,
                        max_segments: int = 8) -> jax.Array:
  order = segment_order(rng, x.shape[0], x.shape[1], max_segments)
  return jnp.take_along_axis(x, order[..., None], axis=1)


def views(rng: jax.Array, x: jax.Array, *, permute_axes: bool = True,
          scale_mean: float = 2.0, scale_sigma: float = 1.1,
          max_segments: int = 8, jitter_sigma: float = 0.01) -> jax.Array:
  """``[b, 2, T, C]``: (weak, strong) views of ``x [b, T, C]``."""
  k_axes, k_scale, k_perm, k_jit = jax.random.split(rng, 4)
  x = x.astype(jnp.float32)
  if permute_axes:
    x = axis_permutation(k_axes, x)
  weak = scaling(k_scale, x, scale_mean, scale_sigma)
  strong = jitter(k_jit, segment_permutation(k_perm, x, max_segments),
                  jitter_sigma)
  return jnp.stack([weak, strong], axis=1)
