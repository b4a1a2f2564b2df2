"""The stage runner of the experiment jobs: stages, the loop that runs
them, and the report written once they are all done.

An experiment job (``pretrain_finetune``, ``distill_evaluate``) plans a list
of ``Stage``s, each a full run with its own config and workdir, and hands
them to ``run_and_report``. ``run`` resumes where a previous attempt
stopped: a stage whose ``done_file`` exists is skipped. The report goes to
``<workdir>/report/`` and the job's table to its done marker
(``jobs.done_file``), which ``launch`` reads.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Callable, Dict, Sequence

from absl import logging
import jax
import ml_collections

from egoimu_jax import errors
from egoimu_jax import jobs
from egoimu_jax.evaluation import results as results_lib

REPORT_DIR = "report"


@dataclasses.dataclass(frozen=True)
class Stage:
  name: str
  workdir: str
  config: ml_collections.ConfigDict
  done_file: str

  @property
  def done(self) -> bool:
    return os.path.exists(os.path.join(self.workdir, self.done_file))


def check_variants(stages: Sequence[Stage]) -> None:
  """``errors.ArgError`` naming the stage if any stage's model variant is
  unknown: before the first stage runs (a bad fine-tuning variant was found
  only after pretraining)."""
  from egoimu_jax import models  # pylint: disable=g-import-not-at-top
  for stage in stages:
    if "model" in stage.config:
      try:
        models.check_variant(stage.config.model)
      except errors.ArgError as e:
        raise errors.ArgError(f"stage {stage.name}: {e}") from None


def run(stages: Sequence[Stage], pattern: str = "") -> None:
  """Runs every stage not yet done whose name ``pattern`` (a regex, empty:
  all) matches in full, in order, each through its config's ``job``."""
  wanted = re.compile(pattern or ".*")
  for i, stage in enumerate(stages, 1):
    if stage.done or not wanted.fullmatch(stage.name):
      logging.info("stage %d/%d %s: %s, skipped", i, len(stages), stage.name,
                   "done" if stage.done else "not in experiment.stages")
      continue
    logging.info("stage %d/%d %s: %s", i, len(stages), stage.name,
                 stage.workdir)
    jobs.JOBS.get(stage.config.job)(stage.config, stage.workdir)


def runs_left(stages: Sequence[Stage]) -> int:
  """How many of the stages that write a run's results.json are not done
  (the experiment's report waits for all of them)."""
  return sum(not s.done for s in stages
             if s.done_file == results_lib.RESULTS_FILE)


def run_and_report(stages: Sequence[Stage], config: ml_collections.ConfigDict,
                   workdir: str, run_globs: Sequence[str],
                   table: Callable[[Any], str], done_file: str
                   ) -> Dict[str, Any]:
  """Runs (or finishes) ``stages``, then, once every run is done, the
  report over ``run_globs`` (relative to ``workdir``) and ``table(report)``
  into ``<workdir>/<done_file>`` (the job's done marker); returns the job's
  summary."""
  check_variants(stages)
  run(stages, config.experiment.get("stages", ""))
  summary = {"stages": [s.workdir for s in stages]}
  left = runs_left(stages)
  if left:
    logging.info("report: not written, %d run(s) left", left)
    return summary
  if jax.process_index() == 0:
    from egoimu_jax.report import build  # pylint: disable=g-import-not-at-top
    report = build.build_report(
        [os.path.join(workdir, g) for g in run_globs],
        os.path.join(workdir, REPORT_DIR), n_boot=config.experiment.n_boot)
    text = table(report)
    path = os.path.join(workdir, done_file)
    with open(path, "w") as f:
      f.write(text)
    summary.update(report=os.path.join(report.out, "report.md"), table=path)
    logging.info("report: %s (%d runs)\n%s", summary["report"], report.runs,
                 text)
  return summary
