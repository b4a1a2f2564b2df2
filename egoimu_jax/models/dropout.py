"""Dropout whose mask is a keyed integer hash of each element's position.

``flax.linen.Dropout`` draws its mask with ``jax.random.bernoulli``: with the
default threefry generator that is 20 cipher rounds per element, and on CPU
it dominates a transformer's train step (MOMENT-small with 2 blocks spends 40%
of its step there; ``benchmarks/moment_train_step.py``). ``Dropout`` here
draws two 32-bit words from the ``dropout`` rng per call and derives every
element's keep bit from them with two rounds of a 32-bit finaliser
(``_mix``, the "lowbias32" xorshift-multiply hash), ~100x cheaper on CPU.

Each call's mask is a deterministic function of its rng (so resumed runs
repeat it exactly); calls with different keys are unrelated because the two
key words enter before and between the rounds. The keep probability is
``1 - rate`` up to 2**-32. Same interface and inverted scaling as
``nn.Dropout``.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp


def _mix(x: jax.Array) -> jax.Array:
  """A bijective 32-bit avalanche hash (xorshift-multiply, "lowbias32")."""
  x = x ^ (x >> 16)
  x = x * jnp.uint32(0x7FEB352D)
  x = x ^ (x >> 15)
  x = x * jnp.uint32(0x846CA68B)
  return x ^ (x >> 16)


def keep_mask(key: jax.Array, shape: tuple[int, ...], rate: float
              ) -> jax.Array:
  """Boolean mask of ``shape``, each element True with probability
  ``1 - rate``, from a jax PRNG ``key``."""
  size = math.prod(shape)
  if size >= 2 ** 32:
    raise ValueError(f"dropout over {size} elements; at most 2**32 - 1")
  k0, k1 = jax.random.bits(key, (2,), jnp.uint32)
  index = jax.lax.iota(jnp.uint32, size).reshape(shape)
  bits = _mix(_mix(index ^ k0) + k1)
  threshold = jnp.uint32(min(round(rate * 2.0 ** 32), 2 ** 32 - 1))
  return bits >= threshold


class Dropout(nn.Module):
  """``nn.Dropout`` with a hashed mask (see the module docstring)."""
  rate: float
  deterministic: bool | None = None
  rng_collection: str = "dropout"

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool | None = None
               ) -> jax.Array:
    deterministic = nn.merge_param("deterministic", self.deterministic,
                                   deterministic)
    if deterministic or self.rate == 0.0:
      return x
    if self.rate >= 1.0:
      return jnp.zeros_like(x)
    keep = keep_mask(self.make_rng(self.rng_collection), x.shape, self.rate)
    return jnp.where(keep, x / (1.0 - self.rate), 0).astype(x.dtype)
