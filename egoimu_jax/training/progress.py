"""Training speed and time to finish, for the log and the metrics.

Time spent in evaluation and checkpointing is excluded from the rate (wrap it
in ``paused()``) but counted in the ETA through the measured overhead so far.
"""

from __future__ import annotations

import contextlib
import time
from typing import Dict


class Progress:
  """Tracks steps/s since the last report and the estimated time left."""

  def __init__(self, total_steps: int, start_step: int, clock=time.monotonic):
    self._total = total_steps
    self._clock = clock
    self._start = clock()
    self._start_step = start_step
    self._mark = (clock(), start_step)
    self._paused = 0.0          # paused seconds since the last report
    self._paused_total = 0.0

  @contextlib.contextmanager
  def paused(self):
    t0 = self._clock()
    try:
      yield
    finally:
      dt = self._clock() - t0
      self._paused += dt
      self._paused_total += dt

  def report(self, step: int) -> Dict[str, float]:
    """``steps_per_sec`` since the last report, ``eta_s``, ``elapsed_s``."""
    now = self._clock()
    t_mark, s_mark = self._mark
    busy = max(now - t_mark - self._paused, 1e-9)
    rate = (step - s_mark) / busy
    done = step - self._start_step
    elapsed = now - self._start
    # Remaining steps at the current rate, plus overhead at its average rate.
    overhead_per_step = self._paused_total / done if done else 0.0
    remaining = self._total - step
    eta = (remaining / rate + remaining * overhead_per_step if rate > 0
           else float("inf"))
    self._mark = (now, step)
    self._paused = 0.0
    return {"steps_per_sec": rate, "eta_s": eta, "elapsed_s": elapsed}


def format_duration(seconds: float) -> str:
  if seconds == float("inf"):
    return "?"
  seconds = int(seconds)
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"
