"""What the jobs of a sweep wait for (``Job.after``), for the executors.

A job names the jobs it waits for (say the ``prepare`` job of its dataset).
``check`` rejects a name that is not a job of the sweep and a job that waits
for itself through others; ``waves`` orders jobs for executors that submit
ahead of time (SLURM); ``ready`` and ``blockers`` tell a job that may start from one that
never will (a job it waits for failed).
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence

from launch.job import Job


class DependencyError(ValueError):
  """A job waits for an unknown job, or jobs wait for each other."""


def check(jobs: Sequence[Job]) -> None:
  """Raises DependencyError unless every ``after`` name is a job of
  ``jobs`` and the jobs can run in some order."""
  names = {j.name for j in jobs}
  for j in jobs:
    unknown = [d for d in j.after if d not in names]
    if unknown:
      raise DependencyError(f"job {j.name} waits for {unknown[0]!r}, which is "
                            f"not a job of the sweep")
  waves(jobs)


def waves(jobs: Sequence[Job]) -> List[List[Job]]:
  """``jobs`` in waves, each in the given order: a job is one wave after
  the last job it waits for among ``jobs`` (others are done: no wait)."""
  by_name = {j.name: j for j in jobs}
  wave: Dict[str, int] = {}
  visiting = set()

  def depth(job: Job) -> int:
    if job.name in wave:
      return wave[job.name]
    if job.name in visiting:
      raise DependencyError(f"job {job.name} waits for itself (through "
                            f"{', '.join(sorted(visiting - {job.name}))})")
    visiting.add(job.name)
    wave[job.name] = 1 + max((depth(by_name[d]) for d in job.after
                              if d in by_name), default=-1)
    visiting.discard(job.name)
    return wave[job.name]

  out: List[List[Job]] = []
  for j in jobs:
    d = depth(j)
    out.extend([] for _ in range(d + 1 - len(out)))
  for j in jobs:
    out[wave[j.name]].append(j)
  return out


def blockers(job: Job, succeeded: Mapping[str, bool]) -> List[str]:
  """The jobs ``job`` waits for that ended without success
  (``succeeded[name]`` False); jobs not in ``succeeded`` have not ended."""
  return [d for d in job.after if succeeded.get(d) is False]


def ready(job: Job, succeeded: Mapping[str, bool]) -> bool:
  """Every job ``job`` waits for has succeeded (``succeeded[name]`` True)."""
  return all(succeeded.get(d, False) for d in job.after)


def not_run_message(job: Job, failed: Sequence[str]) -> str:
  return (f"job {job.name} not run: it waits for {', '.join(failed)}, which "
          f"did not succeed")
