"""SlowFast (Feichtenhofer et al., ICCV 2019) video classifier, ResNet-50.

Matches pytorchvideo's ``create_slowfast`` defaults (the ``SLOWFAST_8x8_R50``
Kinetics checkpoint), so its weights load by transposition alone
(``models.convert.slowfast``):

* Input: ``batch['frames']`` ``[b, T, H, W, 3]`` (normalised by the pipeline)
  feeds the Fast pathway. The Slow pathway takes ``T // alpha`` of those
  frames at ``slow_indices`` (pytorchvideo's ``PackPathway``:
  ``torch.linspace(0, T - 1, T // alpha).long()``). ``T`` must be a multiple
  of ``alpha`` so that the lateral connections line up.
* Stems: conv ``1x7x7`` (Slow) / ``5x7x7`` (Fast), stride ``1x2x2``, BN,
  ReLU, max-pool ``1x3x3`` stride ``1x2x2``. Widths 64 / 8 (``beta_inv``).
* Lateral fusion after the stem and res2..res4: conv ``7x1x1`` with temporal
  stride ``alpha`` from Fast channels ``c`` to ``fusion_ratio * c``, BN, ReLU,
  concatenated after the Slow channels.
* res2..res5: bottleneck blocks ``depths`` = (3, 4, 6, 3), Slow widths
  256..2048, Fast widths divided by ``beta_inv``; spatial stride 2 in ``conv_b``
  of the first block of res3..res5; ``conv_a`` kernels ``kx1x1`` with ``k``
  from ``slow_temporal_kernels`` (1, 1, 3, 3) / ``fast_temporal_kernels``
  (3, 3, 3, 3); a projection shortcut (``branch1``) where width or stride
  changes.
* Head: each pathway is averaged over all remaining positions, the two are
  concatenated (2048 + 256 = 2304 = ``aux['features']``), dropout 0.5, linear
  ``head``. pytorchvideo pools with fixed kernels (8, 7, 7) / (32, 7, 7),
  which is the same global average at 224^2 with 32 frames; the global pool
  also accepts other sizes (the tiny test inputs).
* BatchNorm: epsilon 1e-5, torch momentum 0.1 (linen ``momentum=0.9``),
  statistics in the ``batch_stats`` collection, so training applies take
  ``mutable=["batch_stats"]`` (the ``supervised`` task does this for every
  non-``params`` collection).

Initialisation as pytorchvideo's ResNets: convs He-normal over fan-out, the
last BN of every bottleneck with zero scale, the head N(0, 0.01).

Layout is channels-last ``[b, T, H, W, C]``; convs run in ``dtype`` with
``param_dtype`` parameters, as 2-D convolutions over folded time by default
(``Conv``, ``fold_time``; 3-D ones are several times slower on XLA:CPU).
``forward_flops`` counts the convolutions and the head analytically.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, Sequence

import flax.linen as nn
from flax.linen import dtypes
import jax
from jax import lax
import jax.numpy as jnp
import numpy as np

from egoimu_jax.models import presets

Dtype = Any

# pytorchvideo's c2_msra_fill: kaiming_normal_(mode="fan_out", relu gain).
conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
head_init = nn.initializers.normal(0.01)


def slow_indices(num_frames: int, alpha: int) -> np.ndarray:
  """Fast-frame indices of the Slow pathway, as pytorchvideo's PackPathway.

  ``torch.linspace(0, T - 1, T // alpha).long()`` in float32, reproduced step
  by step (torch fills the first half from the start, the second from the
  end) so that the truncation agrees bit for bit.
  """
  steps = num_frames // alpha
  if steps < 1:
    raise ValueError(f"{num_frames} frames give no Slow frame at alpha={alpha}")
  start, end = np.float32(0), np.float32(num_frames - 1)
  if steps == 1:
    return np.zeros((1,), np.int64)
  step = (end - start) / np.float32(steps - 1)
  i = np.arange(steps)
  values = np.where(i < steps // 2, start + step * i.astype(np.float32),
                    end - step * (steps - 1 - i).astype(np.float32))
  return values.astype(np.float32).astype(np.int64)


def _conv2d(x: jax.Array, kernel: jax.Array, strides: Sequence[int],
            padding: Sequence[tuple[int, int]]) -> jax.Array:
  return lax.conv_general_dilated(x, kernel, tuple(strides), list(padding),
                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))


class Conv(nn.Module):
  """Bias-free 3-D convolution ``[b, T, H, W, C]``, "same" padding ``k // 2``.

  The kernel is ``nn.Conv``'s ``[kt, kh, kw, in, out]``. With ``fold_time``
  it is computed as 2-D convolutions (same products and sums): ``kt x 1 x 1``
  kernels convolve ``[b, T, H * W, C]``; others stack the ``kt`` temporal
  taps on the channel axis and run ``kh x kw`` per output frame. XLA:CPU runs
  3-D convolutions several times (the 5x7x7 Fast stem ~10x) slower than
  these; 1x1x1 convolutions stay 3-D (as fast either way).
  """
  features: int
  kernel_size: Sequence[int]
  strides: Sequence[int] = (1, 1, 1)
  fold_time: bool = True
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kt, kh, kw = self.kernel_size
    st, sh, sw = self.strides
    b, t, h, w, c = x.shape
    kernel = self.param("kernel", conv_init, (kt, kh, kw, c, self.features),
                        self.param_dtype)
    x, kernel = dtypes.promote_dtype(x, kernel, dtype=self.dtype)
    pad = [(k // 2, k // 2) for k in self.kernel_size]
    if not self.fold_time or kt * kh * kw == 1:
      return lax.conv_general_dilated(
          x, kernel, tuple(self.strides), pad,
          dimension_numbers=("NDHWC", "DHWIO", "NDHWC"))
    if kh == kw == sh == sw == 1:
      y = _conv2d(x.reshape(b, t, h * w, c), kernel[:, :, 0], (st, 1),
                  [pad[0], (0, 0)])
      return y.reshape(b, y.shape[1], h, w, self.features)
    t_out = (t + 2 * pad[0][0] - kt) // st + 1
    x = jnp.pad(x, ((0, 0), pad[0], (0, 0), (0, 0), (0, 0)))
    x = jnp.concatenate([x[:, d:d + (t_out - 1) * st + 1:st]
                         for d in range(kt)], axis=-1)  # channel d * c + i
    kernel = jnp.transpose(kernel, (1, 2, 0, 3, 4)).reshape(
        kh, kw, kt * c, self.features)
    y = _conv2d(x.reshape(b * t_out, h, w, kt * c), kernel, (sh, sw), pad[1:])
    return y.reshape(b, t_out, *y.shape[1:])


class _Base(nn.Module):
  """Shared conv / BatchNorm constructors."""
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  bn_momentum: float = 0.9
  bn_eps: float = 1e-5
  fold_time: bool = True

  def conv(self, features: int, kernel: Sequence[int],
           strides: Sequence[int] = (1, 1, 1), name: str | None = None):
    return Conv(features, tuple(kernel), tuple(strides),
                fold_time=self.fold_time, dtype=self.dtype,
                param_dtype=self.param_dtype, name=name)

  def norm(self, train: bool, name: str, zero_scale: bool = False):
    return nn.BatchNorm(
        use_running_average=not train, momentum=self.bn_momentum,
        epsilon=self.bn_eps, dtype=self.dtype, param_dtype=self.param_dtype,
        scale_init=(nn.initializers.zeros_init() if zero_scale else
                    nn.initializers.ones_init()), name=name)


class Stem(_Base):
  """conv ``t x 7 x 7`` stride ``1x2x2`` -> BN -> ReLU -> max-pool."""
  features: int = 64
  temporal_kernel: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    x = self.conv(self.features, (self.temporal_kernel, 7, 7), (1, 2, 2),
                  name="conv")(x)
    x = nn.relu(self.norm(train, "norm")(x))
    return nn.max_pool(x, (1, 3, 3), strides=(1, 2, 2),
                       padding=((0, 0), (1, 1), (1, 1)))


class Fusion(_Base):
  """Fast -> Slow lateral connection: time-strided conv, BN, ReLU, concat."""
  ratio: int = 2
  kernel: int = 7
  alpha: int = 4

  @nn.compact
  def __call__(self, slow: jax.Array, fast: jax.Array,
               train: bool) -> jax.Array:
    fuse = self.conv(fast.shape[-1] * self.ratio, (self.kernel, 1, 1),
                     (self.alpha, 1, 1), name="conv")(fast)
    fuse = nn.relu(self.norm(train, "norm")(fuse))
    if fuse.shape[1] != slow.shape[1]:
      raise ValueError(f"lateral connection: {fast.shape[1]} Fast frames at "
                       f"stride {self.alpha} give {fuse.shape[1]}, the Slow "
                       f"pathway has {slow.shape[1]}")
    return jnp.concatenate([slow, fuse.astype(slow.dtype)], axis=-1)


class Bottleneck(_Base):
  """ResNet bottleneck: ``relu(shortcut(x) + branch2(x))``.

  ``branch2`` is conv_a ``t x 1 x 1`` -> conv_b ``1 x 3 x 3`` (strided) ->
  conv_c ``1 x 1 x 1``, each followed by BN (ReLU after the first two); the
  shortcut is a strided 1x1x1 conv + BN where width or stride change.
  """
  features: int = 256
  inner: int = 64
  temporal_kernel: int = 1
  spatial_stride: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    s = self.spatial_stride
    shortcut = x
    if x.shape[-1] != self.features or s != 1:
      shortcut = self.conv(self.features, (1, 1, 1), (1, s, s),
                           name="branch1_conv")(x)
      shortcut = self.norm(train, "branch1_norm")(shortcut)
    y = self.conv(self.inner, (self.temporal_kernel, 1, 1), name="conv_a")(x)
    y = nn.relu(self.norm(train, "norm_a")(y))
    y = self.conv(self.inner, (1, 3, 3), (1, s, s), name="conv_b")(y)
    y = nn.relu(self.norm(train, "norm_b")(y))
    y = self.conv(self.features, (1, 1, 1), name="conv_c")(y)
    y = self.norm(train, "norm_c", zero_scale=True)(y)
    return nn.relu(shortcut + y)


class Stage(_Base):
  """``depth`` bottlenecks; the first one strides and changes width."""
  depth: int = 3
  features: int = 256
  temporal_kernel: int = 1
  spatial_stride: int = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    for j in range(self.depth):
      x = Bottleneck(features=self.features, inner=self.features // 4,
                     temporal_kernel=self.temporal_kernel,
                     spatial_stride=self.spatial_stride if j == 0 else 1,
                     dtype=self.dtype, param_dtype=self.param_dtype,
                     bn_momentum=self.bn_momentum, bn_eps=self.bn_eps,
                     fold_time=self.fold_time, name=f"block_{j}")(x, train)
    return x


class SlowFast(nn.Module):
  """SlowFast classifier over ``batch['frames']`` ``[b, T, H, W, 3]``.

  Attributes:
    num_classes: outputs of the linear ``head``.
    depths: bottleneck blocks in res2..res5.
    stem_width: Slow stem channels; res2..res5 output ``4, 8, 16, 32`` times
      that (Slow). Fast widths are these divided by ``beta_inv``.
    alpha: frame-rate ratio Fast / Slow (and the lateral temporal stride).
    beta_inv: channel ratio Slow / Fast (pytorchvideo's
      ``slowfast_channel_reduction_ratio``).
    fusion_ratio: lateral conv output channels per Fast channel.
    fusion_kernel: temporal kernel of the lateral conv.
    slow_stem_kernel, fast_stem_kernel: temporal kernels of the stems.
    slow_temporal_kernels, fast_temporal_kernels: ``conv_a`` temporal kernel
      per stage.
    spatial_strides: ``conv_b`` / shortcut stride of each stage's first block.
    dropout_rate: dropout on the pooled features before the head.
    bn_momentum: linen BatchNorm momentum (``1 -`` torch's).
    bn_eps: BatchNorm epsilon.
    fold_time: compute 3-D convolutions as 2-D ones (``Conv``); the same
      parameters and results, faster on XLA:CPU.
  """
  num_classes: int
  depths: Sequence[int] = (3, 4, 6, 3)
  stem_width: int = 64
  alpha: int = 4
  beta_inv: int = 8
  fusion_ratio: int = 2
  fusion_kernel: int = 7
  slow_stem_kernel: int = 1
  fast_stem_kernel: int = 5
  slow_temporal_kernels: Sequence[int] = (1, 1, 3, 3)
  fast_temporal_kernels: Sequence[int] = (3, 3, 3, 3)
  spatial_strides: Sequence[int] = (1, 2, 2, 2)
  dropout_rate: float = 0.5
  bn_momentum: float = 0.9
  bn_eps: float = 1e-5
  fold_time: bool = True
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @property
  def stage_widths(self) -> tuple[int, ...]:
    """Slow output channels of res2..res5."""
    return tuple(self.stem_width * 4 * 2 ** i for i in range(len(self.depths)))

  @property
  def num_features(self) -> int:
    """Size of the pooled feature ``aux['features']``."""
    return self.stage_widths[-1] + self.stage_widths[-1] // self.beta_inv

  @nn.compact
  def __call__(self, batch: Mapping[str, jax.Array], *, train: bool
               ) -> tuple[jax.Array, dict[str, jax.Array]]:
    frames = batch["frames"]
    if frames.ndim != 5 or frames.shape[-1] != 3:
      raise ValueError("SlowFast expects batch['frames'] of shape "
                       f"[b, T, H, W, 3], got {frames.shape}")
    if frames.shape[1] % self.alpha:
      raise ValueError(f"SlowFast needs a multiple of alpha={self.alpha} "
                       f"frames, got {frames.shape[1]}")
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype,
                  bn_momentum=self.bn_momentum, bn_eps=self.bn_eps,
                  fold_time=self.fold_time)
    fusion = functools.partial(Fusion, ratio=self.fusion_ratio,
                               kernel=self.fusion_kernel, alpha=self.alpha,
                               **common)
    slow = frames[:, slow_indices(frames.shape[1], self.alpha)]
    fast = frames
    slow = Stem(features=self.stem_width, temporal_kernel=self.slow_stem_kernel,
                name="slow_stem", **common)(slow, train)
    fast = Stem(features=self.stem_width // self.beta_inv,
                temporal_kernel=self.fast_stem_kernel, name="fast_stem",
                **common)(fast, train)
    slow = fusion(name="fusion_0")(slow, fast, train)
    for i, width in enumerate(self.stage_widths):
      stage = functools.partial(Stage, depth=self.depths[i],
                                spatial_stride=self.spatial_strides[i],
                                **common)
      slow = stage(features=width,
                   temporal_kernel=self.slow_temporal_kernels[i],
                   name=f"slow_res{i + 2}")(slow, train)
      fast = stage(features=width // self.beta_inv,
                   temporal_kernel=self.fast_temporal_kernels[i],
                   name=f"fast_res{i + 2}")(fast, train)
      if i < len(self.stage_widths) - 1:
        slow = fusion(name=f"fusion_{i + 1}")(slow, fast, train)
    features = jnp.concatenate(
        [jnp.mean(p.astype(jnp.float32), axis=(1, 2, 3)) for p in (slow, fast)],
        axis=-1)
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(features)
    logits = nn.Dense(self.num_classes, kernel_init=head_init,
                      dtype=self.dtype, param_dtype=self.param_dtype,
                      name="head")(x)
    return logits, {"features": features}


VARIANTS: dict[str, dict[str, Any]] = {
    "R50": {},
    # For CPU tests (32^2 frames, 8 Fast / 2 Slow): one block per stage,
    # quarter width (features 512 + 64).
    "tiny": dict(depths=(1, 1, 1, 1), stem_width=16),
}

_TUPLE_FIELDS = ("depths", "slow_temporal_kernels", "fast_temporal_kernels",
                 "spatial_strides")


def create(variant: str = "R50", num_classes: int = 3,
           **overrides: Any) -> SlowFast:
  """Registry entry: ``SlowFast`` from a named variant plus overrides."""
  fields = {**presets.pick(VARIANTS, variant, "SlowFast"), **overrides}
  return SlowFast(num_classes=num_classes,
                  **presets.with_tuples(fields, *_TUPLE_FIELDS, cast=int))


def forward_flops(variant: str = "R50", num_frames: int = 32,
                  image_size: int = 224, count_padding: bool = True,
                  **overrides: Any) -> float:
  """Conv and head FLOPs (2 per multiply-add) of one example's forward pass.

  ``count_padding=True`` counts multiply-adds with zero padding too (the usual
  convention, fvcore's: R50 at 256^2 x 32 frames is 65.7 GMACs, pytorchvideo's
  model-zoo figure); ``False`` only those that read an input value (XLA's
  ``cost_analysis`` convention). BatchNorm, ReLU, pooling and additions are
  not counted.
  """
  m = create(variant, **overrides)
  flops = 0.0

  def taps(n, k, s):
    """(output size, kernel taps summed over outputs) along one dim."""
    p = k // 2
    out = (n + 2 * p - k) // s + 1
    if count_padding:
      return out, out * k
    pos = np.arange(out)[:, None] * s - p + np.arange(k)[None, :]
    return out, int(np.sum((pos >= 0) & (pos < n)))

  def conv(shape, cin, cout, kernel, strides=(1, 1, 1)):
    nonlocal flops
    dims = [taps(n, k, s) for n, k, s in zip(shape, kernel, strides)]
    flops += 2.0 * cin * cout * np.prod([t for _, t in dims])
    return tuple(o for o, _ in dims)

  def pool(shape):  # max-pool 1x3x3, stride 1x2x2, padding 0x1x1
    return (shape[0], (shape[1] - 1) // 2 + 1, (shape[2] - 1) // 2 + 1)

  fast_w = m.stem_width // m.beta_inv
  slow_s = pool(conv((num_frames // m.alpha, image_size, image_size), 3,
                     m.stem_width, (m.slow_stem_kernel, 7, 7), (1, 2, 2)))
  fast_s = pool(conv((num_frames, image_size, image_size), 3, fast_w,
                     (m.fast_stem_kernel, 7, 7), (1, 2, 2)))
  slow_c, fast_c = m.stem_width, fast_w

  def stage(shape, cin, width, depth, kt, stride):
    for j in range(depth):
      s = stride if j == 0 else 1
      if cin != width or s != 1:
        conv(shape, cin, width, (1, 1, 1), (1, s, s))
      conv(shape, cin, width // 4, (kt, 1, 1))
      shape = conv(shape, width // 4, width // 4, (1, 3, 3), (1, s, s))
      conv(shape, width // 4, width, (1, 1, 1))
      cin = width
    return shape

  for i, width in enumerate((None,) + m.stage_widths):
    if i:
      slow_s = stage(slow_s, slow_c, width, m.depths[i - 1],
                     m.slow_temporal_kernels[i - 1], m.spatial_strides[i - 1])
      fast_s = stage(fast_s, fast_c, width // m.beta_inv, m.depths[i - 1],
                     m.fast_temporal_kernels[i - 1], m.spatial_strides[i - 1])
      slow_c, fast_c = width, width // m.beta_inv
    if i < len(m.stage_widths):  # lateral connection after stem, res2..res4
      conv(fast_s, fast_c, fast_c * m.fusion_ratio, (m.fusion_kernel, 1, 1),
           (m.alpha, 1, 1))
      slow_c += fast_c * m.fusion_ratio
  return flops + 2.0 * m.num_features * m.num_classes
