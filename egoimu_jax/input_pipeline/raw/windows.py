"""Non-overlapping windows on clip time and their labels.

Windows start at ``k * window`` µs from clip start (k = 0, 1, ...), so a
window id (``clip_id/t0_ms``) means the same span for the IMU, the video and
the label segments, whatever the native sample rate.

Purity policy (``data.imu.min_purity``): a window's label is the class whose
segments cover most of it (ties go to the lower class index); its purity is
that class's covered fraction of the window. Windows with purity below
``min_purity`` are dropped as ``"impure"``; windows no segment touches are
dropped as ``"unlabeled"``. Time not covered by any segment counts against
purity, so a half-labelled window is impure, never silently completed.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np


def window_starts(last_sample_us: int, window_us: int, sample_us: float,
                  tolerance_us: float) -> np.ndarray:
  """Starts of every window whose samples end by the stream's last sample.

  A window [t0, t0 + window) needs samples at t0 + j * sample_us for
  j < window / sample_us; it exists if the last of those is at most
  ``tolerance_us`` after the last IMU sample.
  """
  n = int(np.floor((last_sample_us + tolerance_us + sample_us) / window_us))
  return np.arange(max(n, 0), dtype=np.int64) * int(window_us)


def sample_times(t0_us: np.ndarray, length: int, rate_hz: float) -> np.ndarray:
  """int64 [n, length] sample times of each window (µs, clip time)."""
  offsets = np.round(np.arange(length) * (1e6 / rate_hz)).astype(np.int64)
  return np.asarray(t0_us, np.int64)[:, None] + offsets[None, :]


def check_segments(start_us: np.ndarray, end_us: np.ndarray) -> None:
  """Raises ValueError for empty/reversed or overlapping segments."""
  bad = np.flatnonzero(end_us <= start_us)
  if bad.size:
    raise ValueError(f"segment {bad[0]} ends at or before it starts "
                     f"({start_us[bad[0]] / 1e6:g} s .. {end_us[bad[0]] / 1e6:g} s)")
  order = np.argsort(start_us, kind="stable")
  s, e = start_us[order], end_us[order]
  overlap = np.flatnonzero(s[1:] < e[:-1])
  if overlap.size:
    k = overlap[0]
    raise ValueError(f"segments overlap: {s[k] / 1e6:g}-{e[k] / 1e6:g} s and "
                     f"{s[k + 1] / 1e6:g}-{e[k + 1] / 1e6:g} s")


def label_windows(t0_us: np.ndarray, window_us: int, seg_start_us: np.ndarray,
                  seg_end_us: np.ndarray, seg_label: np.ndarray,
                  num_classes: int) -> Tuple[np.ndarray, np.ndarray]:
  """Majority label and purity of each window from label segments.

  Returns:
    (label int32 [n], purity float32 [n]); purity 0 means no coverage.
  """
  t0 = np.asarray(t0_us, np.int64)[:, None]
  s = np.asarray(seg_start_us, np.int64)[None, :]
  e = np.asarray(seg_end_us, np.int64)[None, :]
  overlap = np.clip(np.minimum(e, t0 + window_us) - np.maximum(s, t0), 0, None)
  onehot = np.zeros((np.size(seg_label), num_classes))
  onehot[np.arange(np.size(seg_label)), np.asarray(seg_label, np.int64)] = 1.0
  cover = overlap.astype(np.float64) @ onehot  # [n, classes]
  label = np.argmax(cover, axis=1).astype(np.int32)
  purity = (cover[np.arange(len(label)), label] / window_us).astype(np.float32)
  return label, purity
