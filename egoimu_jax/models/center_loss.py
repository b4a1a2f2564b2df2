"""Center loss (Wen et al., ECCV 2016) as used by Attend-and-Discriminate.

The class centres are optimizer-free state: they are not parameters, get no
gradient, and move by the closed-form rule of Wen et al. eq. (4) after each
step. A task keeps them next to the train state (``init_centers`` at start,
``update_centers`` every step) and adds ``beta * center_loss(...)`` to its
loss. Formulas follow the authors' release:

* loss: ``mean_{i, d} (f_id - c_{y_i, d})^2`` (``torch.nn.MSELoss`` over the
  ``[b, d]`` features), i.e. averaged over examples *and* feature dims;
* update: ``c_k <- c_k - lr * sum_{i: y_i = k} (c_k - f_i) / (1 + n_k)``
  with ``n_k`` the examples of class ``k`` in the batch (classes absent from
  the batch do not move);
* init: standard normal, ``[num_classes, d]`` (``torch.randn``).

Everything is batch-global under ``jit`` (one-hot matmuls, no host-side
grouping), so it works unchanged on a data-sharded batch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def init_centers(rng: jax.Array, num_classes: int, dim: int,
                 dtype=jnp.float32) -> jax.Array:
  """Initial centres ``[num_classes, dim]``, standard normal as in A&D."""
  return jax.random.normal(rng, (num_classes, dim), dtype)


def center_loss(features: jax.Array, labels: jax.Array, centers: jax.Array,
                mask: jax.Array | None = None) -> jax.Array:
  """Mean squared distance of ``features [b, d]`` to their class centres.

  Args:
    features: embeddings (for A&D ``aux['features']``, L2-normalised).
    labels: int class ids ``[b]``.
    centers: ``[num_classes, d]``; treated as constants (no gradient).
    mask: optional bool ``[b]``; False rows (padding) are left out.

  Returns:
    Scalar float32 loss, averaged over valid examples and feature dims.
  """
  _check(features, labels, centers)
  centers = jax.lax.stop_gradient(centers)
  diff = features.astype(jnp.float32) - centers[labels].astype(jnp.float32)
  per_example = jnp.mean(jnp.square(diff), axis=-1)
  if mask is None:
    return jnp.mean(per_example)
  w = mask.astype(jnp.float32)
  return jnp.sum(per_example * w) / jnp.maximum(jnp.sum(w), 1.0)


def update_centers(centers: jax.Array, features: jax.Array, labels: jax.Array,
                   lr: float, mask: jax.Array | None = None) -> jax.Array:
  """One center-loss update step (Wen et al. eq. 4, authors' ``alpha=lr``).

  Uses the features of the step's forward pass (gradients stopped).
  """
  _check(features, labels, centers)
  num_classes = centers.shape[0]
  onehot = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)  # [b, k]
  if mask is not None:
    onehot = onehot * mask.astype(jnp.float32)[:, None]
  f = jax.lax.stop_gradient(features).astype(jnp.float32)
  c = centers.astype(jnp.float32)
  counts = jnp.sum(onehot, axis=0)  # [k]
  # sum_{i in k} (c_k - f_i) = n_k c_k - sum_{i in k} f_i
  delta = counts[:, None] * c - onehot.T @ f
  new = c - lr * delta / (1.0 + counts[:, None])
  return new.astype(centers.dtype)


def _check(features: jax.Array, labels: jax.Array, centers: jax.Array) -> None:
  if features.ndim != 2 or labels.shape != features.shape[:1]:
    raise ValueError(f"center loss needs features [b, d] and labels [b]; got "
                     f"{features.shape} and {labels.shape}")
  if centers.ndim != 2 or centers.shape[1] != features.shape[1]:
    raise ValueError(f"centers {centers.shape} do not match features of "
                     f"width {features.shape[1]}")
