"""MOMENT (Goswami et al., ICML 2024) classifier: a T5 encoder over IMU patches.

Semantics are those of ``momentfm`` 0.1.4 (``momentfm/models/moment.py``,
``layers/embed.py``, ``layers/revin.py``) with the classification task, so
its checkpoints (``MOMENTPipeline`` ``save_pretrained`` directories or raw
state dicts) load by name and transposition (``convert/moment.py``). The
backbone is the flan-t5 encoder as in ``transformers``' ``T5Stack``
(``models/t5.py``). What maps to what:

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
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from egoimu_jax.models import dropout as dropout_lib
from egoimu_jax.models import interpolate
from egoimu_jax.models import layers
from egoimu_jax.models import presets
from egoimu_jax.models import t5

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


def resample(x: jax.Array, length: int, mask: jax.Array | None = None
             ) -> tuple[jax.Array, jax.Array | None]:
  """Linear resampling of ``x [b, L, C]`` along time to ``length``.

  ``mask [b, L]`` (bool) is resampled with it: an output sample is observed
  when both samples it interpolates are; unobserved inputs are zeroed first
  so that they cannot leak (NaN * 0) into observed outputs.
  """
  i0, i1, w1 = interpolate.resample_indices(x.shape[1], length)
  if mask is not None:
    x = jnp.where(mask[..., None], x, 0)
    mask = mask[:, i0] & mask[:, i1]
  w1 = jnp.asarray(w1, x.dtype)[None, :, None]
  return x[:, i0] * (1 - w1) + x[:, i1] * w1, mask


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
    layers.check_imu(imu, "MOMENT")
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
    tokens = t5.T5Encoder(self.depth, self.num_heads, self.head_dim,
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
    logits = nn.Dense(self.num_classes, kernel_init=layers.torch_kernel_init,
                      dtype=self.dtype, param_dtype=self.param_dtype,
                      name="head")(y)
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
  preset = presets.pick(VARIANTS, variant, "MOMENT")
  length = overrides.get("input_length", NATIVE)
  if isinstance(length, str) and length != NATIVE:
    if not length.isdigit():
      raise ValueError(f"input_length={length!r}; expected {NATIVE!r} or a "
                       "number of samples")
    overrides["input_length"] = int(length)
  return preset(num_classes=num_classes, **overrides)


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
