"""Self-supervised pretraining, then fine-tuning per fold (Experiment D in
the README): the ``pretrain_finetune`` job behind ``configs/evimae.py``.

Every stage is one ``trainer.train_and_evaluate`` run in its own
sub-workdir, with the stage's section of the config merged into the rest::

  <workdir>/pretrain/                 mae_pretrain on protocol "pretrain"
  <workdir>/pretrain/fold<k>/         ... per fold, if pretrain_on == "train"
  <workdir>/<protocol>/fold<k>/<modalities>-pretrained/   finetune
  <workdir>/<protocol>/fold<k>/<modalities>-scratch/      same model, no warm start
  <workdir>/report/                   tables and figures over the fine-tunings

``config.experiment``:

* ``folds``: folds to fine-tune and test (of ``protocol.num_folds``).
* ``protocols``: fine-tuning protocols, e.g. ``("l20wo", "within")`` (both
  give the generalisation gap).
* ``modalities``: classifier inputs, each ``"imu"``, ``"video"`` or
  ``"imu+video"``.
* ``scratch``: also train every classifier from scratch (the baseline the
  pretraining must beat).
* ``stages``: regex over stage names (``pretrain``,
  ``l20wo/fold0/imu-scratch``, ...) of the stages to run, e.g. ``pretrain``
  to pretrain on a large machine and fine-tune elsewhere; the report is
  written once every fine-tuning stage is done.
* ``missing_modality`` / ``degraded_video``: test-time evaluation variants
  (a modality dropped; noise or low light on the video) of the classifiers
  that can take them, written under each run's ``variants/``.
* ``imu_spectrogram`` (True): IMU classifiers get ``spec`` batches; False
  for models that read the raw ``imu`` only (CrossHAR).
* ``scratch_overrides`` ({}): nested overrides of the from-scratch stages
  only, e.g. to train an encoder that the pretrained stages keep frozen.

``config.protocol.pretrain_on`` picks the pretraining population: ``"all"``
workers unlabeled (one pretraining shared by every fold), or each fold's
``"train"`` workers only (one pretraining per fold), which measures what
seeing the unlabeled test people is worth.

A stage whose results file exists is skipped; an interrupted one resumes
from its checkpoints, so rerunning the job finishes what is left.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping

import ml_collections
import numpy as np

from egoimu_jax import config_lib
from egoimu_jax import jobs
from egoimu_jax.evaluation import results as results_lib
from egoimu_jax.experiments import stages as stages_lib
from egoimu_jax.training.tasks import mae_pretrain

STAGE_SECTIONS = ("experiment", "pretrain", "finetune")
MODALITIES = {"imu": ("imu",), "video": ("video",),
              "imu+video": ("imu", "video")}
DONE_FILE = jobs.done_file("pretrain_finetune")  # the table, written last


Stage = stages_lib.Stage


def stage_config(config: ml_collections.ConfigDict, section: str,
                 overrides: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """The config of one stage: shared fields + ``config[section]`` + overrides."""
  shared = config.copy_and_resolve_references()
  with shared.unlocked():
    stage = shared[section].to_dict()
    for name in STAGE_SECTIONS:
      del shared[name]
    shared.job = "train"
  out = config_lib.merged(config_lib.merged(shared, stage), overrides)
  return out


def _pretrain_stage(config, workdir: str, fold: int | None) -> Stage:
  sub = "pretrain" if fold is None else os.path.join("pretrain", f"fold{fold}")
  overrides = {"protocol": {"name": "pretrain", "fold": fold or 0}}
  return Stage(sub, os.path.join(workdir, sub),
               stage_config(config, "pretrain", overrides),
               mae_pretrain.RESULTS_FILE)


def _variants(modalities: tuple, exp) -> Dict[str, Dict[str, Any]]:
  """Test-time variants a classifier with these inputs can be evaluated in."""
  out = {}
  if exp.missing_modality and len(modalities) > 1:
    for m in modalities:
      out[f"without_{m}"] = {"model": {"drop_modality": m}}
  if exp.degraded_video and "video" in modalities:
    for kind in exp.degraded_video:
      out[f"video_{kind}"] = {"input": {"video_degradation": kind}}
  return out


def plan(config: ml_collections.ConfigDict, workdir: str) -> List[Stage]:
  """Every stage of the experiment, in the order they must run."""
  exp = config.experiment
  per_fold_pretrain = config.protocol.pretrain_on == "train"
  stages = [] if per_fold_pretrain else [_pretrain_stage(config, workdir, None)]
  for fold in exp.folds:
    if per_fold_pretrain:
      stages.append(_pretrain_stage(config, workdir, fold))
    pretrained = stages[-1].workdir if per_fold_pretrain else stages[0].workdir
    for protocol in exp.protocols:
      for key in exp.modalities:
        if key not in MODALITIES:
          raise ValueError(f"config.experiment.modalities: unknown {key!r}; "
                           f"known: {sorted(MODALITIES)}")
        modalities = MODALITIES[key]
        inits = ("pretrained", "scratch") if exp.scratch else ("pretrained",)
        for init in inits:
          sub = os.path.join(protocol, f"fold{fold}", f"{key}-{init}")
          overrides = {
              "name": f"{config.name} {key} ({init})",
              "protocol": {"name": protocol, "fold": fold},
              "model": {"modalities": modalities},
              "input": {"spectrogram": ("imu" in modalities and
                                        exp.get("imu_spectrogram", True)),
                        "frames": "video" in modalities},
              "task": ({"pretrained": pretrained} if init == "pretrained"
                       else {"pretrained": "", "from_scratch": True}),
              "eval_variants": _variants(modalities, exp),
          }
          stage = stage_config(config, "finetune", overrides)
          if init == "scratch" and exp.get("scratch_overrides", None):
            stage = config_lib.merged(stage, exp.scratch_overrides)
          stages.append(Stage(sub, os.path.join(workdir, sub), stage,
                              results_lib.RESULTS_FILE))
  return stages


def run(config: ml_collections.ConfigDict, workdir: str) -> Dict[str, Any]:
  """Runs (or finishes) every stage, then the report over the fine-tunings."""
  stages = plan(config, workdir)
  run_globs = [os.path.join(p, "fold*", "*")
               for p in config.experiment.protocols]
  run_globs += [os.path.join(g, results_lib.VARIANTS_DIR, "*") for g in run_globs]
  return stages_lib.run_and_report(
      stages, config, workdir, run_globs,
      lambda report: pretrain_vs_scratch(stages), DONE_FILE)


def pretrain_vs_scratch(stages: List[Stage]) -> str:
  """Markdown: test macro-F1 of each input (and test variant), pretrained vs
  from scratch, mean ± std over folds."""
  scores: Dict[tuple, Dict[str, List[float]]] = {}
  for stage in stages:
    if stage.done_file != results_lib.RESULTS_FILE:
      continue
    protocol, _, leaf = stage.name.split(os.sep)
    inputs, init = leaf.rsplit("-", 1)
    runs = [("", stage.workdir)]
    variants = os.path.join(stage.workdir, results_lib.VARIANTS_DIR)
    if os.path.isdir(variants):
      runs += [(v, os.path.join(variants, v)) for v in sorted(os.listdir(variants))]
    for variant, workdir in runs:
      f1 = results_lib.read(workdir)["metrics"]["test"]["macro_f1"]
      scores.setdefault((protocol, inputs, variant), {}).setdefault(
          init, []).append(f1)

  def cell(values):
    if not values:
      return "–"
    if len(values) == 1:
      return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"

  lines = ["| protocol | input | test variant | pretrained | scratch | "
           "pretrained − scratch |", "| --- | --- | --- | --- | --- | --- |"]
  for (protocol, inputs, variant), by_init in scores.items():
    pre, scr = by_init.get("pretrained", []), by_init.get("scratch", [])
    delta = ([a - b for a, b in zip(pre, scr)]
             if len(pre) == len(scr) else [])
    lines.append(f"| {protocol} | {inputs} | {variant or '—'} | {cell(pre)} "
                 f"| {cell(scr)} | {cell(delta)} |")
  return ("Test macro-F1 (mean ± std over folds), pretrained vs from "
          "scratch.\n\n" + "\n".join(lines) + "\n")
