"""Submits jobs to SLURM as sbatch job arrays (one array task per job).

Jobs are grouped by host count; each group becomes one script
``<root>/_slurm/<sweep>-<time>/array_<h>host.sbatch`` with ``--array=0-(n-1)``
and a ``case`` on ``SLURM_ARRAY_TASK_ID`` that picks the job. A task whose
workdir is already done exits at once (``python -m launch.job``), so arrays
can be resubmitted after a preemption. Multi-host jobs run under ``srun``
with one task per host; each process reads its ``jax.distributed`` settings
from the SLURM environment (``egoimu_jax.training.cluster_env``).

Jobs that wait for others (``Job.after``) go into later waves
(``launch/job_graph.py``): the arrays of wave k are named
``array_<h>host_wave<k>.sbatch`` and submitted with
``--dependency=afterok:<ids>`` on the arrays that hold what they wait for
(and ``--kill-on-invalid-dep=yes``: a failed dependency cancels them).

``jobs.json`` next to the scripts maps array indices to jobs, and
``submitted.json`` records the SLURM job ids.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import sys
import time
from typing import Dict, List, Sequence, Tuple

from absl import flags
from absl import logging

from launch import job_graph
from launch import sweep_progress
from launch.executors.base import Outcome
from launch.job import Job, partition
from launch.sweep import REPO_ROOT

# The command line of this executor (``python -m launch.run --executor=slurm``).
_PARTITION = flags.DEFINE_string("slurm_partition", "", "sbatch --partition.")
_ACCOUNT = flags.DEFINE_string("slurm_account", "", "sbatch --account.")
_QOS = flags.DEFINE_string("slurm_qos", "", "sbatch --qos.")
_TIME = flags.DEFINE_string("slurm_time", "24:00:00", "sbatch --time per job.")
_GPUS = flags.DEFINE_integer("slurm_gpus_per_node", 0, "sbatch --gpus-per-node.")
_CPUS = flags.DEFINE_integer("slurm_cpus_per_task", 0, "sbatch --cpus-per-task.")
_MEM = flags.DEFINE_string("slurm_mem", "", "sbatch --mem.")
_MAX = flags.DEFINE_integer(
    "slurm_max_concurrent", 0, "Array throttle (%N): at most N jobs at once.")
_SETUP = flags.DEFINE_string(
    "slurm_setup", "", "Shell lines run before each job (module load, venv).")
_EXTRA = flags.DEFINE_multi_string("slurm_extra", [], "More sbatch options.")
_WAIT = flags.DEFINE_bool(
    "slurm_wait", False, "Wait for the arrays, logging progress (needed for --report_dir).")
_POLL = flags.DEFINE_float("slurm_poll_seconds", 60.0, "Poll interval with --slurm_wait.")


@dataclasses.dataclass
class SlurmOptions:
  """Per-array-task resources and site setup. Empty fields are left out."""

  partition: str = ""
  account: str = ""
  qos: str = ""
  time: str = "24:00:00"
  gpus_per_node: int = 0
  cpus_per_task: int = 0
  mem: str = ""
  max_concurrent: int = 0        # array throttle: at most this many tasks at once
  setup: str = ""                # shell lines before each job (module load, venv)
  extra: Tuple[str, ...] = ()    # more sbatch options, e.g. "--constraint=h100"


class SlurmExecutor:
  """Writes and submits sbatch array scripts; optionally waits for them."""

  def __init__(self, root: str, sweep_name: str, options: SlurmOptions = SlurmOptions(),
               python: str = sys.executable, rerun: bool = False, sbatch: str = "sbatch",
               squeue: str = "squeue", wait: bool = False, poll_seconds: float = 60.0,
               cwd: str = REPO_ROOT):
    self.root = root
    self.sweep_name = sweep_name
    self.options = options
    self.python = python
    self.rerun = rerun
    self.sbatch = sbatch
    self.squeue = squeue
    self.wait = wait
    self.poll_seconds = poll_seconds
    self.cwd = cwd

  def write_scripts(self, jobs: Sequence[Job], script_dir: str
                    ) -> List[Tuple[str, List[Job]]]:
    """Writes one array script per wave and host count, in submission
    order; returns (path, its jobs)."""
    os.makedirs(os.path.join(script_dir, "logs"), exist_ok=True)
    scripts, index = [], {}
    for wave, members in enumerate(job_graph.waves(jobs)):
      groups: Dict[int, List[Job]] = {}
      for j in members:
        groups.setdefault(j.num_hosts, []).append(j)
      for hosts, group in sorted(groups.items()):
        name = f"array_{hosts}host" + (f"_wave{wave}" if wave else "")
        path = os.path.join(script_dir, f"{name}.sbatch")
        with open(path, "w") as f:
          f.write(self.script(group, hosts, script_dir))
        os.chmod(path, 0o755)
        scripts.append((path, group))
        index[os.path.basename(path)] = [
            {"array_index": i, "name": j.name, "workdir": j.workdir,
             "command": j.shell(self.python)} for i, j in enumerate(group)]
    with open(os.path.join(script_dir, "jobs.json"), "w") as f:
      json.dump(index, f, indent=1)
    return scripts

  def script(self, jobs: Sequence[Job], hosts: int, script_dir: str) -> str:
    o = self.options
    array = f"0-{len(jobs) - 1}" + (f"%{o.max_concurrent}" if o.max_concurrent else "")
    directives = [
        f"--job-name={self.sweep_name}", f"--array={array}", f"--nodes={hosts}",
        "--ntasks-per-node=1",
        f"--output={os.path.join(script_dir, 'logs', '%A_%a.out')}",
    ]
    for flag, value in (("partition", o.partition), ("account", o.account),
                        ("qos", o.qos), ("time", o.time), ("mem", o.mem),
                        ("gpus-per-node", o.gpus_per_node),
                        ("cpus-per-task", o.cpus_per_task)):
      if value:
        directives.append(f"--{flag}={value}")
    directives += list(o.extra)
    q = shlex.quote
    lines = ["#!/bin/bash"] + [f"#SBATCH {d}" for d in directives] + [
        f"# Written by launch for sweep {self.sweep_name}: one array task per job "
        f"(see jobs.json).",
        "set -euo pipefail",
        f"cd {q(self.cwd)}",
    ]
    if o.setup:
      lines += o.setup.splitlines()
    lines += [f"PYTHON={q(self.python)}", 'case "$SLURM_ARRAY_TASK_ID" in']
    for i, j in enumerate(jobs):
      args = " ".join(q(a) for a in j.argv("PYTHON")[1:])
      exports = "".join(f" export {k}={q(str(v))};" for k, v in j.env.items())
      lines.append(f"  {i}) WORKDIR={q(j.workdir)}; DONE_FILE={q(j.done_file)};{exports} "
                   f'CMD=("$PYTHON" {args}) ;;')
    lines += [
        '  *) echo "no job for array task $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;',
        "esac",
        'if "$PYTHON" -m launch.job "$WORKDIR" "$DONE_FILE"; then',
        '  echo "$WORKDIR is done already; nothing to run"; exit 0',
        "fi",
        'mkdir -p "$WORKDIR"',
        'echo "$(date) ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on $(hostname): '
        '${CMD[*]}"',
    ]
    if hosts > 1:
      # One process per host; each reads SLURM_PROCID etc. (cluster_env).
      lines.append(f'srun --nodes={hosts} --ntasks={hosts} --ntasks-per-node=1 '
                   '--kill-on-bad-exit=1 "${CMD[@]}"')
    else:
      lines.append('"${CMD[@]}"')
    return "\n".join(lines) + "\n"

  def run(self, jobs: Sequence[Job]) -> Outcome:
    job_graph.check(jobs)
    todo, skipped = partition(jobs, self.rerun)
    outcome = Outcome(skipped=skipped)
    if not todo:
      logging.info("all %d jobs are done already; nothing to submit", len(jobs))
      return outcome
    script_dir = os.path.join(self.root, "_slurm",
                              f"{self.sweep_name}-{time.strftime('%Y%m%d-%H%M%S')}")
    submitted, array_of = [], {}
    for path, group in self.write_scripts(todo, script_dir):
      waits = sorted({array_of[d] for j in group for d in j.after
                      if d in array_of})
      dependency = ([f"--dependency=afterok:{':'.join(waits)}",
                     "--kill-on-invalid-dep=yes"] if waits else [])
      proc = subprocess.run([self.sbatch, "--parsable", *dependency, path],
                            capture_output=True, text=True, check=False)
      if proc.returncode:
        raise RuntimeError(f"sbatch {path} failed (exit {proc.returncode}): "
                           f"{proc.stderr.strip() or proc.stdout.strip()}")
      job_id = proc.stdout.strip().split(";")[0]
      array_of.update({j.name: job_id for j in group})
      logging.info("submitted %s: SLURM array job %s with %d tasks", path, job_id,
                   len(group))
      submitted.append({"script": path, "job_id": job_id,
                        "jobs": [j.name for j in group]})
    with open(os.path.join(script_dir, "submitted.json"), "w") as f:
      json.dump(submitted, f, indent=1)
    outcome.submitted = todo
    if self.wait:
      self._wait(jobs, outcome, [s["job_id"] for s in submitted])
    return outcome

  def _wait(self, jobs: Sequence[Job], outcome: Outcome, job_ids: List[str]) -> None:
    """Polls workdirs until every job is done or SLURM has none of them left."""
    progress = sweep_progress.Progress(len(jobs), skipped=len(outcome.skipped))
    while True:
      done = [j for j in outcome.submitted if j.is_done()]
      progress.observe_done(len(outcome.skipped) + len(done))
      if len(done) == len(outcome.submitted) or not self._queued(job_ids):
        break
      time.sleep(self.poll_seconds)
    outcome.finished = [j for j in outcome.submitted if j.is_done()]
    outcome.failed = [j for j in outcome.submitted if not j.is_done()]
    outcome.submitted = []
    for j in outcome.failed:
      logging.error("job %s left SLURM without %s (workdir %s)", j.name,
                    j.done_file, j.workdir)

  def _queued(self, job_ids: List[str]) -> bool:
    proc = subprocess.run([self.squeue, "-h", "-o", "%i", "-j", ",".join(job_ids)],
                          capture_output=True, text=True, check=False)
    # squeue exits non-zero for ids it no longer knows: nothing queued.
    return proc.returncode == 0 and bool(proc.stdout.strip())


def from_flags(root: str, sweep_name: str, python: str = sys.executable,
               rerun: bool = False) -> SlurmExecutor:
  """The executor the ``--slurm_*`` flags describe."""
  options = SlurmOptions(
      partition=_PARTITION.value, account=_ACCOUNT.value, qos=_QOS.value,
      time=_TIME.value, gpus_per_node=_GPUS.value, cpus_per_task=_CPUS.value,
      mem=_MEM.value, max_concurrent=_MAX.value, setup=_SETUP.value,
      extra=tuple(_EXTRA.value))
  return SlurmExecutor(root, sweep_name, options, python=python, rerun=rerun,
                       wait=_WAIT.value, poll_seconds=_POLL.value)
