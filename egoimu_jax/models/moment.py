"""MOMENT (Goswami et al., ICML 2024) classifier: a T5 encoder over IMU patches.

Semantics are those of ``momentfm`` 0.1.4 (``momentfm/models/moment.py``,
``layers/embed.py``, ``layers/revin.py``) with the classification task, so
its checkpoints (``MOMENTPipeline`` ``save_pretrained`` directories or raw
state dicts) load by name and transposition (``convert/moment.py``). The
backbone is the flan-t5 encoder as in ``transformers``' ``T5Stack``. What
maps to what:

* ``revin``: ``normalizer`` (RevIN without affine): per example and channel,
  mean and standard deviation over the observed samples only (no Bessel
  correction, ``eps`` added to the std), statistics outside the gradient;
  then ``nan_to_num``. Unobserved samples never reach the output (their
  patches become the mask embedding), so they are zeroed first.
* ``patch_embedding/value_embedding``: ``patch_embedding.value_embedding``
  (``Linear(patch_len -> d)`` without bias) on non-overlapping patches
  (``Patching``, torch's ``unfold``: a trailing remainder is dropped);
  ``patch_embedding/mask_embedding``: ``patch_embedding.mask_embedding``,
  which replaces every patch that is not fully observed. Then the fixed
  sinusoid table (``PositionalEmbedding``, 5000 positions) and dropout.
* ``encoder`` (``T5Encoder``), ``encoder.*`` of the checkpoint, run on every
  channel independently (``(b * C, N, d)``):

  - ``relative_attention_bias`` ``[buckets, heads]``:
    ``block.0.layer.0.SelfAttention.relative_attention_bias``, computed once
    (bidirectional buckets) and shared by all blocks;
  - ``block_<i>``: ``attn_norm`` (``layer.0.layer_norm``, T5's RMS norm) ->
    ``attn`` (``SelfAttention.{q,k,v,o}``, no biases, no ``1/sqrt(d)``
    scaling, patches that are not fully observed masked out as keys) ->
    dropout -> residual; ``mlp_norm`` (``layer.1.layer_norm``) -> ``mlp``
    (``DenseReluDense.{wi_0,wi_1,wo}``: ``gelu_new(wi_0 x) * wi_1 x``, i.e.
    the tanh GELU of flan-t5's ``gated-gelu``) -> dropout -> residual;
  - ``final_norm``: ``final_layer_norm``, then dropout.
* ``head``: ``head.linear`` of the ``ClassificationHead``. ``concat`` lays
  the tokens out ``[b, N, d * C]`` in (d, c) order (the reference's
  ``permute(0, 2, 3, 1)``), ``mean`` averages the channels; either way the
  mean over all patches (the mask is ignored, as in the reference) ->
  dropout -> linear.

Input ``batch['imu']`` float32 ``[b, L, C]`` (Contract 3; the reference
takes ``[b, C, L]``) and optional ``batch['imu_mask']`` ``[b, L]`` (nonzero
= observed; default all observed). ``input_length="native"`` keeps ``L``
(1000 samples -> 125 patches); an integer resamples each window and channel
to that length first, by linear interpolation as ``F.interpolate(...,
mode='linear', align_corners=False)`` (a resampled sample is observed when
both samples it interpolates are). MOMENT was pretrained on 512.

Returns ``(logits [b, num_classes], aux)``: ``aux['features']`` is the
pooled head input (``[b, d * C]`` for ``concat``, ``[b, d]`` for ``mean``),
``aux['tokens']`` the encoder output ``[b, C, N, d]``.

Initialisation follows the reference: T5's normal initialisations (factor
1), an orthogonal value embedding (gain 1.41), a zero mask embedding; the
head as torch's ``nn.Linear`` (uniform +-1/sqrt(fan_in)) with a zero bias.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax.models import dropout as dropout_lib
from egoimu_jax.models import layers

Dtype = Any
HEAD_REDUCTIONS = ("concat", "mean")
NATIVE = "native"


def revin(x: jax.Array, mask: jax.Array, eps: float = 1e-5
          ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """RevIN normalisation over time with masked samples left out.

  Args:
    x: ``[b, L, C]``.
    mask: ``[b, L]`` bool, True where observed.
    eps: added to the (population) standard deviation.

  Returns:
    ``(x_norm, mean, std)``; ``mean``/``std`` are ``[b, 1, C]`` and carry no
    gradient. Unobserved samples, and every sample of a window without an
    observed one, come out as 0 (the reference's ``nan_to_num`` of its NaN
    statistics).
  """
  x = x.astype(jnp.float32)
  m = mask[..., None]
  count = m.sum(axis=1, keepdims=True).astype(jnp.float32)
  denom = jnp.maximum(count, 1.0)
  x = jnp.where(m, x, 0.0)
  mean = x.sum(axis=1, keepdims=True) / denom
  var = jnp.where(m, jnp.square(x - mean), 0.0).sum(axis=1,
                                                    keepdims=True) / denom
  mean = jax.lax.stop_gradient(mean)
  std = jax.lax.stop_gradient(jnp.sqrt(var) + eps)
  out = jnp.where(m & (count > 0), (x - mean) / std, 0.0)
  return jnp.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0), mean, std


def linear_resample_weights(length_in: int, length_out: int
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """``(i0, i1, w1)``: output sample ``j`` is ``(1 - w1) x[i0] + w1 x[i1]``.

  The sampling of ``F.interpolate(mode='linear', align_corners=False)``:
  source position ``(j + 0.5) * length_in / length_out - 0.5`` clamped at 0,
  computed in float32 like torch's CPU kernel.
  """
  scale = np.float32(length_in / length_out)
  src = (np.arange(length_out, dtype=np.float32) + np.float32(0.5)) * scale
  src = np.maximum(src - np.float32(0.5), np.float32(0.0))
  i0 = np.minimum(np.floor(src).astype(np.int64), length_in - 1)
  i1 = np.minimum(i0 + 1, length_in - 1)
  w1 = np.clip(src - i0.astype(np.float32), 0.0, 1.0).astype(np.float32)
  return i0, i1, w1


def resample(x: jax.Array, length: int, mask: jax.Array | None = None
             ) -> tuple[jax.Array, jax.Array | None]:
  """Linear resampling of ``x [b, L, C]`` along time to ``length``.

  ``mask [b, L]`` (bool) is resampled with it: an output sample is observed
  when both samples it interpolates are; unobserved inputs are zeroed first
  so that they cannot leak (NaN * 0) into observed outputs.
  """
  i0, i1, w1 = linear_resample_weights(x.shape[1], length)
  if mask is not None:
    x = jnp.where(mask[..., None], x, 0)
    mask = mask[:, i0] & mask[:, i1]
  w1 = jnp.asarray(w1, x.dtype)[None, :, None]
  return x[:, i0] * (1 - w1) + x[:, i1] * w1, mask


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


class T5GatedMlp(nn.Module):
  """``wo(dropout(gelu_tanh(wi_0 x) * wi_1 x))`` (flan-t5's gated-gelu)."""
  mlp_dim: int
  dropout: float = 0.0
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    d = x.shape[-1]

    def dense(features, std, name):
      return nn.Dense(features, use_bias=False, kernel_init=_normal(std),
                      dtype=self.dtype, param_dtype=self.param_dtype,
                      name=name)

    y = (nn.gelu(dense(self.mlp_dim, d ** -0.5, "wi_0")(x), approximate=True)
         * dense(self.mlp_dim, d ** -0.5, "wi_1")(x))
    y = dropout_lib.Dropout(self.dropout)(y, deterministic=not train)
    return dense(d, self.mlp_dim ** -0.5, "wo")(y)


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


class PatchEmbedding(nn.Module):
  """Patches ``[b, C, N, p]`` -> tokens ``[b, C, N, d]``; patches that are
  not fully observed (``observed [b, N]`` False) become ``mask_embedding``."""
  width: int
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, patches: jax.Array, observed: jax.Array) -> jax.Array:
    y = nn.Dense(self.width, use_bias=False,
                 kernel_init=nn.initializers.orthogonal(1.41),
                 dtype=self.dtype, param_dtype=self.param_dtype,
                 name="value_embedding")(patches)
    mask_embedding = self.param("mask_embedding", nn.initializers.zeros,
                                (self.width,), self.param_dtype)
    return jnp.where(observed[:, None, :, None], y,
                     mask_embedding.astype(y.dtype))


class MOMENT(nn.Module):
  """MOMENT classifier over ``batch['imu']`` ``[b, L, C]``.

  Attributes:
    num_classes: outputs of ``head``.
    input_length: ``"native"`` (use ``L``) or the length every window is
      linearly resampled to (512 in MOMENT's pretraining).
    patch_len: patch length = stride (8).
    width, depth, num_heads, head_dim, mlp_dim: T5 ``d_model``,
      ``num_layers``, ``num_heads``, ``d_kv``, ``d_ff``.
    num_buckets, max_distance: relative position buckets.
    norm_eps: RMS-norm epsilon; revin_eps: RevIN's std epsilon.
    max_positions: rows of the sinusoid table (the patch limit).
    head_reduction: ``"concat"`` (channels side by side, ``[b, d * C]``) or
      ``"mean"`` (channels averaged, ``[b, d]``).
    dropout: T5's ``dropout_rate`` (embeddings, attention weights, residual
      branches, inside the MLP, after the final norm).
    patch_dropout: after the patch and position embeddings.
    head_dropout: on the pooled feature before ``head``.
    remat: recompute each block's activations in the backward pass.
  """
  num_classes: int
  input_length: int | str = NATIVE
  patch_len: int = 8
  width: int = 512
  depth: int = 8
  num_heads: int = 6
  head_dim: int = 64
  mlp_dim: int = 1024
  num_buckets: int = 32
  max_distance: int = 128
  norm_eps: float = 1e-6
  revin_eps: float = 1e-5
  max_positions: int = 5000
  head_reduction: str = "concat"
  dropout: float = 0.1
  patch_dropout: float = 0.1
  head_dropout: float = 0.1
  remat: bool = False
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  def target_length(self, length: int) -> int:
    """Window length after resampling (``length`` when native)."""
    if self.input_length == NATIVE:
      return length
    if isinstance(self.input_length, str) and not self.input_length.isdigit():
      raise ValueError(f"input_length={self.input_length!r}; expected "
                       f"{NATIVE!r} or a number of samples")
    return int(self.input_length)

  def num_patches(self, length: int) -> int:
    return self.target_length(length) // self.patch_len

  def _check(self, imu: jax.Array) -> None:
    if self.head_reduction not in HEAD_REDUCTIONS:
      raise ValueError(f"head_reduction={self.head_reduction!r}; expected "
                       f"one of {HEAD_REDUCTIONS}")
    if imu.ndim != 3:
      raise ValueError("MOMENT expects batch['imu'] of shape [b, L, C], got "
                       f"{tuple(imu.shape)}")
    n = self.num_patches(imu.shape[1])
    if not 1 <= n <= self.max_positions:
      raise ValueError(
          f"{self.target_length(imu.shape[1])} samples give {n} patches of "
          f"{self.patch_len}; MOMENT takes 1 to {self.max_positions}")

  @nn.compact
  def __call__(self, batch: Mapping[str, jax.Array], *, train: bool
               ) -> tuple[jax.Array, dict[str, jax.Array]]:
    imu = batch["imu"]
    self._check(imu)
    b, length, c = imu.shape
    mask = batch.get("imu_mask")
    mask = (jnp.ones((b, length), bool) if mask is None else
            jnp.asarray(mask) != 0)
    x = imu.astype(jnp.float32)
    if self.input_length != NATIVE:
      x, mask = resample(x, self.target_length(length), mask)
    x, _, _ = revin(x, mask, self.revin_eps)

    # Patches [b, C, N, p] and which are fully observed [b, N].
    p, d = self.patch_len, self.width
    n = x.shape[1] // p
    patches = x[:, :n * p].reshape(b, n, p, c).transpose(0, 3, 1, 2)
    observed = mask[:, :n * p].reshape(b, n, p).all(axis=-1)

    dtype = self.dtype or jnp.float32
    tokens = PatchEmbedding(d, self.dtype, self.param_dtype,
                            name="patch_embedding")(patches.astype(dtype),
                                                    observed)
    tokens = tokens + jnp.asarray(layers.sincos_1d(n, d), tokens.dtype)
    tokens = dropout_lib.Dropout(self.patch_dropout, deterministic=not train)(tokens)

    key_mask = None
    if "imu_mask" in batch:
      key_mask = jnp.repeat(observed, c, axis=0)  # row b * C + c
    tokens = T5Encoder(self.depth, self.num_heads, self.head_dim,
                       self.mlp_dim, self.num_buckets, self.max_distance,
                       self.dropout, self.norm_eps, self.remat, self.dtype,
                       self.param_dtype, name="encoder")(
                           tokens.reshape(b * c, n, d), key_mask, train)
    tokens = tokens.reshape(b, c, n, d)

    pooled = tokens.mean(axis=2)  # over patches: [b, C, d]
    if self.head_reduction == "concat":
      features = pooled.transpose(0, 2, 1).reshape(b, d * c)  # (d, c) order
    else:
      features = pooled.mean(axis=1)
    y = dropout_lib.Dropout(self.head_dropout, deterministic=not train)(features)
    logits = nn.Dense(
        self.num_classes,
        kernel_init=nn.initializers.variance_scaling(1 / 3, "fan_in",
                                                     "uniform"),
        dtype=self.dtype, param_dtype=self.param_dtype, name="head")(y)
    return logits, {"features": features, "tokens": tokens}


_SMALL = dict(patch_len=8, width=512, depth=8, num_heads=6, head_dim=64,
              mlp_dim=1024, num_buckets=32, max_distance=128)
# Presets: sizes; other fields are overrides.
VARIANTS: dict[str, functools.partial] = {
    # MOMENT-1-small (AutonLab/MOMENT-1-small): the flan-t5-small encoder.
    "small": functools.partial(MOMENT, **_SMALL),
    # CPU-scale experiments (README Experiment A): MOMENT-small's layout at
    # a quarter of its width and depth, trained from scratch.
    "cpu": functools.partial(MOMENT, **dict(_SMALL, width=128, depth=2,
                                            num_heads=2, head_dim=64,
                                            mlp_dim=256)),
    # CPU tests.
    "tiny": functools.partial(MOMENT, **dict(_SMALL, width=32, depth=2,
                                             num_heads=2, head_dim=16,
                                             mlp_dim=64)),
}


def create(variant: str = "small", num_classes: int = 3,
           **overrides: Any) -> MOMENT:
  """Registry entry: a ``VARIANTS`` preset plus field overrides.

  ``input_length`` may be given as a string (``"512"`` from a config arg).
  """
  if variant not in VARIANTS:
    raise ValueError(f"unknown MOMENT variant {variant!r}; known: "
                     f"{sorted(VARIANTS)}")
  length = overrides.get("input_length", NATIVE)
  if isinstance(length, str) and length != NATIVE:
    if not length.isdigit():
      raise ValueError(f"input_length={length!r}; expected {NATIVE!r} or a "
                       "number of samples")
    overrides["input_length"] = int(length)
  return VARIANTS[variant](num_classes=num_classes, **overrides)


def forward_flops(variant: str = "small", *, window_length: int = 1000,
                  channels: int = 6, **overrides: Any) -> float:
  """Matmul FLOPs (2 per multiply-add) of one forward pass per example.

  ``window_length`` / ``channels``: the input ``[L, C]`` (5 s at 200 Hz, 6
  IMU axes by default; ``input_length`` overrides ``L``). Counts the patch
  embedding, every block's q/k/v/o projections, attention scores and
  weighted values and gated MLP, for each channel, and the head. RevIN,
  resampling, norms, softmax, GELU and the pooling are left out.
  """
  m = create(variant, **overrides)
  n = m.num_patches(window_length)
  d, inner = m.width, m.num_heads * m.head_dim
  block = 4 * n * d * inner + 2 * n * n * inner + 3 * n * d * m.mlp_dim
  per_channel = n * m.patch_len * d + m.depth * block
  head_in = d * channels if m.head_reduction == "concat" else d
  return 2.0 * (channels * per_channel + head_in * m.num_classes)
