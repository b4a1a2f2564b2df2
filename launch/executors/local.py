"""Runs jobs on this machine: one at a time, or N processes at once."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import time
from typing import Optional, Sequence

from absl import logging

from launch import job_graph
from launch import sweep_progress
from launch.executors import zygote
from launch.executors.base import Outcome
from launch.job import Job, environment, partition
from launch.sweep import REPO_ROOT

LOG_FILE = "launch.log"  # the job's stdout and stderr, in its workdir


class LocalExecutor:
  """Runs each job as ``python -m egoimu_jax.main ...`` in a subprocess.

  With ``fork`` (the default where the jobs' interpreter is this one), each
  job's process is forked from a zygote that imported the engine once
  (``zygote.py``: 3 s of CPU less per job) instead of a fresh interpreter.

  Jobs whose workdir is already done are skipped (unless ``rerun``). A job
  starts once the jobs it waits for (``Job.after``) have succeeded, in sweep
  order otherwise; it succeeds when it exits 0 *and* leaves its done file;
  its output goes to ``<workdir>/launch.log``. A failed job does not stop
  the others, only the jobs that wait for it (``Outcome.not_run``).
  """

  def __init__(self, parallel: int = 1, python: str = sys.executable,
               rerun: bool = False, cwd: str = REPO_ROOT,
               fork: bool = True):
    if parallel < 1:
      raise ValueError(f"parallel must be >= 1, got {parallel}")
    self.parallel = parallel
    self.python = python
    self.rerun = rerun
    self.cwd = cwd
    self.fork = fork and hasattr(os, "fork")
    self._zygotes: Optional[zygote.Pool] = None

  def run(self, jobs: Sequence[Job],
          progress: Optional[sweep_progress.Progress] = None) -> Outcome:
    job_graph.check(jobs)
    todo, skipped = partition(jobs, self.rerun)
    progress = progress or sweep_progress.Progress(
        len(jobs), min(self.parallel, max(len(todo), 1)), skipped=len(skipped))
    logging.info("%d jobs: %d to run, %d done before; %d at a time",
                 len(jobs), len(todo), len(skipped), self.parallel)
    outcome = Outcome(skipped=skipped)
    succeeded = {j.name: True for j in skipped}
    waiting = list(todo)
    self._zygotes = zygote.Pool(self.python, self.cwd) if self.fork else None
    try:
      self._run_all(waiting, outcome, succeeded, progress)
    finally:
      if self._zygotes is not None:
        self._zygotes.close()
    order = {j.name: i for i, j in enumerate(todo)}
    for fate in (outcome.finished, outcome.failed, outcome.not_run):
      fate.sort(key=lambda j: order[j.name])
    return outcome

  def _run_all(self, waiting, outcome, succeeded, progress) -> None:
    with concurrent.futures.ThreadPoolExecutor(self.parallel) as pool:
      running = {}
      while waiting or running:
        for job in list(waiting):
          failed = job_graph.blockers(job, succeeded)
          if failed:
            waiting.remove(job)
            succeeded[job.name] = False
            outcome.not_run.append(job)
            logging.error("%s", job_graph.not_run_message(job, failed))
            progress.job_not_run(job.name)
          elif (len(running) < self.parallel and
                job_graph.ready(job, succeeded)):
            waiting.remove(job)
            running[pool.submit(self._run_one, job, progress)] = job
        if not running:
          continue  # jobs were marked not run: look again at those waiting
        ended, _ = concurrent.futures.wait(
            running, return_when=concurrent.futures.FIRST_COMPLETED)
        for future in ended:
          job = running.pop(future)
          succeeded[job.name] = future.result()
          (outcome.finished if succeeded[job.name] else
           outcome.failed).append(job)

  def _run_one(self, job: Job, progress: sweep_progress.Progress) -> bool:
    os.makedirs(job.workdir, exist_ok=True)
    log_path = os.path.join(job.workdir, LOG_FILE)
    start = time.monotonic()
    with open(log_path, "ab") as log:
      log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {job.shell(self.python)}\n"
                .encode())
      log.flush()
      rc = self._forked(job, log_path)
      if rc is None:
        rc = subprocess.run(job.argv(self.python), cwd=self.cwd, stdout=log,
                            stderr=subprocess.STDOUT, env=environment(job),
                            check=False).returncode
    ok = rc == 0 and job.is_done()
    if not ok:
      why = f"exit code {rc}" if rc else f"exit code 0 but no {job.done_file}"
      logging.error("job %s failed (%s); log: %s\n%s", job.name, why, log_path,
                    _tail(log_path))
    progress.job_finished(job.name, time.monotonic() - start, ok)
    return ok


  def _forked(self, job: Job, log_path: str) -> Optional[int]:
    """The job's exit status, run in a zygote's child; None if it was not
    (no fork, another interpreter, or no zygote could start)."""
    argv = job.argv(self.python)
    if (self._zygotes is None or self.python != sys.executable or
        argv[1:3] != ["-m", zygote.ENGINE]):
      return None
    rc = self._zygotes.run(argv[3:], os.path.abspath(log_path),
                         environment(job))
    if rc is None:
      logging.warning("job %s: no zygote process to fork from; running it "
                      "in a fresh interpreter", job.name)
    return rc


def _tail(path: str, lines: int = 15) -> str:
  with open(path, "rb") as f:
    f.seek(0, os.SEEK_END)
    f.seek(max(0, f.tell() - 8192))
    text = f.read().decode(errors="replace")
  return "\n".join("  | " + l for l in text.splitlines()[-lines:])
