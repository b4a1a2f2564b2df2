"""What ``main`` can run. ``config.job`` picks an entry; each is
``fn(config, workdir) -> dict`` and writes its outputs into ``workdir``.

The jobs that read prepared data are ``data_deps`` consumers: what they read
is prepared (and a teacher set extracted) first; ``prepare`` and
``extract_embeddings`` make it as jobs of their own.
"""

from __future__ import annotations

from egoimu_jax.registry import Registry

JOBS = Registry("job")
_LAZY = {
    "train": "egoimu_jax.data_deps:train",
    "classical": "egoimu_jax.data_deps:classical",
    "prepare": "egoimu_jax.data_deps:prepare",
    "extract_embeddings": "egoimu_jax.teachers.extract:run",
    "feature_probe": "egoimu_jax.data_deps:feature_probe",
    "pretrain_finetune": "egoimu_jax.experiments.pretrain_finetune:run",
    "distill_evaluate": "egoimu_jax.experiments.distill_evaluate:run",
}
for _name, _target in _LAZY.items():
  JOBS.lazy(_name, _target)
