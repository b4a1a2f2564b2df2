"""EVI-MAE's building blocks: token embedders, the IMU graph, the decoder.

The towers and heads that ``evimae.EVIMAE`` / ``EVIMAEClassifier`` compose
(parameter names are theirs: ``video_tokens``, ``imu_tokens``, ``graph``,
``decoder``), plus the frame sampling and width pooling they share.
"""

from __future__ import annotations

from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax.models import gin
from egoimu_jax.models import layers
from egoimu_jax.models import masking
from egoimu_jax.models.evimae_spec import EVIMAESpec

Dtype = Any


def sample_frames(frames: jax.Array, num_frames: int) -> jax.Array:
  """Uniform temporal subsampling ``[b, T, ...] -> [b, num_frames, ...]``."""
  t = frames.shape[1]
  if t == num_frames:
    return frames
  if t < num_frames:
    raise ValueError(f"batch['frames'] has {t} frames; the model needs "
                     f"num_frames={num_frames}")
  idx = np.round(np.linspace(0, t - 1, num_frames)).astype(np.int32)
  return frames[:, idx]


def pool_width(x: jax.Array, width: int) -> jax.Array:
  """Average adjacent channels down to ``width`` (identity if equal)."""
  d = x.shape[-1]
  if d == width:
    return x
  return x.reshape(*x.shape[:-1], width, d // width).mean(-1)


class _Tower(nn.Module):
  """The fields of a tower part: the spec and the dtypes."""
  spec: EVIMAESpec
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  def _tokens(self, x: jax.Array, width: int, patch) -> jax.Array:
    """``x`` cut into ``patch``-sized tokens of ``width`` (``patch_embed``),
    plus fixed sincos positions and a learnt ``modality`` embedding."""
    x = layers.PatchEmbed(width, patch, self.dtype, self.param_dtype,
                          name="patch_embed")(x)
    pos = layers.sincos_1d(x.shape[1], width)
    modality = self.param("modality", nn.initializers.normal(0.02),
                          (width,), self.param_dtype)
    return x + jnp.asarray(pos, x.dtype) + modality.astype(x.dtype)


class VideoTokens(_Tower):
  """Frames ``[b, T, S, S, 3]`` -> tokens ``[b, N, width]`` (all tubelets)."""

  @nn.compact
  def __call__(self, frames: jax.Array) -> jax.Array:
    return self._tokens(frames, self.spec.width, self.spec.video_patch_shape)


class IMUTokens(_Tower):
  """Spectrogram ``[b, time, freq, C]`` -> per-group tokens ``[b, G, N, d]``."""

  @nn.compact
  def __call__(self, spec_x: jax.Array) -> jax.Array:
    s = self.spec
    b = spec_x.shape[0]
    g = jnp.stack([spec_x[..., list(c)] for c in s.imu_groups], axis=1)
    g = g.reshape((-1,) + g.shape[2:])
    x = self._tokens(g, s.imu_width, s.imu_patch)
    return x.reshape(b, len(s.imu_groups), x.shape[1], s.imu_width)


class IMUGraph(_Tower):
  """GraphMAE over sensor-group nodes ``[b, G, d]``.

  Without ``node_mask`` only the encoder runs (fine-tuning); with it, the
  masked-feature reconstruction path runs too. Returns
  ``(encoded [b, G, hidden], reconstruction [b, G, d] or None)``.
  """

  @nn.compact
  def __call__(self, nodes: jax.Array, train: bool = False,
               node_mask: jax.Array | None = None):
    s = self.spec
    adjacency = jnp.asarray(gin.fully_connected(nodes.shape[1]))
    encoder = gin.GIN(s.graph_hidden, s.graph_hidden, s.graph_layers,
                      encoding=True, dropout=s.graph_dropout,
                      learn_eps=s.graph_learn_eps, dtype=self.dtype,
                      param_dtype=self.param_dtype, name="encoder")
    if node_mask is None:
      return encoder(nodes, adjacency, train), None
    m = node_mask[..., None]
    token = self.param("mask_token", nn.initializers.zeros_init(),
                       (nodes.shape[-1],), self.param_dtype)
    enc = encoder(jnp.where(m, token.astype(nodes.dtype), nodes), adjacency,
                  train)
    rep = nn.Dense(s.graph_hidden, use_bias=False,
                   kernel_init=layers.dense_init, dtype=self.dtype,
                   param_dtype=self.param_dtype,
                   name="encoder_to_decoder")(enc)
    rep = jnp.where(m, jnp.zeros_like(rep), rep)
    recon = gin.GIN(s.graph_hidden, nodes.shape[-1], 1, encoding=False,
                    dropout=s.graph_dropout, learn_eps=s.graph_learn_eps,
                    dtype=self.dtype, param_dtype=self.param_dtype,
                    name="decoder")(rep, adjacency, train)
    return enc, recon


class PixelDecoder(nn.Module):
  """MAE decoder over the full token sets of ``modalities``."""
  spec: EVIMAESpec
  modalities: tuple[str, ...]
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, latents: Mapping[str, jax.Array],
               masks: Mapping[str, masking.TokenMask],
               train: bool = False) -> dict[str, jax.Array]:
    s = self.spec
    dw = s.decoder_width
    embed = nn.Dense(dw, kernel_init=layers.dense_init, dtype=self.dtype,
                     param_dtype=self.param_dtype, name="embed")
    mask_token = self.param("mask_token", nn.initializers.normal(0.02), (dw,),
                            self.param_dtype)
    seqs, lengths = [], []
    for m in self.modalities:
      x = masking.restore_tokens(embed(latents[m]), mask_token,
                                 masks[m].ids_restore)
      emb = self.param(f"modality_{m}", nn.initializers.normal(0.02), (dw,),
                       self.param_dtype)
      x = x + jnp.asarray(layers.sincos_1d(x.shape[1], dw), x.dtype)
      seqs.append(x + emb.astype(x.dtype))
      lengths.append(x.shape[1])
    x = jnp.concatenate(seqs, axis=1)
    x = layers.Encoder(s.decoder_depth, s.decoder_heads, s.mlp_dim(dw),
                       s.dropout, 0.0, True, s.norm_eps, s.remat,
                       s.attention_impl, self.dtype, self.param_dtype,
                       name="blocks")(x, train)
    x = nn.LayerNorm(epsilon=s.norm_eps, dtype=self.dtype,
                     param_dtype=self.param_dtype, name="norm")(x)
    out, start = {}, 0
    for m, n in zip(self.modalities, lengths):
      out[m] = nn.Dense(s.patch_dim[m], kernel_init=layers.dense_init,
                        dtype=self.dtype, param_dtype=self.param_dtype,
                        name=f"pred_{m}")(x[:, start:start + n])
      start += n
    return out
