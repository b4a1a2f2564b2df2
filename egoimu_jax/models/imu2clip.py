"""IMU2CLIP's IMU encoder (Moon et al. 2023), with a linear classifier head.

The reference (``facebookresearch/imu2clip``, ``lib/imu_models.py``,
``MW2StackRNNPooling``) is, on a ``[B, 6, T]`` window::

  GroupNorm(2, 6)
  3 x [Conv1d(-> 32, kernel 10 / 5 / 5, dilation 2, no bias, no padding)
       -> MaxPool1d(3)]
  GroupNorm(4, 32)
  GRU(input 32 -> hidden 512, batch_first) on the [B, 32, T'] tensor

and the GRU's last hidden state is the 512-d embedding. Because the GRU is
fed the channels-first tensor with ``batch_first``, it steps over the 32
conv channels and reads the ``T'`` pooled time steps of each channel as its
input features; on the 1000-sample windows the reference uses (5 s at 200
Hz) ``T' = 32``. We do exactly the same (``aux["features"]`` is that last
hidden state), so the GRU's input size is ``T'`` (``input_frames``), fixed
by the window length: 1000 samples give 32.

Input ``batch["imu"]`` ``[b, L, 6]`` (Contract 3; the reference takes
``[b, 6, L]``). Returns ``(logits [b, num_classes], aux)`` with
``aux["features"]`` the embedding; the head is IMU2CLIP's downstream linear
probe. Layers are initialised as torch's (``nn.Conv1d`` / ``nn.Linear``
uniform, GroupNorm scale 1 bias 0, GRU uniform +-1/sqrt(hidden)); GroupNorm
epsilon is torch's 1e-5. Parameter layout: ``input_norm``, ``conv_{i}``,
``norm``, ``gru`` (``recurrent.GRU``, torch gate order), ``head``.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from egoimu_jax import errors
from egoimu_jax.models import presets
from egoimu_jax.models import projection
from egoimu_jax.models import recurrent


def _torch_uniform(bound: float):
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)
  return init


class WindowTooShortError(errors.UserError, ValueError):
  """A window the encoder's convolutions reduce to nothing."""


class IMU2CLIPEncoder(nn.Module):
  """``MW2StackRNNPooling`` + a linear head.

  Attributes:
    num_classes: outputs of ``head``.
    channels: conv channels (the reference: 32).
    kernels: the three conv kernel sizes.
    dilation, pool: conv dilation and max-pool size (stride = size).
    embedding_dim: GRU hidden size = embedding size (512).
    input_groups, groups: GroupNorm groups of the input and of the conv
      output (2 and 4).
  """
  num_classes: int
  channels: int = 32
  kernels: Sequence[int] = (10, 5, 5)
  dilation: int = 2
  pool: int = 3
  embedding_dim: int = 512
  input_groups: int = 2
  groups: int = 4
  dtype: Any = None
  param_dtype: Any = jnp.float32

  def input_frames(self, length: int) -> int:
    """``T'``: pooled time steps of a ``length``-sample window."""
    for k in self.kernels:
      length = (length - self.dilation * (k - 1)) // self.pool
    return length

  def min_length(self) -> int:
    """The shortest window the convolutions and pools leave a step of."""
    length = 1
    for k in reversed(self.kernels):
      length = length * self.pool + self.dilation * (k - 1)
    return length

  @nn.compact
  def __call__(self, batch: Mapping[str, jax.Array], *, train: bool
               ) -> tuple[jax.Array, dict[str, jax.Array]]:
    del train  # no dropout, no batch statistics
    imu = batch["imu"]
    if self.input_frames(imu.shape[1]) < 1:
      raise WindowTooShortError(
          f"IMU2CLIP's convolutions (kernels {tuple(self.kernels)}, dilation "
          f"{self.dilation}, max-pool {self.pool}) need windows of at least "
          f"{self.min_length()} samples, got {imu.shape[1]}: raise "
          "data.imu.window_seconds or data.imu.rate_hz")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = nn.GroupNorm(self.input_groups, epsilon=1e-5, name="input_norm",
                     **kw)(imu.astype(jnp.float32))
    for i, k in enumerate(self.kernels):
      x = nn.Conv(self.channels, (k,), kernel_dilation=(self.dilation,),
                  padding="VALID", use_bias=False,
                  kernel_init=nn.initializers.variance_scaling(
                      1 / 3, "fan_in", "uniform"),
                  name=f"conv_{i}", **kw)(x)
      x = nn.max_pool(x, (self.pool,), strides=(self.pool,))
    x = nn.GroupNorm(self.groups, epsilon=1e-5, name="norm", **kw)(x)
    # [b, T', C] -> [b, C, T']: the GRU steps over channels (see docstring).
    steps = jnp.swapaxes(x, 1, 2)
    bound = self.embedding_dim ** -0.5
    hidden = recurrent.GRU(
        self.embedding_dim, kernel_init=_torch_uniform(bound),
        recurrent_kernel_init=_torch_uniform(bound),
        bias_init=_torch_uniform(bound), name="gru", **kw)(steps)
    features = hidden[:, -1]
    logits = projection.torch_linear(self.num_classes, self.embedding_dim,
                                     "head", **kw)(features)
    return logits, {"features": features}


# Presets: sizes; other fields are overrides.
VARIANTS: dict[str, functools.partial] = {
    "base": functools.partial(IMU2CLIPEncoder),
    # CPU tests.
    "tiny": functools.partial(IMU2CLIPEncoder, channels=8, embedding_dim=16),
}


def create(variant: str = "base", num_classes: int = 3,
           **overrides: Any) -> IMU2CLIPEncoder:
  """Registry entry: a ``VARIANTS`` preset plus field overrides."""
  return presets.pick(VARIANTS, variant, "IMU2CLIP")(
      num_classes=num_classes, **presets.with_tuples(overrides, "kernels"))
