"""``pretrain``: self-supervised pretraining, labels unused.

The population is every worker (``protocol.pretrain_on="all"``: train, val
and test workers of every fold, Experiment D in the README) or fold k's
l20wo training workers only (``"train"``, to measure what seeing the
unlabeled test people is worth). A ``protocol.pretrain_val_fraction`` of its
clips, dealt round-robin over workers, is held out to monitor the
reconstruction loss; the rest train. There is no test part.
"""

from __future__ import annotations

import types
from typing import Any, Dict, List, Mapping

from egoimu_jax.input_pipeline import folds
from egoimu_jax.input_pipeline import orders
from egoimu_jax.input_pipeline.population import Population
from egoimu_jax.input_pipeline.population import SplitError
from egoimu_jax.input_pipeline.protocols import base

PRETRAIN_ON = ("all", "train")


class Pretrain(base.Protocol):
  name = "pretrain"
  title = "pretrain"
  tested = False
  options = types.MappingProxyType(dict(
      pretrain_on="all",           # "all" workers or the fold's "train" workers
      pretrain_val_fraction=0.1,   # clips held out for the val loss
  ))

  def make(self, pop: Population, cfg: Mapping[str, Any]) -> Dict[str, Any]:
    fold, seed, on = cfg["fold"], cfg["seed"], cfg["pretrain_on"]
    if on not in PRETRAIN_ON:
      raise SplitError(f"unknown protocol.pretrain_on {on!r}; known: "
                       f"{PRETRAIN_ON}")
    pool = (list(pop.workers) if on == "all" else
            folds.cross_fold(pop, fold, cfg["num_folds"], seed)[0])
    per_worker = [orders.hash_order(pop.clips[w], seed, "pretrain", w)
                  for w in orders.hash_order(pool, seed, "pretrain_workers", fold)]
    order = orders.round_robin(per_worker, seed, "pretrain", fold)
    fraction = float(cfg["pretrain_val_fraction"])
    n_val = min(len(order) - 1, max(1, round(fraction * len(order))))
    if n_val < 1:
      raise SplitError("pretrain needs at least 2 clips (train and val)")
    clips = {"val": sorted(order[:n_val]), "train": sorted(order[n_val:])}
    owner = {c: w for w in pool for c in pop.clips[w]}
    train, val = ({owner[c] for c in clips[p]} for p in ("train", "val"))
    return base.parts(train, val, [], clips, pretrain_on=on,
                      pretrain_val_fraction=fraction)

  def bundle_variants(self, num_folds: int, settings: Mapping[str, Any],
                      num_workers: int) -> List[Dict[str, Any]]:
    return [dict(fold=f, pretrain_on=on)
            for on in PRETRAIN_ON for f in range(num_folds)]
