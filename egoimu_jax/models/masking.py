"""Token and node masks for masked autoencoders, drawn from a JAX key.

Every mask is boolean with ``True`` = masked (hidden from the encoder) and has
exactly the same number of masked entries in every example, so visible tokens
form a dense ``[b, n_keep, d]`` array. The count is
``num_masked(length, ratio) = floor(ratio * length)`` (VideoMAE's tube rule).

``TokenMask`` carries the indices the encoder and decoder need:

* ``ids_keep [b, n_keep]``: visible token positions in increasing order (so
  visible tokens keep their temporal order);
* ``ids_restore [b, L]``: position of each original token in
  ``concat(visible, masked)``; the decoder un-shuffles with it
  (``take_along_axis(concat(visible, mask_tokens), ids_restore)``).

Kinds:

* ``random_mask``: unstructured, uniformly random per example (MAE).
* ``tube_mask``: one random spatial mask per example, repeated over all
  temporal tubelets (VideoMAE). Token order is ``t``-major, as ``PatchEmbed``
  emits for ``[b, T, H, W, c]``.
* ``structured_mask``: spectrogram masking by whole time rows (``"time"``),
  frequency columns (``"freq"``) or both (``"tf"``) as in the EVI-MAE
  ablations, topped up with random patches to the exact count.
* ``node_mask``: GraphMAE node masking, an exact count over all nodes of the
  batch (graphs differ in how many of their nodes are masked).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

IMU_MASK_MODES = ("random", "time", "freq", "tf")
VIDEO_MASK_MODES = ("tube", "random")


class TokenMask(NamedTuple):
  mask: jax.Array         # bool [b, L], True = masked
  ids_keep: jax.Array     # int32 [b, n_keep]
  ids_restore: jax.Array  # int32 [b, L]


def num_masked(length: int, ratio: float) -> int:
  """``floor(ratio * length)``, robust to float error (0.7 * 10 -> 7)."""
  if not 0.0 <= ratio < 1.0:
    raise ValueError(f"mask ratio must be in [0, 1), got {ratio}")
  return int(ratio * length + 1e-6)


def _with_count(mask: jax.Array, count: int) -> TokenMask:
  """Index arrays of ``mask``, which has exactly ``count`` True per row."""
  length = mask.shape[1]
  # Stable sort: visible tokens first, each group in its original order.
  ids_shuffle = jnp.argsort(mask.astype(jnp.int32), axis=1, stable=True)
  ids_restore = jnp.argsort(ids_shuffle, axis=1, stable=True)
  return TokenMask(mask, ids_shuffle[:, :length - count].astype(jnp.int32),
                   ids_restore.astype(jnp.int32))


def _lowest_k_kept(scores: jax.Array, n_keep: int) -> jax.Array:
  """Masks all but the ``n_keep`` lowest scores of each row."""
  rank = jnp.argsort(jnp.argsort(scores, axis=1), axis=1)
  return rank >= n_keep


def random_mask(rng: jax.Array, batch: int, length: int,
                ratio: float) -> TokenMask:
  count = num_masked(length, ratio)
  noise = jax.random.uniform(rng, (batch, length))
  return _with_count(_lowest_k_kept(noise, length - count), count)


def tube_mask(rng: jax.Array, batch: int, frames: int, per_frame: int,
              ratio: float) -> TokenMask:
  """Same spatial mask for all ``frames`` tubelets; ``floor(ratio*per_frame)``
  patches masked per tubelet."""
  count = num_masked(per_frame, ratio)
  noise = jax.random.uniform(rng, (batch, per_frame))
  spatial = _lowest_k_kept(noise, per_frame - count)
  mask = jnp.tile(spatial, (1, frames))
  return _with_count(mask, count * frames)


def structured_mask(rng: jax.Array, batch: int, grid: tuple[int, int],
                    ratio: float, mode: str) -> TokenMask:
  """Spectrogram masking on a ``(time, freq)`` token grid (time-major order).

  ``"time"`` masks ``floor(ratio * T)`` whole time rows, ``"freq"``
  ``floor(ratio * F)`` whole frequency columns, ``"tf"`` ``0.7`` of each (as
  the EVI-MAE code). The total masked count is always ``floor(ratio * T * F)``:
  the chosen rows/columns are masked first, the rest filled at random.
  """
  if mode == "random":
    return random_mask(rng, batch, grid[0] * grid[1], ratio)
  if mode not in IMU_MASK_MODES:
    raise ValueError(f"unknown IMU mask mode {mode!r}; one of {IMU_MASK_MODES}")
  t, f = grid
  count = num_masked(t * f, ratio)
  k_noise, k_t, k_f = jax.random.split(rng, 3)
  noise = jax.random.uniform(k_noise, (batch, t, f))

  def pick(key, n, k):  # [batch, n] bool with exactly k True per row
    return _lowest_k_kept(jax.random.uniform(key, (batch, n)), n - k)

  frac = 0.7 if mode == "tf" else 1.0
  if mode in ("time", "tf"):
    rows = pick(k_t, t, num_masked(t, ratio * frac))
    noise = noise + rows[:, :, None].astype(noise.dtype)
  if mode in ("freq", "tf"):
    cols = pick(k_f, f, num_masked(f, ratio * frac))
    noise = noise + cols[:, None, :].astype(noise.dtype)
  mask = _lowest_k_kept(noise.reshape(batch, t * f), t * f - count)
  return _with_count(mask, count)


def imu_mask(rng, batch, grid, ratio, mode) -> TokenMask:
  return structured_mask(rng, batch, grid, ratio, mode)


def video_mask(rng, batch, grid, ratio, mode) -> TokenMask:
  """``grid = (tubelets, h, w)``."""
  t, h, w = grid
  if mode == "tube":
    return tube_mask(rng, batch, t, h * w, ratio)
  if mode == "random":
    return random_mask(rng, batch, t * h * w, ratio)
  raise ValueError(f"unknown video mask mode {mode!r}; one of "
                   f"{VIDEO_MASK_MODES}")


def node_mask(rng: jax.Array, batch: int, nodes: int,
              ratio: float) -> jax.Array:
  """``[batch, nodes]`` bool with exactly ``floor(ratio * batch * nodes)``
  True entries over the whole batch (GraphMAE's batched-graph masking)."""
  total = batch * nodes
  count = num_masked(total, ratio)
  noise = jax.random.uniform(rng, (1, total))
  return _lowest_k_kept(noise, total - count).reshape(batch, nodes)


def gather_tokens(x: jax.Array, ids: jax.Array) -> jax.Array:
  """``x [b, L, d]``, ``ids [b, k]`` -> ``[b, k, d]``."""
  return jnp.take_along_axis(x, ids[..., None], axis=1)


def restore_tokens(visible: jax.Array, mask_token: jax.Array,
                   ids_restore: jax.Array) -> jax.Array:
  """Appends mask tokens to ``visible [b, k, d]`` and un-shuffles to
  ``[b, L, d]`` (MAE decoder input)."""
  b, k, d = visible.shape
  length = ids_restore.shape[1]
  fill = jnp.broadcast_to(mask_token.astype(visible.dtype), (b, length - k, d))
  return gather_tokens(jnp.concatenate([visible, fill], axis=1), ids_restore)
