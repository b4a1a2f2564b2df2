"""Mixup on inputs and labels, as in Attend-and-Discriminate's recipe.

The authors' variant (from fastai) draws one ``lam ~ Beta(alpha, alpha)`` per
example, keeps ``lam = max(lam, 1 - lam)`` so each mixed example stays closer
to its own input (its own label then drives the center loss), and pairs
examples by a random permutation of the batch:

  ``x_i' = lam_i x_i + (1 - lam_i) x_perm(i)``,
  ``loss_i = lam_i CE(logits_i, y_i) + (1 - lam_i) CE(logits_i, y_perm(i))``.

Pure functions of an explicit rng: the same rng gives the same mix. The
permutation is over the global batch under ``jit``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import optax


def mixup(rng: jax.Array, batch: Mapping[str, jax.Array], alpha: float, *,
          keys: Sequence[str] = ("imu",), max_lambda: bool = True
          ) -> tuple[dict[str, jax.Array], jax.Array, jax.Array, jax.Array]:
  """Mixes ``batch[k]`` for ``k in keys`` with a permuted copy of the batch.

  Args:
    rng: PRNG key.
    batch: Contract-3 batch dict; needs ``label`` and the ``keys``. When it has
      ``mask``, an example whose partner is padding is left unmixed (its
      ``lam`` is 1), so padding never leaks into real examples.
    alpha: Beta(alpha, alpha) concentration, > 0 (authors: 0.8).
    keys: float inputs to mix; other entries pass through unchanged.
    max_lambda: authors' ``lam = max(lam, 1 - lam)``; False is plain mixup.

  Returns:
    ``(mixed_batch, label_a, label_b, lam)``: ``label_a`` is the batch's own
    label, ``label_b`` the partner's, ``lam [b]`` float32 weight of
    ``label_a``.
  """
  if not alpha > 0:
    raise ValueError(f"mixup alpha must be > 0, got {alpha}")
  missing = [k for k in ("label", *keys) if k not in batch]
  if missing:
    raise KeyError(f"mixup: batch has no {missing}; has {sorted(batch)}")
  labels = batch["label"]
  b = labels.shape[0]
  rng_lam, rng_perm = jax.random.split(rng)
  lam = jax.random.beta(rng_lam, alpha, alpha, (b,), jnp.float32)
  if max_lambda:
    lam = jnp.maximum(lam, 1.0 - lam)
  perm = jax.random.permutation(rng_perm, b)
  if "mask" in batch:
    lam = jnp.where(batch["mask"][perm], lam, 1.0)
  mixed = dict(batch)
  for k in keys:
    x = batch[k]
    w = lam.reshape((b,) + (1,) * (x.ndim - 1))
    mixed[k] = (w * x + (1.0 - w) * x[perm]).astype(x.dtype)
  return mixed, labels, labels[perm], lam


def mixup_cross_entropy(logits: jax.Array, label_a: jax.Array,
                        label_b: jax.Array, lam: jax.Array | float,
                        class_weights: jax.Array | None = None) -> jax.Array:
  """Per-example ``lam CE(y_a) + (1 - lam) CE(y_b)``, float32 ``[b]``.

  ``class_weights [K]``, if given, multiplies each label's term by the weight
  of that label's class: ``lam w[y_a] CE(y_a) + (1 - lam) w[y_b] CE(y_b)``.
  With ``lam = 1`` (no mixup) this is the plain (weighted) cross-entropy.
  """
  logits = logits.astype(jnp.float32)
  ce = optax.softmax_cross_entropy_with_integer_labels
  w_a = w_b = 1.0
  if class_weights is not None:
    class_weights = jnp.asarray(class_weights, jnp.float32)
    w_a, w_b = class_weights[label_a], class_weights[label_b]
  return (lam * w_a * ce(logits, label_a) +
          (1.0 - lam) * w_b * ce(logits, label_b))
