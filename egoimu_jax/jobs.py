"""What ``main`` can run. ``config.job`` picks an entry; each is
``fn(config, workdir) -> dict`` and writes its outputs into ``workdir``."""

from __future__ import annotations

from egoimu_jax.registry import Registry

JOBS = Registry("job")
_LAZY = {
    "train": "egoimu_jax.training.trainer:train_and_evaluate",
    "classical": "egoimu_jax.baselines.classical:run",
    "extract_embeddings": "egoimu_jax.teachers.extract:run",
    "feature_probe": "egoimu_jax.evaluation.feature_probe:run",
    "pretrain_finetune": "egoimu_jax.experiments.pretrain_finetune:run",
    "distill_evaluate": "egoimu_jax.experiments.distill_evaluate:run",
}
for _name, _target in _LAZY.items():
  JOBS.lazy(_name, _target)
