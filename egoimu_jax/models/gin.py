"""Graph Isomorphism Network (GIN) layers in GraphMAE's form, on dense graphs.

EVI-MAE's graphs are tiny and fixed (one node per IMU device or sensor group,
fully connected), so a graph is a dense ``[n, n]`` adjacency shared by every
example and node features are a batched ``[b, n, d]`` array: aggregation is one
matmul and nothing is ragged.

One GIN layer (GraphMAE ``GINConv``, sum aggregation)::

    h_i' = apply((1 + eps) * h_i + sum_{j in N(i)} h_j)

with ``apply = MLP(Linear -> BN -> PReLU -> Linear)`` and, on encoder layers,
a further ``BN -> PReLU`` (GraphMAE ``ApplyNodeFunc``). The decoder's single
layer has no trailing norm/activation. Feature dropout precedes every layer.
BatchNorm normalises over all nodes of the batch (GraphMAE's batched graph)
and keeps running statistics in the ``batch_stats`` collection, so training
applies need ``mutable=["batch_stats"]``. PReLU has one learnable slope
initialised to 0.25 (torch's default).

Note on fully connected graphs: with sum aggregation and ``eps = 0`` (GraphMAE's
default, kept here), ``(1 + eps) h_i + sum_{j != i} h_j`` is the same sum for
every node, so all nodes of a graph share one representation after the first
layer. That is the authors' configuration, reproduced as is;
``learn_eps=True`` (GIN-eps) lets the layer keep node identity.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax.models import layers

Dtype = Any


def fully_connected(num_nodes: int) -> np.ndarray:
  """Adjacency ``[n, n]`` of the complete graph without self loops."""
  return np.ones((num_nodes, num_nodes), np.float32) - np.eye(num_nodes,
                                                              dtype=np.float32)


class _NormAct(nn.Module):
  """BatchNorm over all nodes of the batch, then PReLU."""
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    shape = x.shape
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                     dtype=self.dtype, param_dtype=self.param_dtype,
                     name="norm")(x.reshape(-1, shape[-1]))
    x = nn.PReLU(negative_slope_init=0.25, param_dtype=self.param_dtype,
                 name="act")(x)
    return x.reshape(shape)


class GINLayer(nn.Module):
  """One GIN convolution with a 2-layer MLP update."""
  hidden: int
  features: int
  norm_act_out: bool  # GraphMAE ApplyNodeFunc: BN + PReLU after the MLP
  learn_eps: bool = False
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, h: jax.Array, adjacency: jax.Array,
               train: bool) -> jax.Array:
    agg = jnp.einsum("ij,bjd->bid", adjacency.astype(h.dtype), h)
    if self.learn_eps:
      eps = self.param("eps", nn.initializers.zeros_init(), (),
                       self.param_dtype)
      h = (1.0 + eps).astype(h.dtype) * h + agg
    else:
      h = h + agg
    dense = lambda f, name: nn.Dense(  # noqa: E731
        f, kernel_init=layers.dense_init, dtype=self.dtype,
        param_dtype=self.param_dtype, name=name)
    h = dense(self.hidden, "fc1")(h)
    h = _NormAct(self.dtype, self.param_dtype, name="mlp_norm")(h, train)
    h = dense(self.features, "fc2")(h)
    if self.norm_act_out:
      h = _NormAct(self.dtype, self.param_dtype, name="out_norm")(h, train)
    return h


class GIN(nn.Module):
  """``num_layers`` GIN layers ``[b, n, d] -> [b, n, out_dim]``.

  ``encoding=True`` (encoder) ends every layer with BN + PReLU; the decoder
  (``encoding=False``) ends on a linear output, as GraphMAE.
  """
  hidden: int
  out_dim: int
  num_layers: int
  encoding: bool
  dropout: float = 0.2
  learn_eps: bool = False
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, h: jax.Array, adjacency: jax.Array,
               train: bool = False) -> jax.Array:
    for i in range(self.num_layers):
      last = i == self.num_layers - 1
      h = nn.Dropout(self.dropout)(h, deterministic=not train)
      h = GINLayer(self.hidden, self.out_dim if last else self.hidden,
                   norm_act_out=self.encoding or not last,
                   learn_eps=self.learn_eps, dtype=self.dtype,
                   param_dtype=self.param_dtype, name=f"layer_{i}")(
                       h, adjacency, train)
    return h
