"""Runs jobs through XManager's local backend (``xm_local``), without Docker.

Each job is one work unit of one XManager experiment (named after the sweep),
so ``xmanager`` tooling lists the sweep and its units. The job runs as a
local binary (``bash -c 'exec python -m egoimu_jax.main ... >> launch.log'``)
from the repository root; ``parallel`` units run at once. A job that waits
for others (``Job.after``) is added once they have succeeded, and not at
all if one of them fails.

xmanager is imported lazily: it pins protobuf < 7 and so lives in its own
virtual environment (not egoimu_jax's). Launch from that environment and run
the jobs with egoimu_jax's interpreter::

  /path/xm-venv/bin/python -m launch.run --executor=xmanager \
      --python=/path/egoimu-venv/bin/python --sweep=launch/sweeps/classical.py

xm_local keeps its experiment database under ``~/.xmanager``.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
import time
from typing import Sequence

from absl import flags
from absl import logging

from launch import job_graph
from launch import sweep_progress
from launch.executors.base import Outcome
from launch.executors.local import LOG_FILE
from launch.job import Job, partition
from launch.sweep import REPO_ROOT

INSTALL_HINT = (
    "pip install xmanager 'protobuf<7' 'google-cloud-bigquery>=3.30' "
    "'google-api-core>=2.25' in a separate virtual environment (it downgrades "
    "protobuf), launch from there, and pass --python=<egoimu_jax's python>")


def import_xmanager():
  """(xm, xm_local), or a clear error when xmanager is not installed."""
  try:
    from xmanager import xm  # pylint: disable=g-import-not-at-top
    from xmanager import xm_local  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise RuntimeError(f"--executor=xmanager needs the xmanager package ({e}); "
                       f"{INSTALL_HINT}") from e
  if not flags.FLAGS.is_parsed():
    # Called as a library (not under absl's app.run): xmanager's flags keep
    # their defaults.
    flags.FLAGS.mark_as_parsed()
  return xm, xm_local


class XManagerExecutor:
  """One XManager experiment per sweep run; one local work unit per job."""

  def __init__(self, sweep_name: str, python: str = sys.executable,
               rerun: bool = False, parallel: int = 1, cwd: str = REPO_ROOT):
    self.sweep_name = sweep_name
    self.python = python
    self.rerun = rerun
    self.parallel = max(1, parallel)
    self.cwd = cwd

  def run(self, jobs: Sequence[Job]) -> Outcome:
    xm, xm_local = import_xmanager()
    job_graph.check(jobs)
    todo, skipped = partition(jobs, self.rerun)
    outcome = Outcome(skipped=skipped)
    progress = sweep_progress.Progress(
        len(jobs), min(self.parallel, max(len(todo), 1)),
        skipped=len(outcome.skipped))
    if todo:
      asyncio.run(self._run(xm, xm_local, todo, progress, outcome))
    return outcome

  def command(self, job: Job) -> str:
    log = os.path.join(job.workdir, LOG_FILE)
    return (f"cd {shlex.quote(self.cwd)} && exec {job.shell(self.python)} "
            f">> {shlex.quote(log)} 2>&1")

  async def _run(self, xm, xm_local, todo, progress, outcome) -> None:
    semaphore = asyncio.Semaphore(self.parallel)
    succeeded = {j.name: True for j in outcome.skipped}
    ended = {j.name: asyncio.Event() for j in todo}
    try:
      async with xm_local.create_experiment(experiment_title=self.sweep_name) as exp:
        logging.info("XManager experiment %s: %d jobs, %d at a time",
                     exp.experiment_id, len(todo), self.parallel)
        [bash] = exp.package([xm.binary(path="/bin/bash",
                                        executor_spec=xm_local.LocalSpec())])

        async def one(job: Job) -> None:
          for name in job.after:
            if name in ended:
              await ended[name].wait()
          failed = job_graph.blockers(job, succeeded)
          if failed:
            succeeded[job.name] = False
            outcome.not_run.append(job)
            logging.error("%s", job_graph.not_run_message(job, failed))
            progress.job_not_run(job.name)
            ended[job.name].set()
            return
          async with semaphore:
            os.makedirs(job.workdir, exist_ok=True)
            start = time.monotonic()
            error = ""
            try:
              unit = await exp.add(xm.Job(
                  bash, executor=xm_local.Local(experimental_stream_output=False),
                  args=["-c", self.command(job)],
                  env_vars={k: str(v) for k, v in job.env.items()}))
              await unit.wait_until_complete()
            except Exception as e:  # pylint: disable=broad-except
              error = f"{type(e).__name__}: {e}"
            ok = not error and job.is_done()
            if not ok:
              logging.error("job %s failed (%s); log: %s", job.name,
                            error or f"no {job.done_file}",
                            os.path.join(job.workdir, LOG_FILE))
            (outcome.finished if ok else outcome.failed).append(job)
            progress.job_finished(job.name, time.monotonic() - start, ok)
            succeeded[job.name] = ok
            ended[job.name].set()

        await asyncio.gather(*(one(j) for j in todo))
    except RuntimeError as e:
      # On exit xm_local re-raises the first failed unit; failures are recorded.
      if not outcome.failed:
        raise
      logging.info("XManager experiment ended with failed units: %s", e)
