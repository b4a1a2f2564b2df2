"""The one place that prepares what a job reads before it runs.

The consumers (the trainer, the feature probe, the classical baseline) read
a prepared ``config.data.processed_dir`` and prepare nothing
(``input_pipeline/prepared.py``). The jobs ``main`` and ``launch`` start
under their names (``jobs.py``) are the consumers wrapped here: missing data
is prepared (``prepare.ensure``: ``data.processed_dir`` if set, else
``<cache>/processed/<raw fingerprint>-<config hash>``, reused when complete),
a teacher set the job reads is extracted if missing (``extract.ensure``),
each on process 0 first; then the consumer runs on a copy of the config
whose ``data.processed_dir`` is the resolved one.

``prepare`` is also a job of its own (``config.job=prepare``), so a sweep can
prepare once before the jobs that read the data.
"""

from __future__ import annotations

import copy
import importlib
import json
from typing import Any, Callable, Dict

import jax

from egoimu_jax.training import distributed


def ensure_inputs(config, teacher: str = ""):
  """A copy of ``config`` with ``data.processed_dir`` prepared, and the
  teacher set ``teacher`` (``""``: none) extracted when ``config.teacher``
  describes it."""
  from egoimu_jax import models  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline import prepare  # pylint: disable=g-import-not-at-top
  if "model" in config:  # before preparing data for a model that cannot be
    models.check_variant(config.model)
  processed_dir = distributed.process0_first(
      lambda: prepare.ensure(config.data), "prepare")
  config = copy.deepcopy(config)
  config.data.processed_dir = processed_dir
  if teacher and "teacher" in config:
    from egoimu_jax.teachers import extract  # pylint: disable=g-import-not-at-top
    distributed.process0_first(lambda: extract.ensure(config), "teacher")
  return config


def input_teacher(config) -> str:
  """The teacher set a trained model reads (``input.teacher``)."""
  return config.input.get("teacher", "") or ""


def consumer(target: str, teacher_of: Callable[[Any], str] = input_teacher
             ) -> Callable[[Any, str], Dict[str, Any]]:
  """The job ``target`` (``"module:function"``, imported on first call),
  run after ``ensure_inputs`` with the set ``teacher_of(config)`` names."""

  def job(config, workdir: str) -> Dict[str, Any]:
    module, attr = target.split(":")
    run = getattr(importlib.import_module(module), attr)
    return run(ensure_inputs(config, teacher_of(config)), workdir)

  job.__doc__ = f"``{target}`` on prepared data."
  job.teacher_of = teacher_of  # what ``teacher_read`` asks
  return job


def _classical_teacher(config) -> str:
  from egoimu_jax.baselines import classical  # pylint: disable=g-import-not-at-top
  return classical.teacher_set(config)


train = consumer("egoimu_jax.training.trainer:train_and_evaluate")
feature_probe = consumer("egoimu_jax.training.feature_probe:run")
classical = consumer("egoimu_jax.baselines.classical:run", _classical_teacher)


def teacher_read(config) -> str:
  """The teacher set the job ``config.job`` reads (extracted before it
  runs), ``""`` if none: what a launch plan schedules an extraction for."""
  from egoimu_jax import jobs  # pylint: disable=g-import-not-at-top
  name = config.get("job", "train")
  teacher_of = getattr(jobs.JOBS.get(name), "teacher_of", None)
  if teacher_of is None or "teacher" not in config:
    return ""
  return teacher_of(config)


def prepare(config, workdir: str) -> Dict[str, Any]:
  """The ``prepare`` job: ``config.data`` prepared (or found complete); on
  process 0 writes its done marker (``jobs.done_file("prepare")``) naming
  the prepared directory, last."""
  out = {"processed_dir": ensure_inputs(config).data.processed_dir}
  if jax.process_index() == 0:
    from egoimu_jax import jobs  # pylint: disable=g-import-not-at-top
    from egoimu_jax.input_pipeline import fs  # pylint: disable=g-import-not-at-top
    fs.makedirs(workdir)
    with fs.open_file(fs.join(workdir, jobs.done_file("prepare")), "w") as f:
      f.write(json.dumps(out, indent=1) + "\n")
  return out
