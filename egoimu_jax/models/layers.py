"""Transformer and patch layers shared by the ViT-style models.

Everything here is plain pre-LayerNorm ViT (timm / VideoMAE semantics), so
PyTorch checkpoints map onto it by transposition alone:

* ``Attention``: separate ``query``/``key``/``value``/``out`` Dense layers with
  2-D kernels ``[d, d]``. Regex sharding rules such as
  ``.*/(query|key|value)/kernel`` reach them by name.
* ``Mlp``: ``fc1`` -> exact (erf) GELU -> ``fc2``, as torch ``nn.GELU()`` and
  transformers' ``"gelu"`` (flax's ``nn.gelu`` defaults to the tanh
  approximation, which would break parity).
* ``EncoderBlock``: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``. An
  optional ``stream`` name selects a stream-specific pair of LayerNorms around
  shared attention/MLP weights (CAV-MAE / EVI-MAE's unified block).
* ``PatchEmbed``: a conv with kernel == stride == patch over N spatial dims;
  tokens come out in row-major grid order, the order of torch's
  ``conv(x).flatten(2)``.
* ``sincos_1d`` is the fixed table of VideoMAE / "Attention is all you need"
  (sin and cos interleaved), ``sincos_2d`` the MAE grid layout.
* ``patchify`` / ``unpatchify`` produce reconstruction targets in the same
  token order as ``PatchEmbed``, with pixels ordered (patch dims..., channel).

Parameters are kept in ``param_dtype``; matmuls run in ``dtype``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Dtype = Any

# timm / MAE initialise Linear weights with xavier_uniform and biases with 0.
dense_init = nn.initializers.xavier_uniform()

# torch's default Linear / Conv init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
torch_kernel_init = nn.initializers.variance_scaling(1.0 / 3, "fan_in",
                                                     "uniform")


def torch_bias_init(fan_in: int) -> Callable[..., jax.Array]:
  """torch's default Linear / Conv bias init for ``fan_in`` inputs."""
  bound = 1.0 / math.sqrt(fan_in)

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def check_imu(imu: jax.Array, model: str, channels: str = "C") -> None:
  """Raises ValueError naming ``model`` unless ``imu`` is ``[b, L, C]``."""
  if imu.ndim != 3:
    raise ValueError(f"{model} expects batch['imu'] of shape "
                     f"[b, L, {channels}], got {tuple(imu.shape)}")


def gelu(x: jax.Array) -> jax.Array:
  """Exact GELU (torch ``nn.GELU()``), not flax's tanh approximation."""
  return nn.gelu(x, approximate=False)


def sincos_1d(num_positions: int, dim: int) -> np.ndarray:
  """VideoMAE's fixed sinusoid table ``[num_positions, dim]`` (float32).

  Dimension ``j`` uses frequency ``10000 ** (-2 * (j // 2) / dim)``; even
  dims hold sin, odd dims cos. Computed in float64 like the reference.
  """
  pos = np.arange(num_positions, dtype=np.float64)[:, None]
  j = np.arange(dim)
  angle = pos / np.power(10000.0, 2 * (j // 2) / dim)[None, :]
  table = np.where(j % 2 == 0, np.sin(angle), np.cos(angle))
  return table.astype(np.float32)


def sincos_2d(grid_h: int, grid_w: int, dim: int) -> np.ndarray:
  """MAE's 2-D table ``[grid_h * grid_w, dim]``: half the dims encode the row,
  half the column, each half ``[sin, cos]`` blocks (not interleaved)."""
  if dim % 4:
    raise ValueError(f"sincos_2d needs dim divisible by 4, got {dim}")

  def one_axis(d, pos):
    omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
    out = pos.reshape(-1)[:, None] * omega[None, :]
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)

  gh, gw = np.meshgrid(np.arange(grid_h, dtype=np.float64),
                       np.arange(grid_w, dtype=np.float64), indexing="ij")
  # MAE puts the column (w) coordinate first.
  table = np.concatenate([one_axis(dim // 2, gw), one_axis(dim // 2, gh)], 1)
  return table.astype(np.float32)


def patchify(x: jax.Array, patch: Sequence[int]) -> jax.Array:
  """``[b, *spatial, c] -> [b, num_patches, prod(patch) * c]``.

  Patches are in row-major grid order (as ``PatchEmbed`` emits tokens); the
  values of one patch are ordered (patch dims..., channel).
  """
  b, *spatial, c = x.shape
  patch = tuple(patch)
  if len(spatial) != len(patch):
    raise ValueError(f"patch {patch} does not match spatial dims {spatial}")
  for s, p in zip(spatial, patch):
    if s % p:
      raise ValueError(f"spatial size {tuple(spatial)} not divisible by patch "
                       f"{patch}")
  grid = [s // p for s, p in zip(spatial, patch)]
  shape = [b]
  for g, p in zip(grid, patch):
    shape += [g, p]
  x = x.reshape(shape + [c])
  n = len(patch)
  order = [0] + [1 + 2 * i for i in range(n)] + [2 + 2 * i for i in range(n)]
  x = x.transpose(order + [2 * n + 1])
  return x.reshape(b, math.prod(grid), math.prod(patch) * c)


def unpatchify(x: jax.Array, grid: Sequence[int], patch: Sequence[int],
               channels: int) -> jax.Array:
  """Inverse of ``patchify``: ``[b, prod(grid), prod(patch) * c]`` ->
  ``[b, *spatial, c]``."""
  b = x.shape[0]
  grid, patch = tuple(grid), tuple(patch)
  n = len(patch)
  x = x.reshape((b,) + grid + patch + (channels,))
  order = [0]
  for i in range(n):
    order += [1 + i, 1 + n + i]
  x = x.transpose(order + [2 * n + 1])
  return x.reshape((b,) + tuple(g * p for g, p in zip(grid, patch)) +
                   (channels,))


def normalize_patches(patches: jax.Array, eps: float = 1e-6) -> jax.Array:
  """Per-patch standardisation (MAE's ``norm_pix_loss`` target).

  Uses the unbiased variance, as MAE / VideoMAE / EVI-MAE do (``torch.var``).
  """
  patches = patches.astype(jnp.float32)
  mean = patches.mean(axis=-1, keepdims=True)
  var = patches.var(axis=-1, keepdims=True, ddof=1)
  return (patches - mean) / jnp.sqrt(var + eps)


class PatchEmbed(nn.Module):
  """Non-overlapping patches of ``[b, *spatial, c]`` -> tokens ``[b, n, d]``.

  ``patch`` has one entry per spatial dim: ``(16, 16)`` for images or
  spectrograms, ``(tubelet, 16, 16)`` for video. The conv kernel is
  initialised like a Linear layer on the flattened patch (xavier uniform), as
  MAE/VideoMAE do.
  """
  features: int
  patch: tuple[int, ...]
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    n = len(self.patch)
    init = nn.initializers.variance_scaling(
        1.0, "fan_avg", "uniform", in_axis=tuple(range(n + 1)), out_axis=-1)
    y = nn.Conv(self.features, kernel_size=self.patch, strides=self.patch,
                padding="VALID", kernel_init=init, dtype=self.dtype,
                param_dtype=self.param_dtype, name="proj")(x)
    return y.reshape(y.shape[0], -1, self.features)


class Mlp(nn.Module):
  """``fc1 -> GELU -> fc2`` (dropout after fc2, as VideoMAE/timm)."""
  hidden_dim: int
  dropout: float = 0.0
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    d = x.shape[-1]
    dense = lambda f, name: nn.Dense(  # noqa: E731
        f, kernel_init=dense_init, dtype=self.dtype,
        param_dtype=self.param_dtype, name=name)
    x = gelu(dense(self.hidden_dim, "fc1")(x))
    x = dense(d, "fc2")(x)
    return nn.Dropout(self.dropout)(x, deterministic=not train)


class Attention(nn.Module):
  """Multi-head self-attention with ``query``/``key``/``value``/``out`` Dense.

  ``qkv_bias`` adds a bias to all three projections. VideoMAE has biases on
  query and value only; a key bias adds ``q . b_k`` to every logit of a query,
  which softmax cancels, so an imported zero key bias is exactly equivalent.
  ``implementation`` is passed to ``jax.nn.dot_product_attention`` (None: XLA,
  ``"cudnn"``: fused flash attention on GPU under bf16).
  """
  num_heads: int
  qkv_bias: bool = True
  dropout: float = 0.0
  implementation: str | None = None
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    b, n, d = x.shape
    if d % self.num_heads:
      raise ValueError(f"width {d} not divisible by {self.num_heads} heads")
    head_dim = d // self.num_heads

    def proj(name, bias=True):
      y = nn.Dense(d, use_bias=bias, kernel_init=dense_init, dtype=self.dtype,
                   param_dtype=self.param_dtype, name=name)(x)
      return y.reshape(b, n, self.num_heads, head_dim)

    q = proj("query", self.qkv_bias)
    k = proj("key", self.qkv_bias)
    v = proj("value", self.qkv_bias)
    y = jax.nn.dot_product_attention(q, k, v,
                                     implementation=self.implementation)
    y = nn.Dense(d, kernel_init=dense_init, dtype=self.dtype,
                 param_dtype=self.param_dtype, name="out")(y.reshape(b, n, d))
    return nn.Dropout(self.dropout)(y, deterministic=not train)


class DropPath(nn.Module):
  """Stochastic depth: drops the residual branch per example (rng 'dropout')."""
  rate: float

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    if not train or self.rate == 0.0:
      return x
    keep = 1.0 - self.rate
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    mask = jax.random.bernoulli(self.make_rng("dropout"), keep, shape)
    return jnp.where(mask, x / keep, jnp.zeros_like(x))


class EncoderBlock(nn.Module):
  """Pre-LN transformer block.

  ``stream`` (a call argument) picks LayerNorms ``norm1_<stream>`` /
  ``norm2_<stream>`` around the shared ``attn`` and ``mlp``; ``None`` uses
  ``norm1`` / ``norm2``.
  """
  num_heads: int
  mlp_dim: int
  dropout: float = 0.0
  drop_path: float = 0.0
  qkv_bias: bool = True
  norm_eps: float = 1e-6
  attention_impl: str | None = None
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  # Sublayers built from the block's fields; subclasses with another layout
  # (timesformer.DividedBlock) reuse them.
  def _layer_norm(self, name: str) -> nn.LayerNorm:
    return nn.LayerNorm(epsilon=self.norm_eps, dtype=self.dtype,
                        param_dtype=self.param_dtype, name=name)

  def _attention(self, name: str) -> Attention:
    return Attention(self.num_heads, self.qkv_bias, self.dropout,
                     self.attention_impl, self.dtype, self.param_dtype,
                     name=name)

  def _mlp(self) -> Mlp:
    return Mlp(self.mlp_dim, self.dropout, self.dtype, self.param_dtype,
               name="mlp")

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False,
               stream: str | None = None) -> jax.Array:
    suffix = "" if stream is None else f"_{stream}"
    norm = lambda name: self._layer_norm(name + suffix)  # noqa: E731
    attn, mlp = self._attention("attn"), self._mlp()
    drop = DropPath(self.drop_path)
    x = x + drop(attn(norm("norm1")(x), train), train)
    x = x + drop(mlp(norm("norm2")(x), train), train)
    return x


class Encoder(nn.Module):
  """``depth`` ``EncoderBlock`` s named ``block_<i>``, without a final norm.

  Stochastic depth rises linearly from 0 to ``drop_path`` over the blocks.
  ``remat`` recomputes each block's activations in the backward pass.
  """
  depth: int
  num_heads: int
  mlp_dim: int
  dropout: float = 0.0
  drop_path: float = 0.0
  qkv_bias: bool = True
  norm_eps: float = 1e-6
  remat: bool = False
  attention_impl: str | None = None
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  def _block(self, i: int, block_cls: type[EncoderBlock] = EncoderBlock,
             static_argnums: tuple[int, ...] = (2, 3),
             **fields: Any) -> EncoderBlock:
    """Block ``i`` (``block_<i>``): ``block_cls`` with this encoder's fields
    and ``fields``, its drop path the ``i``-th step of the linear rise.

    ``static_argnums`` index the block's call args for ``remat`` (arg 0 is
    the module itself: ``(self, x, train, stream)`` for ``EncoderBlock``).
    """
    if self.remat:
      block_cls = nn.remat(block_cls, static_argnums=static_argnums)
    rate = float(np.linspace(0.0, self.drop_path, self.depth)[i])
    return block_cls(num_heads=self.num_heads, mlp_dim=self.mlp_dim,
                     dropout=self.dropout, drop_path=rate,
                     qkv_bias=self.qkv_bias, norm_eps=self.norm_eps,
                     attention_impl=self.attention_impl, dtype=self.dtype,
                     param_dtype=self.param_dtype, name=f"block_{i}",
                     **fields)

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    for i in range(self.depth):
      x = self._block(i)(x, train, None)
    return x
