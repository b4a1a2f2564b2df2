"""A linear probe on a frozen embedding carried by the batch.

The cheap video baseline at scale: a frozen video teacher's window embedding
(``batch["teacher"]``, from a teacher set written by ``extract_embeddings``;
``config.input.teacher`` names it) goes through an optional L2
normalisation (as COMODO's probe), a per-feature standardisation (BatchNorm
without scale or shift, as MAE's linear probing: the head then sees unit-
variance features whatever the teacher's scale) and one linear ``head``. Trained by the
``supervised`` task like any classifier, so it runs through every protocol
and lands in the same report as the fine-tuned models.
"""

from __future__ import annotations

from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

Dtype = Any


class EmbeddingProbe(nn.Module):
  num_classes: int = 3
  key: str = "teacher"
  normalize: bool = True
  standardize: bool = True
  dropout: float = 0.0
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, batch: Mapping[str, jax.Array], train: bool = False):
    if self.key not in batch:
      raise KeyError(f"embedding_probe reads batch[{self.key!r}]; the batch "
                     f"has {sorted(batch)} (set config.input.teacher)")
    x = batch[self.key].astype(jnp.float32)
    if self.normalize:
      x = x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    h = x
    if self.standardize:
      h = nn.BatchNorm(use_running_average=not train, use_scale=False,
                       use_bias=False, momentum=0.9, epsilon=1e-6,
                       name="norm")(h)
    h = nn.Dropout(self.dropout, deterministic=not train)(h)
    logits = nn.Dense(self.num_classes, dtype=self.dtype,
                      param_dtype=self.param_dtype, name="head")(h)
    return logits.astype(jnp.float32), {"features": x}


def create(num_classes: int = 3, **kwargs) -> EmbeddingProbe:
  return EmbeddingProbe(num_classes=num_classes, **kwargs)
