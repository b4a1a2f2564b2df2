"""One run of ``egoimu_jax.main``: a config, overrides and a workdir.

A job is finished when its workdir holds ``results.json`` (Contract 5; the
evaluation writer writes it last and atomically), or, for a job that runs a
whole experiment of nested runs, the file it writes last (``Job.done_file``).
``is_done`` is the only place that decides this: executors skip finished
jobs with it, and SLURM array tasks call it again before they start
(``python -m launch.job WORKDIR [DONE_FILE]``).

Before a job runs, or is skipped as done, its identity (config and
overrides) is written to, or checked against, ``<workdir>/launch_job.json``:
a workdir that holds another job's results or checkpoints (say a ``tiny``
run under the same root) is an error, never silently reused.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from egoimu_jax import errors

# Contract 5; mirrored here so that launch stays importable without numpy/jax.
RESULTS_FILE = "results.json"
JOB_FILE = "launch_job.json"
# Job tag that splits a sweep's report into one report per value.
REPORT_TAG = "report"


class WorkdirConflict(errors.UserError, ValueError):
  """A workdir belongs to a different job."""


def is_done(workdir: str, done_file: str = RESULTS_FILE) -> bool:
  """The DONE criterion: ``<workdir>/<done_file>`` (results.json) exists."""
  path = workdir.rstrip("/") + "/" + done_file
  if "://" in workdir:
    import fsspec  # pylint: disable=g-import-not-at-top
    return fsspec.core.url_to_fs(path)[0].exists(path)
  return os.path.isfile(path)


def format_override(value: Any) -> str:
  """A value as ``--config.k=<value>`` parses it (ml_collections config_flags)."""
  if isinstance(value, str):
    return value
  if isinstance(value, (list, tuple)):
    return repr(tuple(value))
  return repr(value)


@dataclasses.dataclass(frozen=True)
class Job:
  """A run of ``python -m egoimu_jax.main``.

  Attributes:
    config: ``"configs/x.py[:arg]"``, relative to the repository root.
    workdir: the run's directory; relative paths are under the sweep root.
    overrides: ``{"protocol.fold": 0}`` -> ``--config.protocol.fold=0``.
    name: a readable id; defaults to ``workdir``.
    tags: facts reports and sweeps group by (model, protocol, fold, scale).
    num_hosts: processes, one per host (SLURM nodes); > 1 runs under srun and
      each process initialises ``jax.distributed`` from the SLURM environment.
    env: extra environment variables for the job's processes.
    done_file: the file whose presence marks the job done, relative to the
      workdir: ``results.json`` for a run; what an experiment job (several
      nested runs) writes last, as ``egoimu_jax.jobs.done_file`` names it.
    run_globs: where the job's Contract-5 runs are, relative to the workdir
      (``.``: the workdir is the run), for the sweep's report.
    after: names of the jobs of the sweep this job waits for: it runs only
      once they have succeeded (or were done before), and not at all if one
      of them fails (``launch/job_graph.py``).
  """

  config: str
  workdir: str
  overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  name: str = ""
  tags: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  num_hosts: int = 1
  env: Mapping[str, str] = dataclasses.field(default_factory=dict)
  done_file: str = RESULTS_FILE
  run_globs: Tuple[str, ...] = (".",)
  after: Tuple[str, ...] = ()

  def __post_init__(self):
    if not self.name:
      object.__setattr__(self, "name", self.workdir)
    if self.num_hosts < 1:
      raise ValueError(f"job {self.name}: num_hosts must be >= 1")
    if isinstance(self.after, str):
      raise ValueError(f"job {self.name}: after must be a sequence of job "
                       f"names, got the string {self.after!r}")
    object.__setattr__(self, "after", tuple(self.after))

  def is_done(self) -> bool:
    return is_done(self.workdir, self.done_file)

  def runs(self) -> List[str]:
    """Workdir globs of the job's runs (for ``egoimu_jax.report``)."""
    return [self.workdir if g == "." else os.path.join(self.workdir, g)
            for g in self.run_globs]

  @property
  def config_path(self) -> str:
    return self.config.split(":", 1)[0]

  @property
  def config_arg(self) -> Optional[str]:
    parts = self.config.split(":", 1)
    return parts[1] if len(parts) > 1 else None

  def resolve(self, root: str) -> "Job":
    """This job with its workdir made absolute under ``root``."""
    if os.path.isabs(self.workdir) or "://" in self.workdir:
      return self
    return dataclasses.replace(self, workdir=os.path.join(os.path.abspath(root),
                                                          self.workdir))

  def argv(self, python: str = sys.executable) -> List[str]:
    """The command line (run it from the repository root)."""
    cmd = [python, "-m", "egoimu_jax.main", f"--config={self.config}",
           f"--workdir={self.workdir}"]
    cmd += [f"--config.{k}={format_override(v)}" for k, v in self.overrides.items()]
    return cmd

  def shell(self, python: str = sys.executable) -> str:
    return " ".join(shlex.quote(a) for a in self.argv(python))


def identity(job: Job) -> Dict[str, Any]:
  """What makes two jobs the same run: config and overrides (as passed)."""
  return {"config": job.config,
          "overrides": {k: format_override(v) for k, v in job.overrides.items()}}


def claim(job: Job) -> None:
  """Records the job in its workdir, or checks the record already there.

  Raises:
    WorkdirConflict: the workdir was made by a job with another config or
      other overrides.
  """
  if "://" in job.workdir:
    return  # Remote workdirs: the run itself re-validates its split.
  path = os.path.join(job.workdir, JOB_FILE)
  mine = identity(job)
  if os.path.exists(path):
    with open(path) as f:
      theirs = json.load(f)
    if theirs != mine:
      diff = sorted(k for k in set(theirs["overrides"]) | set(mine["overrides"])
                    if theirs["overrides"].get(k) != mine["overrides"].get(k))
      what = [f"config {theirs['config']!r} != {mine['config']!r}"] if (
          theirs["config"] != mine["config"]) else []
      what += [f"{k}: {theirs['overrides'].get(k)!r} != {mine['overrides'].get(k)!r}"
               for k in diff]
      raise WorkdirConflict(
          f"{job.workdir} belongs to another job ({'; '.join(what)}); use another "
          f"--root, or delete the workdir to run this job there")
    return
  os.makedirs(job.workdir, exist_ok=True)
  tmp = f"{path}.tmp.{os.getpid()}"
  with open(tmp, "w") as f:
    json.dump(mine, f, indent=1)
  os.replace(tmp, path)


def partition(jobs: Sequence[Job], rerun: bool = False
              ) -> Tuple[List[Job], List[Job]]:
  """(to run, done before): claims every workdir first (see ``claim``)."""
  for j in jobs:
    claim(j)
  if rerun:
    return list(jobs), []
  done = [j.is_done() for j in jobs]
  return ([j for j, d in zip(jobs, done) if not d],
          [j for j, d in zip(jobs, done) if d])


def environment(job: Job, base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
  """The process environment of ``job``: ``base`` (default os.environ) + job.env."""
  env = dict(os.environ if base is None else base)
  env.update({k: str(v) for k, v in job.env.items()})
  return env


def _main(argv: Sequence[str]) -> int:
  """``python -m launch.job WORKDIR [DONE_FILE]``: exit 0 if done (for scripts)."""
  if len(argv) not in (2, 3):
    print("usage: python -m launch.job WORKDIR [DONE_FILE]", file=sys.stderr)
    return 2
  return 0 if is_done(*argv[1:]) else 1


if __name__ == "__main__":
  sys.exit(_main(sys.argv))
