"""The ``variants`` evaluator: ``config.eval_variants``.

Each entry ``name: overrides`` evaluates the run's best state on the test
part with the overrides merged into the config (a modality dropped, a model
or task field changed), written to ``<workdir>/variants/<name>/`` as a run
named ``"<run> / <name>"``. A variant whose ``input.video_degradation`` is
set supplies its degradation as a batch transform
(``models.video_degradation``), applied inside the eval step before any
model sees the batch.
"""

from __future__ import annotations

import os

from absl import logging
import jax
import ml_collections

from egoimu_jax import config_lib
from egoimu_jax.evaluation import results as results_lib
from egoimu_jax.models import video_degradation
from egoimu_jax.training import tasks
from egoimu_jax.training import writers


class Variants:
  """Evaluator (``training/evaluators.py``) of ``config.eval_variants``."""

  def wanted(self, config) -> bool:
    return bool(config.get("eval_variants", {}))

  def validate(self, config, task) -> None:
    del config, task  # variants are built (and checked) after training

  def run(self, ctx) -> list[str]:
    written = []
    for name, variant in variant_tasks(ctx.config, ctx.pipe):
      transform = video_degradation.batch_transform(variant.config.input)
      outputs = {"test": ctx.predict(variant, "test", transform)}
      metrics = {"test": variant.evaluate("test", outputs["test"])}
      logging.info("variant %s, test: %s", name,
                   writers.brief(metrics["test"], ctx.task.best_metric))
      if jax.process_index() == 0:
        variant.finish(os.path.join(ctx.workdir, results_lib.VARIANTS_DIR,
                                    name), outputs, metrics,
                       extra={**ctx.extra, "variant": name})
      written.append(name)
    return written


def variant_tasks(config, pipe):
  """``(name, task)`` for each ``config.eval_variants`` entry: the same
  state evaluated with a changed model or task (e.g. a modality dropped)."""
  for name, overrides in sorted(config.get("eval_variants", {}).items()):
    variant = config_lib.merged(config, overrides)
    with variant.unlocked():
      variant.name = f"{config.name or config.model.name} / {name}"
      variant.eval_variants = ml_collections.ConfigDict()
    yield name, tasks.TASKS.get(variant.task.name)(variant, pipe)


EVALUATOR = Variants()
