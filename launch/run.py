r"""Runs a sweep: ``python -m launch.run --sweep=launch/sweeps/classical.py``.

Expands the sweep file into jobs, validates them, skips finished ones (their
workdir has results.json), runs the rest with the chosen executor, logs
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

from egoimu_jax import errors
from launch import report_hook
from launch import sweep as sweep_lib
from launch.job import Job
from launch.job import WorkdirConflict

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
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print the jobs and commands; run nothing.")
_RERUN = flags.DEFINE_bool("rerun", False, "Run jobs even if they are done already.")
_PYTHON = flags.DEFINE_string("python", sys.executable, "Interpreter that runs the jobs.")
_REPORT_DIR = flags.DEFINE_string(
    "report_dir", "", "After the jobs, write the report over the sweep's workdirs here.")
_SLURM_PARTITION = flags.DEFINE_string("slurm_partition", "", "sbatch --partition.")
_SLURM_ACCOUNT = flags.DEFINE_string("slurm_account", "", "sbatch --account.")
_SLURM_QOS = flags.DEFINE_string("slurm_qos", "", "sbatch --qos.")
_SLURM_TIME = flags.DEFINE_string("slurm_time", "24:00:00", "sbatch --time per job.")
_SLURM_GPUS = flags.DEFINE_integer("slurm_gpus_per_node", 0, "sbatch --gpus-per-node.")
_SLURM_CPUS = flags.DEFINE_integer("slurm_cpus_per_task", 0, "sbatch --cpus-per-task.")
_SLURM_MEM = flags.DEFINE_string("slurm_mem", "", "sbatch --mem.")
_SLURM_MAX = flags.DEFINE_integer(
    "slurm_max_concurrent", 0, "Array throttle (%N): at most N jobs at once.")
_SLURM_SETUP = flags.DEFINE_string(
    "slurm_setup", "", "Shell lines run before each job (module load, venv).")
_SLURM_EXTRA = flags.DEFINE_multi_string("slurm_extra", [], "More sbatch options.")
_SLURM_WAIT = flags.DEFINE_bool(
    "slurm_wait", False, "Wait for the arrays, logging progress (needed for --report_dir).")
_SLURM_POLL = flags.DEFINE_float("slurm_poll_seconds", 60.0, "Poll interval with --slurm_wait.")


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
  """The executor for ``--executor`` (imports only what it needs)."""
  if name in ("local", "local_parallel"):
    from launch.executors import local  # pylint: disable=g-import-not-at-top
    parallel = 1 if name == "local" else (_PARALLEL.value or os.cpu_count() or 1)
    return local.LocalExecutor(parallel=parallel, python=_PYTHON.value,
                               rerun=_RERUN.value)
  if name == "slurm":
    from launch.executors import slurm  # pylint: disable=g-import-not-at-top
    options = slurm.SlurmOptions(
        partition=_SLURM_PARTITION.value, account=_SLURM_ACCOUNT.value,
        qos=_SLURM_QOS.value, time=_SLURM_TIME.value, gpus_per_node=_SLURM_GPUS.value,
        cpus_per_task=_SLURM_CPUS.value, mem=_SLURM_MEM.value,
        max_concurrent=_SLURM_MAX.value, setup=_SLURM_SETUP.value,
        extra=tuple(_SLURM_EXTRA.value))
    return slurm.SlurmExecutor(root, sweep_name, options, python=_PYTHON.value,
                               rerun=_RERUN.value, wait=_SLURM_WAIT.value,
                               poll_seconds=_SLURM_POLL.value)
  if name == "xmanager":
    from launch.executors import xm  # pylint: disable=g-import-not-at-top
    return xm.XManagerExecutor(sweep_name, python=_PYTHON.value, rerun=_RERUN.value,
                               parallel=_PARALLEL.value or 1)
  raise ValueError(f"unknown executor {name!r}; known: {EXECUTORS}")


def _message(error: Exception) -> str:
  """One line; a KeyError quoted inside the message (a misspelt override,
  with its "did you mean") is shown as plain text."""
  text = str(error)
  cause = error.__cause__ or error.__context__
  if isinstance(cause, (KeyError, AttributeError)):
    quoted = f"{type(cause).__name__}: {cause}"
    if text.endswith(quoted):
      text = text[:-len(quoted)] + f"no field {errors.one_line(cause)}"
  return errors.one_line(ValueError(text))


def main(argv: Sequence[str]) -> int:
  """Runs the sweep; a sweep or workdir error is one line and exit code 2."""
  try:
    return _main(argv)
  except (sweep_lib.SweepError, WorkdirConflict, errors.UserError) as e:
    print(f"launch.run: error: {_message(e)}", file=sys.stderr, flush=True)
    return errors.EXIT_CODE


def _main(argv: Sequence[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not _SWEEP.value:
    raise app.UsageError("--sweep is required")
  sweep_name = os.path.splitext(os.path.basename(_SWEEP.value.split(":")[0]))[0]
  # Tiny runs get their own default root; launch_job.json guards explicit ones.
  default_root = os.path.join("runs", sweep_name + ("_tiny" if _TINY.value else ""))
  root = os.path.abspath(_ROOT.value or default_root)
  sweep_jobs = expand(_SWEEP.value, root, _TINY.value, _SET.value,
                      _ONLY.value)
  jobs = select(sweep_jobs, _ONLY.value)
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
  app.run(lambda argv: sys.exit(main(argv)))
