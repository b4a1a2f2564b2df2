"""Attend and Discriminate (Abedin et al., IMWUT 2021) for IMU windows.

Pipeline: four ``k x 1`` temporal convolutions with weights shared across
sensor channels -> at every time step, self-attention across the sensor
channels (SAGAN-style, residual with a learned gate ``gamma`` that starts at
0) -> dropout -> stacked GRU (dropout between layers) -> temporal attention
(softmax-weighted sum over time) -> dropout -> linear classifier.

The paper's training recipe adds mixup on inputs and labels and a center loss
on the L2-normalised embedding; both live in ``mixup.py`` and
``center_loss.py`` as pure functions for the supervised task. ``aux`` carries
what they need: ``aux['features']`` is the L2-normalised embedding ``z`` that
the authors' center loss acts on (the authors' ``forward`` returns it next to
the logits); ``aux['pooled']`` is the un-normalised attention-pooled GRU state
the classifier reads.

Differences between the two PyTorch implementations (both supported):

========================  ========================  ==========================
aspect                    authors' release          ISWC'22 copy
                          (AdelaideAuto-IDLab)      (``benchmarkhar`` 0.1.1)
========================  ========================  ==========================
network                   as above                  identical layers and order
forward returns           ``(z, logits)``           ``logits`` only
center buffer / recipe    centers + mixup +         none (plain CE)
                          center loss
default dropouts          per dataset (e.g. 0.5,    0.5 / 0.25 / 0.5
(input / GRU / head)      0.25, 0.5 OPPORTUNITY)
========================  ========================  ==========================

Initialisation is linen's (lecun-normal convs/dense, orthogonal recurrent
kernels per gate, zero biases, he-normal attention projections as the
authors' kaiming init); the authors re-initialise some datasets' runs
orthogonally, which is not replicated.

So one module serves both: ``create(variant='paper')`` with the recipe on is
the authors' setup; the ISWC'22 model is the same network trained with plain
cross-entropy. The published GRU is unidirectional (the authors' temporal
attention is sized for one direction), so ``bidirectional`` is not offered.

Layout: ``[b, sensor_channel, time, filters]`` with 1-D convolutions as in
``deepconvlstm``. The GRU input is flattened channel-major; torch flattens
filter-major, which ``variables_from_torch`` accounts for.
"""

from __future__ import annotations

from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax.models import layers
from egoimu_jax.models import presets
from egoimu_jax.models import recurrent
from egoimu_jax.models import torch_convert

Dtype = Any


class SensorSelfAttention(nn.Module):
  """Self-attention across sensor channels, independently per time step.

  Input ``[..., c, f]``. With ``q = x Wq``, ``k = x Wk``, ``v = x Wv``
  (no biases), output channel ``j`` is ``x_j + gamma * sum_i softmax_i(q_i .
  k_j) v_i`` (softmax over the attended channel ``i``, as in the authors'
  fastai-derived layer). ``gamma`` starts at 0, so the block starts as the
  identity.
  """
  reduction: int = 1
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    f = x.shape[-1]
    qk = f // self.reduction if f > 1 else f
    dense = lambda n, name: nn.Dense(
        n, use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype,
        kernel_init=nn.initializers.he_normal(), name=name)
    q = dense(qk, "query")(x)
    k = dense(qk, "key")(x)
    v = dense(f, "value")(x)
    gamma = self.param("gamma", nn.initializers.zeros_init(), (1,),
                       self.param_dtype)
    logits = jnp.einsum("...id,...jd->...ij", q, k)
    weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-2)
    out = jnp.einsum("...ij,...id->...jd", weights.astype(v.dtype), v)
    return x + gamma.astype(out.dtype) * out


class AttendDiscriminate(nn.Module):
  """Attend-and-Discriminate classifier over ``batch['imu']`` ``[b, L, c]``.

  Attributes:
    num_classes: number of output classes.
    num_filters: filters of each of the ``conv_layers`` convolutions.
    kernel_size: temporal extent of the conv kernels (no padding, stride 1).
    conv_layers: number of conv layers (4 in the paper).
    activation: ``'relu'`` or ``'tanh'`` after each conv.
    sa_reduction: query/key width is ``num_filters // sa_reduction``.
    hidden_dim: GRU hidden size (the embedding size).
    gru_layers: stacked GRU layers.
    dropout_rate: dropout on the GRU input.
    dropout_rnn: dropout between GRU layers (torch ``nn.GRU(dropout=...)``).
    dropout_cls: dropout before the classifier.
    gru_unroll: time steps per scan iteration of the GRU.
    conv_strides: per-conv temporal strides (empty: all 1, as in the paper).
      The paper's windows are ~1-3 s at 30 Hz; on 5 s at 200 Hz, strides
      (1, 2, 1, 2) shorten the GRU's sequence 4x, as ISWC'22 does for
      DeepConvLSTM.
  """
  num_classes: int
  num_filters: int = 64
  kernel_size: int = 5
  conv_layers: int = 4
  activation: str = "relu"
  sa_reduction: int = 1
  hidden_dim: int = 128
  gru_layers: int = 2
  dropout_rate: float = 0.5
  dropout_rnn: float = 0.25
  dropout_cls: float = 0.5
  gru_unroll: int = 1
  conv_strides: tuple[int, ...] = ()
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, batch: Mapping[str, jax.Array], *, train: bool
               ) -> tuple[jax.Array, dict[str, jax.Array]]:
    imu = batch["imu"]
    layers.check_imu(imu, "AttendDiscriminate", channels="channels")
    if self.activation not in ("relu", "tanh"):
      raise ValueError(f"activation must be 'relu' or 'tanh', got "
                       f"{self.activation!r}")
    act = nn.relu if self.activation == "relu" else jnp.tanh
    strides = tuple(self.conv_strides) or (1,) * self.conv_layers
    if len(strides) != self.conv_layers:
      raise ValueError(f"conv_strides {strides} needs one stride per conv "
                       f"layer ({self.conv_layers})")

    x = jnp.swapaxes(imu, 1, 2)[..., None]  # [b, c, L, 1]
    for i in range(self.conv_layers):
      x = act(nn.Conv(self.num_filters, (self.kernel_size,), strides[i],
                      padding="VALID", dtype=self.dtype, param_dtype=self.param_dtype,
                      name=f"conv{i}")(x))
    x = jnp.swapaxes(x, 1, 2)  # [b, t, c, f]
    x = SensorSelfAttention(self.sa_reduction, dtype=self.dtype,
                            param_dtype=self.param_dtype, name="sa")(x)
    b, t, c, f = x.shape
    x = x.reshape(b, t, c * f)

    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    for i in range(self.gru_layers):
      if i > 0:
        x = nn.Dropout(self.dropout_rnn, deterministic=not train)(x)
      x = recurrent.GRU(self.hidden_dim, dtype=self.dtype,
                        param_dtype=self.param_dtype, unroll=self.gru_unroll,
                        name=f"gru{i}")(x)

    # Temporal attention: one score per step, softmax over time.
    scores = nn.Dense(1, dtype=self.dtype, param_dtype=self.param_dtype,
                      name="temporal_attention")(x)[..., 0]
    weights = jax.nn.softmax(scores.astype(jnp.float32), axis=1)
    pooled = jnp.einsum("bt,btd->bd", weights.astype(x.dtype), x)

    norm = jnp.linalg.norm(pooled.astype(jnp.float32), axis=-1, keepdims=True)
    z = (pooled.astype(jnp.float32) / norm).astype(pooled.dtype)
    h = nn.Dropout(self.dropout_cls, deterministic=not train)(pooled)
    logits = nn.Dense(self.num_classes, dtype=self.dtype,
                      param_dtype=self.param_dtype, name="head")(h)
    return logits, {"features": z, "pooled": pooled}


VARIANTS: dict[str, dict[str, Any]] = {
    # Authors' OPPORTUNITY settings; ISWC'22 model.yaml uses the same values.
    "paper": {},
    # Paper layout with ISWC'22-style temporal strides (see conv_strides).
    "strided": dict(conv_strides=(1, 2, 1, 2)),
    # "strided" at half width: full sweeps on a 2-core CPU in minutes.
    "cpu": dict(conv_strides=(1, 2, 1, 2), num_filters=32, hidden_dim=64),
    "tiny": dict(num_filters=8, conv_layers=2, hidden_dim=16),
}


def create(*, variant: str = "paper", **overrides: Any) -> AttendDiscriminate:
  """Registry entry: ``AttendDiscriminate`` from a named variant + overrides."""
  fields = {**presets.pick(VARIANTS, variant, "AttendDiscriminate"),
            **overrides}
  return AttendDiscriminate(**presets.with_tuples(fields, "conv_strides"))


def torch_config(model: AttendDiscriminate) -> dict[str, Any]:
  """The ISWC'22 ``AttendDiscriminate`` ``config`` dict equal to ``model``."""
  if model.conv_layers != 4:
    raise ValueError("the PyTorch AttendDiscriminate has exactly 4 conv "
                     f"layers, model has {model.conv_layers}")
  if any(s != 1 for s in model.conv_strides):
    raise ValueError("the PyTorch AttendDiscriminate has unstrided convs, "
                     f"model has conv_strides={model.conv_strides}")
  return dict(hidden_dim=model.hidden_dim, filter_num=model.num_filters,
              filter_size=model.kernel_size, enc_num_layers=model.gru_layers,
              dropout=model.dropout_rate, dropout_rnn=model.dropout_rnn,
              dropout_cls=model.dropout_cls,
              activation="ReLU" if model.activation == "relu" else "Tanh",
              sa_div=model.sa_reduction)


def variables_from_torch(state_dict: Mapping[str, Any],
                         model: AttendDiscriminate,
                         num_sensor_channels: int = 6) -> dict[str, Any]:
  """Converts an ``AttendDiscriminate`` state dict (authors' or ISWC'22).

  The authors' ``centers`` buffer is not part of the model here; it is
  returned under ``'centers'`` when present, for the center-loss state.
  """
  torch_config(model)
  sd = torch_convert.StateDict(state_dict, "AttendDiscriminate state dict")
  params: dict[str, Any] = {}
  for i in range(model.conv_layers):
    conv = torch_convert.conv(sd, f"fe.conv{i + 1}")
    conv["kernel"] = conv["kernel"][:, 0]  # [k, 1, in, out] -> [k, in, out]
    params[f"conv{i}"] = conv
  # Kernel-1 Conv1d without bias: weight [out, in, 1] -> Dense kernel [in, out].
  params["sa"] = {
      name: {"kernel": torch_convert.conv(sd, f"fe.sa.{name}")["kernel"][0]}
      for name in ("query", "key", "value")}
  params["sa"]["gamma"] = sd["fe.sa.gamma"]
  perm = torch_convert.flatten_permutation(
      (model.num_filters, num_sensor_channels), (1, 0))
  for i in range(model.gru_layers):
    params[f"gru{i}"] = torch_convert.gru(
        sd, "fe.rnn", i, input_permutation=perm if i == 0 else None)
  params["temporal_attention"] = torch_convert.linear(sd, "fe.ta.fc")
  params["head"] = torch_convert.linear(sd, "classifier.fc")
  variables: dict[str, Any] = {"params": params}
  if "centers" in sd:
    variables["centers"] = sd["centers"]
  sd.assert_all_used()
  return jax.tree.map(np.asarray, variables)
