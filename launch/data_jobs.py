"""Jobs that make what other jobs read, scheduled before them.

``data_first(jobs)`` puts one ``prepare`` job (``config.job=prepare``:
``config.data`` prepared into ArrayRecord shards) per distinct dataset, and
one ``extract_embeddings`` job per distinct (dataset, teacher set) that a
job reads, before ``jobs``; every job waits for what it reads
(``Job.after``), an extraction for its dataset's preparation. Two jobs
share a dataset when their resolved ``config.data`` is the same (what the
prepared directory is keyed by), and a teacher set when their
``config.teacher`` is the same too. A job that would prepare or extract
lazily (``data_deps``) then finds its inputs ready, and on several hosts
each of these runs as its own (host-split) job instead of on process 0
while the other hosts wait.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Dict, List, Optional, Sequence

from egoimu_jax import data_deps
from egoimu_jax import jobs as egoimu_jobs
from launch import sweep
from launch.job import Job

PREPARE_JOB = "prepare"
EXTRACT_JOB = "extract_embeddings"
PREPARE_DIR = "prepare"   # the prepare jobs' workdirs: prepare/<dataset id>
EXTRACT_DIR = "extract"   # extractions: extract/<dataset id>-<teacher id>


def _digest(what) -> str:
  text = json.dumps(what, sort_keys=True, default=repr)
  return hashlib.sha256(text.encode()).hexdigest()[:10]


def _overrides(job: Job, *sections: str) -> dict:
  return {k: v for k, v in job.overrides.items()
          if k.split(".")[0] in sections}


def dataset_id(job: Job, config=None) -> str:
  """A short id of the dataset ``job`` reads (its resolved ``config.data``;
  its config and ``data.*`` overrides where the config cannot load here)."""
  config = config if config is not None else sweep.job_config(job)
  if config is not None:
    return _digest(config.data.to_dict())
  return _digest([job.config, _overrides(job, "data")])


def _job(job: Job, workdir: str, what: str, sections: Sequence[str],
         tags: dict, after=()) -> Job:
  return Job(config=job.config, workdir=workdir,
             overrides={"job": what, **_overrides(job, *sections)},
             tags=tags, done_file=egoimu_jobs.done_file(what), run_globs=(),
             after=tuple(after))


def prepare_job(job: Job, dataset: str) -> Job:
  """The job that prepares ``job``'s dataset (id ``dataset``)."""
  return _job(job, f"{PREPARE_DIR}/{dataset}", PREPARE_JOB, ("data",),
              {"dataset": dataset})


def extract_job(job: Job, dataset: str, teacher: str, prepared: Job) -> Job:
  """The job that extracts ``job``'s teacher set (id ``teacher``) on its
  dataset, after ``prepared``."""
  return _job(job, f"{EXTRACT_DIR}/{dataset}-{teacher}", EXTRACT_JOB,
              ("data", "teacher"), {"dataset": dataset, "teacher": teacher},
              after=(prepared.name,))


def _teacher_id(config) -> Optional[str]:
  """The id of the teacher set a job with ``config`` reads, None if none."""
  if config is None or not data_deps.teacher_read(config):
    return None
  return _digest(config.teacher.to_dict())


def data_first(jobs: Sequence[Job]) -> List[Job]:
  """The prepare and extraction jobs ``jobs`` need, then ``jobs``, each
  waiting (also) for what it reads."""
  made: Dict[str, Job] = {}
  waiting = []
  for j in jobs:
    config = sweep.job_config(j)
    dataset = dataset_id(j, config)
    prepared = made.setdefault(dataset, prepare_job(j, dataset))
    needs = prepared
    teacher = _teacher_id(config)
    if teacher is not None:
      needs = made.setdefault(f"{dataset}-{teacher}",
                              extract_job(j, dataset, teacher, prepared))
    waiting.append(dataclasses.replace(j, after=(needs.name,) + j.after))
  return list(made.values()) + waiting
