"""``worker_scaling``: how accuracy grows with the number of training people.

Test and val are l20wo fold k's; the training workers are the first n of a
seeded, break-fraction-stratified order of fold k's training workers, so the
sets are nested across scales. ``protocol.scale``: ``> 1`` a count of
workers, ``(0, 1]`` a fraction of fold k's pool, ``< 0`` the whole pool. The
pool is (K-2)/K of the workers; the full dataset's 800 training workers of
about 1,000 need ``num_folds=10`` (80/10/10).
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

from egoimu_jax.input_pipeline import folds
from egoimu_jax.input_pipeline import orders
from egoimu_jax.input_pipeline.population import Population
from egoimu_jax.input_pipeline.protocols import base


class WorkerScaling(base.Protocol):
  name = "worker_scaling"
  title = "Worker scaling"
  cross_person = True
  scale_unit = "workers"
  bundle_scales = "worker_scales"

  def make(self, pop: Population, cfg: Mapping[str, Any]) -> Dict[str, Any]:
    fold, seed = cfg["fold"], cfg["seed"]
    pool, val, test = folds.cross_fold(pop, fold, cfg["num_folds"], seed)
    order = orders.stratified_order(pop, pool, seed, "workers", fold)
    n = base.resolve_scale(cfg["scale"], len(pool), "workers", fold)
    return base.parts(order[:n], val, test)
