"""CrossHAR's hierarchical self-supervised pretraining (``crosshar`` model).

Every step the task resamples ``batch["imu"]`` to the model's ``seq_len``
(``crosshar_input.resample``), draws the two views (``crosshar_augment.views``:
axis permutation, then scaling / segment permutation + jitter) and hands
them to the model as ``batch["views"]``; the model normalises, span-masks,
encodes, reconstructs and projects each view. The loss has two phases:

* steps before ``contrastive_start``: reconstruction only (masked MSE,
  averaged over both views);
* from ``contrastive_start`` on: ``recon_weight * reconstruction +
  contrastive_weight * NT-Xent`` (the reference: 6 and 1).

``config.task``:

* ``contrastive_start_{steps,epochs,percent}`` (one of them; default
  ``percent=50``: the reference's 800 of 1600 epochs);
* ``recon_weight`` (6.0), ``contrastive_weight`` (1.0), ``temperature``
  (0.2);
* ``permute_axes`` (True), ``scale_mean`` (2.0), ``scale_sigma`` (1.1),
  ``max_segments`` (8), ``jitter_sigma`` (0.01): the augmentations;
* ``eval_seed`` (0): validation views and masks are drawn from this seed
  folded with the batch's window indices, so every evaluation scores the
  same ones.

The phase is chosen inside the traced step from a step counter the task
keeps in ``model_state["crosshar_schedule"]`` (the loss sees no step
otherwise); it is checkpointed with the state, so a resumed run continues in
its phase. Fine-tuning reads only ``params`` / ``batch_stats``, not it.

Evaluation reports ``reconstruction`` (exact over the split), ``ntxent``
(mean over windows; each evaluation batch is its own set of negatives) and
``loss`` = the second phase's objective at every step, so that checkpoints
of both phases compare on one scale (the best checkpoint has the lowest).
``finish`` writes ``pretrain_results.json``, the file the
``pretrain_finetune`` job waits for.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax import durations
from egoimu_jax.models import crosshar
from egoimu_jax.models import crosshar_augment
from egoimu_jax.models import crosshar_input
from egoimu_jax.models import crosshar_losses
from egoimu_jax.training.tasks import mae_pretrain

SCHEDULE = "crosshar_schedule"


class CrossHARPretrain(mae_pretrain.Pretrain):
  """Masked reconstruction, then reconstruction + NT-Xent."""

  def __init__(self, config, data):
    super().__init__(config, data)
    if not isinstance(self.model, crosshar.CrossHAR):
      raise ValueError(f"crosshar_pretrain trains a `crosshar` model, got "
                       f"{config.model.name!r}")
    task = config.task
    self.recon_weight = float(task.get("recon_weight", 6.0))
    self.contrastive_weight = float(task.get("contrastive_weight", 1.0))
    self.temperature = float(task.get("temperature", 0.2))
    self.eval_seed = int(task.get("eval_seed", 0))
    self.augment = dict(
        permute_axes=bool(task.get("permute_axes", True)),
        scale_mean=float(task.get("scale_mean", 2.0)),
        scale_sigma=float(task.get("scale_sigma", 1.1)),
        max_segments=int(task.get("max_segments", 8)),
        jitter_sigma=float(task.get("jitter_sigma", 0.01)))
    self.contrastive_start = self._contrastive_start(config, data)

  @staticmethod
  def _contrastive_start(config, data) -> int:
    """The first step of the second phase."""
    kw = dict(batch_size=config.input.batch_size,
              steps_per_epoch=data.train_steps().steps_per_epoch)
    total = durations.resolve(config, "total", **kw)
    return durations.resolve(config.task, "contrastive_start",
                             total_steps=total, default=math.ceil(total / 2),
                             **kw)

  def init_variables(self, rng, batch):
    variables = super().init_variables(rng, batch)
    variables[SCHEDULE] = {"step": jnp.zeros((), jnp.int32)}
    return variables

  def views(self, rng: jax.Array, batch: Mapping[str, jax.Array]
            ) -> Dict[str, jax.Array]:
    """The model's input: ``views [b, 2, seq_len, 6]`` and ``mask``."""
    m = self.model
    x = crosshar_input.resample(batch["imu"], m.seq_len, m.antialias)
    return {"views": crosshar_augment.views(rng, x, **self.augment),
            "mask": batch["mask"]}

  def weights(self, step: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(reconstruction, NT-Xent) weights at ``step``."""
    joint = step >= self.contrastive_start
    return (jnp.where(joint, self.recon_weight, 1.0),
            jnp.where(joint, self.contrastive_weight, 0.0))

  def loss(self, params, model_state, batch, rng):
    step = model_state[SCHEDULE]["step"]
    k_views, k_model = jax.random.split(rng)
    variables = {"params": params,
                 **{k: v for k, v in model_state.items() if k != SCHEDULE}}
    mutable = [k for k in variables if k != "params"]
    (outputs, _), updates = self.apply(variables, self.views(k_views, batch),
                                       train=True, rng=k_model,
                                       mutable=mutable)
    terms = crosshar_losses.losses(outputs, self.temperature, batch["mask"])
    w_rec, w_con = self.weights(step)
    total = w_rec * terms["reconstruction"] + w_con * terms["ntxent"]
    metrics = {**terms, "contrastive_weight": w_con, "loss": total}
    new_state = {**model_state, **updates, SCHEDULE: {"step": step + 1}}
    return total, (new_state, metrics)

  def predict(self, variables, batch) -> Dict[str, jax.Array]:
    k_views, k_model = jax.random.split(self.eval_rng(self.eval_seed, batch))
    model_vars = {k: v for k, v in variables.items() if k != SCHEDULE}
    outputs, _ = self.apply(model_vars, self.views(k_views, batch),
                            train=False, rng=k_model)
    return crosshar_losses.per_example_terms(outputs, self.temperature,
                                             batch["mask"])

  def evaluate(self, part: str, outputs: Mapping[str, np.ndarray]
               ) -> Dict[str, Any]:
    den = float(np.sum(outputs["recon_den"], dtype=np.float64))
    recon = float(np.sum(outputs["recon_num"], dtype=np.float64)) / max(den,
                                                                        1.0)
    ntxent = float(np.mean(np.asarray(outputs["ntxent"], np.float64)))
    return {"reconstruction": recon, "ntxent": ntxent,
            "loss": self.recon_weight * recon + self.contrastive_weight *
                    ntxent,
            "examples": int(len(outputs["index"]))}

  def summary_fields(self) -> Dict[str, Any]:
    return {"contrastive_start": self.contrastive_start}
