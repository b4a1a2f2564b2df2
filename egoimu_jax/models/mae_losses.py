"""Pure loss functions for the EVI-MAE / IMU-MAE pretraining outputs.

``losses(outputs, cfg)`` combines the terms as in EVI-MAE::

    total = alpha * (mse_imu + mse_video) + beta * graph + gamma * contrastive

with alpha = 1, beta = 10, gamma = 0.01 and temperature 0.05 by default.
Terms of branches a model does not have are left out of the dict. Every
function takes an optional ``example_mask [b]`` (False on eval padding,
Contract 3) that removes padded examples from every average.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class LossConfig:
  mae_weight: float = 1.0           # alpha
  graph_weight: float = 10.0        # beta
  contrastive_weight: float = 0.01  # gamma
  temperature: float = 0.05
  bidirectional: bool = True        # symmetric InfoNCE (authors: one-way)
  sce_alpha: float = 1.0            # 1: cosine; >1: GraphMAE scaled cosine

  @classmethod
  def from_any(cls, cfg: Any) -> "LossConfig":
    if cfg is None:
      return cls()
    if isinstance(cfg, cls):
      return cfg
    items = dict(cfg.items()) if hasattr(cfg, "items") else dict(cfg)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(items) - names)
    if unknown:
      raise TypeError(f"unknown MAE loss settings {unknown}; known {sorted(names)}")
    return cls(**items)


def _weighted_mean(values: jax.Array, weights: jax.Array) -> jax.Array:
  weights = weights.astype(jnp.float32)
  return jnp.sum(values * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def _example_weights(mask: jax.Array, example_mask: jax.Array | None):
  w = mask.astype(jnp.float32)
  if example_mask is not None:
    w = w * example_mask.astype(jnp.float32).reshape(
        (-1,) + (1,) * (w.ndim - 1))
  return w


def masked_mse(pred: jax.Array, target: jax.Array, mask: jax.Array,
               example_mask: jax.Array | None = None) -> jax.Array:
  """Mean squared error per patch, averaged over masked patches.

  ``pred``/``target`` ``[b, N, P]``, ``mask`` bool ``[b, N]`` (True = masked).
  """
  per_patch = jnp.mean(jnp.square(pred.astype(jnp.float32) -
                                  target.astype(jnp.float32)), axis=-1)
  return _weighted_mean(per_patch, _example_weights(mask, example_mask))


def scaled_cosine(pred: jax.Array, target: jax.Array, mask: jax.Array,
                  alpha: float = 1.0,
                  example_mask: jax.Array | None = None) -> jax.Array:
  """GraphMAE's SCE: ``(1 - cos(pred, target)) ** alpha`` over masked nodes."""
  p = pred.astype(jnp.float32)
  t = target.astype(jnp.float32)
  p = p / jnp.maximum(jnp.linalg.norm(p, axis=-1, keepdims=True), 1e-12)
  t = t / jnp.maximum(jnp.linalg.norm(t, axis=-1, keepdims=True), 1e-12)
  per_node = jnp.power(1.0 - jnp.sum(p * t, axis=-1), alpha)
  return _weighted_mean(per_node, _example_weights(mask, example_mask))


def info_nce(imu: jax.Array, video: jax.Array, temperature: float = 0.05,
             bidirectional: bool = True,
             example_mask: jax.Array | None = None):
  """InfoNCE between paired features ``[b, d]``; returns ``(loss, accuracy)``.

  Logits are cosine similarities / ``temperature``. One-directional (the
  authors' default) classifies, for each video, its IMU partner among the
  batch's IMU features; ``bidirectional`` averages both directions.
  Accuracy is the fraction of correct top-1 partners.
  """
  a = imu.astype(jnp.float32)
  v = video.astype(jnp.float32)
  a = a / jnp.maximum(jnp.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
  v = v / jnp.maximum(jnp.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
  logits = a @ v.T / temperature  # [imu, video]
  b = logits.shape[0]
  valid = (jnp.ones((b,), bool) if example_mask is None else
           example_mask.astype(bool))

  def one_way(lg):  # rows: queries; softmax over columns (candidates)
    lg = jnp.where(valid[None, :], lg, -jnp.inf)
    logp = jax.nn.log_softmax(lg, axis=-1)
    diag = jnp.diagonal(logp)
    loss = _weighted_mean(jnp.where(valid, -diag, 0.0), valid)
    acc = _weighted_mean(jnp.argmax(lg, axis=-1) == jnp.arange(b), valid)
    return loss, acc

  video_to_imu = one_way(logits.T)
  if not bidirectional:
    return video_to_imu
  imu_to_video = one_way(logits)
  return ((video_to_imu[0] + imu_to_video[0]) / 2,
          (video_to_imu[1] + imu_to_video[1]) / 2)


def losses(outputs: Mapping[str, Any], cfg: Any = None,
           example_mask: jax.Array | None = None):
  """``(total, terms)`` from an ``EVIMAE`` output dict.

  ``terms`` holds the unweighted ``mse_imu``, ``mse_video``, ``graph``,
  ``contrastive``, ``contrastive_acc`` for the branches present, and
  ``total``.
  """
  c = LossConfig.from_any(cfg)
  terms: dict[str, jax.Array] = {}
  total = jnp.zeros((), jnp.float32)
  for m in ("imu", "video"):
    if m in outputs:
      o = outputs[m]
      terms[f"mse_{m}"] = masked_mse(o["pred"], o["target"], o["mask"],
                                     example_mask)
      total = total + c.mae_weight * terms[f"mse_{m}"]
  if "graph" in outputs:
    g = outputs["graph"]
    terms["graph"] = scaled_cosine(g["pred"], g["target"], g["mask"],
                                   c.sce_alpha, example_mask)
    total = total + c.graph_weight * terms["graph"]
  feats = outputs.get("features", {})
  if "imu" in feats and "video" in feats:
    loss, acc = info_nce(feats["imu"], feats["video"], c.temperature,
                         c.bidirectional, example_mask)
    terms["contrastive"] = loss
    terms["contrastive_acc"] = acc
    total = total + c.contrastive_weight * loss
  terms["total"] = total
  return total, terms
