"""Stages of a multi-run experiment job, and the loop that runs them.

An experiment job (``pretrain_finetune``, ``distill_evaluate``) plans a list
of ``Stage``s, each a full run with its own config and workdir, and hands
them to ``run``, which resumes where a previous attempt stopped: a stage
whose ``done_file`` exists is skipped.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Sequence

from absl import logging
import ml_collections

from egoimu_jax import jobs
from egoimu_jax.evaluation import results as results_lib


@dataclasses.dataclass(frozen=True)
class Stage:
  name: str
  workdir: str
  config: ml_collections.ConfigDict
  done_file: str

  @property
  def done(self) -> bool:
    return os.path.exists(os.path.join(self.workdir, self.done_file))


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
