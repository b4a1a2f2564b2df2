"""The k-minute split of one person's windows for the calibration curve.

A person's recording is laid out on one timeline: their clips in the
dataset's clip order (the manifest's ``clip_ids``), one after the other,
each as long as its last window's end, and each window at its start time
``t0_us`` within its clip. For the curve's budgets ``k`` (minutes):

* the fine-tuning windows of ``k`` are those that *end* by minute ``k``;
* the evaluated windows are those that *start* at or after the largest
  ``k`` — the same windows for every ``k``, so the points are paired, and
  disjoint in time (not only as records) from every fine-tuning set.
"""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

import numpy as np

US_PER_MINUTE = 60_000_000


def timeline(clip: np.ndarray, t0_us: np.ndarray, window_us: int
             ) -> Tuple[np.ndarray, np.ndarray]:
  """``(start_us, end_us)`` of each window on the person's timeline."""
  clip = np.asarray(clip, np.int64)
  t0 = np.asarray(t0_us, np.int64)
  offset, start = 0, np.zeros(len(t0), np.int64)
  for c in np.unique(clip):   # sorted: the dataset's clip order
    rows = clip == c
    start[rows] = offset + t0[rows]
    offset += int(t0[rows].max()) + window_us
  return start, start + window_us


def minute_split(clip: np.ndarray, t0_us: np.ndarray, window_us: int,
                 minutes: Sequence[float]
                 ) -> Tuple[Dict[float, np.ndarray], np.ndarray]:
  """``({k: positions to fine-tune on}, positions to evaluate)``, positions
  into the person's windows (in time order)."""
  minutes = sorted(float(k) for k in minutes)
  if not minutes or minutes[0] < 0:
    raise ValueError(f"config.adapt.calibration_minutes must be >= 0, got "
                     f"{minutes}")
  start, end = timeline(clip, t0_us, window_us)
  order = np.argsort(start, kind="stable")
  start, end = start[order], end[order]
  adapt = {k: order[end <= k * US_PER_MINUTE] for k in minutes}
  evaluate = order[start >= minutes[-1] * US_PER_MINUTE]
  return adapt, evaluate
