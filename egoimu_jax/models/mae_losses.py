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
      raise TypeError(f"unknown MAE loss settings {unknown}; known "
                      f"{sorted(names)}")
    return cls(**items)


def _weights(mask: jax.Array, example_mask: jax.Array | None) -> jax.Array:
  w = mask.astype(jnp.float32)
  if example_mask is not None:
    w = w * example_mask.astype(jnp.float32).reshape(
        (-1,) + (1,) * (w.ndim - 1))
  return w


def _unit(x: jax.Array) -> jax.Array:
  x = x.astype(jnp.float32)
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _mse_sums(pred, target, mask, example_mask):
  """Per-example (sum of per-patch MSE over masked patches, their count)."""
  per_patch = jnp.mean(jnp.square(pred.astype(jnp.float32) -
                                  target.astype(jnp.float32)), axis=-1)
  w = _weights(mask, example_mask)
  return jnp.sum(per_patch * w, axis=1), jnp.sum(w, axis=1)


def _sce_sums(pred, target, mask, alpha, example_mask):
  per_node = jnp.power(1.0 - jnp.sum(_unit(pred) * _unit(target), -1), alpha)
  w = _weights(mask, example_mask)
  return jnp.sum(per_node * w, axis=1), jnp.sum(w, axis=1)


def _nce_per_example(imu, video, temperature, bidirectional, example_mask):
  """Per-example (loss, correct) of InfoNCE within the batch."""
  logits = _unit(imu) @ _unit(video).T / temperature  # [imu, video]
  b = logits.shape[0]
  valid = (jnp.ones((b,), bool) if example_mask is None else
           example_mask.astype(bool))

  def one_way(lg):  # rows: queries; softmax over the valid columns
    lg = jnp.where(valid[None, :], lg, -jnp.inf)
    loss = -jnp.diagonal(jax.nn.log_softmax(lg, axis=-1))
    correct = (jnp.argmax(lg, axis=-1) == jnp.arange(b)).astype(jnp.float32)
    return jnp.where(valid, loss, 0.0), correct * valid

  loss, correct = one_way(logits.T)  # each video classifies its IMU partner
  if bidirectional:
    loss2, correct2 = one_way(logits)
    loss, correct = (loss + loss2) / 2, (correct + correct2) / 2
  return loss, correct, valid.astype(jnp.float32)


def per_example_terms(outputs: Mapping[str, Any], cfg: Any = None,
                      example_mask: jax.Array | None = None
                      ) -> dict[str, jax.Array]:
  """Per-example numerators and denominators ``[b]`` of every loss term.

  Keys ``<term>_num`` / ``<term>_den`` for ``mse_imu``, ``mse_video``,
  ``graph``, ``contrastive`` and ``contrastive_acc`` (those present). Summed
  over any set of examples (batches, hosts, a whole split) they give the
  exact mean through ``combine``; this is how evaluation accumulates.
  """
  c = LossConfig.from_any(cfg)
  out: dict[str, jax.Array] = {}
  for m in ("imu", "video"):
    if m in outputs:
      o = outputs[m]
      out[f"mse_{m}_num"], out[f"mse_{m}_den"] = _mse_sums(
          o["pred"], o["target"], o["mask"], example_mask)
  if "graph" in outputs:
    g = outputs["graph"]
    out["graph_num"], out["graph_den"] = _sce_sums(
        g["pred"], g["target"], g["mask"], c.sce_alpha, example_mask)
  feats = outputs.get("features", {})
  if "imu" in feats and "video" in feats:
    loss, correct, valid = _nce_per_example(
        feats["imu"], feats["video"], c.temperature, c.bidirectional,
        example_mask)
    out.update(contrastive_num=loss, contrastive_den=valid,
               contrastive_acc_num=correct, contrastive_acc_den=valid)
  return out


def combine(sums: Mapping[str, Any], cfg: Any = None):
  """``(total, terms)`` from summed ``per_example_terms`` (jax or numpy)."""
  c = LossConfig.from_any(cfg)
  terms = {}
  for name in ("mse_imu", "mse_video", "graph", "contrastive",
               "contrastive_acc"):
    if f"{name}_num" in sums:
      terms[name] = sums[f"{name}_num"] / jnp.maximum(sums[f"{name}_den"], 1.0)
  total = jnp.zeros((), jnp.float32)
  for name, weight in (("mse_imu", c.mae_weight), ("mse_video", c.mae_weight),
                       ("graph", c.graph_weight),
                       ("contrastive", c.contrastive_weight)):
    if name in terms:
      total = total + weight * terms[name]
  terms["total"] = total
  return total, terms


def losses(outputs: Mapping[str, Any], cfg: Any = None,
           example_mask: jax.Array | None = None):
  """``(total, terms)`` from an ``EVIMAE`` output dict.

  ``terms`` holds the unweighted ``mse_imu``, ``mse_video``, ``graph``,
  ``contrastive``, ``contrastive_acc`` for the branches present, and
  ``total``.
  """
  per = per_example_terms(outputs, cfg, example_mask)
  return combine({k: jnp.sum(v) for k, v in per.items()}, cfg)
