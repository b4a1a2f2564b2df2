r"""Runs a sweep: ``python -m launch.run --sweep=launch/sweeps/classical.py``.

Expands the sweep file into jobs, validates them, puts the jobs that make
their inputs first (one ``prepare`` per dataset, one ``extract_embeddings``
per teacher set read; ``--nodata_first`` leaves that to each job), skips
finished ones (their workdir has their done marker), runs the rest with the chosen executor, logs
progress with an ETA, and, with ``--report_dir``, writes the report tables
over the sweep's workdirs. Run it from the repository root. Examples::

  python -m launch.run --sweep=launch/sweeps/classical.py --root=runs/classical --tiny \
      --report_dir=runs/classical/report
  python -m launch.run --sweep=launch/sweeps/har_models.py --executor=local_parallel \
      --parallel=4
  python -m launch.run --sweep=launch/sweeps/scaling.py --executor=slurm \
      --slurm_partition=gpu --slurm_gpus_per_node=8 --slurm_setup='source venv/bin/activate'
  python -m launch.run --sweep=launch/sweeps/classical.py:folds=2 --dry_run \
      --set=data.raw_dir=gs://bucket/pilot --set=data.synthetic.with_video=False
"""

from __future__ import annotations

import os
import re
import sys
from typing import List, Sequence

from absl import app
from absl import flags
from absl import logging

from egoimu_jax import cli
from launch import data_jobs
from launch import report_hook
from launch import sweep as sweep_lib
from launch.executors import slurm
from launch.job import Job

EXECUTORS = ("local", "local_parallel", "slurm", "xmanager")

_SWEEP = flags.DEFINE_string("sweep", None, "Sweep file, optionally with ':arg'.")
_ROOT = flags.DEFINE_string(
    "root", None, "Directory under which job workdirs go. Default: runs/<sweep "
    "name>[_tiny].")
_EXECUTOR = flags.DEFINE_enum("executor", "local", EXECUTORS, "Where jobs run.")
_PARALLEL = flags.DEFINE_integer(
    "parallel", 0, "Jobs at once: local_parallel (0: CPU count), xmanager (0: 1).")
_TINY = flags.DEFINE_bool("tiny", False, "Pass tiny=True to the sweep (small configs).")
_SET = flags.DEFINE_multi_string(
    "set", [], "Config override for every job, key=value (e.g. "
    "--set=data.raw_dir=gs://bucket/pilot); repeat for more.")
_ONLY = flags.DEFINE_string(
    "only", "", "Regex: run only jobs whose name matches (the report still "
    "covers the whole sweep).")
_DATA_FIRST = flags.DEFINE_bool(
    "data_first", True,
    "Run one prepare job per dataset (and one extraction per teacher set "
    "read) before the jobs that read it (launch.data_first); "
    "--nodata_first leaves it to each job.")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print the jobs and commands; run nothing.")
_RERUN = flags.DEFINE_bool("rerun", False, "Run jobs even if they are done already.")
_PYTHON = flags.DEFINE_string("python", sys.executable, "Interpreter that runs the jobs.")
_FORK = flags.DEFINE_bool(
    "fork", True, "local executors: fork each job from a process that "
    "imported the engine once (3 s of CPU less per job) instead of starting "
    "a fresh interpreter (--nofork).")
_REPORT_DIR = flags.DEFINE_string(
    "report_dir", "", "After the jobs, write the report over the sweep's workdirs here.")


def expand(spec: str, root: str, tiny: bool = False,
           overrides: Sequence[str] = (), only: str = "") -> List[Job]:
  """The sweep's jobs (those matching ``only``) with workdirs resolved under
  ``root``; ``overrides`` apply to those jobs only."""
  extra = dict(sweep_lib.parse_override(o) for o in overrides)
  _, jobs = sweep_lib.load_sweep(spec, "tiny=True" if tiny else "", extra,
                                 only=only)
  return [j.resolve(root) for j in jobs]


def select(jobs: Sequence[Job], only: str) -> List[Job]:
  """The jobs whose name matches the regex ``only`` (all if empty)."""
  picked = [j for j in jobs if re.search(only, j.name)]
  if not picked:
    raise sweep_lib.SweepError(f"--only={only!r} matches no job")
  return picked


def make_executor(name: str, root: str, sweep_name: str):
  """The executor for ``--executor`` (SLURM's reads its own ``--slurm_*``
  flags; the others are imported only when asked for)."""
  if name in ("local", "local_parallel"):
    from launch.executors import local  # pylint: disable=g-import-not-at-top
    parallel = 1 if name == "local" else (_PARALLEL.value or os.cpu_count() or 1)
    return local.LocalExecutor(parallel=parallel, python=_PYTHON.value,
                               rerun=_RERUN.value, fork=_FORK.value)
  if name == "slurm":
    return slurm.from_flags(root, sweep_name, python=_PYTHON.value,
                            rerun=_RERUN.value)
  if name == "xmanager":
    from launch.executors import xm  # pylint: disable=g-import-not-at-top
    return xm.XManagerExecutor(sweep_name, python=_PYTHON.value, rerun=_RERUN.value,
                               parallel=_PARALLEL.value or 1)
  raise ValueError(f"unknown executor {name!r}; known: {EXECUTORS}")


def main(argv: Sequence[str]) -> int:
  """Runs the sweep: 0 when every job finished, else 1."""
  del argv  # no positional arguments (cli.run)
  if not _SWEEP.value:
    raise app.UsageError("--sweep is required")
  sweep_name = os.path.splitext(os.path.basename(_SWEEP.value.split(":")[0]))[0]
  # Tiny runs get their own default root; launch_job.json guards explicit ones.
  default_root = os.path.join("runs", sweep_name + ("_tiny" if _TINY.value else ""))
  root = os.path.abspath(_ROOT.value or default_root)
  sweep_jobs = expand(_SWEEP.value, root, _TINY.value, _SET.value,
                      _ONLY.value)
  jobs = select(sweep_jobs, _ONLY.value)
  if _DATA_FIRST.value:
    jobs = [j.resolve(root) for j in data_jobs.data_first(jobs)]
  if _DRY_RUN.value:
    for j in jobs:
      print(f"{j.name}\t{'done' if j.is_done() else 'todo'}\t{j.shell(_PYTHON.value)}")
    return 0
  executor = make_executor(_EXECUTOR.value, root, sweep_name)
  outcome = executor.run(jobs)
  logging.info("sweep %s: %s", sweep_name, outcome.summary())
  for j in outcome.failed:
    logging.error("failed: %s (%s)", j.name, j.workdir)
  if _REPORT_DIR.value:
    if outcome.submitted:
      logging.warning("jobs were submitted, not waited for; the report covers only "
                      "finished runs (use --slurm_wait)")
    try:
      # The whole sweep's finished runs, also when --only ran a few of them.
      report_hook.write_report(sweep_jobs, _REPORT_DIR.value,
                               python=_PYTHON.value)
    except RuntimeError as e:
      logging.error("%s", e)
      return 1
  return 0 if outcome.ok else 1


if __name__ == "__main__":
  flags.mark_flag_as_required("sweep")
  cli.run(main)
