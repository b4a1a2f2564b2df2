"""CrossHAR's layers: the shared-weight encoder, decoder and two heads.

Parameter paths are those listed in ``crosshar``'s docstring (``encoder/``,
``decoder/``, ``contrastive/``, ``head/``). ``Linear`` is ``nn.Dense`` with
PyTorch's default init, biases included.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from egoimu_jax.models import layers
from egoimu_jax.models.crosshar_spec import NUM_CHANNELS, CrossHARSpec

Dtype = Any



class Linear(nn.Module):
  """``nn.Dense`` with PyTorch's ``nn.Linear`` init: kernel and bias both
  ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.

  The bias matters here: with zero biases a zeroed (masked) step embeds to
  the zero vector, where the reference's eps-1e-12 LayerNorm has gradients
  of order 1e6.
  """
  features: int
  use_bias: bool = True
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    fan_in = x.shape[-1]
    kernel = self.param("kernel", layers.torch_kernel_init,
                        (fan_in, self.features), self.param_dtype)
    dtype = self.dtype or jnp.result_type(x, kernel)
    y = jnp.dot(x.astype(dtype), kernel.astype(dtype))
    if self.use_bias:
      bias = self.param("bias", layers.torch_bias_init(fan_in),
                        (self.features,), self.param_dtype)
      y = y + bias.astype(dtype)
    return y


def _dense(features: int, name: str, dtype, param_dtype,
           use_bias: bool = True) -> Linear:
  return Linear(features, use_bias, dtype, param_dtype, name=name)


class SelfAttention(nn.Module):
  """Multi-head self-attention with ``query``/``key``/``value`` (+ ``out``).

  ``scale`` multiplies the logits (default ``head_dim ** -0.5``);
  ``out_proj=False`` returns the merged heads without an output projection
  (LIMU-BERT's block projects outside). ``dropout`` drops attention
  probabilities (and the output, if projected) in training.
  """
  num_heads: int
  scale: float | None = None
  qkv_bias: bool = True
  out_proj: bool = True
  dropout: float = 0.0
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    b, n, d = x.shape
    hd = d // self.num_heads
    q, k, v = (_dense(d, name, self.dtype, self.param_dtype,
                      self.qkv_bias)(x).reshape(b, n, self.num_heads, hd)
               for name in ("query", "key", "value"))
    scale = hd ** -0.5 if self.scale is None else self.scale
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k).astype(jnp.float32) * scale
    probs = jax.nn.softmax(logits, axis=-1)
    probs = nn.Dropout(self.dropout)(probs, deterministic=not train)
    y = jnp.einsum("bhqk,bkhd->bqhd", probs.astype(v.dtype), v)
    y = y.reshape(b, n, d)
    if self.out_proj:
      y = _dense(d, "out", self.dtype, self.param_dtype)(y)
      y = nn.Dropout(self.dropout)(y, deterministic=not train)
    return y


class SharedBlock(nn.Module):
  """LIMU-BERT's block: ``h = attn(h); h = LN(h + proj(h)); h = LN(h +
  FFN(h))``, post-norm, no residual around attention, no dropout."""
  heads: int
  ff: int
  norm_eps: float = 1e-12
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, h: jax.Array) -> jax.Array:
    d = h.shape[-1]
    dense = lambda f, name: _dense(  # noqa: E731
        f, name, self.dtype, self.param_dtype)
    norm = lambda name: nn.LayerNorm(  # noqa: E731
        epsilon=self.norm_eps, use_fast_variance=False, dtype=self.dtype,
        param_dtype=self.param_dtype, name=name)
    h = SelfAttention(self.heads, out_proj=False, dtype=self.dtype,
                      param_dtype=self.param_dtype, name="attn")(h)
    h = norm("norm1")(h + dense(d, "proj")(h))
    ffn = dense(d, "fc2")(layers.gelu(dense(self.ff, "fc1")(h)))
    return norm("norm2")(h + ffn)


class Encoder(nn.Module):
  """``[b, L, 6]`` (normalised, possibly masked) -> ``[b, L, hidden]``."""
  spec: CrossHARSpec
  seq_len: int
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    s = self.spec
    if x.shape[1] != self.seq_len:
      raise ValueError(f"encoder expects {self.seq_len} steps, got "
                       f"{x.shape[1]}")
    norm = nn.LayerNorm(epsilon=s.norm_eps, use_fast_variance=False,
                        dtype=self.dtype, param_dtype=self.param_dtype,
                        name="embed_norm")
    pos = self.param("pos_embed", nn.initializers.normal(1.0),
                     (self.seq_len, s.hidden), self.param_dtype)
    h = _dense(s.hidden, "embed", self.dtype, self.param_dtype)(x)
    if s.emb_norm:
      h = norm(h)
    h = norm(h + pos.astype(h.dtype))
    block = SharedBlock(s.heads, s.ff, s.norm_eps, self.dtype,
                        self.param_dtype, name="block")
    for _ in range(s.n_layers):  # one parameter set, n_layers applications
      h = block(h)
    return h


class _Head(nn.Module):
  """The fields of a part on top of the encoder: the spec and the dtypes."""
  spec: CrossHARSpec
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  def _dense(self, features: int, name: str, use_bias: bool = True) -> Linear:
    return _dense(features, name, self.dtype, self.param_dtype, use_bias)


class Decoder(_Head):
  """Per-step reconstruction ``[b, L, hidden] -> [b, L, 6]``."""

  @nn.compact
  def __call__(self, h: jax.Array) -> jax.Array:
    s = self.spec
    h = layers.gelu(self._dense(s.hidden, "fc")(h))
    h = nn.LayerNorm(epsilon=s.norm_eps, use_fast_variance=False,
                     dtype=self.dtype, param_dtype=self.param_dtype,
                     name="norm")(h)
    return self._dense(NUM_CHANNELS, "out")(h)


class ContrastiveHead(_Head):
  """CLS transformer over the encoder's steps -> projection ``[b, 18]``."""

  @nn.compact
  def __call__(self, h: jax.Array, train: bool = False) -> jax.Array:
    s = self.spec
    c = s.contrastive_width
    norm = lambda name: nn.LayerNorm(  # noqa: E731
        epsilon=1e-5, dtype=self.dtype, param_dtype=self.param_dtype,
        name=name)
    drop = lambda y: nn.Dropout(s.contrastive_dropout)(  # noqa: E731
        y, deterministic=not train)
    x = self._dense(c, "embed")(h)
    cls = self.param("cls", nn.initializers.normal(1.0), (1, 1, c),
                     self.param_dtype)
    x = jnp.concatenate(
        [jnp.broadcast_to(cls.astype(x.dtype), (x.shape[0], 1, c)), x], 1)
    # Pre-norm layer; the reference scales logits by the full width ** -0.5.
    y = SelfAttention(s.contrastive_heads, scale=c ** -0.5, qkv_bias=False,
                      dtype=self.dtype, param_dtype=self.param_dtype,
                      name="attn")(norm("norm1")(x), train)
    # (SelfAttention's dropout is 0 here: the reference drops only after the
    # output projection, which ``drop`` does.)
    x = x + drop(y)
    y = self._dense(s.contrastive_mlp, "fc1")(norm("norm2")(x))
    y = self._dense(c, "fc2")(drop(nn.relu(y)))
    x = x + drop(y)
    z = self._dense(s.projection_hidden, "proj1")(x[:, 0])
    z = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                     epsilon=1e-5, dtype=self.dtype,
                     param_dtype=self.param_dtype, name="proj_bn")(z)
    return self._dense(s.projection_dim, "proj2")(nn.relu(z))


class TransformerFT(nn.Module):
  """The reference's ``Transformer_ft`` classifier over ``[b, L, hidden]``.

  Returns ``(logits [b, num_classes], pooled [b, head_width])``.
  """
  spec: CrossHARSpec
  num_classes: int
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, h: jax.Array, train: bool = False):
    s = self.spec
    d = s.head_width
    dense = lambda f, name: _dense(  # noqa: E731
        f, name, self.dtype, self.param_dtype)
    drop = lambda y: nn.Dropout(s.head_dropout)(  # noqa: E731
        y, deterministic=not train)
    x = dense(d, "embed")(h)
    x = x + jnp.asarray(layers.sincos_1d(x.shape[1], d), x.dtype)
    for i in range(s.head_layers):
      # torch nn.TransformerEncoderLayer (post-norm, ReLU).
      norm = lambda name: nn.LayerNorm(  # noqa: E731
          epsilon=1e-5, dtype=self.dtype, param_dtype=self.param_dtype,
          name=f"layer_{i}_{name}")
      y = SelfAttention(s.head_heads, dropout=s.head_dropout,
                        dtype=self.dtype, param_dtype=self.param_dtype,
                        name=f"layer_{i}_attn")(x, train)
      x = norm("norm1")(x + y)
      y = dense(s.head_ff, f"layer_{i}_fc1")(x)
      y = dense(d, f"layer_{i}_fc2")(drop(nn.relu(y)))
      x = norm("norm2")(x + drop(y))
    pooled = x.mean(axis=1)
    return dense(self.num_classes, "fc")(pooled), pooled
