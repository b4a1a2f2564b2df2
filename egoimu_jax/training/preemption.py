"""Stopping cleanly when the cluster asks (SIGTERM before a kill).

The loop asks ``Watch.reached(step)`` after every step; when it says yes, the
engine checkpoints that step (state and data position), waits for the write
and raises :class:`Preempted`; ``main`` exits with :data:`EXIT_CODE` so a
launcher can tell "rerun me" from a failure, and the rerun resumes there.

* One process: a SIGTERM handler sets a flag.
* Several processes: JAX's preemption sync manager (started by
  ``jax.distributed.initialize``) spreads the notice and picks one step at
  which every process sees ``reached_preemption_sync_point`` true, so all of
  them save the same step.

A SIGKILL cannot be caught; then the last periodic checkpoint is where the
rerun resumes.
"""

from __future__ import annotations

import signal
import threading

import jax
from jax.experimental import multihost_utils

EXIT_CODE = 75  # EX_TEMPFAIL: temporary failure, run again


class Preempted(Exception):
  """Training stopped at a checkpointed step because of a preemption notice."""

  def __init__(self, step: int):
    super().__init__(f"preempted: stopped after step {step}, which is "
                     "checkpointed; run again with the same workdir to resume")
    self.step = step


class Watch:
  """Tells the training loop when to stop for a preemption."""

  def __init__(self):
    self._multi_process = jax.process_count() > 1
    self._notice = False
    self._previous = None
    if (not self._multi_process and
        threading.current_thread() is threading.main_thread()):
      self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)

  def _on_sigterm(self, signum, frame):
    del signum, frame
    self._notice = True

  def reached(self, step: int) -> bool:
    if self._multi_process:
      return multihost_utils.reached_preemption_sync_point(step)
    return self._notice

  def close(self) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
      self._previous = None
