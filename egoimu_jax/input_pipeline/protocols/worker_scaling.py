"""``worker_scaling``: how accuracy grows with the number of training people.

Test and val are l20wo fold k's; the training workers are the first n of a
seeded, break-fraction-stratified order of fold k's training workers, so the
sets are nested across scales. ``protocol.scale``: ``> 1`` a count of
workers, ``(0, 1]`` a fraction of fold k's pool, ``< 0`` the whole pool. The
pool is (K-2)/K of the workers; the full dataset's 800 training workers of
about 1,000 need ``num_folds=10`` (80/10/10).
"""

from __future__ import annotations

from typing import List

from egoimu_jax.input_pipeline import orders
from egoimu_jax.input_pipeline.population import Population
from egoimu_jax.input_pipeline.protocols import base


class WorkerScaling(base.ScalingProtocol):
  name = "worker_scaling"
  title = "Worker scaling"
  scale_unit = "workers"
  bundle_scales = "worker_scales"

  def order(self, pop: Population, pool: List[str], fold: int,
            seed: int) -> List[str]:
    return orders.stratified_order(pop, pool, seed, "workers", fold)
