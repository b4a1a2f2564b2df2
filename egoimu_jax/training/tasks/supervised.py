"""Supervised window classification (cross-entropy), with A&D's recipe.

``config.task``:

* ``mixup_alpha`` (0 = off): mixup of ``mixup_keys`` inputs and labels with
  ``lam ~ Beta(alpha, alpha)`` (``models.mixup``; ``mixup_max_lambda`` keeps
  ``lam >= 0.5`` as the Attend-and-Discriminate authors do);
* the loss is weighted by the run's class-weighting policy
  (``config.class_weights``, ``evaluation/class_weights.py``; ``"balanced"``:
  ``n / (K * n_c)`` for class ``c`` on the split's training windows). Under
  mixup each label's term carries its own weight.
* ``center_loss_weight`` (0 = off): adds ``weight * center_loss`` on
  ``aux['features']`` and moves the class centres by ``center_lr`` after
  every step (``models.center_loss``). The centres are task state in
  ``model_state['centers']``, initialised standard normal like the authors'.
  Under mixup the centre terms use each example's own label (``label_a``),
  whose weight ``lam`` is at least 0.5.
* ``dg`` (``"erm"`` = off): workers as domains (``adaptation.domain_losses``):
  ``"coral"`` / ``"vrex"`` add ``dg_weight`` × their penalty, ``"groupdro"``
  minimises the worst-worker risk with weights (step ``groupdro_eta``) kept
  in ``model_state['groupdro_q']``.

Evaluation turns softmax probabilities into per-window predictions, computes
the metrics with ``evaluation.results.evaluate`` and, at the end, writes
``results.json`` + ``predictions.npz`` (Contract 5).
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax.adaptation import domain_losses
from egoimu_jax.evaluation import class_weights as class_weights_lib
from egoimu_jax.evaluation import results as results_lib
from egoimu_jax.models import center_loss as center_lib
from egoimu_jax.models import mixup as mixup_lib
from egoimu_jax.training.tasks import base

CENTERS = "centers"
# model_state entries that are task state, not model variables.
TASK_STATE = (CENTERS, domain_losses.GROUPDRO_STATE)


class Supervised(base.Task):
  """Classifier trained with (mixup) cross-entropy (+ center loss)."""
  best_metric = "macro_f1"
  best_mode = "max"
  final_parts = ("val", "test")

  def __init__(self, config, data):
    super().__init__(config, data)
    task = config.task
    self.mixup_alpha = float(task.get("mixup_alpha", 0.0))
    self.mixup_keys = tuple(task.get("mixup_keys", ("imu",)))
    self.mixup_max_lambda = bool(task.get("mixup_max_lambda", True))
    self.center_weight = float(task.get("center_loss_weight", 0.0))
    self.center_lr = float(task.get("center_lr", 0.001))
    self.classes = tuple(data.dataset.classes)
    self.class_weights = _class_weights(config, data, len(self.classes))
    self.dg = task.get("dg", "erm")
    if self.dg not in domain_losses.METHODS:
      raise ValueError(f"config.task.dg must be one of "
                       f"{domain_losses.METHODS}, got {self.dg!r}")
    self.dg_weight = float(task.get("dg_weight", 1.0))
    self.groupdro_eta = float(task.get("groupdro_eta", 0.01))
    # Workers are the domains (batch["worker"] indexes dataset.workers).
    self.num_workers = len(data.dataset.workers) if self.dg != "erm" else 0

  def model_kwargs(self) -> Dict[str, Any]:
    return {"num_classes": len(self.data.dataset.classes)}

  def init_variables(self, rng, batch):
    variables = super().init_variables(rng, batch)
    if self.center_weight or self.dg == "coral":
      (_, aux) = self.model.apply(variables, batch, train=False)
      if "features" not in aux:
        raise ValueError(f"center loss / CORAL needs aux['features'], but "
                         f"model {self.config.model.name} returns {sorted(aux)}")
    if self.dg == "groupdro":
      variables[domain_losses.GROUPDRO_STATE] = jnp.full(
          (self.num_workers,), 1.0 / self.num_workers, jnp.float32)
    if self.center_weight:
      variables[CENTERS] = center_lib.init_centers(
          jax.random.fold_in(rng, 1000), len(self.classes),
          aux["features"].shape[-1])
    return variables

  def model_variables(self, params, model_state) -> Dict[str, Any]:
    """What ``model.apply`` takes: everything but the task-owned state."""
    return {"params": params,
            **{k: v for k, v in model_state.items() if k not in TASK_STATE}}

  def loss(self, params, model_state, batch, rng):
    variables = self.model_variables(params, model_state)
    mutable = [k for k in variables if k != "params"]
    mask = batch["mask"].astype(jnp.float32)
    labels = batch["label"]
    mix_rng, model_rng = jax.random.split(rng)
    # Without mixup every example is its own partner with weight 1.
    inputs, label_a, label_b, lam = batch, labels, labels, 1.0
    if self.mixup_alpha > 0:
      inputs, label_a, label_b, lam = mixup_lib.mixup(
          mix_rng, batch, self.mixup_alpha, keys=self.mixup_keys,
          max_lambda=self.mixup_max_lambda)
    (logits, aux), updates = self.apply(variables, inputs, train=True,
                                        rng=model_rng, mutable=mutable)
    per_example = mixup_lib.mixup_cross_entropy(
        logits, label_a, label_b, lam, self.class_weights)
    denom = jnp.maximum(mask.sum(), 1.0)
    ce = jnp.sum(per_example * mask) / denom
    correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    metrics = {"cross_entropy": ce, "accuracy": jnp.sum(correct * mask) / denom}
    new_state = {**model_state, **updates}
    loss, dg_metrics, q = domain_losses.objective(
        self.dg, per_example, aux.get("features"), batch.get("worker"),
        batch["mask"], self.num_workers, weight=self.dg_weight,
        eta=self.groupdro_eta, q=model_state.get(domain_losses.GROUPDRO_STATE))
    metrics.update(dg_metrics)
    if q is not None:
      new_state[domain_losses.GROUPDRO_STATE] = q
    if self.center_weight:
      centers = model_state[CENTERS]
      cl = center_lib.center_loss(aux["features"], labels, centers,
                                  batch["mask"])
      loss = loss + self.center_weight * cl
      metrics["center_loss"] = cl
      new_state[CENTERS] = center_lib.update_centers(
          centers, aux["features"], labels, self.center_lr, batch["mask"])
    metrics["loss"] = loss
    return loss, (new_state, metrics)

  def predict(self, variables, batch):
    model_vars = {k: v for k, v in variables.items() if k not in TASK_STATE}
    logits, _ = self.apply(model_vars, batch, train=False)
    return {"probs": jax.nn.softmax(logits.astype(jnp.float32), axis=-1),
            "label": batch["label"]}

  def _predictions(self, outputs: Mapping[str, np.ndarray]
                   ) -> results_lib.Predictions:
    index = outputs["index"]
    ids = self.data.dataset.read(index, fields=("window_id", "worker_id"))
    return results_lib.Predictions.from_probs(
        index, ids["window_id"], ids["worker_id"], outputs["label"],
        outputs["probs"])

  def evaluate(self, part: str, outputs: Mapping[str, np.ndarray]
               ) -> Dict[str, Any]:
    p = self._predictions(outputs)
    metrics, _ = results_lib.evaluate(p.label, p.pred, p.worker_id,
                                      self.classes, p.probs)
    return metrics

  def finish(self, workdir, outputs, metrics, extra):
    del metrics  # results.write computes them again, with per-worker detail.
    return results_lib.write(
        workdir, config=self.config, split=self.data.split,
        model=self.config.model.name, classes=self.classes,
        predictions={p: self._predictions(outputs[p]) for p in outputs},
        name=self.config.get("name", ""), extra=extra,
        train_classes=results_lib.seen_classes(self.data.dataset.table,
                                               self.data.indices("train")),
        selection=self.selection(extra))

  def selection(self, extra) -> Dict[str, Any]:
    """The checkpoint scored: the best on the validation people by
    ``best_metric``, else the last."""
    if self.best_metric:
      return {"rule": f"checkpoint with the best validation {self.best_metric}",
              "on": "val", "step": extra.get("best_step")}
    return {"rule": "the last checkpoint", "on": "none",
            "step": extra.get("best_step")}


def _class_weights(config, data, num_classes: int):
  """Per-class loss weights ``[K]`` (float32) by the run's policy, or None."""
  kind = class_weights_lib.policy(config)
  if kind == "none":
    return None
  return class_weights_lib.weights(
      data.dataset.table.label[data.indices("train")], num_classes, kind)
