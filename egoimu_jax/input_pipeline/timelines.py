"""Each clip's windows as a compact timeline: runs of evenly spaced windows.

The manifest's ``clip_windows`` maps every used clip to its runs
``[t0_first_us, step_us, count, label_index]``: ``count`` windows starting
at ``t0_first_us``, ``step_us`` apart, all with the label
``classes[label_index]`` (``step_us`` is 0 for a run of one). A run ends
where the label or the spacing changes, so a clip of a few long activities
is a few runs however long it is. Within-person time blocks
(``protocols/time_blocks.py``) are cut from it.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

# One run: (t0_first_us, step_us, count, label).
Run = Tuple[int, int, int, str]


def encode(clip: np.ndarray, t0_us: np.ndarray, label: np.ndarray,
           clip_ids: Sequence[str]) -> Dict[str, List[List[int]]]:
  """``{clip_id: [[t0_first_us, step_us, count, label_index], ...]}`` of
  every clip with records, from the record table's per-record columns."""
  order = np.lexsort((t0_us, clip))
  clip, t0_us, label = clip[order], t0_us[order], label[order]
  out: Dict[str, List[List[int]]] = {}
  bounds = np.flatnonzero(np.diff(clip)) + 1
  for start, end in zip(np.r_[0, bounds], np.r_[bounds, len(clip)]):
    if end <= start:
      continue
    t, y = t0_us[start:end].tolist(), label[start:end].tolist()
    runs: List[List[int]] = []
    for i, (ti, yi) in enumerate(zip(t, y)):
      if runs and runs[-1][3] == yi and (
          runs[-1][2] == 1 or ti - t[i - 1] == runs[-1][1]):
        if runs[-1][2] == 1:
          runs[-1][1] = ti - t[i - 1]
        runs[-1][2] += 1
      else:
        runs.append([int(ti), 0, 1, int(yi)])
    out[clip_ids[int(clip[start])]] = runs
  return out


def decode(runs: Sequence[Run]) -> Tuple[List[int], List[str]]:
  """(t0_us of every window, its label), in time order."""
  t0s: List[int] = []
  labels: List[str] = []
  for first, step, count, label in runs:
    t0s += [first + i * step for i in range(count)]
    labels += [label] * count
  return t0s, labels


def from_manifest(clip_windows: Mapping[str, Sequence[Sequence[int]]],
                  classes: Sequence[str]) -> Dict[str, Tuple[Run, ...]]:
  """The manifest's ``clip_windows`` with label indices turned into names."""
  return {c: tuple((int(a), int(s), int(n), str(classes[int(y)]))
                   for a, s, n, y in runs)
          for c, runs in clip_windows.items()}
