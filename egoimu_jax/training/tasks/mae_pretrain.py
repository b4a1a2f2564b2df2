"""Masked-autoencoder pretraining (EVI-MAE, IMU-only MAE).

The model (``evimae`` / ``imu_mae``) returns its predictions, targets, masks,
graph outputs and contrastive features; the loss is
``models.mae_losses`` (``alpha * MSE + beta * graph + gamma * InfoNCE``).

``config.task``:

* ``loss``: optional dict of ``mae_losses.LossConfig`` fields
  (``mae_weight``, ``graph_weight``, ``contrastive_weight``, ``temperature``,
  ``bidirectional``, ``sce_alpha``);
* ``eval_mask_seed`` (0): validation masks are drawn from this seed folded
  with the batch's window indices, so every evaluation of a run (and of a
  resumed run) scores the same masks.

Inputs: ``config.input.spectrogram=True`` (``spec``) for the IMU branch and
``config.input.frames=True`` (``frames``) for the video branch.

Evaluation reports the split's loss terms, accumulated exactly over examples
(``mae_losses.per_example_terms`` summed on the host); the best checkpoint is
the one with the lowest validation ``loss``. ``finish`` writes
``pretrain_results.json`` (no classification results: ``results.json`` is the
classifiers' file, Contract 5).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax.models import mae_losses
from egoimu_jax.training.tasks import base

RESULTS_FILE = "pretrain_results.json"


class Pretrain(base.Task):
  """What self-supervised pretraining tasks share: the lowest validation
  ``loss`` is best, no test part, masks drawn per evaluation batch from a
  seed, and ``finish`` writes ``RESULTS_FILE``."""
  best_metric = "loss"
  best_mode = "min"
  final_parts = ("val",)
  rng_streams = ("dropout", "masking")

  @staticmethod
  def eval_rng(seed: int, batch: Mapping[str, jax.Array]) -> jax.Array:
    """A key from ``seed`` and the batch's window indices: every evaluation
    of a run (resumed or not) draws the same masks for the same windows."""
    index = batch["index"].astype(jnp.uint32)
    return jax.random.fold_in(jax.random.key(seed),
                              jnp.sum(index * jnp.uint32(2654435761)))

  def summary_fields(self) -> Dict[str, Any]:
    """Task-specific entries of the results file (before ``metrics``)."""
    return {}

  def finish(self, workdir, outputs, metrics, extra):
    del outputs
    summary = {"config": json.loads(self.config.to_json_best_effort()),
               "split": dict(self.data.split),
               "model": self.config.model.name, "task": self.name,
               **self.summary_fields(),
               "metrics": dict(metrics), "extra": dict(extra)}
    with open(os.path.join(workdir, RESULTS_FILE), "w") as f:
      json.dump(summary, f, indent=1, default=str)
    return summary


class MAEPretrain(Pretrain):
  """Self-supervised pretraining of an MAE model."""

  def __init__(self, config, data):
    super().__init__(config, data)
    task = config.task
    loss_cfg = task.get("loss", None)
    self.loss_config = mae_losses.LossConfig.from_any(
        loss_cfg.to_dict() if hasattr(loss_cfg, "to_dict") else loss_cfg)
    self.eval_mask_seed = int(task.get("eval_mask_seed", 0))

  def loss(self, params, model_state, batch, rng):
    variables = {"params": params, **model_state}
    (outputs, _), updates = self.apply(variables, batch, train=True, rng=rng,
                                       mutable=list(model_state))
    total, terms = mae_losses.losses(outputs, self.loss_config,
                                     example_mask=batch["mask"])
    metrics = {k: v for k, v in terms.items() if k != "total"}
    metrics["loss"] = total
    return total, ({**model_state, **updates}, metrics)

  def predict(self, variables, batch) -> Dict[str, jax.Array]:
    outputs, _ = self.apply(variables, batch, train=False,
                            rng=self.eval_rng(self.eval_mask_seed, batch))
    return mae_losses.per_example_terms(outputs, self.loss_config,
                                        example_mask=batch["mask"])

  def evaluate(self, part: str, outputs: Mapping[str, np.ndarray]
               ) -> Dict[str, Any]:
    sums = {k: np.sum(np.asarray(v, np.float64)) for k, v in outputs.items()
            if k.endswith(("_num", "_den"))}
    total, terms = mae_losses.combine(sums, self.loss_config)
    metrics = {k: float(v) for k, v in terms.items() if k != "total"}
    metrics["loss"] = float(total)
    metrics["examples"] = int(len(outputs["index"]))
    return metrics
