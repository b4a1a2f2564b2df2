"""Task registry: ``config.task.name`` -> a ``tasks.base.Task`` subclass."""

from __future__ import annotations

from egoimu_jax.registry import Registry

# name -> "module:attribute". Keep this table sorted; one line per task.
TASKS = Registry("task", lazy={
    "crosshar_pretrain": "egoimu_jax.training.tasks.crosshar_pretrain:CrossHARPretrain",
    "distill": "egoimu_jax.training.tasks.distill:Distill",
    "finetune": "egoimu_jax.training.tasks.finetune:Finetune",
    "mae_pretrain": "egoimu_jax.training.tasks.mae_pretrain:MAEPretrain",
    "supervised": "egoimu_jax.training.tasks.supervised:Supervised",
})
