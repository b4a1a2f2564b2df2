"""Early stopping on the validation people (``config.early_stopping``).

``patience`` counts evaluations (every ``eval_every`` steps, whatever the
budget's unit): the run stops after the evaluation that is the
``patience``-th in a row whose ``metric`` did not improve on the best so far
by more than ``min_delta`` (absolute). ``patience=0`` (the default) is off.
``metric`` / ``mode`` default to the task's best-checkpoint metric and
direction, so "best" means the same for stopping and for the checkpoint the
final evaluation restores. The learning-rate schedule keeps the planned
budget; stopping only cuts it short.

Multi-host: every process evaluates the same global validation metrics, and
the decision is still taken on process 0 and broadcast, so all processes
leave the loop after the same step. A resumed run replays the validation
values of ``metrics.jsonl`` (process 0's log, already cut back to the
restored step) up to the restored step, so it stops where an uninterrupted
run would; a run that had already stopped does not train again.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, Mapping, Optional

import jax
from jax.experimental import multihost_utils
import numpy as np

from egoimu_jax import errors
from egoimu_jax.training import writers

MODES = ("max", "min")


class EarlyStoppingError(errors.UserError, ValueError):
  """``config.early_stopping`` cannot be applied to this run."""


class Stopper:
  """Counts evaluations without improvement; pure logic, no collectives."""

  def __init__(self, *, patience: int, metric: str, min_delta: float = 0.0,
               mode: str = "max"):
    if patience < 1:
      raise EarlyStoppingError(
          f"config.early_stopping.patience={patience}: must be >= 1 (0 = off)")
    if mode not in MODES:
      raise EarlyStoppingError(
          f"config.early_stopping.mode={mode!r}: expected 'max' or 'min'")
    if min_delta < 0:
      raise EarlyStoppingError(
          f"config.early_stopping.min_delta={min_delta} is negative")
    self.patience, self.metric = int(patience), metric
    self.min_delta, self.mode = float(min_delta), mode
    self.best: Optional[float] = None
    self.bad_evaluations = 0
    self.stopped = False

  def update(self, value: float) -> bool:
    """Takes one evaluation's metric; True once the run should stop."""
    value = float(value)
    sign = 1.0 if self.mode == "max" else -1.0
    if self.best is None or sign * (value - self.best) > self.min_delta:
      self.best, self.bad_evaluations = value, 0
    else:
      self.bad_evaluations += 1
    self.stopped = self.stopped or self.bad_evaluations >= self.patience
    return self.stopped

  def replay(self, values: Iterable[float]) -> bool:
    """Feeds earlier evaluations (a resumed run); True if they stopped it."""
    for value in values:
      self.update(value)
    return self.stopped

  def settings(self) -> Dict[str, Any]:
    return {"patience": self.patience, "metric": self.metric,
            "min_delta": self.min_delta, "mode": self.mode}


def from_config(config, best_metric: Optional[str],
                best_mode: str) -> Optional[Stopper]:
  """The run's stopper, or None when ``early_stopping.patience`` is 0."""
  c = config.get("early_stopping") or {}
  patience = int(c.get("patience", 0) or 0)
  if patience == 0:
    return None
  metric = c.get("metric") or best_metric
  if not metric:
    raise EarlyStoppingError(
        "config.early_stopping.patience > 0 but the task has no validation "
        "metric; set config.early_stopping.metric")
  return Stopper(patience=patience, metric=metric,
                 min_delta=float(c.get("min_delta", 0.0)),
                 mode=c.get("mode") or best_mode)


def value_of(stopper: Stopper, metrics: Mapping[str, Any]) -> float:
  """The stopper's metric in one evaluation's results (one line if absent)."""
  if stopper.metric not in metrics:
    raise EarlyStoppingError(
        f"config.early_stopping.metric={stopper.metric!r} is not a "
        f"validation metric (known: {', '.join(sorted(metrics))})"
        f"{errors.did_you_mean(stopper.metric, metrics)}")
  return float(metrics[stopper.metric])


def logged_values(workdir: str, metric: str, upto_step: int) -> list:
  """The ``val/<metric>`` values of ``<workdir>/metrics.jsonl`` for steps up
  to ``upto_step``, in step order (empty where nothing was logged)."""
  path = os.path.join(workdir, writers.METRICS_FILE)
  if not os.path.exists(path):
    return []
  key, by_step = f"val/{metric}", {}
  with open(path, encoding="utf-8") as f:
    for line in f:
      try:
        record = json.loads(line)
      except ValueError:  # a line cut short by a kill
        continue
      step = record.get("step")
      if (record.get("kind") == "scalars" and step is not None
          and step <= upto_step and key in record["values"]):
        by_step[step] = record["values"][key]
  return [by_step[s] for s in sorted(by_step)]


def agreed(local: bool) -> bool:
  """Process 0's decision on every process (all processes must call)."""
  return bool(multihost_utils.broadcast_one_to_all(np.asarray(local, bool)))


def resume(stopper: Optional[Stopper], workdir: str, start: int) -> bool:
  """Replays a resumed run's earlier evaluations; True (on every process)
  if they had already stopped it. Every process must call."""
  if stopper is None:
    return False
  stopped = False
  if start and jax.process_index() == 0:
    stopped = stopper.replay(logged_values(workdir, stopper.metric, start))
  return agreed(stopped)
