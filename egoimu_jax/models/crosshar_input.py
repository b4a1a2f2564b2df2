"""CrossHAR's input path: resampling, per-window normalisation, span masking.

``resample`` and ``instance_norm`` bring ``batch["imu"]`` to the model's
``seq_len`` steps; ``span_mask`` / ``apply_mask`` hide the spans the encoder
reconstructs (see ``crosshar``'s docstring for the masking rule).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

def resample(x: jax.Array, length: int, antialias: bool = False) -> jax.Array:
  """``[..., T, C] -> [..., length, C]`` by linear interpolation in time.

  Sample centres are aligned (``jax.image.resize``'s half-sample
  convention): output step ``j`` reads input position
  ``(j + 0.5) * T / length - 0.5``, so 1000 -> 100 averages samples
  ``10j + 4`` and ``10j + 5``. ``antialias`` widens the interpolation kernel
  by the downsampling factor (a triangle low-pass); the reference's 20 Hz
  data were plainly decimated, so it is off by default.
  """
  t, c = x.shape[-2:]
  if t == length:
    return x
  flat = x.reshape((-1, t, c))
  out = jax.image.resize(flat.astype(jnp.float32), (flat.shape[0], length, c),
                         method="linear", antialias=antialias)
  return out.reshape(x.shape[:-2] + (length, c)).astype(x.dtype)


def instance_norm(x: jax.Array, eps: float = 1e-5) -> jax.Array:
  """Per window and channel over time (``InstanceNorm1d``, no affine)."""
  x = x.astype(jnp.float32)
  mean = x.mean(axis=-2, keepdims=True)
  var = jnp.mean(jnp.square(x - mean), axis=-2, keepdims=True)
  return (x - mean) * jax.lax.rsqrt(var + eps)


def num_masked(length: int, ratio: float) -> int:
  """The reference's count: ``max(1, round(length * ratio))``."""
  return max(1, int(round(length * ratio)))


def span_length_probs(max_span: int, p: float) -> np.ndarray:
  """``P(n) ∝ p (1 - p) ** (n - 1)`` for ``n = 1..max_span``."""
  probs = p * np.power(1.0 - p, np.arange(max_span))
  return probs / probs.sum()


def sample_span_lengths(rng: jax.Array, shape: Sequence[int], max_span: int,
                        p: float) -> jax.Array:
  """int32 span lengths in ``1..max_span`` (truncated geometric)."""
  logits = jnp.log(jnp.asarray(span_length_probs(max_span, p), jnp.float32))
  return (jax.random.categorical(rng, logits, shape=tuple(shape)) +
          1).astype(jnp.int32)


class SpanMask(NamedTuple):
  mask: jax.Array     # bool [b, L], True = masked
  span_id: jax.Array  # int32 [b, L]: the span that masked a step, -1 if none


def span_mask(rng: jax.Array, batch: int, length: int, ratio: float = 0.15,
              max_span: int = 10, p: float = 0.2) -> SpanMask:
  """Span masking with exactly ``num_masked(length, ratio)`` steps per row.

  Round ``i`` draws a length ``n_i`` (``sample_span_lengths``) and an anchor
  uniformly among the still unmasked steps, and masks the unmasked steps of
  ``[anchor, anchor + min(n_i, remaining))``. Every round that has steps to
  go masks at least its anchor, so ``count`` rounds reach the count exactly
  (the reference retries anchors that are already masked, which is the same
  distribution). Spans may touch or overlap earlier ones; each span's steps
  lie within ``max_span`` consecutive steps.
  """
  count = num_masked(length, ratio)
  if count > length:
    raise ValueError(f"cannot mask {count} of {length} steps")
  k_len, k_anchor = jax.random.split(rng)
  lengths = sample_span_lengths(k_len, (count, batch), max_span, p)
  noise = jax.random.uniform(k_anchor, (count, batch, length))
  pos = jnp.arange(length)

  def body(i, span_id):
    masked = span_id >= 0
    remaining = count - masked.sum(axis=1)
    anchor = jnp.argmax(jnp.where(masked, -1.0, noise[i]), axis=1)
    end = anchor + jnp.minimum(lengths[i], remaining)
    new = ((pos >= anchor[:, None]) & (pos < end[:, None]) & ~masked)
    return jnp.where(new, i, span_id)

  span_id = jax.lax.fori_loop(0, count, body,
                              jnp.full((batch, length), -1, jnp.int32))
  return SpanMask(span_id >= 0, span_id)


def apply_mask(rng: jax.Array, x: jax.Array, mask: jax.Array,
               prob: float = 0.8) -> jax.Array:
  """Zeroes the masked steps of each row of ``x [b, L, C]`` with probability
  ``prob`` (one draw per row, as the reference); other rows are unchanged."""
  zero = jax.random.bernoulli(rng, prob, (x.shape[0],))
  hide = mask & zero[:, None]
  return jnp.where(hide[..., None], jnp.zeros_like(x), x)
