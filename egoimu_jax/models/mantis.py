"""Mantis (Feofanov et al., 2025), the v1 time-series foundation model.

Semantics are those of ``mantis.architecture.MantisV1`` in ``mantis-tsfm``
1.1.0 (``version1.py``, ``tokgen_utils/*``, ``transformer_v1_utils/*``), so
its checkpoints load by name and transposition (``convert/mantis.py``). Each
IMU channel is one univariate series that runs through the encoder on its
own, as ``mantis``' ``FineTuningNetwork`` does for multichannel input. What
maps to what (reference names after the ``vit_unit`` -> ``transf_unit``
rename):

* ``interpolate.resample_linear``: ``F.interpolate(size=seq_len, mode="linear",
  align_corners=False)``, the README's recipe for other lengths (1000 -> 512
  on a 5 s window at 200 Hz); a no-op at ``seq_len``.
* ``tokgen`` (``TokenGenerator``), ``tokgen_unit``: the series ``x`` and its
  first difference (zero-padded at the end) are each standardised (unbiased
  std + 1e-5) and embedded by a ``Conv1d(1 -> d, k, pad k // 2)`` ->
  LayerNorm -> mean within each patch: ``conv_diff`` / ``norm_diff`` =
  ``convs.0.conv`` / ``layer_norms.0``, ``conv_x`` / ``norm_x`` = ``convs.1``
  / ``layer_norms.1``. Per-patch mean and (unbiased) std of the raw ``x`` go
  through ``mean_encoder`` / ``std_encoder`` (``ScalarEncoder``) =
  ``scalar_encoders.{0,1}``. The four are concatenated (diff, x, mean, std)
  -> ``proj`` (``linear_encoder.linear``) -> ``proj_norm``
  (``linear_encoder.layer_norm``, eps 1e-15).
* ``ScalarEncoder``, ``MultiScaledScalarEncoder`` (Lin et al. 2023): for
  each scale ``k`` of ``scales`` a LayerNorm (eps 1e-15) of
  ``s * w_k + k * b_k``; the outputs are averaged with weights
  ``|1 / log(|s| / k + epsilon)|`` normalised over the scales. ``w``, ``b``
  and ``norm/{scale,bias}`` stack the reference's ``encoders.<j>.{w, b,
  layer_norm}`` along a leading scale axis ``[num_scales, scalar_dim]``.
* ``cls_token`` ``[d]`` (``transf_unit.cls_token``) is prepended; a fixed
  sinusoidal table (``pos_encoder.pe``, not a parameter) is added, then
  dropout.
* ``encoder/block_<i>`` (``Block``), ``transformer.layers.<i>``: pre-norm
  ``x + attn(norm1(x))``, ``x + mlp(norm2(x))`` (LayerNorm eps 1e-5).
  ``attn`` (``Attention``, ``layers.<i>.0.fn``): ``query`` / ``key`` /
  ``value`` split from the bias-free fused ``to_qkv`` (inner width
  ``num_heads * dim_head``, 1024 for 8M: wider than ``d``), dropout on the
  attention probabilities and after ``out`` (``to_out.0``). ``mlp``
  (``FeedForward``, ``layers.<i>.1.fn.net``): ``fc1`` -> exact GELU ->
  dropout -> ``fc2`` -> dropout. No final norm.
* Output per channel (``output_token``, the reference's v1.1 option):
  ``"cls"`` (the reference's ``"cls_token"``), ``"mean_token"`` (mean of the
  patch tokens) or ``"combined"`` (both, concatenated). Channels are
  concatenated channel-major: ``[b, C * f]`` (6 x 256 = 1536 for 8M).
* ``head``: ``"linear"`` (``head``, a Dense) or ``"batchnorm_linear"``, the
  default head of ``mantis``' ``fit``: ``head_norm`` (BatchNorm1d; torch's
  momentum 0.1 = linen's 0.9, eps 1e-5) -> ``head``. Linen updates the
  running variance with the biased batch variance, torch with the unbiased
  one (a factor ``n / (n - 1)`` on the statistics, not on training outputs).

The pretraining projector ``prj`` is not part of the classifier. Per-patch
statistics and the difference are computed without gradient, as in the
reference (``torch.no_grad``); this only affects gradients w.r.t. the input.
The scalar encoders run in float32 whatever ``dtype`` is (scales span
1e-4...1e4). Initialisation follows torch's defaults (Linear / Conv1d:
uniform with bound ``1 / sqrt(fan_in)``; ``w``, ``b`` uniform [0, 1);
``cls_token`` standard normal).

Input ``batch['imu']`` float32 ``[b, L, C]`` (Contract 3), any ``L``.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax.models import dropout as dropout_lib
from egoimu_jax.models import interpolate
from egoimu_jax.models import layers
from egoimu_jax.models import presets

Dtype = Any
OUTPUT_TOKENS = ("cls", "mean_token", "combined")
HEADS = ("linear", "batchnorm_linear")
SCALES = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4)
STD_EPS = 1e-5  # the token generator's standardisation: (x - mu) / (std + eps)


def _dense(features: int, fan_in: int, name: str, dtype: Dtype,
           param_dtype: Dtype, use_bias: bool = True) -> nn.Dense:
  return nn.Dense(features, use_bias=use_bias,
                  kernel_init=layers.torch_kernel_init,
                  bias_init=layers.torch_bias_init(fan_in), dtype=dtype,
                  param_dtype=param_dtype, name=name)


def _layer_norm(eps: float, name: str, dtype: Dtype, param_dtype: Dtype,
                **kwargs: Any) -> nn.LayerNorm:
  # Two-pass variance, as torch: the eps-1e-15 norms see large offsets.
  return nn.LayerNorm(epsilon=eps, use_fast_variance=False, dtype=dtype,
                      param_dtype=param_dtype, name=name, **kwargs)


def standardise(x: jax.Array) -> jax.Array:
  """``(x - mean) / (std + 1e-5)`` over the last axis, unbiased std."""
  mean = x.mean(axis=-1, keepdims=True)
  std = jnp.std(x, axis=-1, keepdims=True, ddof=1)
  return (x - mean) / (std + STD_EPS)


class ScalarEncoder(nn.Module):
  """Multi-scaled encoding of scalars ``[..., 1]`` -> ``[..., features]``."""
  features: int
  scales: tuple[float, ...] = SCALES
  epsilon: float = 1.1
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, s: jax.Array) -> jax.Array:
    s = s.astype(jnp.float32)
    k = np.asarray(self.scales, np.float32)
    shape = (len(self.scales), self.features)
    w = self.param("w", nn.initializers.uniform(1.0), shape, self.param_dtype)
    b = self.param("b", nn.initializers.uniform(1.0), shape, self.param_dtype)
    # [..., 1, 1] * [S, f] + [S, 1] * [S, f] -> [..., S, f]
    z = s[..., None] * w.astype(jnp.float32) + k[:, None] * b.astype(
        jnp.float32)
    y = _layer_norm(1e-15, "norm", jnp.float32, self.param_dtype,
                    reduction_axes=-1, feature_axes=(-2, -1))(z)
    alpha = jnp.abs(1.0 / jnp.log(jnp.abs(s) * (1.0 / k) + self.epsilon))
    alpha = alpha / alpha.sum(axis=-1, keepdims=True)  # [..., S]
    return (y * alpha[..., None]).sum(axis=-2)


class TokenGenerator(nn.Module):
  """Series ``[n, seq_len]`` -> patch tokens ``[n, num_patches, width]``."""
  width: int
  num_patches: int
  scalar_dim: int
  scales: tuple[float, ...] = SCALES
  scalar_epsilon: float = 1.1
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    n, length = x.shape
    window = length // self.num_patches
    kernel = window + 1 if window % 2 == 0 else window
    x = x.astype(jnp.float32)
    # No gradient through the statistics and the difference (torch.no_grad).
    xs = jax.lax.stop_gradient(x)
    patches = xs.reshape(n, self.num_patches, window)
    stats = (patches.mean(axis=-1, keepdims=True),
             jnp.std(patches, axis=-1, keepdims=True, ddof=1))
    diff = jnp.pad(xs[:, 1:] - xs[:, :-1], ((0, 0), (0, 1)))

    def embed(series, suffix):
      y = nn.Conv(self.width, (kernel,), padding=[(kernel // 2,) * 2],
                  kernel_init=layers.torch_kernel_init,
                  bias_init=layers.torch_bias_init(kernel), dtype=self.dtype,
                  param_dtype=self.param_dtype,
                  name=f"conv_{suffix}")(standardise(series)[..., None])
      y = _layer_norm(1e-5, f"norm_{suffix}", self.dtype,
                      self.param_dtype)(y)
      return y.reshape(n, self.num_patches, window, self.width).mean(axis=2)

    scalar = functools.partial(ScalarEncoder, self.scalar_dim, self.scales,
                               self.scalar_epsilon, self.param_dtype)
    feats = [embed(diff, "diff"), embed(x, "x"),
             scalar(name="mean_encoder")(stats[0]),
             scalar(name="std_encoder")(stats[1])]
    dtype = feats[0].dtype
    y = jnp.concatenate([f.astype(dtype) for f in feats], axis=-1)
    y = _dense(self.width, y.shape[-1], "proj", self.dtype,
               self.param_dtype)(y)
    return _layer_norm(1e-15, "proj_norm", self.dtype, self.param_dtype)(y)


class Attention(nn.Module):
  """Multi-head attention with inner width ``num_heads * dim_head``.

  ``query``/``key``/``value`` have no bias; ``out`` is absent when the
  reference skips it (one head of width ``d``).
  """
  num_heads: int
  dim_head: int
  dropout: float = 0.0
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    b, t, d = x.shape
    inner = self.num_heads * self.dim_head

    def proj(name):
      y = _dense(inner, d, name, self.dtype, self.param_dtype,
                 use_bias=False)(x)
      return y.reshape(b, t, self.num_heads, self.dim_head)

    q, k, v = proj("query"), proj("key"), proj("value")
    logits = jnp.einsum("bqhc,bkhc->bhqk", q, k) * self.dim_head ** -0.5
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1)
    probs = dropout_lib.Dropout(self.dropout)(probs.astype(v.dtype),
                                     deterministic=not train)
    y = jnp.einsum("bhqk,bkhc->bqhc", probs, v).reshape(b, t, inner)
    if self.num_heads == 1 and self.dim_head == d:
      return y
    y = _dense(d, inner, "out", self.dtype, self.param_dtype)(y)
    return dropout_lib.Dropout(self.dropout)(y, deterministic=not train)


class FeedForward(layers.Mlp):
  """``layers.Mlp``'s fields: ``fc1`` -> exact GELU -> dropout -> ``fc2``
  -> dropout, with PyTorch's init."""

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    d = x.shape[-1]
    drop = dropout_lib.Dropout(self.dropout, deterministic=not train)
    x = drop(layers.gelu(_dense(self.hidden_dim, d, "fc1", self.dtype,
                                self.param_dtype)(x)))
    x = _dense(d, self.hidden_dim, "fc2", self.dtype, self.param_dtype)(x)
    return drop(x)


class Block(nn.Module):
  """Pre-norm transformer layer (``transformer.layers.<i>``)."""
  num_heads: int
  dim_head: int
  mlp_dim: int
  dropout: float = 0.0
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    norm = functools.partial(_layer_norm, 1e-5, dtype=self.dtype,
                             param_dtype=self.param_dtype)
    x = x + Attention(self.num_heads, self.dim_head, self.dropout, self.dtype,
                      self.param_dtype, name="attn")(norm("norm1")(x), train)
    x = x + FeedForward(self.mlp_dim, self.dropout, self.dtype,
                        self.param_dtype, name="mlp")(norm("norm2")(x), train)
    return x


class Transformer(nn.Module):
  """``depth`` ``Block`` s named ``block_<i>``, without a final norm."""
  depth: int
  num_heads: int
  dim_head: int
  mlp_dim: int
  dropout: float = 0.0
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    for i in range(self.depth):
      x = Block(self.num_heads, self.dim_head, self.mlp_dim, self.dropout,
                self.dtype, self.param_dtype, name=f"block_{i}")(x, train)
    return x


class Mantis(nn.Module):
  """Mantis classifier over ``batch['imu']`` ``[b, L, C]``.

  Returns ``(logits [b, num_classes], aux)`` with ``aux['features']`` the
  per-channel outputs concatenated ``[b, C * f]`` (``f`` = ``width``, or
  ``2 * width`` for ``"combined"``; the head's input) and ``aux['tokens']``
  the final tokens ``[b, C, 1 + num_patches, width]`` (CLS first).

  Attributes:
    num_classes: outputs of ``head``.
    seq_len: series length the encoder sees; every channel is resampled to
      it (``interpolate.resample_linear``).
    width: token width (``hidden_dim``).
    num_patches: tokens per series (``seq_len / num_patches`` samples each).
    scales, scalar_dim, scalar_epsilon: the scalar encoders' scales, width
      and ``epsilon`` (``scalar_scales``, ``hidden_dim_scalar_enc``,
      ``epsilon_scalar_enc``).
    depth, num_heads, dim_head, mlp_dim: transformer sizes
      (``transf_*``).
    dropout: after the position add, on attention probabilities, after
      ``out``, after the GELU and after ``fc2`` (``transf_dropout``).
    output_token: ``"cls"``, ``"mean_token"`` or ``"combined"``.
    head: ``"linear"`` or ``"batchnorm_linear"`` (``fit``'s default).
    head_momentum: ``head_norm``'s running-average momentum (linen
      convention; torch's 0.1 is 0.9).
  """
  num_classes: int
  seq_len: int = 512
  width: int = 256
  num_patches: int = 32
  scales: tuple[float, ...] = SCALES
  scalar_dim: int = 32
  scalar_epsilon: float = 1.1
  depth: int = 6
  num_heads: int = 8
  dim_head: int = 128
  mlp_dim: int = 512
  dropout: float = 0.1
  output_token: str = "cls"
  head: str = "linear"
  head_momentum: float = 0.9
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @property
  def features_per_channel(self) -> int:
    return 2 * self.width if self.output_token == "combined" else self.width

  def _check(self, imu: jax.Array) -> None:
    if self.output_token not in OUTPUT_TOKENS:
      raise ValueError(f"output_token={self.output_token!r}; expected one of "
                       f"{OUTPUT_TOKENS}")
    if self.head not in HEADS:
      raise ValueError(f"head={self.head!r}; expected one of {HEADS}")
    if self.seq_len % self.num_patches:
      raise ValueError(f"seq_len={self.seq_len} is not a multiple of "
                       f"num_patches={self.num_patches}")
    layers.check_imu(imu, "Mantis")

  def encode(self, series: jax.Array, train: bool = False) -> jax.Array:
    """Univariate series ``[n, seq_len]`` -> final tokens ``[n, 1 + P, d]``
    (``MantisV1``'s encoder before its output-token choice)."""
    x = TokenGenerator(self.width, self.num_patches, self.scalar_dim,
                       tuple(self.scales), self.scalar_epsilon, self.dtype,
                       self.param_dtype, name="tokgen")(series)
    n, p, d = x.shape
    cls = self.param("cls_token", nn.initializers.normal(1.0), (d,),
                     self.param_dtype)
    x = jnp.concatenate(
        [jnp.broadcast_to(cls.astype(x.dtype), (n, 1, d)), x], axis=1)
    x = x + jnp.asarray(layers.sincos_1d(1 + p, d), x.dtype)
    x = dropout_lib.Dropout(self.dropout, deterministic=not train)(x)
    return Transformer(self.depth, self.num_heads, self.dim_head,
                       self.mlp_dim, self.dropout, self.dtype,
                       self.param_dtype, name="encoder")(x, train)

  @nn.compact
  def __call__(self, batch: Mapping[str, jax.Array], *, train: bool
               ) -> tuple[jax.Array, dict[str, jax.Array]]:
    imu = batch["imu"]
    self._check(imu)
    b, _, c = imu.shape
    # [b, L, C] -> one univariate series per (example, channel).
    series = interpolate.resample_linear(
        imu.astype(jnp.float32).transpose(0, 2, 1), self.seq_len)
    tokens = self.encode(series.reshape(b * c, self.seq_len), train)
    cls, mean = tokens[:, 0], tokens[:, 1:].mean(axis=1)
    per_channel = {"cls": cls, "mean_token": mean,
                   "combined": jnp.concatenate([cls, mean], axis=-1)
                   }[self.output_token]
    features = per_channel.reshape(b, c * per_channel.shape[-1])
    y = features
    if self.head == "batchnorm_linear":
      y = nn.BatchNorm(use_running_average=not train,
                       momentum=self.head_momentum, epsilon=1e-5,
                       use_fast_variance=False,
                       dtype=self.dtype, param_dtype=self.param_dtype,
                       name="head_norm")(y)
    logits = _dense(self.num_classes, y.shape[-1], "head", self.dtype,
                    self.param_dtype)(y)
    return logits, {"features": features,
                    "tokens": tokens.reshape((b, c) + tokens.shape[1:])}


# Presets: sizes; other fields are overrides.
VARIANTS: dict[str, functools.partial] = {
    # Mantis-8M (paris-noah/Mantis-8M): 8.04M encoder parameters.
    "8M": functools.partial(Mantis),
    # CPU-scale experiments (README Experiment A): Mantis-8M's input and
    # patching with a quarter of its width and a third of its depth.
    "cpu": functools.partial(Mantis, width=64, scalar_dim=16, depth=2,
                             num_heads=2, dim_head=32, mlp_dim=128),
    # CPU tests: 64 samples in 8 patches, width 32, 2 blocks.
    "tiny": functools.partial(Mantis, seq_len=64, width=32, num_patches=8,
                              scalar_dim=8, depth=2, num_heads=2, dim_head=16,
                              mlp_dim=64),
}


def create(variant: str = "8M", num_classes: int = 3,
           **overrides: Any) -> Mantis:
  """Registry entry: a ``VARIANTS`` preset plus field overrides."""
  return presets.pick(VARIANTS, variant, "Mantis")(
      num_classes=num_classes, **presets.with_tuples(overrides, "scales"))


def forward_flops(variant: str = "8M", channels: int = 6,
                  **overrides: Any) -> float:
  """Matmul and conv FLOPs (2 per multiply-add) of one forward pass per
  example of ``channels`` channels.

  Counts, per channel: the two token convolutions, the token projection,
  every block's q/k/v and output projections, attention scores and weighted
  values, and the MLP; then the head. The resampling, statistics, scalar
  encoders (elementwise), norms, softmax, GELU and pooling are left out.
  As XLA counts them, the convolutions' taps on the zero padding are not
  counted (``pad * (pad + 1)`` per filter; 0.8% of the convs for 8M).
  """
  m = create(variant, **overrides)
  d, p, t = m.width, m.num_patches, m.num_patches + 1
  window = m.seq_len // p
  kernel = window + 1 if window % 2 == 0 else window
  inner = m.num_heads * m.dim_head
  pad = kernel // 2
  convs = 2 * (m.seq_len * kernel - pad * (pad + 1)) * d
  proj = p * (2 * d + 2 * m.scalar_dim) * d
  out = 0 if (m.num_heads == 1 and m.dim_head == d) else t * inner * d
  attn = 3 * t * d * inner + 2 * t * t * inner + out
  mlp = 2 * t * d * m.mlp_dim
  per_channel = convs + proj + m.depth * (attn + mlp)
  head = channels * m.features_per_channel * m.num_classes
  return 2.0 * (channels * per_channel + head)
