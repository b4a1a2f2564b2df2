"""Domain generalisation with workers as domains (``config.task.dg``).

The supervised task's per-example losses and features are grouped by the
batch's ``worker`` ids; only workers present in the batch (unmasked) count.

* ``coral`` (Sun & Saenko, 2016): cross-entropy + ``dg_weight`` × the mean
  over pairs of present workers of the squared distance between their
  feature means (/ D) and feature covariances (Frobenius, / D²).
  Covariances are never formed: with per-worker centred features ``X_c``,
  ``<C_g, C_h>_F = Σ_{i∈g, j∈h} (X_c X_cᵀ)_ij² / ((n_g-1)(n_h-1))``, so the
  cost is a ``[B, B]`` Gram matrix whatever the feature width.
* ``groupdro`` (Sagawa et al., 2020): the loss is the ``q``-weighted risk of
  the present workers, ``q`` kept in task state and moved by an
  exponentiated-gradient step ``q_g ← q_g exp(η r_g)`` (then normalised), so
  weight flows to the worst-served workers.
* ``vrex`` (Krueger et al., 2021): mean per-worker risk + ``dg_weight`` ×
  the variance of per-worker risks.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import jax
import jax.numpy as jnp

METHODS = ("erm", "coral", "groupdro", "vrex")
GROUPDRO_STATE = "groupdro_q"


def group_risks(per_example: jax.Array, groups: jax.Array, mask: jax.Array,
                num_groups: int) -> Tuple[jax.Array, jax.Array]:
  """Mean loss per group ``[G]`` and which groups are present ``[G]``."""
  w = mask.astype(jnp.float32)
  total = jax.ops.segment_sum(per_example * w, groups, num_groups)
  count = jax.ops.segment_sum(w, groups, num_groups)
  return total / jnp.maximum(count, 1.0), count > 0


def coral_penalty(features: jax.Array, groups: jax.Array, mask: jax.Array,
                  num_groups: int) -> jax.Array:
  """Mean over pairs of present groups (>= 2 examples each) of
  ``|μ_g - μ_h|² / D + |C_g - C_h|²_F / D²``; 0 without a pair."""
  x = features.reshape(features.shape[0], -1).astype(jnp.float32)
  d = x.shape[-1]
  w = mask.astype(jnp.float32)
  onehot = jax.nn.one_hot(groups, num_groups, dtype=jnp.float32) * w[:, None]
  n = onehot.sum(0)
  mean = onehot.T @ x / jnp.maximum(n, 1.0)[:, None]
  centred = (x - mean[groups]) * w[:, None]
  gram = centred @ centred.T
  denom = jnp.maximum(n - 1.0, 1.0)
  inner = onehot.T @ (gram * gram) @ onehot / jnp.outer(denom, denom)
  diag = jnp.diag(inner)
  cov_diff = (diag[:, None] + diag[None, :] - 2 * inner) / d**2
  sq = jnp.sum(mean * mean, -1)
  mean_diff = (sq[:, None] + sq[None, :] - 2 * mean @ mean.T) / d
  usable = n >= 2
  pairs = jnp.triu(usable[:, None] & usable[None, :], k=1).astype(jnp.float32)
  return jnp.sum((cov_diff + mean_diff) * pairs) / jnp.maximum(pairs.sum(), 1.0)


def vrex_penalty(risks: jax.Array, present: jax.Array) -> jax.Array:
  """Variance of the present groups' risks (0 with fewer than two)."""
  p = present.astype(jnp.float32)
  k = jnp.maximum(p.sum(), 1.0)
  mean = jnp.sum(risks * p) / k
  return jnp.sum(((risks - mean) ** 2) * p) / k


def groupdro_update(q: jax.Array, risks: jax.Array, present: jax.Array,
                    eta: float) -> jax.Array:
  """Exponentiated-gradient step on the present groups, renormalised."""
  step = jnp.where(present, eta * jax.lax.stop_gradient(risks), 0.0)
  q = q * jnp.exp(step)
  return q / q.sum()


def objective(method: str, per_example: jax.Array, features: Optional[jax.Array],
              groups: jax.Array, mask: jax.Array, num_groups: int, *,
              weight: float, eta: float, q: Optional[jax.Array] = None
              ) -> Tuple[jax.Array, Dict[str, jax.Array], Optional[jax.Array]]:
  """``(loss, metrics, new q)`` of ``method`` from per-example losses."""
  w = mask.astype(jnp.float32)
  erm = jnp.sum(per_example * w) / jnp.maximum(w.sum(), 1.0)
  if method == "erm":
    return erm, {}, q
  risks, present = group_risks(per_example, groups, mask, num_groups)
  metrics = {"worst_worker_risk": jnp.max(jnp.where(present, risks, -jnp.inf))}
  if method == "coral":
    penalty = coral_penalty(features, groups, mask, num_groups)
    metrics["coral"] = penalty
    return erm + weight * penalty, metrics, q
  if method == "vrex":
    penalty = vrex_penalty(risks, present)
    p = present.astype(jnp.float32)
    metrics["vrex"] = penalty
    mean_risk = jnp.sum(risks * p) / jnp.maximum(p.sum(), 1.0)
    return mean_risk + weight * penalty, metrics, q
  if method == "groupdro":
    q = groupdro_update(q, risks, present, eta)
    qp = jnp.where(present, q, 0.0)
    metrics["groupdro_max_q"] = jnp.max(q)
    return jnp.sum(qp * risks) / jnp.maximum(qp.sum(), 1e-12), metrics, q
  raise ValueError(f"config.task.dg must be one of {METHODS}, got {method!r}")
