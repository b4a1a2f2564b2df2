"""``within``: within-person.

Each worker's *clips* (never windows, so that adjacent windows cannot leak)
are dealt into K seeded clip groups (``folds.clip_groups``; stratified by
the clip's label when the population has clip labels). Fold k tests on clip
group k of the *same test workers as l20wo fold k*, validates on clip group
k+1 of all workers and trains on the other K-2 clip groups of all workers.
Clip group k of the other workers is left unused; the split's
``test_workers`` are l20wo fold k's (one with fewer than K clips may have no
clip in group k). Why: the test population and the training volume (about
(K-2)/K of all clips) match l20wo fold k, so the generalisation gap
``within_k - cross_k`` is a paired difference that isolates one thing,
whether the test person was seen in training.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

from egoimu_jax.input_pipeline import folds
from egoimu_jax.input_pipeline.population import Population
from egoimu_jax.input_pipeline.protocols import base


class Within(base.Protocol):
  name = "within"
  title = "Within-person"
  test_part = "within-person test parts"
  pairs_with = "l20wo"

  def make(self, pop: Population, cfg: Mapping[str, Any]) -> Dict[str, Any]:
    fold, k, seed = cfg["fold"], cfg["num_folds"], cfg["seed"]
    _, _, cross_test = folds.cross_fold(pop, fold, k, seed)
    tested_in = {w: g for g, ws in enumerate(folds.fold_groups(pop, k, seed))
                 for w in ws}
    groups = {w: folds.clip_groups(pop, w, k, seed, tested_in[w])
              for w in pop.workers}
    train_groups = [i for i in range(k) if i not in (fold, (fold + 1) % k)]
    clips = {
        "train": sorted(c for w in pop.workers for i in train_groups
                        for c in groups[w][i]),
        "val": sorted(c for w in pop.workers for c in groups[w][(fold + 1) % k]),
        "test": sorted(c for w in cross_test for c in groups[w][fold]),
    }
    # train/val list the workers their clips belong to; test lists the fold's
    # test people (as l20wo fold k does, so report pairs the two by fold),
    # even one whose few clips left clip group k empty.
    owner = {c: w for w in pop.workers for c in pop.clips[w]}
    train, val = ({owner[c] for c in clips[p]} for p in ("train", "val"))
    return base.parts(train, val, cross_test, clips)
