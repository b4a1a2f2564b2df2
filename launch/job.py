"""One run of ``egoimu_jax.main``: a config, overrides and a workdir.

A job is finished when its workdir holds ``results.json`` (Contract 5; the
evaluation writer writes it last and atomically). ``is_done`` is the only
place that decides this: executors skip finished jobs with it, and SLURM
array tasks call it again before they start (``python -m launch.job``).
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence

# Contract 5; mirrored here so that launch stays importable without numpy/jax.
RESULTS_FILE = "results.json"


def is_done(workdir: str) -> bool:
  """The DONE criterion: ``<workdir>/results.json`` exists."""
  path = workdir.rstrip("/") + "/" + RESULTS_FILE
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
  """

  config: str
  workdir: str
  overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  name: str = ""
  tags: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  num_hosts: int = 1
  env: Mapping[str, str] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    if not self.name:
      object.__setattr__(self, "name", self.workdir)
    if self.num_hosts < 1:
      raise ValueError(f"job {self.name}: num_hosts must be >= 1")

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


def pending(jobs: Sequence[Job]) -> List[Job]:
  """The jobs that are not done (resolved jobs: absolute workdirs)."""
  return [j for j in jobs if not is_done(j.workdir)]


def environment(job: Job, base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
  """The process environment of ``job``: ``base`` (default os.environ) + job.env."""
  env = dict(os.environ if base is None else base)
  env.update({k: str(v) for k, v in job.env.items()})
  return env


def _main(argv: Sequence[str]) -> int:
  """``python -m launch.job WORKDIR``: exit 0 if done (for shell scripts)."""
  if len(argv) != 2:
    print("usage: python -m launch.job WORKDIR", file=sys.stderr)
    return 2
  return 0 if is_done(argv[1]) else 1


if __name__ == "__main__":
  sys.exit(_main(sys.argv))
