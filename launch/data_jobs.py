"""Jobs that make what other jobs read, scheduled before them.

``prepare_first(jobs)`` puts one ``prepare`` job (``config.job=prepare``:
``config.data`` prepared into ArrayRecord shards) per distinct dataset
before ``jobs``, and makes every job wait for its dataset's (``Job.after``).
Two jobs share a dataset when their resolved ``config.data`` is the same,
which is what the prepared directory is keyed by; a job that would prepare
lazily then finds its data ready.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Dict, List, Sequence

from egoimu_jax import jobs as egoimu_jobs
from launch import sweep
from launch.job import Job

PREPARE_JOB = "prepare"
PREPARE_DIR = "prepare"  # the prepare jobs' workdirs: prepare/<dataset id>


def dataset_id(job: Job) -> str:
  """A short id of the dataset ``job`` reads (its resolved ``config.data``;
  its config and ``data.*`` overrides where the config cannot load here)."""
  config = sweep.job_config(job)
  if config is not None:
    what = config.data.to_dict()
  else:
    what = [job.config, {k: v for k, v in job.overrides.items()
                         if k.startswith("data.")}]
  text = json.dumps(what, sort_keys=True, default=repr)
  return hashlib.sha256(text.encode()).hexdigest()[:10]


def prepare_job(job: Job, dataset: str) -> Job:
  """The job that prepares ``job``'s dataset (id ``dataset``)."""
  data = {k: v for k, v in job.overrides.items() if k.startswith("data.")}
  return Job(config=job.config, workdir=f"{PREPARE_DIR}/{dataset}",
             overrides={"job": PREPARE_JOB, **data},
             tags={"dataset": dataset},
             done_file=egoimu_jobs.done_file(PREPARE_JOB), run_globs=())


def prepare_first(jobs: Sequence[Job]) -> List[Job]:
  """One prepare job per distinct dataset of ``jobs``, then ``jobs``, each
  waiting (also) for its dataset's prepare job."""
  preparing: Dict[str, Job] = {}
  waiting = []
  for j in jobs:
    dataset = dataset_id(j)
    if dataset not in preparing:
      preparing[dataset] = prepare_job(j, dataset)
    waiting.append(dataclasses.replace(
        j, after=(preparing[dataset].name,) + j.after))
  return list(preparing.values()) + waiting
