"""TimeSformer (Bertasius et al., ICML 2021) with divided space-time attention.

Semantics are those of ``transformers``' ``TimesformerModel`` /
``TimesformerForVideoClassification`` (which follow the authors'
``timesformer/models/vit.py``), so its checkpoints load by name and
transposition (``convert/timesformer.py``). What maps to what:

* ``patch_embed`` (``layers.PatchEmbed``): the per-frame ``Conv2d`` patch
  embedding ``embeddings.patch_embeddings.projection``.
* ``cls_token`` ``[1, 1, d]``, ``pos_embed`` ``[1, 1 + N, d]`` (spatial,
  shared by all frames; entry 0 is the CLS token's), ``time_embed``
  ``[1, T, d]`` (patch tokens only): ``embeddings.{cls_token,
  position_embeddings, time_embeddings}``.
* ``encoder/block_<i>`` (``DividedBlock``), transformers' ``encoder.layer.<i>``:

  1. temporal: every patch attends over its own ``T`` frames (CLS excluded):
     ``temporal_norm`` -> ``temporal_attn`` -> drop path -> ``temporal_dense``
     -> residual;
  2. spatial: within each frame, over ``1 + N`` tokens with the block's input
     CLS token copied into every frame: ``norm1`` -> ``attn`` -> drop path;
     the ``T`` CLS outputs are averaged into the CLS residual;
  3. ``norm2`` -> ``mlp`` (exact GELU) -> drop path -> residual, all tokens.

  ``temporal_attn`` / ``attn`` are ``layers.Attention``; transformers' fused
  ``qkv`` Linear is split into ``query`` / ``key`` / ``value``.
* ``norm``: the final LayerNorm (``layernorm``); ``head``: ``classifier``,
  applied to the pooled feature (CLS by default, as transformers).

Tokens come out as transformers' ``last_hidden_state``: ``[b, 1 + N * T, d]``,
CLS first, then patch-major (row, column, frame) order, after the final norm.

Input ``batch['frames']`` float32 ``[b, T, S, S, 3]``, already normalised and
sampled by the pipeline. ``T`` and ``S`` must equal ``num_frames`` and
``image_size``: transformers' embeddings would interpolate the position and
time tables for other sizes, but its layers reshape with the configured
``num_frames`` / ``image_size`` and silently mix tokens, so there is no
reference behaviour to match and other sizes are an error here.

Initialisation follows the authors' code: linear kernels, ``cls_token`` and
``pos_embed`` truncated normal (std 0.02), biases and ``time_embed`` zero, and
``temporal_dense`` zero in every block but the first.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from egoimu_jax.models import layers
from egoimu_jax.models import presets

Dtype = Any
POOLINGS = ("cls", "mean")

trunc_normal = nn.initializers.truncated_normal(0.02)


class DividedBlock(layers.EncoderBlock):
  """One divided space-time block on ``cls [b, d]`` and ``x [b, N, T, d]``.

  ``layers.EncoderBlock``'s fields (and sublayers) in another layout, plus
  ``zero_temporal_dense``: ``temporal_dense`` starts at zero.
  """
  zero_temporal_dense: bool = False

  @nn.compact
  def __call__(  # pylint: disable=arguments-differ,arguments-renamed
      self, cls: jax.Array, x: jax.Array, train: bool = False
  ) -> tuple[jax.Array, jax.Array]:
    b, n, t, d = x.shape
    norm, attn = self._layer_norm, self._attention
    drop = layers.DropPath(self.drop_path)

    # Temporal: one sequence of T frames per (example, patch).
    xt = x.reshape(b * n, t, d)
    res = drop(attn("temporal_attn")(norm("temporal_norm")(xt), train), train)
    res = nn.Dense(d, kernel_init=(nn.initializers.zeros
                                   if self.zero_temporal_dense else
                                   trunc_normal),
                   dtype=self.dtype, param_dtype=self.param_dtype,
                   name="temporal_dense")(res)
    x = x + res.reshape(b, n, t, d)

    # Spatial: one sequence of 1 + N tokens per (example, frame).
    xs = jnp.concatenate([
        jnp.broadcast_to(cls[:, None, None, :], (b, t, 1, d)).astype(x.dtype),
        x.transpose(0, 2, 1, 3)], axis=2).reshape(b * t, 1 + n, d)
    res = drop(attn("attn")(norm("norm1")(xs), train), train)
    res = res.reshape(b, t, 1 + n, d)
    cls = cls + res[:, :, 0].mean(axis=1)
    x = x + res[:, :, 1:].transpose(0, 2, 1, 3)

    # MLP over all tokens (one drop-path draw per example, as transformers).
    tokens = jnp.concatenate([cls[:, None], x.reshape(b, n * t, d)], axis=1)
    tokens = tokens + drop(self._mlp()(norm("norm2")(tokens), train), train)
    return tokens[:, 0], tokens[:, 1:].reshape(b, n, t, d)


class Encoder(layers.Encoder):
  """``depth`` ``DividedBlock`` s named ``block_<i>``, without a final norm.

  ``layers.Encoder``'s fields: stochastic depth rises linearly from 0 to
  ``drop_path`` over the blocks; ``remat`` recomputes each block in the
  backward pass. ``temporal_dense`` starts at zero in all blocks but the
  first (the authors' initialisation).
  """

  @nn.compact
  def __call__(  # pylint: disable=arguments-differ,arguments-renamed
      self, cls: jax.Array, x: jax.Array, train: bool = False
  ) -> tuple[jax.Array, jax.Array]:
    for i in range(self.depth):
      # remat: (self, cls, x, train).
      block = self._block(i, DividedBlock, static_argnums=(3,),
                          zero_temporal_dense=i > 0)
      cls, x = block(cls, x, train)
    return cls, x


class TimeSformer(nn.Module):
  """TimeSformer classifier over ``batch['frames']`` ``[b, T, S, S, 3]``.

  Returns ``(logits [b, num_classes], aux)`` with ``aux['features']`` the
  pooled feature ``[b, width]`` (the head's input) and ``aux['tokens']`` the
  final hidden states ``[b, 1 + N * T, width]`` (transformers'
  ``last_hidden_state``).

  Attributes:
    num_classes: outputs of ``head``.
    image_size, patch_size, num_frames: input geometry (``S``, ``p``, ``T``).
    width, depth, num_heads, mlp_dim: transformer sizes.
    qkv_bias: biases on the query/key/value projections.
    norm_eps: LayerNorm epsilon.
    dropout: hidden dropout (after the embeddings' position and time adds,
      attention outputs and the MLP; transformers' ``hidden_dropout_prob``,
      which also drops after the MLP's GELU).
    drop_path: stochastic depth, rising linearly from 0 over the blocks.
    head_dropout: dropout on the pooled feature before ``head``.
    pooling: ``"cls"`` (CLS token, as transformers' classifier) or ``"mean"``
      (mean over all final tokens, CLS included).
    remat: recompute each block's activations in the backward pass.
    attention_impl: ``jax.nn.dot_product_attention`` implementation.
  """
  num_classes: int
  image_size: int = 224
  patch_size: int = 16
  num_frames: int = 8
  width: int = 768
  depth: int = 12
  num_heads: int = 12
  mlp_dim: int = 3072
  qkv_bias: bool = True
  norm_eps: float = 1e-6
  dropout: float = 0.0
  drop_path: float = 0.0
  head_dropout: float = 0.0
  pooling: str = "cls"
  remat: bool = False
  attention_impl: str | None = None
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @property
  def grid(self) -> int:
    return self.image_size // self.patch_size

  def _check(self, frames: jax.Array) -> None:
    if self.pooling not in POOLINGS:
      raise ValueError(f"pooling={self.pooling!r}; expected one of {POOLINGS}")
    if self.image_size % self.patch_size:
      raise ValueError(f"image_size={self.image_size} is not divisible by "
                       f"patch_size={self.patch_size}")
    want = (self.num_frames, self.image_size, self.image_size, 3)
    if frames.ndim != 5 or tuple(frames.shape[1:]) != want:
      raise ValueError(
          f"TimeSformer expects batch['frames'] of shape [b, {want[0]}, "
          f"{want[1]}, {want[2]}, 3], got {tuple(frames.shape)}. Other frame "
          "counts or sizes are not supported (transformers' layers assume "
          "the configured ones); sample num_frames frames and resize in the "
          "pipeline, or build the model for the input's geometry.")

  def embed(self, frames: jax.Array, train: bool
            ) -> tuple[jax.Array, jax.Array]:
    """Frames -> (``cls [b, d]``, patch tokens ``[b, N, T, d]``)."""
    b, t = frames.shape[:2]
    d, n = self.width, self.grid ** 2
    patches = layers.PatchEmbed(
        d, (self.patch_size, self.patch_size), self.dtype, self.param_dtype,
        name="patch_embed")(frames.reshape((b * t,) + frames.shape[2:]))
    x = patches.reshape(b, t, n, d).transpose(0, 2, 1, 3)
    dtype = x.dtype
    cls_token = self.param("cls_token", trunc_normal, (1, 1, d),
                           self.param_dtype)
    pos = self.param("pos_embed", trunc_normal, (1, 1 + n, d),
                     self.param_dtype).astype(dtype)
    time_embed = self.param("time_embed", nn.initializers.zeros,
                            (1, self.num_frames, d),
                            self.param_dtype).astype(dtype)
    # Dropout after the position add (CLS too) and after the time add.
    drop = nn.Dropout(self.dropout, deterministic=not train)
    cls = drop(jnp.broadcast_to(cls_token[0].astype(dtype) + pos[:, 0],
                                (b, d)))
    x = drop(x + pos[0, 1:, None, :])
    x = drop(x + time_embed[0][None, None])
    return cls, x

  @nn.compact
  def __call__(self, batch: Mapping[str, jax.Array], *, train: bool
               ) -> tuple[jax.Array, dict[str, jax.Array]]:
    frames = batch["frames"]
    self._check(frames)
    cls, x = self.embed(frames, train)

    cls, x = Encoder(self.depth, self.num_heads, self.mlp_dim, self.dropout,
                     self.drop_path, self.qkv_bias, self.norm_eps, self.remat,
                     self.attention_impl, self.dtype, self.param_dtype,
                     name="encoder")(cls, x, train)
    b, n, t, d = x.shape
    tokens = jnp.concatenate([cls[:, None], x.reshape(b, n * t, d)], axis=1)
    tokens = nn.LayerNorm(epsilon=self.norm_eps, dtype=self.dtype,
                          param_dtype=self.param_dtype, name="norm")(tokens)
    features = tokens[:, 0] if self.pooling == "cls" else tokens.mean(axis=1)
    y = nn.Dropout(self.head_dropout, deterministic=not train)(features)
    logits = nn.Dense(self.num_classes, kernel_init=trunc_normal,
                      dtype=self.dtype, param_dtype=self.param_dtype,
                      name="head")(y)
    return logits, {"features": features, "tokens": tokens}


_SIZES_B = dict(patch_size=16, width=768, depth=12, num_heads=12, mlp_dim=3072)
# Presets: sizes and input geometry; other fields are overrides.
VARIANTS: dict[str, functools.partial] = {
    # TimeSformer (the paper's default): 8 frames at 224^2.
    "B": functools.partial(TimeSformer, image_size=224, num_frames=8,
                           **_SIZES_B),
    # TimeSformer-HR: 16 frames at 448^2.
    "HR": functools.partial(TimeSformer, image_size=448, num_frames=16,
                            **_SIZES_B),
    # TimeSformer-L: 96 frames at 224^2.
    "L": functools.partial(TimeSformer, image_size=224, num_frames=96,
                           **_SIZES_B),
    # CPU tests: 4 frames of 32^2 in 8^2 patches (16 per frame).
    "tiny": functools.partial(TimeSformer, image_size=32, patch_size=8,
                              num_frames=4, width=32, depth=2, num_heads=2,
                              mlp_dim=128),
}


def create(variant: str = "B", num_classes: int = 3,
           **overrides: Any) -> TimeSformer:
  """Registry entry: a ``VARIANTS`` preset plus field overrides."""
  return presets.pick(VARIANTS, variant, "TimeSformer")(
      num_classes=num_classes, **overrides)


def forward_flops(variant: str = "B", **overrides: Any) -> float:
  """Matmul FLOPs (2 per multiply-add) of one forward pass per example.

  Counts the patch embedding, every block's temporal and spatial attention
  (q/k/v and output projections, scores and weighted values), the
  ``temporal_dense`` projection and the MLP, and the head. Norms, softmax,
  GELU, adds and the pooling are left out (a few percent at the smallest
  widths, well under 1% for B).
  """
  m = create(variant, **overrides)
  n, t, d = m.grid ** 2, m.num_frames, m.width
  patch = t * n * (m.patch_size ** 2 * 3) * d
  temporal = n * t * 4 * d * d + 2 * n * t * t * d + n * t * d * d
  spatial = t * (1 + n) * 4 * d * d + 2 * t * (1 + n) ** 2 * d
  mlp = (1 + n * t) * 2 * d * m.mlp_dim
  macs = patch + m.depth * (temporal + spatial + mlp) + d * m.num_classes
  return 2.0 * macs
