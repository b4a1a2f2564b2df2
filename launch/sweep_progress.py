"""Sweep progress: jobs done/total, elapsed time and an ETA, logged."""

from __future__ import annotations

import statistics
import threading
import time
from typing import Callable, List, Optional

from absl import logging


def format_seconds(s: float) -> str:
  s = int(round(s))
  h, rem = divmod(s, 3600)
  m, sec = divmod(rem, 60)
  return f"{h}h{m:02d}m{sec:02d}s" if h else f"{m}m{sec:02d}s"


class Progress:
  """Counts finished jobs and estimates the time left.

  ETA = median duration of the jobs finished in this session x jobs left /
  parallelism. The median, because a sweep's first job often pays alone for
  preparing the dataset; jobs skipped as already done are not counted.
  Thread-safe: parallel executors report from worker threads.
  """

  def __init__(self, total: int, parallelism: int = 1, skipped: int = 0,
               log: Callable[[str], None] = logging.info,
               clock: Callable[[], float] = time.monotonic):
    self.total = total
    self.parallelism = max(1, parallelism)
    self.skipped = skipped
    self.succeeded = 0
    self.failed: List[str] = []
    self._durations: List[float] = []
    self._polled = False
    self._log = log
    self._clock = clock
    self._start = clock()
    self._lock = threading.Lock()

  @property
  def finished(self) -> int:
    return self.skipped + self.succeeded + len(self.failed)

  def eta(self) -> Optional[float]:
    left = self.total - self.finished
    if self._polled:
      ran = self.succeeded + len(self.failed)
      return (self._clock() - self._start) / ran * left if ran else None
    if not self._durations:
      return None
    return statistics.median(self._durations) * left / min(self.parallelism, max(left, 1))

  def line(self) -> str:
    eta = self.eta()
    parts = [f"{self.finished}/{self.total} jobs finished"]
    if self.skipped:
      parts.append(f"{self.skipped} done before")
    if self.failed:
      parts.append(f"{len(self.failed)} failed")
    parts.append(f"elapsed {format_seconds(self._clock() - self._start)}")
    if eta is not None and self._polled:
      parts.append(f"ETA {format_seconds(eta)}")
    elif eta is not None:
      median = statistics.median(self._durations)
      parts.append(f"ETA {format_seconds(eta)} (median {median:.1f}s/job, "
                   f"{self.parallelism} at a time)")
    return ", ".join(parts)

  def job_finished(self, name: str, seconds: float, ok: bool) -> None:
    with self._lock:
      self._durations.append(seconds)
      if ok:
        self.succeeded += 1
      else:
        self.failed.append(name)
      status = "finished" if ok else "FAILED"
      self._log(f"{name} {status} in {format_seconds(seconds)}; {self.line()}")

  def job_not_run(self, name: str) -> None:
    """``name`` will not run (a job it waits for failed): counted as failed."""
    with self._lock:
      self.failed.append(name)
      self._log(f"{name} NOT RUN; {self.line()}")

  def observe_done(self, done: int) -> None:
    """For executors that poll (SLURM): ``done`` jobs have results by now.

    Polling sees completions, not durations, so the ETA becomes throughput
    based: elapsed / jobs finished this session x jobs left.
    """
    with self._lock:
      new = done - self.finished
      if new <= 0:
        return
      self.succeeded += new
      self._polled = True
      self._log(self.line())
