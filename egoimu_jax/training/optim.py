"""Optimizer and learning-rate schedule from ``config.optim``.

AdamW with gradient clipping by global norm and a warmup + cosine schedule
(or warmup + linear decay, warmup + constant, warmup + ``step_decay``: ``lr``
times ``decay_factor`` every ``lr_decay_every_*`` as torch's ``StepLR``, or
torch's ``OneCycleLR``: ``schedule="onecycle"``, peak ``lr``, ``pct_start``,
``div_factor`` and ``final_div_factor`` as torch names them; a warmup, if
given, is its rising phase instead of ``pct_start``).
Weight decay applies to variables with at least ``decay_min_ndim`` dimensions
(kernels, embeddings; not biases or norm scales). Variables whose path
(``encoder/block_0/mlp/kernel``, without the ``params/`` prefix) matches
``optim.freeze`` get no update at all, for linear probes and partial
fine-tuning.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import optax

from egoimu_jax.training import sharding


def schedule(optim: Mapping[str, Any], total_steps: int,
             warmup_steps: int, decay_every_steps: int = 0) -> optax.Schedule:
  """Learning rate per step (``decay_every_steps``: ``step_decay``'s period)."""
  lr = float(optim["lr"])
  name = optim.get("schedule", "warmup_cosine")
  warmup_steps = min(warmup_steps, total_steps)
  if name == "constant":
    return optax.join_schedules(
        [optax.linear_schedule(0.0, lr, max(warmup_steps, 1)),
         optax.constant_schedule(lr)], [warmup_steps])
  if name == "warmup_cosine":
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0 if warmup_steps else lr, peak_value=lr,
        # A warmup as long as the run (one short epoch): one decay step.
        warmup_steps=warmup_steps,
        decay_steps=max(total_steps, warmup_steps + 1),
        end_value=lr * float(optim.get("end_lr_factor", 0.0)))
  if name == "warmup_linear":  # linear warmup, then linear decay (COMODO)
    return optax.join_schedules(
        [optax.linear_schedule(0.0, lr, max(warmup_steps, 1)),
         optax.linear_schedule(
             lr, lr * float(optim.get("end_lr_factor", 0.0)),
             max(total_steps - warmup_steps, 1))], [warmup_steps])
  if name == "step_decay":  # torch StepLR (Attend and Discriminate)
    if decay_every_steps < 1:
      raise ValueError("config.optim.schedule='step_decay' needs "
                       "lr_decay_every_steps or lr_decay_every_epochs")
    return optax.join_schedules(
        [optax.linear_schedule(0.0, lr, max(warmup_steps, 1)),
         optax.exponential_decay(lr, decay_every_steps,
                                 float(optim.get("decay_factor", 0.1)),
                                 staircase=True)], [warmup_steps])
  if name == "onecycle":
    pct_start = (warmup_steps / max(total_steps, 1) if warmup_steps
                 else float(optim.get("pct_start", 0.3)))
    return onecycle(lr, total_steps, pct_start,
                    float(optim.get("div_factor", 25.0)),
                    float(optim.get("final_div_factor", 1e4)))
  raise ValueError(f"config.optim.schedule {name!r}: expected 'warmup_cosine', "
                   "'warmup_linear', 'constant', 'step_decay' or 'onecycle'")


def onecycle(peak: float, total_steps: int, pct_start: float = 0.3,
             div_factor: float = 25.0,
             final_div_factor: float = 1e4) -> optax.Schedule:
  """``torch.optim.lr_scheduler.OneCycleLR`` (two phases, cosine annealing),
  step for step: from ``peak / div_factor`` up to ``peak`` at step
  ``pct_start * total_steps - 1``, then down to ``peak / div_factor /
  final_div_factor`` at step ``total_steps - 1`` (held after it)."""
  if not 0 < pct_start < 1:
    raise ValueError(f"onecycle: pct_start={pct_start} (optim.pct_start, or "
                     "warmup / total) must be in (0, 1)")
  initial = peak / div_factor
  final = initial / final_div_factor
  up_end = pct_start * total_steps - 1.0
  down_end = total_steps - 1.0

  def anneal(start, end, pct):
    return end + (start - end) / 2.0 * (jnp.cos(jnp.pi * pct) + 1.0)

  def lr(step):
    step = jnp.asarray(step, jnp.float32)
    up = anneal(initial, peak,
                jnp.clip(step / max(up_end, 1e-9), 0.0, 1.0))
    down = anneal(peak, final, jnp.clip(
        (step - up_end) / max(down_end - up_end, 1e-9), 0.0, 1.0))
    return jnp.where(step <= up_end, up, down)

  return lr


def build(optim: Mapping[str, Any],
          lr: optax.Schedule) -> optax.GradientTransformation:
  """The update rule for ``params``."""
  if optim.get("name", "adamw") != "adamw":
    raise ValueError(f"config.optim.name {optim['name']!r}: only 'adamw'")
  min_ndim = int(optim.get("decay_min_ndim", 2))
  tx = optax.adamw(
      lr, b1=float(optim.get("b1", 0.9)), b2=float(optim.get("b2", 0.999)),
      eps=float(optim.get("eps", 1e-8)),
      weight_decay=float(optim.get("weight_decay", 0.0)),
      mask=lambda params: jax.tree.map(lambda p: p.ndim >= min_ndim, params))
  clip = float(optim.get("clip_norm", 0.0))
  if clip > 0:
    tx = optax.chain(optax.clip_by_global_norm(clip), tx)
  freeze = optim.get("freeze", "")
  if freeze:
    def labels(params):
      return jax.tree_util.tree_map_with_path(
          lambda p, _: "frozen" if re.fullmatch(freeze, sharding.path_str(p))
          else "train", params)
    tx = optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()},
                               labels)
  return tx
