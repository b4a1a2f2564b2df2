"""CLIP's image tower (Radford et al. 2021) as a frozen per-window teacher.

Semantics are ``transformers``' ``CLIPVisionModelWithProjection`` (weights:
``convert/clip.py``): patches (``Conv2d`` without bias) + a class embedding
+ learned positions -> ``pre_layrnorm`` -> pre-LN blocks (biased q/k/v/out
projections, MLP with quick GELU ``x * sigmoid(1.702 x)``) -> the class
token through ``post_layernorm`` -> ``visual_projection`` (no bias): the
image embedding, ``aux["features"]``. ``aux["tokens"]`` is the last hidden
state. Parameter layout: ``patch_embed``, ``cls_token``, ``pos_embed``,
``pre_norm``, ``encoder/block_<i>`` (``layers.EncoderBlock``: ``norm1``,
``attn/{query,key,value,out}``, ``norm2``, ``mlp/{fc1,fc2}``),
``post_norm``, ``projection``, ``head``.

Input ``batch["frames"]`` ``[b, T, H, W, 3]`` normalised with CLIP's
statistics (``MEAN`` / ``STD``); one frame per window is embedded:
``frame="middle"`` takes frame ``T // 2`` (IMU2CLIP embeds the middle frame
of each window), ``"mean"`` averages the embeddings of all ``T`` frames.
``H = W = image_size``. Returns ``(logits, aux)``; ``head`` (a linear
classifier on the image embedding) is only there so the tower is a
Contract-4 model; the teacher job never uses it.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from egoimu_jax.models import layers
from egoimu_jax.models import presets

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
FRAMES = ("middle", "mean")


def quick_gelu(x: jax.Array) -> jax.Array:
  return x * jax.nn.sigmoid(1.702 * x)


class QuickGeluMlp(layers.Mlp):
  """``layers.Mlp`` (same ``fc1`` / ``fc2``) with CLIP's quick GELU."""

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    d = x.shape[-1]
    dense = lambda f, name: nn.Dense(  # noqa: E731
        f, dtype=self.dtype, param_dtype=self.param_dtype, name=name)
    return dense(d, "fc2")(quick_gelu(dense(self.hidden_dim, "fc1")(x)))


class ClipBlock(layers.EncoderBlock):
  def _mlp(self) -> layers.Mlp:
    return QuickGeluMlp(self.mlp_dim, 0.0, self.dtype, self.param_dtype,
                        name="mlp")


class ClipEncoder(layers.Encoder):
  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    for i in range(self.depth):
      x = self._block(i, ClipBlock)(x, train, None)
    return x


class ClipVision(nn.Module):
  """CLIP ViT image tower with its projection.

  Attributes:
    num_classes: outputs of the (unused by teachers) linear ``head``.
    image_size, patch_size, width, depth, num_heads, mlp_dim: the ViT.
    projection_dim: size of the image embedding.
    norm_eps: LayerNorm epsilon (``layer_norm_eps``, 1e-5).
    frame: which frames of a window are embedded (``FRAMES``).
  """
  num_classes: int
  image_size: int = 224
  patch_size: int = 32
  width: int = 768
  depth: int = 12
  num_heads: int = 12
  mlp_dim: int = 3072
  projection_dim: int = 512
  norm_eps: float = 1e-5
  frame: str = "middle"
  dtype: Any = None
  param_dtype: Any = jnp.float32

  def embed(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``[n, H, W, 3]`` -> (image embeddings ``[n, projection_dim]``,
    last hidden states ``[n, 1 + patches, width]``)."""
    if images.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f"CLIP takes {self.image_size}x{self.image_size} "
                       f"frames, got {images.shape[1]}x{images.shape[2]}")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    p, d = self.patch_size, self.width
    x = nn.Conv(d, (p, p), strides=(p, p), padding="VALID", use_bias=False,
                name="patch_embed", **kw)(images)
    x = x.reshape(x.shape[0], -1, d)
    n = x.shape[1]
    cls = self.param("cls_token", nn.initializers.normal(d ** -0.5), (d,),
                     self.param_dtype)
    pos = self.param("pos_embed", nn.initializers.normal(0.02), (1 + n, d),
                     self.param_dtype)
    x = jnp.concatenate([jnp.broadcast_to(cls.astype(x.dtype),
                                          (x.shape[0], 1, d)), x], axis=1)
    x = x + pos.astype(x.dtype)
    x = nn.LayerNorm(epsilon=self.norm_eps, name="pre_norm", **kw)(x)
    tokens = ClipEncoder(self.depth, self.num_heads, self.mlp_dim,
                         norm_eps=self.norm_eps, name="encoder", **kw)(x)
    pooled = nn.LayerNorm(epsilon=self.norm_eps, name="post_norm",
                          **kw)(tokens[:, 0])
    embedding = nn.Dense(self.projection_dim, use_bias=False,
                         name="projection", **kw)(pooled)
    return embedding, tokens

  @nn.compact
  def __call__(self, batch: Mapping[str, jax.Array], *, train: bool
               ) -> tuple[jax.Array, dict[str, jax.Array]]:
    del train  # a frozen teacher: no dropout
    if self.frame not in FRAMES:
      raise ValueError(f"clip_vision frame={self.frame!r}; expected one of "
                       f"{FRAMES}")
    frames = batch["frames"]
    if frames.ndim == 4:
      frames = frames[:, None]
    b, t = frames.shape[:2]
    if self.frame == "middle":
      features, tokens = self.embed(frames[:, t // 2])
    else:
      features, tokens = self.embed(frames.reshape((b * t,) +
                                                   frames.shape[2:]))
      features = features.reshape(b, t, -1).mean(axis=1)
      tokens = tokens.reshape((b, t) + tokens.shape[1:]).mean(axis=1)
    logits = nn.Dense(self.num_classes, dtype=self.dtype,
                      param_dtype=self.param_dtype, name="head")(features)
    return logits, {"features": features, "tokens": tokens}


# Presets: sizes; other fields are overrides.
VARIANTS: dict[str, functools.partial] = {
    # OpenAI CLIP ViT-B/32 (openai/clip-vit-base-patch32).
    "B32": functools.partial(ClipVision),
    # CPU tests: 32^2 frames in 8^2 patches.
    "tiny": functools.partial(ClipVision, image_size=32, patch_size=8,
                              width=32, depth=2, num_heads=2, mlp_dim=64,
                              projection_dim=16),
}


def create(variant: str = "B32", num_classes: int = 3,
           **overrides: Any) -> ClipVision:
  """Registry entry: a ``VARIANTS`` preset plus field overrides."""
  return presets.pick(VARIANTS, variant, "CLIP vision")(
      num_classes=num_classes, **overrides)
