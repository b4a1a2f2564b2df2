"""Distillation, then the student's evaluation per fold against its
baselines (RQ3 in the README): the ``distill_evaluate`` job behind
``configs/comodo.py`` / ``configs/imu2clip.py`` with
``--config.job=distill_evaluate``.

The config is a ``distill`` run's (student, teacher set, objective) plus
``config.experiment`` and ``config.finetune`` (the recipe of the trained
evaluation ways). Every stage is one run of a job in its own sub-workdir::

  <workdir>/distill/              the distill run (pretrain protocol)
  <workdir>/distill/fold<k>/      ... per fold, if protocol.pretrain_on=train
  <workdir>/<protocol>/fold<k>/<method>-<way>/    one evaluation
  <workdir>/report/               report over the evaluations + rq3.md

Evaluations (run names ``<student>/<method>/<way>``, the names
``report/distillation.py`` reads; ``<method>-pretrain_train`` where the
distillation saw the training workers only, ``pretrain_population``):

* ``<method>`` = ``comodo`` or ``imu2clip`` (the objective), for each of
  ``experiment.ways``: ``svm`` (COMODO's protocol: projector removed, the
  frozen student's features L2-normalised, standardised, RBF-SVM;
  ``feature_probe``), ``linear`` (frozen student + trained linear head) and
  ``finetune`` (everything trained), all from the distilled student;
* with ``experiment.baselines``: ``frozen/svm``, the student without
  distillation (its pretrained weights, ``task.pretrained``; random when
  there are none) through the same SVM, and ``supervised/finetune``, the
  student trained on the labels from the same starting point.

Evaluations read no teacher embeddings (``input.teacher`` is cleared), so
every run of a fold is scored on the same test windows. ``experiment``:
``folds``, ``protocols`` (``l20wo`` and ``within`` give the gap),
``ways``, ``baselines``, ``student``, ``method``, ``n_boot``, ``stages`` (a
regex over stage names to run). A stage whose done file exists is skipped,
an interrupted one resumes, so rerunning finishes what is left; the job is
done when ``report/rq3.md`` exists.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List

import ml_collections

from egoimu_jax import config_lib
from egoimu_jax import durations
from egoimu_jax import jobs
from egoimu_jax import pretrain_population
from egoimu_jax.evaluation import results as results_lib
from egoimu_jax.experiments import stages as stages_lib
from egoimu_jax.training.tasks import mae_pretrain

Stage = stages_lib.Stage
SECTIONS = ("experiment", "finetune")
WAYS = ("svm", "linear", "finetune")
METHODS = {"comodo": "comodo", "clip": "imu2clip"}  # objective -> method
# Every parameter but the head's (and its norm) is frozen.
FREEZE_ENCODER = "(?!head).*"
DONE_FILE = jobs.done_file("distill_evaluate")  # the RQ3 table, written last


def run_name(student: str, method: str, way: str,
             pretrain_on: str = "all") -> str:
  """``<student>/<method>/<way>``; a method distilled on the training
  workers only is marked (``pretrain_population.mark``)."""
  return f"{student}/{pretrain_population.mark(method, pretrain_on)}/{way}"


def _base(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  out = config.copy_and_resolve_references()
  with out.unlocked():
    for name in SECTIONS:
      if name in out:
        del out[name]
    out.job = "train"
  return out


def _distill_stage(config, workdir: str, fold) -> Stage:
  sub = "distill" if fold is None else os.path.join("distill", f"fold{fold}")
  stage = config_lib.merged(_base(config), {
      "protocol": {"name": "pretrain", "fold": fold or 0}})
  return Stage(sub, os.path.join(workdir, sub), stage,
               mae_pretrain.RESULTS_FILE)


def _evaluation(config, name: str, protocol: str, fold: int, job: str,
                task: Dict[str, Any], trained: bool,
                extra: Dict[str, Any] | None = None
                ) -> ml_collections.ConfigDict:
  """One evaluation run: the student classifier, no teacher set."""
  stage = _base(config)
  with stage.unlocked():
    stage.job = job
    stage.name = name
    stage.task = ml_collections.ConfigDict(task)
    stage.input.teacher = ""
    stage.protocol.name = protocol
    stage.protocol.fold = fold
    stage.eval_variants = ml_collections.ConfigDict()
  if trained:
    durations.clear(stage)
    stage = config_lib.merged(stage, config.finetune)
  return config_lib.merged(stage, extra or {})


def _student_task(config) -> Dict[str, Any]:
  """The finetune task from the student's own pretrained weights."""
  source = str(config.task.get("pretrained", "") or "")
  if not source:
    return {"name": "finetune", "pretrained": "", "from_scratch": True}
  return {"name": "finetune", "pretrained": source,
          "pretrained_format": str(config.task.get("pretrained_format", ""))}


def plan(config: ml_collections.ConfigDict, workdir: str) -> List[Stage]:
  """Every stage of the experiment, in the order they must run."""
  exp = config.experiment
  unknown = sorted(set(exp.ways) - set(WAYS))
  if unknown:
    raise ValueError(f"config.experiment.ways: unknown {unknown}; known: "
                     f"{WAYS}")
  method = METHODS[config.task.objective]
  student = exp.student
  per_fold = config.protocol.pretrain_on == "train"
  stages = [] if per_fold else [_distill_stage(config, workdir, None)]
  distilled = None if per_fold else stages[0].workdir
  for fold in exp.folds:
    if per_fold:
      stages.append(_distill_stage(config, workdir, fold))
      distilled = stages[-1].workdir
    for protocol in exp.protocols:
      runs = []  # (method, way, job, task, trained, extra)
      from_distilled = {"name": "finetune", "pretrained": distilled}
      for way in exp.ways:
        if way == "svm":
          runs.append((method, way, "feature_probe", from_distilled, False,
                       {"probe": {"estimator": "svm_comodo"}}))
        elif way == "linear":
          runs.append((method, way, "train", from_distilled, True,
                       {"optim": {"freeze": FREEZE_ENCODER}}))
        else:
          runs.append((method, way, "train", from_distilled, True, {}))
      if exp.baselines:
        runs.append(("frozen", "svm", "feature_probe", _student_task(config),
                     False, {"probe": {"estimator": "svm_comodo"}}))
        runs.append(("supervised", "finetune", "train",
                     _student_task(config), True, {}))
      for m, way, job, task, trained, extra in runs:
        sub = os.path.join(protocol, f"fold{fold}", f"{m}-{way}")
        name = run_name(student, m, way, config.protocol.pretrain_on
                        if m == method else "all")
        stage = _evaluation(config, name, protocol, fold, job, task, trained,
                            extra)
        stages.append(Stage(sub, os.path.join(workdir, sub), stage,
                            results_lib.RESULTS_FILE))
  return stages


def run(config: ml_collections.ConfigDict, workdir: str) -> Dict[str, Any]:
  """Runs (or finishes) every stage, then the report and the RQ3 table."""

  def rq3(report) -> str:
    table = report.tables.get("distillation")
    return (table.to_markdown() if table is not None else
            "No within-person and cross-person pair of runs to compare.\n")

  return stages_lib.run_and_report(
      plan(config, workdir), config, workdir,
      [os.path.join(p, "fold*", "*") for p in config.experiment.protocols],
      rq3, DONE_FILE)
