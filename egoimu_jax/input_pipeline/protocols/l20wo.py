"""``l20wo``: leave 20% of workers out.

Workers are dealt into K = ``protocol.num_folds`` groups, stratified by
break fraction: sorted by break fraction, cut into blocks of K neighbours,
and each block is dealt to the K groups in a seeded random order
(permuted-block dealing, ``folds.fold_groups``). Each group thus holds one
worker from every block, so no group gets all the hard workers. Fold k tests
on group k, validates on group (k+1) mod K and trains on the other K-2
groups (60/20/20 at K=5); every worker is tested exactly once and validated
exactly once over the K folds.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

from egoimu_jax.input_pipeline import folds
from egoimu_jax.input_pipeline.population import Population
from egoimu_jax.input_pipeline.protocols import base


class L20wo(base.Protocol):
  name = "l20wo"
  title = "Cross-person (L20%WO)"
  cross_person = True
  test_part = "l20wo test folds"

  def make(self, pop: Population, cfg: Mapping[str, Any]) -> Dict[str, Any]:
    return base.parts(*folds.cross_fold(pop, cfg["fold"], cfg["num_folds"],
                                        cfg["seed"]))
