"""LSTM and GRU layers over whole sequences, in PyTorch's gate layout.

Both layers compute the input projection of every time step in one matmul
before the recurrence and scan only the hidden-to-hidden part. Per-step cells
(``nn.RNN(nn.LSTMCell)``) instead run a small input matmul inside the loop;
hoisting it out is the single largest win for the recurrent part on CPU and
GPU alike (one large GEMM instead of ``T`` small ones).

Parameters are stored as fused matrices with PyTorch's gate order, so a torch
``nn.LSTM``/``nn.GRU`` state dict maps onto them by transposition alone (see
``torch_convert.lstm`` and ``torch_convert.gru``):

* LSTM: ``kernel_ih [d, 4h]``, ``kernel_hh [h, 4h]``, ``bias [4h]``; gates
  ``(i, f, g, o)``. torch's two biases ``b_ih + b_hh`` are one parameter here.
* GRU: ``kernel_ih [d, 3h]``, ``kernel_hh [h, 3h]``, ``bias_ih [3h]``,
  ``bias_hh [3h]``; gates ``(r, z, n)``. Both biases are needed because
  ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``.

Inputs and outputs are batch-major ``[b, t, d]``. The recurrence runs
time-major inside ``lax.scan``. Gate non-linearities and the LSTM cell state
are kept in float32 under bf16 compute; matmuls run in ``dtype``.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Dtype = Any
Initializer = nn.initializers.Initializer


class _Recurrent(nn.Module):
  """Fields and fused gate kernels shared by ``LSTM`` and ``GRU``.

  Attributes:
    features: hidden size ``h``.
    unroll: time steps per scan iteration (``lax.scan(unroll=...)``).
  """
  features: int
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32
  kernel_init: Initializer = nn.initializers.lecun_normal()
  recurrent_kernel_init: Initializer = nn.initializers.orthogonal()
  bias_init: Initializer = nn.initializers.zeros_init()
  unroll: int = 1

  def _kernels(self, x: jax.Array, num_gates: int
               ) -> tuple[jax.Array, jax.Array]:
    """``kernel_ih [d, g*h]`` and ``kernel_hh [h, g*h]`` (orthogonal per gate
    block, like nn.LSTMCell's recurrent kernels)."""
    h = self.features
    w_ih = self.param("kernel_ih", self.kernel_init,
                      (x.shape[-1], num_gates * h), self.param_dtype)
    w_hh = self.param("kernel_hh",
                      _per_gate(self.recurrent_kernel_init, num_gates),
                      (h, num_gates * h), self.param_dtype)
    return w_ih, w_hh


class LSTM(_Recurrent):
  """One unidirectional LSTM layer: ``[b, t, d] -> [b, t, features]``."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    h = self.features
    w_ih, w_hh = self._kernels(x, 4)
    bias = self.param("bias", self.bias_init, (4 * h,), self.param_dtype)
    x, w_ih, w_hh, bias = nn.dtypes.promote_dtype(
        x, w_ih, w_hh, bias, dtype=self.dtype)

    gates_x = jnp.einsum("btd,dg->tbg", x, w_ih) + bias

    def step(carry, gx):
      h_prev, c_prev = carry
      z = (gx + h_prev @ w_hh).astype(jnp.float32)
      i, f, g, o = jnp.split(z, 4, axis=-1)
      c = jax.nn.sigmoid(f) * c_prev + jax.nn.sigmoid(i) * jnp.tanh(g)
      h_new = (jax.nn.sigmoid(o) * jnp.tanh(c)).astype(x.dtype)
      return (h_new, c), h_new

    batch = x.shape[0]
    init = (jnp.zeros((batch, h), x.dtype), jnp.zeros((batch, h), jnp.float32))
    _, hs = jax.lax.scan(step, init, gates_x, unroll=self.unroll)
    return jnp.swapaxes(hs, 0, 1)


class GRU(_Recurrent):
  """One unidirectional GRU layer (PyTorch semantics):
  ``[b, t, d] -> [b, t, features]``."""

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    h = self.features
    w_ih, w_hh = self._kernels(x, 3)
    b_ih = self.param("bias_ih", self.bias_init, (3 * h,), self.param_dtype)
    b_hh = self.param("bias_hh", self.bias_init, (3 * h,), self.param_dtype)
    x, w_ih, w_hh, b_ih, b_hh = nn.dtypes.promote_dtype(
        x, w_ih, w_hh, b_ih, b_hh, dtype=self.dtype)

    gates_x = jnp.einsum("btd,dg->tbg", x, w_ih) + b_ih

    def step(h_prev, gx):
      gh = h_prev @ w_hh + b_hh
      xr, xz, xn = jnp.split(gx.astype(jnp.float32), 3, axis=-1)
      hr, hz, hn = jnp.split(gh.astype(jnp.float32), 3, axis=-1)
      r = jax.nn.sigmoid(xr + hr)
      z = jax.nn.sigmoid(xz + hz)
      n = jnp.tanh(xn + r * hn)
      h_new = ((1.0 - z) * n + z * h_prev.astype(jnp.float32)).astype(x.dtype)
      return h_new, h_new

    init = jnp.zeros((x.shape[0], h), x.dtype)
    _, hs = jax.lax.scan(step, init, gates_x, unroll=self.unroll)
    return jnp.swapaxes(hs, 0, 1)


def _per_gate(init: Initializer, num_gates: int) -> Initializer:
  """Applies ``init`` to each ``[h, h]`` gate block of a fused ``[h, g*h]``."""

  def fused_init(key, shape, dtype=jnp.float32):
    rows, cols = shape
    keys = jax.random.split(key, num_gates)
    return jnp.concatenate(
        [init(k, (rows, cols // num_gates), dtype) for k in keys], axis=-1)

  return fused_init
