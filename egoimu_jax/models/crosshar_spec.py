"""CrossHAR's spec (sizes of every branch), its presets and input length.

``CrossHARSpec`` is what ``crosshar``'s models, ``crosshar_layers`` and the
FLOP counts read; ``seq_len_of`` is the model's steps per window.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from egoimu_jax.models import presets

NUM_CHANNELS = 6


@dataclasses.dataclass(frozen=True)
class CrossHARSpec:
  """Sizes of the encoder, decoder, contrastive branch and classifier."""
  # Encoder (the reference's ``base_v1``: config/limu_bert.json).
  hidden: int = 72
  heads: int = 4
  ff: int = 144
  n_layers: int = 1
  emb_norm: bool = True
  norm_eps: float = 1e-12
  # Span masking.
  mask_ratio: float = 0.15
  max_span: int = 10
  span_p: float = 0.2
  mask_prob: float = 0.8
  # Contrastive branch (``Contrastive.py``).
  contrastive_width: int = 100
  contrastive_heads: int = 4
  contrastive_mlp: int = 64
  contrastive_dropout: float = 0.1
  projection_hidden: int = 36
  projection_dim: int = 18
  # Classifier (``Transformer_ft``, config/classifier.json).
  head_width: int = 100
  head_heads: int = 4
  head_ff: int = 2048
  head_layers: int = 1
  head_dropout: float = 0.1

  def __post_init__(self):
    errors = []
    for name, w, h in (("hidden", self.hidden, self.heads),
                       ("contrastive_width", self.contrastive_width,
                        self.contrastive_heads),
                       ("head_width", self.head_width, self.head_heads)):
      if w % h:
        errors.append(f"{name}={w} not divisible by {h} heads")
    if self.n_layers < 1 or self.head_layers < 1:
      errors.append("n_layers and head_layers must be >= 1")
    if not 0.0 < self.mask_ratio < 1.0:
      errors.append(f"mask_ratio={self.mask_ratio} not in (0, 1)")
    if self.max_span < 1 or not 0.0 < self.span_p <= 1.0:
      errors.append(f"max_span={self.max_span} / span_p={self.span_p}")
    if errors:
      raise ValueError("invalid CrossHAR spec: " + "; ".join(errors))


VARIANTS: dict[str, dict[str, Any]] = {
    # The reference's sizes. Its base_v1 config sets n_layers = 1 (LIMU-BERT's
    # own base_v1 shares one block over 4 layers).
    "base": {},
    # CPU tests and demos; two layers so that the weight sharing is exercised.
    "tiny": dict(hidden=24, heads=2, ff=48, n_layers=2, contrastive_width=32,
                 contrastive_heads=2, contrastive_mlp=16, projection_hidden=12,
                 projection_dim=6, head_width=32, head_heads=2, head_ff=64),
}


def make_spec(variant: str = "base", **overrides) -> CrossHARSpec:
  return presets.make_spec(CrossHARSpec, VARIANTS, variant, "CrossHAR",
                           overrides)


def seq_len_of(rate_hz: float, window_seconds: float) -> int:
  """Model steps per window, ``round(rate_hz * window_seconds)``."""
  n = int(round(rate_hz * window_seconds))
  if n < 2:
    raise ValueError(f"rate_hz={rate_hz} x window_seconds={window_seconds} "
                     "gives fewer than 2 steps")
  return n
