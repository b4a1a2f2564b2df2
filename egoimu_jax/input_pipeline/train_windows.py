"""Overlapping training windows (``config.input.train_stride_seconds``).

Choice: cut at read time, not written at prepare time. The stored shards
hold only the non-overlapping grid (window ``k`` starts at ``k * window``
µs), so the shard set, its window ids, the manifest counts and every split
are the same for any stride, and validation and test read exactly the
windows they read with stride 0.

For training, an extra window starting ``j * stride`` after a grid window
``a`` (``0 < j * stride < window``) is the concatenation of ``a`` and the
grid window ``b`` right after it, sliced. It is cut only when

* ``b`` is on the same clip, starts exactly one window after ``a`` and is
  itself in the training part, so every sample it holds belongs to a
  training window: a within-person time block's guard windows and its
  validation/test windows are never in the training part, so an
  overlapping window never reaches into them (nor across a dropped window
  or a gap);
* ``a`` and ``b`` have the same label, which is the new window's label
  (each covers at least ``data.imu.min_purity`` of its span with it).

Its record index (batch ``index``) is ``a``'s. Stride 0 (the default), or a
stride equal to the window, gives the grid alone, as before.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from egoimu_jax import errors


class StrideError(errors.UserError, ValueError):
  """A training stride the windows cannot be cut at."""


@dataclasses.dataclass(frozen=True)
class TrainWindows:
  """Training items: positions into a part's records plus a sample offset.

  ``first[i]`` / ``second[i]`` index the part's records (``second`` -1 for a
  grid window); item ``i`` is samples ``[offset[i], offset[i] + L)`` of
  ``first`` followed by ``second``.
  """
  first: np.ndarray   # int64 [n]
  second: np.ndarray  # int64 [n]
  offset: np.ndarray  # int64 [n]

  def __len__(self) -> int:
    return len(self.first)


def stride_samples(stride_seconds: float, rate_hz: float, length: int) -> int:
  """The stride in samples; 0 for the grid alone."""
  if stride_seconds < 0:
    raise StrideError(f"input.train_stride_seconds={stride_seconds} is "
                      "negative")
  if stride_seconds == 0:
    return 0
  samples = stride_seconds * rate_hz
  if abs(samples - round(samples)) > 1e-6 or round(samples) < 1:
    raise StrideError(f"input.train_stride_seconds={stride_seconds} is "
                      f"{samples:g} samples at {rate_hz:g} Hz; it must be a "
                      "whole number of samples")
  if round(samples) > length:
    raise StrideError(f"input.train_stride_seconds={stride_seconds} exceeds "
                      f"the window ({length / rate_hz:g} s)")
  return int(round(samples)) % length


def cut(clip: np.ndarray, t0_us: np.ndarray, label: np.ndarray,
        window_us: int, length: int, stride: int) -> TrainWindows:
  """Items of a training part whose records have these clip indices, start
  times and labels (see the module docstring); the grid comes first."""
  n = len(clip)
  grid = TrainWindows(np.arange(n, dtype=np.int64), np.full(n, -1, np.int64),
                      np.zeros(n, np.int64))
  if not stride or n < 2:
    return grid
  key = (np.asarray(clip, np.int64) << 40) | np.asarray(t0_us, np.int64)
  order = np.argsort(key, kind="stable")
  sorted_key = key[order]
  want = key + int(window_us)
  at = np.clip(np.searchsorted(sorted_key, want), 0, n - 1)
  found = sorted_key[at] == want
  a = np.flatnonzero(found)
  b = order[at[found]]
  same = label[a] == label[b]
  a, b = a[same], b[same]
  offsets = np.arange(stride, length, stride, dtype=np.int64)
  return TrainWindows(
      np.concatenate([grid.first, np.repeat(a, offsets.size)]),
      np.concatenate([grid.second, np.repeat(b, offsets.size)]),
      np.concatenate([grid.offset, np.tile(offsets, a.size)]))


def read(read_imu, items: TrainWindows, positions: np.ndarray,
         length: int) -> np.ndarray:
  """Raw IMU ``[b, L, 6]`` of ``items[positions]``; ``read_imu(p)`` reads
  the part's records at positions ``p``."""
  first = items.first[positions]
  out = read_imu(first)
  shifted = np.flatnonzero(items.offset[positions] > 0)
  if shifted.size:
    pair = np.concatenate([out[shifted], read_imu(
        items.second[positions[shifted]])], axis=1)
    take = items.offset[positions[shifted]][:, None] + np.arange(length)
    out[shifted] = np.take_along_axis(pair, take[:, :, None], axis=1)
  return out
