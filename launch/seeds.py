"""Seed replicates: every sweep's ``seeds=N`` arg (issue 22, item 7).

``with_seeds(jobs, n)`` repeats each job ``n`` times with its training
seeds moved by ``i = 0 .. n-1``: ``config.seed`` (parameter init, dropout,
the engine's random streams) and ``config.input.shuffle_seed`` (the data
order and the normalisation subsample); the split (``protocol.seed``), the
dataset and any teacher set stay the same, so every replicate tests the
same people on the same windows and the spread is retraining variance.

Replicate 0 is the job as the sweep made it (same name, workdir and
overrides: results of a one-seed sweep stay valid), tagged ``seed``.
Replicate ``i > 0`` gets ``-seed<i>`` after its name and workdir
(``classical_rf/l20wo/fold0-seed1``, ``evimae-B/pretrain_all-seed1``): a
sibling of replicate 0's workdir, never inside it (a run's workdir holds
its checkpoints, lock and nested stages; deleting one replicate to rerun it
leaves the others), and waits for the replicate ``i`` of any job of the
sweep it waited for.
"""

from __future__ import annotations

import dataclasses
from typing import List, Sequence

from launch.job import Job

# Config fields a replicate moves (each by the replicate's index).
SEED_FIELDS = ("seed", "input.shuffle_seed")
SEED_TAG = "seed"


def suffix(replicate: int) -> str:
  """What replicate ``replicate`` appends to a job's name and workdir."""
  return f"-seed{replicate}" if replicate else ""


def replicate(job: Job, i: int, sweep_names: Sequence[str] = ()) -> Job:
  """Replicate ``i`` of ``job``; ``sweep_names``: the names of the sweep's
  jobs (what ``job.after`` may name), so it waits for their replicate ``i``."""
  seed = int(job.overrides.get("seed", 0)) + i
  if i == 0:
    return dataclasses.replace(job, tags={**job.tags, SEED_TAG: seed})
  overrides = dict(job.overrides)
  for field in SEED_FIELDS:
    overrides[field] = int(overrides.get(field, 0)) + i
  names = set(sweep_names)
  return dataclasses.replace(
      job, name=job.name + suffix(i), workdir=job.workdir + suffix(i),
      overrides=overrides, tags={**job.tags, SEED_TAG: seed},
      after=tuple(a + suffix(i) if a in names else a for a in job.after))


def with_seeds(jobs: Sequence[Job], seeds: int) -> List[Job]:
  """Every job ``seeds`` times (replicate-major: all of seed 0 first)."""
  if int(seeds) != seeds or seeds < 1:
    raise ValueError(f"seeds must be a whole number >= 1, got {seeds!r}")
  names = [j.name for j in jobs]
  return [replicate(j, i, names) for i in range(int(seeds)) for j in jobs]
