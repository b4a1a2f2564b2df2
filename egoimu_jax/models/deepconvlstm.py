"""DeepConvLSTM (Ordóñez & Roggen, Sensors 2016) for IMU windows.

Convolutions run along time only (kernel ``k x 1``), with weights shared
across the sensor channels, so each channel keeps its own feature map until
the maps are flattened into the LSTM input.

Two published variants are supported by fields (``create(variant=...)``):

=====================  ===========================  =============================
aspect                 ``paper`` (Ordóñez 2016)     ``iswc22`` (Zhou et al.,
                       Lasagne release              ISWC'22 ``DeepConvLSTM``, as
                                                    shipped in ``benchmarkhar``)
=====================  ===========================  =============================
conv layers            4 x (64 filters, k=5,        2 blocks x 2 convs (64, k=5,
                       stride 1, no padding, ReLU)  no padding, ReLU); the 2nd
                                                    conv of each block has
                                                    stride 2 -> strides 1,2,1,2
batch norm             no                           optional, after each ReLU
                                                    (off by default)
LSTM                   2 layers x 128               1 layer x 128
dropout (p=0.5)        before each LSTM layer and   once, before the first LSTM
                       before the classifier        only
classifier             dense on the last time step  dense on the last time step
=====================  ===========================  =============================

On a 1000-step window the paper variant runs the LSTM over 984 steps, the
ISWC'22 variant over 244.

Layout: activations are ``[b, sensor_channel, time, filters]`` so each conv is
a 1-D convolution with ``(b, channel)`` as batch dimensions (2.6x faster on
XLA:CPU than the equivalent ``k x 1`` 2-D convolution). Before the LSTM the
maps are flattened channel-major (``c * filters + f``); torch flattens
filter-major, which ``variables_from_torch`` accounts for.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax.models import layers
from egoimu_jax.models import presets
from egoimu_jax.models import recurrent
from egoimu_jax.models import torch_convert

Dtype = Any

# torch.nn.init.xavier_normal_: untruncated N(0, 2 / (fan_in + fan_out)),
# with the receptive field in both fans (as jax counts a conv kernel).
xavier_normal = nn.initializers.variance_scaling(1.0, "fan_avg", "normal")


class DeepConvLSTM(nn.Module):
  """DeepConvLSTM classifier over ``batch['imu']`` ``[b, L, channels]``.

  Attributes:
    num_classes: number of output classes.
    num_filters: filters of every conv layer.
    kernel_size: temporal extent of every conv kernel.
    conv_strides: temporal stride of each conv layer; its length is the
      number of conv layers.
    dilation: temporal kernel dilation of every conv layer.
    batch_norm: BatchNorm after each conv's ReLU (ISWC'22 option). Adds a
      ``batch_stats`` collection that is mutable when ``train=True``.
    lstm_layers: number of stacked LSTM layers.
    lstm_units: hidden size of each LSTM layer.
    dropout_rate: dropout probability.
    dropout_between_lstm: dropout also before LSTM layers 2.. (paper).
    dropout_before_head: dropout on the features before the classifier (paper).
    lstm_unroll: time steps per scan iteration of the LSTM.
    weights_init: ``"default"`` (Flax's) or ``"xavier_normal"``: dl-for-har's
      ``init_weights`` (torch ``xavier_normal_`` on every conv, LSTM
      ``weight_ih`` / ``weight_hh`` and linear weight, biases 0).
  """
  num_classes: int
  num_filters: int = 64
  kernel_size: int = 5
  conv_strides: Sequence[int] = (1, 1, 1, 1)
  dilation: int = 1
  batch_norm: bool = False
  lstm_layers: int = 2
  lstm_units: int = 128
  dropout_rate: float = 0.5
  dropout_between_lstm: bool = True
  dropout_before_head: bool = True
  lstm_unroll: int = 1
  weights_init: str = "default"
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, batch: Mapping[str, jax.Array], *, train: bool
               ) -> tuple[jax.Array, dict[str, jax.Array]]:
    imu = batch["imu"]
    layers.check_imu(imu, "DeepConvLSTM", channels="channels")
    # [b, L, c] -> [b, c, L, 1]: channels become a batch dim of the 1-D convs.
    x = jnp.swapaxes(imu, 1, 2)[..., None]
    for i, stride in enumerate(self.conv_strides):
      x = nn.Conv(self.num_filters, (self.kernel_size,), strides=(stride,),
                  kernel_dilation=(self.dilation,), padding="VALID",
                  dtype=self.dtype, param_dtype=self.param_dtype,
                  name=f"conv{i}", **self._inits())(x)
      x = nn.relu(x)
      if self.batch_norm:
        # Statistics over (b, channel, time) per filter, like BatchNorm2d.
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                         epsilon=1e-5, dtype=self.dtype,
                         param_dtype=self.param_dtype, name=f"bn{i}")(x)
    b, c, t, f = x.shape
    x = jnp.transpose(x, (0, 2, 1, 3)).reshape(b, t, c * f)

    for i in range(self.lstm_layers):
      if i == 0 or self.dropout_between_lstm:
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
      x = recurrent.LSTM(self.lstm_units, dtype=self.dtype,
                         param_dtype=self.param_dtype, unroll=self.lstm_unroll,
                         name=f"lstm{i}", **self._inits(lstm=True))(x)
    features = x[:, -1]
    if self.dropout_before_head:
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(features)
    else:
      x = features
    logits = nn.Dense(self.num_classes, dtype=self.dtype,
                      param_dtype=self.param_dtype, name="head",
                      **self._inits())(x)
    return logits, {"features": features}

  def _inits(self, lstm: bool = False) -> dict[str, Any]:
    """Initialiser overrides by ``weights_init`` (none for "default")."""
    if self.weights_init == "default":
      return {}
    if self.weights_init != "xavier_normal":
      raise ValueError(f"DeepConvLSTM weights_init={self.weights_init!r}: "
                       "expected 'default' or 'xavier_normal'")
    if not lstm:
      return {"kernel_init": xavier_normal}
    # torch draws the fused [4h, h] weight_hh at once (fan_in h, fan_out 4h);
    # recurrent.LSTM initialises it per [h, h] gate block.
    h = self.lstm_units
    return {"kernel_init": xavier_normal,
            "recurrent_kernel_init": nn.initializers.normal(
                float(np.sqrt(2.0 / (5 * h))))}


VARIANTS: dict[str, dict[str, Any]] = {
    "paper": {},
    "iswc22": dict(conv_strides=(1, 2, 1, 2), lstm_layers=1,
                   dropout_between_lstm=False, dropout_before_head=False),
    # For CPU tests: the paper's layout (unstrided convs, 2 LSTMs, its dropout)
    # at small width and depth.
    "tiny": dict(num_filters=8, conv_strides=(1, 1), lstm_layers=2,
                 lstm_units=16),
}


def create(*, variant: str = "paper", **overrides: Any) -> DeepConvLSTM:
  """Registry entry: ``DeepConvLSTM`` from a named variant plus overrides."""
  fields = {**presets.pick(VARIANTS, variant, "DeepConvLSTM"), **overrides}
  return DeepConvLSTM(**presets.with_tuples(fields, "conv_strides"))


def iswc22_config(model: DeepConvLSTM) -> dict[str, Any]:
  """The ISWC'22 ``DeepConvLSTM`` ``config`` dict equal to ``model``.

  Raises ValueError when ``model`` is not expressible by that code (its conv
  blocks are always (stride 1, stride 2) pairs and dropout sits only before
  the first LSTM).
  """
  strides = tuple(model.conv_strides)
  if (len(strides) % 2 or strides != (1, 2) * (len(strides) // 2) or
      model.dropout_before_head or
      (model.dropout_between_lstm and model.lstm_layers > 1)):
    raise ValueError("model is not an ISWC'22 DeepConvLSTM: needs "
                     "conv_strides=(1, 2)*n, dropout_before_head=False and "
                     "no dropout between LSTM layers")
  return dict(nb_conv_blocks=len(strides) // 2, nb_filters=model.num_filters,
              dilation=model.dilation, batch_norm=int(model.batch_norm),
              filter_width=model.kernel_size, nb_layers_lstm=model.lstm_layers,
              drop_prob=model.dropout_rate, nb_units_lstm=model.lstm_units)


def variables_from_torch(state_dict: Mapping[str, Any], model: DeepConvLSTM,
                         num_sensor_channels: int = 6) -> dict[str, Any]:
  """Converts an ISWC'22 / benchmarkhar ``DeepConvLSTM`` state dict.

  Args:
    state_dict: the torch module's ``state_dict()`` (tensors or arrays).
    model: the linen module the variables are for. Parameters do not depend
      on strides or dropout placement, so any variant with an even number of
      conv layers can take them (``iswc22_config(model)`` gives the torch
      config for the ISWC'22 variant).
    num_sensor_channels: IMU channels ``C`` of the input window.

  Returns:
    ``{'params': ...}`` plus ``{'batch_stats': ...}`` when ``model.batch_norm``.
  """
  if len(model.conv_strides) % 2:
    raise ValueError("the PyTorch DeepConvLSTM has conv layers in pairs "
                     f"(blocks); model has {len(model.conv_strides)}")
  sd = torch_convert.StateDict(state_dict, "DeepConvLSTM state dict")
  params: dict[str, Any] = {}
  stats: dict[str, Any] = {}
  for i in range(len(model.conv_strides)):
    block, j = divmod(i, 2)
    prefix = f"conv_blocks.{block}.conv{j + 1}"
    conv = torch_convert.conv(sd, prefix)
    conv["kernel"] = conv["kernel"][:, 0]  # [k, 1, in, out] -> [k, in, out]
    params[f"conv{i}"] = conv
    if model.batch_norm:
      params[f"bn{i}"], stats[f"bn{i}"] = torch_convert.batch_norm(
          sd, f"conv_blocks.{block}.norm{j + 1}")
  perm = torch_convert.flatten_permutation(
      (model.num_filters, num_sensor_channels), (1, 0))
  for i in range(model.lstm_layers):
    params[f"lstm{i}"] = torch_convert.lstm(
        sd, f"lstm_layers.{i}", 0, input_permutation=perm if i == 0 else None)
  params["head"] = torch_convert.linear(sd, "fc")
  sd.assert_all_used()
  variables = {"params": params}
  if model.batch_norm:
    variables["batch_stats"] = stats
  return jax.tree.map(np.asarray, variables)
