"""``data_scaling``: how accuracy grows with clips per person.

Test and val are l20wo fold k's; the training clips are the first n of a
seeded round-robin over fold k's training workers (one clip from each worker
per round), so the subsets are nested across scales and every subset spreads
over all training workers as evenly as it can: data scaling varies clips per
worker at a fixed worker pool, worker scaling the reverse.
``protocol.scale``: ``> 1`` a count of clips, ``(0, 1]`` a fraction of the
pool's clips, ``< 0`` all of them.
"""

from __future__ import annotations

from typing import List, Optional, Set, Tuple

from egoimu_jax.input_pipeline import orders
from egoimu_jax.input_pipeline.population import Population
from egoimu_jax.input_pipeline.protocols import base


class DataScaling(base.ScalingProtocol):
  name = "data_scaling"
  title = "Data scaling"
  scale_unit = "clips"
  bundle_scales = "data_scales"

  def order(self, pop: Population, pool: List[str], fold: int,
            seed: int) -> List[str]:
    per_worker = [orders.hash_order(pop.clips[w], seed, "data", w)
                  for w in orders.hash_order(pool, seed, "data_workers", fold)]
    return orders.round_robin(per_worker, seed, "data", fold)

  def train_part(self, pop: Population, pool: List[str], chosen: List[str]
                 ) -> Tuple[Set[str], Optional[List[str]]]:
    train_clips = sorted(chosen)
    owner = {c: w for w in pool for c in pop.clips[w]}
    return {owner[c] for c in train_clips}, train_clips
