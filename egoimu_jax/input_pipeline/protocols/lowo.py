"""``lowo``: leave one worker out, over a chosen subset.

The subset is ``protocol.lowo_workers``, or ``protocol.lowo_count`` workers
picked by ``protocol.lowo_rule`` (``most_clips``, ``most_stratify_label``, or
``spread``: evenly spaced in break fraction). Fold k tests on the k-th
chosen worker; val is one stratified group (1/K) of the others; the rest
train.
"""

from __future__ import annotations

import types
from typing import Any, Dict, List, Mapping

from egoimu_jax.input_pipeline import folds
from egoimu_jax.input_pipeline.population import Population
from egoimu_jax.input_pipeline.population import SplitError
from egoimu_jax.input_pipeline.protocols import base

LOWO_RULES = ("most_clips", "most_stratify_label", "spread")


class Lowo(base.Protocol):
  name = "lowo"
  title = "Cross-person (LOWO)"
  cross_person = True
  test_part = "leave-one-worker-out"
  options = types.MappingProxyType(dict(
      lowo_workers=(),          # the subset to leave out in turn
      lowo_count=10,            # ... or this many workers picked by lowo_rule
      lowo_rule="most_clips",   # most_clips | most_stratify_label | spread
  ))

  def make(self, pop: Population, cfg: Mapping[str, Any]) -> Dict[str, Any]:
    fold = cfg["fold"]
    chosen = _choice(pop, cfg)
    if not 0 <= fold < len(chosen):
      raise SplitError(f"lowo fold {fold} is not in [0, {len(chosen)}): "
                       f"{len(chosen)} workers are left out in turn")
    test = [chosen[fold]]
    rest = [w for w in pop.workers if w != test[0]]
    if len(rest) < 2:
      raise SplitError("lowo needs at least 3 workers (train, val, test)")
    val = folds.fold_groups(pop.subset(rest), min(cfg["num_folds"], len(rest)),
                            cfg["seed"])[0]
    return base.parts(set(rest) - set(val), val, test)

  def bundle_variants(self, num_folds: int, settings: Mapping[str, Any],
                      num_workers: int) -> List[Dict[str, Any]]:
    return [dict(fold=f)
            for f in range(min(int(settings["lowo_count"]), num_workers))]


def _choice(pop: Population, cfg: Mapping[str, Any]) -> List[str]:
  explicit = [str(w) for w in cfg["lowo_workers"] or ()]
  if explicit:
    unknown = sorted(set(explicit) - set(pop.workers))
    if unknown:
      raise SplitError(f"protocol.lowo_workers not in the dataset: {unknown}")
    if len(set(explicit)) != len(explicit):
      raise SplitError(f"protocol.lowo_workers has duplicates: {explicit}")
    return explicit
  count = int(cfg["lowo_count"])
  rule = cfg["lowo_rule"]
  if count < 1:
    raise SplitError(f"protocol.lowo_count must be >= 1, got {count}")
  count = min(count, len(pop.workers))
  if rule == "most_clips":
    return sorted(pop.workers, key=lambda w: (-len(pop.clips[w]), w))[:count]
  if rule == "most_stratify_label":
    return sorted(pop.workers, key=lambda w: (-pop.stratify_fraction[w], w))[:count]
  if rule == "spread":
    ranked = sorted(pop.workers, key=lambda w: (pop.stratify_fraction[w], w))
    n = len(ranked)
    return [ranked[min(n - 1, int((i + 0.5) * n / count))] for i in range(count)]
  raise SplitError(f"unknown protocol.lowo_rule {rule!r}; known: {LOWO_RULES}")
