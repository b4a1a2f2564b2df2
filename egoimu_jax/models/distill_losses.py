"""Cross-modal distillation losses (``tasks/distill.py``), pure and traced.

COMODO (Chen et al. 2025, ``comodo/loss.py``): with the queue ``Q`` and the
batch's teacher embeddings ``z_v`` (both L2-normalised) stacked into the bank
``B = [Q; z_v]``, the target is ``p = softmax(z_v B^T / tau_t)``, the
student's logits ``normalize(z_x) B^T / tau_s``, and the loss the
cross-entropy ``-sum(p * log_softmax(logits)) / b``; then the queue drops its
``b`` oldest rows and takes ``z_v`` (``Q <- B[b:]``).

IMU2CLIP (Moon et al. 2023, ``lib/loss.py``): symmetric InfoNCE between the
L2-normalised student and teacher embeddings of a batch, logits scaled by a
learnable temperature; the mean of the student->teacher and teacher->student
cross-entropies.

``valid`` ``[b]`` marks the batch rows that take part: padding and
COMODO's queue-initialisation windows in their first epoch do not. Their
rows carry no loss, their columns are no candidates, and they are not
enqueued, so a batch with invalid rows gives what the batch of only its
valid rows would.
"""

from __future__ import annotations

from typing import Dict

import jax
import jax.numpy as jnp


def l2_normalize(x: jax.Array, eps: float = 1e-12) -> jax.Array:
  """``x / max(||x||, eps)`` over the last axis, as torch's ``normalize``."""
  x = x.astype(jnp.float32)
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), eps)


# Logit of an excluded column: exp() of it is exactly 0 in float32, and,
# unlike -inf, 0 * it is 0, so gradients stay finite.
_EXCLUDED = -1e9


def _masked_log_softmax(logits: jax.Array, columns: jax.Array) -> jax.Array:
  logits = jnp.where(columns, logits, _EXCLUDED)
  return jax.nn.log_softmax(logits, axis=-1)


def comodo_per_example(z_x: jax.Array, z_v: jax.Array, queue: jax.Array,
                       valid: jax.Array, teacher_temperature: float,
                       student_temperature: float) -> jax.Array:
  """Per-row cross-entropy ``[b]`` (0 on invalid rows).

  Args:
    z_x: student projections ``[b, d]`` (normalised here).
    z_v: teacher projections ``[b, d]``, L2-normalised.
    queue: ``[K, d]`` L2-normalised teacher projections.
    valid: ``[b]`` bool.
  """
  valid = valid.astype(bool)
  bank = jnp.concatenate([jax.lax.stop_gradient(queue), z_v], axis=0)
  columns = jnp.concatenate([jnp.ones(queue.shape[:1], bool), valid])
  target = jnp.exp(_masked_log_softmax(
      z_v.astype(jnp.float32) @ bank.T / teacher_temperature, columns))
  log_q = _masked_log_softmax(
      l2_normalize(z_x) @ bank.T / student_temperature, columns)
  per_row = -jnp.sum(jnp.where(columns, target * log_q, 0.0), axis=-1)
  return jnp.where(valid, per_row, 0.0)


def comodo_loss(z_x, z_v, queue, valid, teacher_temperature: float,
                student_temperature: float) -> jax.Array:
  """Mean of ``comodo_per_example`` over the valid rows."""
  per_row = comodo_per_example(z_x, z_v, queue, valid, teacher_temperature,
                               student_temperature)
  return per_row.sum() / jnp.maximum(valid.astype(jnp.float32).sum(), 1.0)


def fifo_update(queue: jax.Array, z_v: jax.Array,
                valid: jax.Array) -> jax.Array:
  """The queue after enqueuing the valid rows of ``z_v`` (oldest out).

  Valid rows keep their order and are placed right after the queue, so the
  ``K`` rows starting at the number of valid rows are the new queue:
  ``[Q; z_v][b:]`` when every row is valid, as the reference.
  """
  valid = valid.astype(bool)
  order = jnp.argsort(~valid, stable=True)  # valid rows first, in order
  stacked = jnp.concatenate([queue, jax.lax.stop_gradient(z_v)[order]
                             .astype(queue.dtype)], axis=0)
  start = valid.sum().astype(jnp.int32)
  return jax.lax.dynamic_slice_in_dim(stacked, start, queue.shape[0], axis=0)


def clip_logits(z_x: jax.Array, z_v: jax.Array,
                log_temperature: jax.Array) -> jax.Array:
  """``normalize(z_x) normalize(z_v)^T / exp(log_temperature)`` ``[b, b]``."""
  return (l2_normalize(z_x) @ l2_normalize(z_v).T /
          jnp.exp(log_temperature.astype(jnp.float32)))


def clip_loss(z_x: jax.Array, z_v: jax.Array, log_temperature: jax.Array,
              valid: jax.Array) -> Dict[str, jax.Array]:
  """Symmetric InfoNCE over the valid rows: ``{"loss", "student_to_teacher",
  "teacher_to_student", "accuracy"}`` (accuracy: the student's nearest
  teacher embedding in the batch is its own)."""
  valid = valid.astype(bool)
  logits = clip_logits(z_x, z_v, log_temperature)
  n = jnp.maximum(valid.astype(jnp.float32).sum(), 1.0)
  eye = jnp.eye(logits.shape[0], dtype=bool)

  def direction(lg):
    log_p = _masked_log_softmax(lg, valid[None, :])
    return jnp.sum(jnp.where(valid, -jnp.sum(jnp.where(eye, log_p, 0.0), -1),
                             0.0)) / n

  s2t, t2s = direction(logits), direction(logits.T)
  hit = jnp.argmax(jnp.where(valid[None, :], logits, _EXCLUDED), -1) == \
      jnp.arange(logits.shape[0])
  return {"loss": (s2t + t2s) / 2, "student_to_teacher": s2t,
          "teacher_to_student": t2s,
          "accuracy": jnp.sum(hit & valid) / n}
