"""Checkpoints: train state and data-iterator position, saved together.

One orbax ``CheckpointManager`` writes each step as a composite of two items,
committed atomically (temporary directory, then rename), so a checkpoint is
either whole or absent:

* ``state``: the ``TrainState`` (sharded arrays, ``StandardSave``);
* ``data_iter``: the grain iterator state of every process (grain's orbax
  handler writes ``process_<i>-of-<n>.json``), so a resumed run continues on
  exactly the next batch.

Which steps are kept: the latest ``keep`` plus the best one by the task's
validation metric. This is one manager with a composite preservation policy,
``AnyPreservationPolicy([LatestN(keep), BestN(n=1)])``, and not a second
"best" manager: a checkpoint saved after an evaluation carries its metrics,
``BestN`` keeps the single best of those (checkpoints without metrics are left
to ``LatestN``), and ``best_step()`` reads it back after a restart from the
same metadata. The best step is therefore always a real, resumable
checkpoint, and there is one directory layout and one atomicity protocol.

Restoring onto another mesh or device count works: the target is the
abstract state (``jax.ShapeDtypeStruct`` leaves with the new shardings). The
iterator state survives a change of process count when every process saved
the same state (true of our pipeline, whose state is the global step).

A directory that cannot be written (read-only, full, permission denied)
fails ``save``, ``wait`` or ``close`` with :class:`CheckpointWriteError`, one
line naming the directory, the reason and the last whole step. The step's
directories are created before ``save`` returns (orbax's asynchronous
creation waits forever once the creation failed); the unfinished step stays
an ``*.orbax-checkpoint-tmp`` directory, which a rerun ignores and removes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from typing import Any, Mapping, Optional

from absl import logging
from etils import epath
import grain
import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as policies

from egoimu_jax import errors
from egoimu_jax.input_pipeline import fs

CHECKPOINT_DIR = "checkpoints"  # under a run's workdir
STATE = "state"
DATA_ITER = "data_iter"
# tensorstore reports a failed write as a ValueError ending in the OS error.
_TENSORSTORE_OS_ERROR = re.compile(r"\[os_error_code='(\d+)'\]")


class CheckpointWriteError(errors.UserError, OSError):
  """A checkpoint could not be written (read-only, full or denied)."""


class Checkpointer:
  """Saves and restores ``(state, data iterator)`` under ``directory``."""

  def __init__(self, directory: str, *, keep: int = 2,
               best_metric: Optional[str] = None, best_mode: str = "max",
               async_save: bool = True):
    if keep < 1:
      raise ValueError(f"config.checkpoint.keep must be >= 1, got {keep}")
    if best_mode not in ("max", "min"):
      raise ValueError(f"best_mode must be 'max' or 'min', got {best_mode!r}")
    self.best_metric = best_metric
    keep_policies = [policies.LatestN(n=keep)]
    best_fn = None
    if best_metric:
      best_fn = lambda metrics: _score(metrics, best_metric, best_mode)
      keep_policies.append(policies.BestN(
          get_metric_fn=best_fn, reverse=best_mode == "min", n=1,
          keep_checkpoints_without_metrics=False))
    options = ocp.CheckpointManagerOptions(
        best_fn=best_fn, best_mode=best_mode,
        preservation_policy=policies.AnyPreservationPolicy(keep_policies),
        enable_async_checkpointing=async_save,
        async_options=ocp.AsyncOptions(
            create_directories_asynchronously=False),
        cleanup_tmp_directories=True, create=True)
    if not fs.is_url(directory):  # orbax wants absolute local paths
      directory = os.path.abspath(directory)
    self._failed = False  # a write failed (and was raised)
    self._manager = ocp.CheckpointManager(
        epath.Path(directory), options=options,
        item_handlers={STATE: ocp.StandardCheckpointHandler(),
                       DATA_ITER: grain.checkpoint.CheckpointHandler()})

  @property
  def directory(self) -> str:
    return str(self._manager.directory)

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def best_step(self) -> Optional[int]:
    """Best step by ``best_metric`` (the latest if there is no metric)."""
    return self._manager.best_step()

  def all_steps(self):
    return self._manager.all_steps()

  def save(self, step: int, state: Any, data_iter: Any,
           metrics: Optional[Mapping[str, float]] = None) -> None:
    """Starts saving (asynchronously when enabled); every process must call."""
    if metrics is not None and self.best_metric:
      if self.best_metric not in metrics:
        raise KeyError(f"validation metrics {sorted(metrics)} have no "
                       f"{self.best_metric!r}, the best-checkpoint metric")
      metrics = {self.best_metric: float(metrics[self.best_metric])}
    else:
      metrics = None
    with self._write_errors():
      self._manager.save(
          step, args=ocp.args.Composite(**{
              STATE: ocp.args.StandardSave(state),
              DATA_ITER: grain.checkpoint.CheckpointSave(data_iter)}),
          metrics=metrics, force=True)

  def restore(self, step: int, abstract_state: Any,
              data_iter: Any = None) -> Any:
    """The state at ``step`` with the shardings of ``abstract_state``.

    With ``data_iter``, also moves that iterator to the saved position.
    """
    items = {STATE: ocp.args.StandardRestore(abstract_state)}
    portable = None
    if data_iter is not None:
      portable = self._portable_iter_state(step)
      if portable is None:
        items[DATA_ITER] = grain.checkpoint.CheckpointRestore(data_iter)
    logging.info("restoring %s of step %d from %s", sorted(items), step,
                 self.directory)
    restored = self._manager.restore(step, args=ocp.args.Composite(**items))
    if portable is not None:
      data_iter.set_state(json.loads(portable))
    return restored[STATE]

  def _portable_iter_state(self, step: int) -> Optional[str]:
    """The iterator state to use when the process count changed, else None.

    grain keeps one state file per process. Written by another process count,
    the states can be carried over only if they are all the same (our
    pipeline's state is the global step, identical on every host).
    """
    directory = self._manager.directory / str(step) / DATA_ITER
    name = f"process_{jax.process_index()}-of-{jax.process_count()}.json"
    if (directory / name).exists():
      return None
    files = sorted(directory.glob("process_*-of-*.json")) if (
        directory.exists()) else []
    states = {f.read_text() for f in files}
    if len(states) != 1:
      raise ValueError(
          f"{directory / name} does not exist and the saved iterator states "
          f"{[f.name for f in files]} differ, so the data position cannot be "
          f"carried to {jax.process_count()} process(es); resume with the "
          "process count that wrote the checkpoint (the device count may "
          "differ).")
    logging.info("data iterator: %s written by another process count; all "
                 "states are equal, using them", [f.name for f in files])
    return states.pop()

  def wait(self) -> None:
    """Blocks until pending asynchronous saves are committed."""
    with self._write_errors():
      self._manager.wait_until_finished()

  def close(self) -> None:
    """Waits for pending saves and closes; a write failure already raised
    is not raised again (it would hide what stopped the run)."""
    try:
      with self._write_errors():
        self._manager.close()
    except CheckpointWriteError:
      if not self._failed:
        raise

  @contextlib.contextmanager
  def _write_errors(self):
    """A failed write inside (of this save or an earlier asynchronous one)
    as a :class:`CheckpointWriteError`; other errors pass unchanged."""
    try:
      yield
    except (OSError, ValueError) as e:
      reason = _write_failure(e)
      if reason is None:
        raise
      self._failed = True
      latest = self._manager.latest_step()
      whole = "none" if latest is None else f"step {latest}"
      raise CheckpointWriteError(
          f"{self.directory}: a checkpoint could not be written ({reason}); "
          f"the last whole checkpoint is {whole}. Free space or make the "
          "directory writable, then rerun to resume.") from e


def _write_failure(error: BaseException) -> Optional[str]:
  """Why a write failed (an OS error's reason), or None if ``error`` is not
  a failed write."""
  if isinstance(error, CheckpointWriteError):
    return None
  if isinstance(error, OSError) and error.errno is not None:
    return os.strerror(error.errno)
  match = _TENSORSTORE_OS_ERROR.search(str(error))
  if isinstance(error, ValueError) and match:
    return os.strerror(int(match.group(1)))
  return None


def _score(metrics: Mapping[str, Any], name: str, mode: str) -> float:
  value = float(metrics[name])
  if math.isnan(value):  # A NaN score is the worst possible, never "best".
    return -math.inf if mode == "max" else math.inf
  return value

