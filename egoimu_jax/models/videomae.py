"""Supervised VideoMAE ViT video classifier (Tong et al., NeurIPS 2022).

The fine-tuning model of VideoMAE, built from the same pieces as EVI-MAE's
video tower (``layers.PatchEmbed`` and ``layers.Encoder``):

  frames ``[b, T, S, S, 3]`` -> tubelet patches ``(tubelet, p, p)`` ->
  + fixed 1-D sincos positions -> ``encoder`` (joint space-time attention,
  no final norm) -> mean over tokens -> ``fc_norm`` -> dropout -> ``head``.

Parameter names: ``patch_embed``, ``encoder``, ``fc_norm`` and ``head``. The
first two are exactly the tree ``convert.videomae`` produces, so VideoMAE
checkpoints (pretraining, encoder-only or classification) load with
``convert.videomae.load_classifier``.

Batch (Contract 4): ``frames`` float32 ``[b, T, S, S, 3]``, normalised by the
pipeline. ``T`` should be ``num_frames`` (``input.num_frames``); longer clips
are subsampled uniformly here, as EVI-MAE does. Returns ``(logits [b,
num_classes], aux)`` with ``aux["features"]`` the pooled ``fc_norm`` output
``[b, width]`` and ``aux["tokens"]`` the encoder output ``[b, N, width]``.

Differences from the authors' fine-tuning code:

* Linear layers start from xavier-uniform (``layers.dense_init``, VideoMAE's
  pretraining init) rather than truncated normal (std 0.02); the head is
  truncated normal with std ``0.02 * head_init_scale`` and a zero bias, as
  theirs (``init_scale`` 0.001).
* Attention has a key bias (VideoMAE: query and value only); checkpoints
  import it as zeros, which is exactly equivalent.
"""

from __future__ import annotations

from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from egoimu_jax.models import evimae_blocks
from egoimu_jax.models import layers
from egoimu_jax.models import presets

Dtype = Any


class VideoMAEClassifier(nn.Module):
  """VideoMAE ViT classifier over ``batch['frames']``.

  Attributes:
    num_classes: output classes.
    num_frames: frames the model takes (a multiple of ``tubelet``).
    image_size: square frame side (a multiple of ``patch_size``).
    patch_size: spatial patch side.
    tubelet: frames per patch.
    width, depth, num_heads, mlp_dim: the ViT encoder.
    norm_eps: epsilon of the encoder's LayerNorms.
    fc_norm_eps: epsilon of ``fc_norm``; None: ``norm_eps``. (transformers'
      ``VideoMAEForVideoClassification`` uses torch's default 1e-5 there.)
    dropout: dropout inside the blocks (after attention and MLP).
    head_dropout: dropout on the pooled features before ``head``.
    drop_path: stochastic depth of the last block (linear from 0).
    head_init_scale: the head's init std is ``0.02 * head_init_scale``.
    remat: recompute block activations in the backward pass.
    attention_impl: ``jax.nn.dot_product_attention`` implementation.
  """
  num_classes: int = 3
  num_frames: int = 16
  image_size: int = 224
  patch_size: int = 16
  tubelet: int = 2
  width: int = 768
  depth: int = 12
  num_heads: int = 12
  mlp_dim: int = 3072
  norm_eps: float = 1e-6
  fc_norm_eps: float | None = None
  dropout: float = 0.0
  head_dropout: float = 0.0
  drop_path: float = 0.0
  head_init_scale: float = 0.001
  remat: bool = False
  attention_impl: str | None = None
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  def __post_init__(self):
    errors = presets.divisibility_errors(
        self, ("width", "num_heads"), ("image_size", "patch_size"),
        ("num_frames", "tubelet"))
    if errors:
      raise ValueError("invalid VideoMAE classifier: " + "; ".join(errors))
    super().__post_init__()

  @property
  def num_tokens(self) -> int:
    g = self.image_size // self.patch_size
    return (self.num_frames // self.tubelet) * g * g

  @nn.compact
  def __call__(self, batch: Mapping[str, jax.Array], *, train: bool
               ) -> tuple[jax.Array, dict[str, jax.Array]]:
    frames = batch["frames"]
    s = self.image_size
    if frames.ndim != 5 or tuple(frames.shape[2:]) != (s, s, 3):
      raise ValueError(f"batch['frames'] has shape {frames.shape}; the model "
                       f"expects [b, T, {s}, {s}, 3]")
    frames = evimae_blocks.sample_frames(frames, self.num_frames)
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = layers.PatchEmbed(self.width, (self.tubelet, self.patch_size,
                                       self.patch_size), name="patch_embed",
                          **kw)(frames)
    x = x + jnp.asarray(layers.sincos_1d(x.shape[1], self.width), x.dtype)
    tokens = layers.Encoder(self.depth, self.num_heads, self.mlp_dim,
                            self.dropout, self.drop_path, True, self.norm_eps,
                            self.remat, self.attention_impl, name="encoder",
                            **kw)(x, train)
    eps = self.norm_eps if self.fc_norm_eps is None else self.fc_norm_eps
    features = nn.LayerNorm(epsilon=eps, name="fc_norm", **kw)(
        tokens.mean(axis=1))
    x = nn.Dropout(self.head_dropout)(features, deterministic=not train)
    logits = nn.Dense(
        self.num_classes, name="head",
        kernel_init=nn.initializers.truncated_normal(
            0.02 * self.head_init_scale), **kw)(x)
    aux = {"features": features.astype(jnp.float32),
           "tokens": tokens.astype(jnp.float32)}
    return logits.astype(jnp.float32), aux


VARIANTS: dict[str, dict[str, Any]] = {
    # VideoMAE ViT-B/16 on 16 x 224^2 (1568 tokens); 86M parameters.
    "B": dict(width=768, depth=12, num_heads=12, mlp_dim=3072),
    # VideoMAE ViT-S/16.
    "S": dict(width=384, depth=12, num_heads=6, mlp_dim=1536),
    # CPU tests: 4 x 32^2 frames, patch 8 -> 32 tokens.
    "tiny": dict(width=32, depth=2, num_heads=2, mlp_dim=128, num_frames=4,
                 image_size=32, patch_size=8),
}


def create(variant: str = "B", num_classes: int = 3, **overrides: Any
           ) -> VideoMAEClassifier:
  """Registry entry ``videomae``: a variant plus field overrides."""
  fields = {**presets.pick(VARIANTS, variant, "VideoMAE"), **overrides}
  for name in ("dtype", "param_dtype"):
    if name in fields:
      fields[name] = presets.as_dtype(fields[name])
  return VideoMAEClassifier(num_classes=num_classes, **fields)


def forward_flops(variant: str = "B", **overrides: Any) -> float:
  """Analytic matmul FLOPs of one example's forward pass (2 per MAC).

  Counts the patch embedding, every block's projections, attention scores
  and values, MLP, and the head; norms, softmax and GELU are not counted.
  """
  m = create(variant, **overrides)
  n, d = m.num_tokens, m.width
  patch_in = m.tubelet * m.patch_size ** 2 * 3
  block = 8 * n * d * d + 4 * n * n * d + 4 * n * d * m.mlp_dim
  return float(2 * n * patch_in * d + m.depth * block +
               2 * d * m.num_classes)
