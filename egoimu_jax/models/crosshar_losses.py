"""CrossHAR's pretraining losses: masked-step MSE and NT-Xent.

Both come per example (``[b]``), so that evaluation can add them up exactly
over a split and training can drop padded rows (``example_mask``):

* ``reconstruction_terms``: squared error summed over the masked steps and
  channels of every view (``num``) and the count of those entries (``den``);
  the loss is ``sum(num) / sum(den)``, the reference's mean over views of
  ``MSELoss`` on the masked steps (every view masks the same number of
  steps).
* ``nt_xent``: SimCLR's loss on the two views' projections (cosine
  similarity, temperature 0.2): each of the ``2b`` rows is classified
  against the other ``2b - 1``; an example's value is the mean of its two
  rows. Padded examples are neither anchors nor negatives.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import jax
import jax.numpy as jnp


def reconstruction_terms(recon: Mapping[str, jax.Array],
                         example_mask: Optional[jax.Array] = None
                         ) -> dict[str, jax.Array]:
  """``{"num", "den"}`` per example from ``outputs["recon"]``."""
  pred, target, mask = recon["pred"], recon["target"], recon["mask"]
  err = jnp.square(pred.astype(jnp.float32) - target.astype(jnp.float32))
  m = mask.astype(jnp.float32)[..., None]
  axes = tuple(range(1, err.ndim))
  num = jnp.sum(err * m, axis=axes)
  den = jnp.sum(jnp.broadcast_to(m, err.shape), axis=axes)
  if example_mask is not None:
    keep = example_mask.astype(jnp.float32)
    num, den = num * keep, den * keep
  return {"num": num, "den": den}


def nt_xent(z1: jax.Array, z2: jax.Array, temperature: float = 0.2,
            example_mask: Optional[jax.Array] = None,
            eps: float = 1e-8) -> jax.Array:
  """Per-example NT-Xent ``[b]`` of the pairs ``(z1[i], z2[i])``.

  ``z1``, ``z2``: ``[b, d]``. Zero for padded examples.
  """
  b = z1.shape[0]
  z = jnp.concatenate([z1, z2], axis=0).astype(jnp.float32)
  z = z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), eps)
  logits = z @ z.T / temperature
  valid = (jnp.ones((b,), bool) if example_mask is None
           else example_mask.astype(bool))
  valid2 = jnp.concatenate([valid, valid])
  others = valid2[None, :] & ~jnp.eye(2 * b, dtype=bool)
  partner = (jnp.arange(2 * b) + b) % (2 * b)
  positive = jnp.take_along_axis(logits, partner[:, None], axis=1)[:, 0]
  lse = jax.nn.logsumexp(jnp.where(others, logits, -jnp.inf), axis=1)
  rows = jnp.where(valid2, lse - positive, 0.0)
  return 0.5 * (rows[:b] + rows[b:])


def per_example_terms(outputs: Mapping[str, Any], temperature: float = 0.2,
                      example_mask: Optional[jax.Array] = None
                      ) -> dict[str, jax.Array]:
  """``recon_num``, ``recon_den`` and ``ntxent`` per example."""
  rec = reconstruction_terms(outputs["recon"], example_mask)
  z = outputs["projections"]
  if z.shape[1] != 2:
    raise ValueError(f"NT-Xent needs two views, got {z.shape[1]}")
  return {"recon_num": rec["num"], "recon_den": rec["den"],
          "ntxent": nt_xent(z[:, 0], z[:, 1], temperature, example_mask)}


def losses(outputs: Mapping[str, Any], temperature: float = 0.2,
           example_mask: Optional[jax.Array] = None) -> dict[str, jax.Array]:
  """Batch means: ``reconstruction`` (masked MSE) and ``ntxent``."""
  t = per_example_terms(outputs, temperature, example_mask)
  n = (jnp.asarray(t["ntxent"].shape[0], jnp.float32) if example_mask is None
       else jnp.sum(example_mask.astype(jnp.float32)))
  return {"reconstruction": jnp.sum(t["recon_num"]) /
                            jnp.maximum(jnp.sum(t["recon_den"]), 1.0),
          "ntxent": jnp.sum(t["ntxent"]) / jnp.maximum(n, 1.0)}
