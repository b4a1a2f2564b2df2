"""The flan-t5 encoder (``transformers``' ``T5Stack``) that MOMENT is built on.

Parameter names follow ``models.moment``'s docstring (``encoder/...``), so
``convert/moment.py`` maps a checkpoint by name and transposition:
``relative_attention_bias`` is computed once (bidirectional buckets) and
shared by all ``block_<i>``; each block is ``attn_norm`` -> ``attn`` (no
biases, no score scaling) -> residual, ``mlp_norm`` -> gated-GELU ``mlp`` ->
residual; then ``final_norm``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax.models import dropout as dropout_lib
from egoimu_jax.models import layers

Dtype = Any


def relative_position_buckets(length: int, num_buckets: int = 32,
                              max_distance: int = 128) -> np.ndarray:
  """T5's bidirectional bucket of key minus query position, ``[q, k]``.

  Half the buckets are for keys after the query; within each half, exact
  distances below ``num_buckets // 4`` and log-spaced ones up to
  ``max_distance``. The log is taken in float32, as transformers does, so
  that the bucket boundaries agree.
  """
  pos = np.arange(length)
  rel = pos[None, :] - pos[:, None]
  half = num_buckets // 2
  buckets = (rel > 0).astype(np.int64) * half
  dist = np.abs(rel)
  max_exact = half // 2
  with np.errstate(divide="ignore"):  # log(0) where dist is small anyway
    ratio = np.log(dist.astype(np.float32) / np.float32(max_exact))
  large = (ratio / np.float32(math.log(max_distance / max_exact)) *
           np.float32(half - max_exact))
  large = max_exact + np.where(dist < max_exact, 0, large).astype(np.int64)
  large = np.minimum(large, half - 1)
  return (buckets + np.where(dist < max_exact, dist, large)).astype(np.int32)


def _normal(std: float) -> nn.initializers.Initializer:
  return nn.initializers.normal(std)


class RMSNorm(nn.Module):
  """T5's layer norm: scale only, no mean subtraction, statistics in fp32."""
  eps: float = 1e-6
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    scale = self.param("scale", nn.initializers.ones, (x.shape[-1],),
                       self.param_dtype)
    x32 = x.astype(jnp.float32)
    y = x32 * jax.lax.rsqrt(jnp.mean(jnp.square(x32), -1, keepdims=True) +
                            self.eps)
    dtype = self.dtype or x.dtype
    return y.astype(dtype) * scale.astype(dtype)


class T5Attention(nn.Module):
  """Self-attention without biases or score scaling; ``bias`` ``[h, n, n]``
  is the shared relative position bias, ``key_mask`` ``[b, n]`` (or None)
  drops keys."""
  num_heads: int
  head_dim: int
  dropout: float = 0.0
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, bias: jax.Array,
               key_mask: jax.Array | None, train: bool = False) -> jax.Array:
    b, n, d = x.shape
    h, k = self.num_heads, self.head_dim

    def dense(features, std, name):
      return nn.Dense(features, use_bias=False, kernel_init=_normal(std),
                      dtype=self.dtype, param_dtype=self.param_dtype,
                      name=name)

    q = dense(h * k, (d * k) ** -0.5, "q")(x).reshape(b, n, h, k)
    key = dense(h * k, d ** -0.5, "k")(x).reshape(b, n, h, k)
    v = dense(h * k, d ** -0.5, "v")(x).reshape(b, n, h, k)
    scores = jnp.einsum("bqhk,bshk->bhqs", q, key).astype(jnp.float32)
    scores = scores + bias[None]
    if key_mask is not None:
      scores = jnp.where(key_mask[:, None, None, :], scores,
                         jnp.finfo(jnp.float32).min)
    weights = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    weights = dropout_lib.Dropout(self.dropout)(weights, deterministic=not train)
    y = jnp.einsum("bhqs,bshk->bqhk", weights, v).reshape(b, n, h * k)
    return dense(d, (h * k) ** -0.5, "o")(y)


class T5GatedMlp(layers.Mlp):
  """``layers.Mlp``'s fields: ``wo(dropout(gelu_tanh(wi_0 x) * wi_1 x))``
  (flan-t5's gated-gelu), ``hidden_dim`` wide."""

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    d = x.shape[-1]

    def dense(features, std, name):
      return nn.Dense(features, use_bias=False, kernel_init=_normal(std),
                      dtype=self.dtype, param_dtype=self.param_dtype,
                      name=name)

    gate = dense(self.hidden_dim, d ** -0.5, "wi_0")(x)
    y = (nn.gelu(gate, approximate=True)
         * dense(self.hidden_dim, d ** -0.5, "wi_1")(x))
    y = dropout_lib.Dropout(self.dropout)(y, deterministic=not train)
    return dense(d, self.hidden_dim ** -0.5, "wo")(y)


class T5Block(nn.Module):
  """Pre-norm T5 encoder block: attention, then the gated MLP."""
  num_heads: int
  head_dim: int
  mlp_dim: int
  dropout: float = 0.0
  norm_eps: float = 1e-6
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, bias: jax.Array,
               key_mask: jax.Array | None, train: bool = False) -> jax.Array:
    norm = functools.partial(RMSNorm, self.norm_eps, self.dtype,
                             self.param_dtype)
    drop = dropout_lib.Dropout(self.dropout, deterministic=not train)
    y = T5Attention(self.num_heads, self.head_dim, self.dropout, self.dtype,
                    self.param_dtype, name="attn")(
                        norm(name="attn_norm")(x), bias, key_mask, train)
    x = x + drop(y)
    y = T5GatedMlp(self.mlp_dim, self.dropout, self.dtype, self.param_dtype,
                   name="mlp")(norm(name="mlp_norm")(x), train)
    return x + drop(y)


class T5Encoder(nn.Module):
  """``transformers``' ``T5Stack`` encoder on ``inputs_embeds [b, n, d]``.

  ``key_mask`` ``[b, n]`` (True = attend) or None for all keys. ``remat``
  recomputes each block's activations in the backward pass.
  """
  depth: int
  num_heads: int
  head_dim: int
  mlp_dim: int
  num_buckets: int = 32
  max_distance: int = 128
  dropout: float = 0.0
  norm_eps: float = 1e-6
  remat: bool = False
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, key_mask: jax.Array | None = None,
               train: bool = False) -> jax.Array:
    d = x.shape[-1]
    table = self.param("relative_attention_bias", _normal(d ** -0.5),
                       (self.num_buckets, self.num_heads), self.param_dtype)
    buckets = relative_position_buckets(x.shape[1], self.num_buckets,
                                        self.max_distance)
    bias = jnp.transpose(table[buckets], (2, 0, 1)).astype(jnp.float32)
    drop = dropout_lib.Dropout(self.dropout, deterministic=not train)
    x = drop(x)
    # Arg 0 is the module itself: (self, x, bias, key_mask, train).
    block_cls = nn.remat(T5Block, static_argnums=(4,)) if self.remat else (
        T5Block)
    for i in range(self.depth):
      x = block_cls(self.num_heads, self.head_dim, self.mlp_dim, self.dropout,
                    self.norm_eps, self.dtype, self.param_dtype,
                    name=f"block_{i}")(x, bias, key_mask, train)
    x = RMSNorm(self.norm_eps, self.dtype, self.param_dtype,
                name="final_norm")(x)
    return drop(x)
