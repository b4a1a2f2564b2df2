"""An IMU clock that is not clip time in µs, named as such (not as gaps).

Timestamps on the wrong clock otherwise surface as "timestamps go
backwards" or as windows "dropped as gap". These helpers say which clock
problem it is:

* :func:`backwards`: where t_us drops, a switch to milliseconds (the next
  value ~1000x smaller than the clock's next) or a restart (back near zero:
  an uptime clock that was reset, or two recordings in one file);
* :func:`millisecond_rows`: a run of rows whose intervals are ~1000x
  shorter than the clip's (rows written in ms among rows in µs);
* :func:`late_start`: an IMU that starts long after clip time 0 although
  the index gives no offset (an uptime or device clock);
* :func:`check_span`: a span no clip can hold (a glitched timestamp, a
  clock offset that does not match the file's clock), refused before any
  array is sized from it.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import numpy as np

# Empty stretches of clip time (before the first sample, or between two)
# longer than this and than 10x the time the samples cover are a glitched
# timestamp or a mismatched clock, never a recording: windows are sized
# from clip time, so one such value would allocate gigabytes.
MAX_EMPTY_US = 3600e6
# Interval ratios read as "ms among µs" (1000x, with room for jitter).
_MS_RATIO = (300.0, 3000.0)
_MIN_MS_ROWS = 10
# A start this late (and later than the samples last) is no recording delay.
LATE_START_US = 60e6


def _ms_ratio(ratio: float) -> bool:
  return _MS_RATIO[0] <= ratio <= _MS_RATIO[1]


def backwards(t_prev: int, t_next: int, step_us: float) -> str:
  """What t_us dropping from ``t_prev`` to ``t_next`` says about the clock
  (``step_us``: the usual interval), or ""."""
  expected = t_prev + step_us
  if t_next > 0 and _ms_ratio(expected / t_next):
    return ("t_us switches to milliseconds (~1000x smaller than the clock's "
            "next value); write every t_us in µs")
  if t_next <= max(t_prev / 10, 10 * step_us):
    return ("the clock restarts (an uptime clock that was reset, or two "
            "recordings in one file?); give each recording its own clip")
  return ""


def covered_us(t_us: np.ndarray) -> float:
  """The time the samples cover: intervals up to a plausible gap."""
  dt = np.diff(t_us)
  step = float(np.median(dt))
  return float(dt[dt <= max(1e6, 100 * step)].sum()) + step


def millisecond_rows(t_us: np.ndarray, where: Callable[[int], str]
                     ) -> Optional[str]:
  """A warning for the longest run of rows ~1000x denser than the clip's
  rate (timestamps written in ms), or None. ``where(i)``: "line n"."""
  dt = np.diff(t_us)
  step = float(np.median(dt))
  dense = np.concatenate([[False], dt * _MS_RATIO[0] < step, [False]])
  edges = np.flatnonzero(np.diff(dense.astype(np.int8)))
  if edges.size == 0:
    return None
  starts, ends = edges[0::2], edges[1::2]  # intervals [start, end)
  k = int(np.argmax(ends - starts))
  a, b = int(starts[k]), int(ends[k])
  if b - a < _MIN_MS_ROWS or not _ms_ratio(step / max(
      float(np.median(dt[a:b])), 1e-9)):
    return None
  first, last = where(a), where(b)
  unit, _, n = first.partition(" ")
  return (f"t_us looks like milliseconds in {unit}s {n}..{last.split()[-1]} "
          f"({b - a + 1} rows spanning {(t_us[b] - t_us[a]) / 1e3:.3g} ms; at "
          f"the clip's rate they span {(b - a) * step / 1e6:.3g} s); "
          "windows over them are dropped: write every t_us in µs")


def late_start(first_us: int, covered: float) -> Optional[str]:
  """What an IMU starting at ``first_us`` of clip time with no offset given
  says (an uptime clock), or None when the start is plausible."""
  if first_us <= max(LATE_START_US, covered):
    return None
  return (f"the IMU starts {first_us / 1e6:.6g} s after clip time 0 and "
          f"holds {covered / 1e6:.3g} s of samples: its clock is not clip "
          "time (an uptime clock?); give the clip's imu_t0_us in the index")


def check_span(t_us: np.ndarray, where: Callable[[int], Tuple[object, str]],
               offset_from: str, clip_id: str) -> None:
  """ValueError for timestamps spanning far more time than the samples can
  (see ``MAX_EMPTY_US``); ``offset_from``: where clip time 0 comes from."""
  if t_us.size < 2:
    return
  dt = np.diff(t_us)
  covered = covered_us(t_us)
  limit = max(MAX_EMPTY_US, 10 * covered)
  if t_us[0] > limit:
    raise ValueError(
        f"clip {clip_id}: the IMU starts {t_us[0] / 1e6:.6g} s after clip "
        f"time 0 (from {offset_from}) and holds {covered / 1e6:.6g} s of "
        "samples: the clock offset does not match the file's clock")
  k = int(np.argmax(dt))
  if dt[k] > limit:
    raise ValueError(
        f"{where(k + 1)[1]}: t_us jumps by {dt[k] / 1e6:.6g} s, in a clip "
        f"whose samples cover {covered / 1e6:.6g} s: a glitched timestamp or "
        "a clock change, not a recording gap")
