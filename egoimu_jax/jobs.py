"""What ``main`` can run. ``config.job`` picks an entry; each is
``fn(config, workdir) -> dict`` and writes its outputs into ``workdir``.

The jobs that read prepared data are ``data_deps`` consumers: what they read
is prepared (and a teacher set extracted) first; ``prepare`` and
``extract_embeddings`` make it as jobs of their own.
"""

from __future__ import annotations

from egoimu_jax.registry import Registry

JOBS = Registry("job", lazy={
    "train": "egoimu_jax.data_deps:train",
    "classical": "egoimu_jax.data_deps:classical",
    "prepare": "egoimu_jax.data_deps:prepare",
    "extract_embeddings": "egoimu_jax.teachers.extract:run",
    "feature_probe": "egoimu_jax.data_deps:feature_probe",
    "pretrain_finetune": "egoimu_jax.experiments.pretrain_finetune:run",
    "distill_evaluate": "egoimu_jax.experiments.distill_evaluate:run",
})

# What a job writes last, relative to its workdir: the marker ``launch``
# reads to tell a finished job (``Job.done_file``). A job not named here is
# done when its run's results.json (Contract 5) exists.
RESULTS_FILE = "results.json"
_DONE_FILES = {
    "prepare": "prepared.json",   # written by data_deps.prepare
    "extract_embeddings": "teacher_manifest.json",  # teachers.extract.DONE_FILE
    "pretrain_finetune": "report/pretrain_vs_scratch.md",
    "distill_evaluate": "report/rq3.md",
}


def done_file(job: str) -> str:
  """The done marker of the job ``job`` (a ``config.job`` name)."""
  return _DONE_FILES.get(job, RESULTS_FILE)
