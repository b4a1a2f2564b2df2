"""Projection heads of the distillation objectives (``tasks/distill.py``).

``ProjectionMLP`` is COMODO's projector: ``Dense(hidden) -> BatchNorm ->
GELU -> Dense(out)``, for both the frozen teacher's and the student's side
(``comodo/train.py`` builds both as ``nn.Sequential(Linear, BatchNorm1d,
GELU, Linear)``). Dense layers are initialised as torch's ``nn.Linear``
(uniform +-1/sqrt(fan_in), bias too), BatchNorm as torch's (momentum 0.1,
eps 1e-5, biased batch variance in training).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp



def torch_linear(features: int, fan_in: int, name: str, *, use_bias=True,
                 dtype: Any = None, param_dtype: Any = jnp.float32
                 ) -> nn.Dense:
  """A ``Dense`` initialised as ``torch.nn.Linear``."""
  bound = fan_in ** -0.5
  return nn.Dense(
      features, use_bias=use_bias,
      kernel_init=nn.initializers.variance_scaling(1 / 3, "fan_in",
                                                   "uniform"),
      bias_init=lambda key, shape, dtype=jnp.float32: jax.random.uniform(
          key, shape, dtype, -bound, bound),
      dtype=dtype, param_dtype=param_dtype, name=name)


class ProjectionMLP(nn.Module):
  """``[b, d] -> [b, out]``; BatchNorm uses batch statistics when ``train``."""
  hidden: int = 2048
  out: int = 128
  dtype: Any = None
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    x = torch_linear(self.hidden, x.shape[-1], "fc1", dtype=self.dtype,
                     param_dtype=self.param_dtype)(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                     epsilon=1e-5, use_fast_variance=False, dtype=self.dtype,
                     param_dtype=self.param_dtype, name="norm")(x)
    x = nn.gelu(x, approximate=False)
    return torch_linear(self.out, self.hidden, "fc2", dtype=self.dtype,
                        param_dtype=self.param_dtype)(x)
