"""``within``: within-person.

Each worker's data is dealt into K groups (``person_groups``): whole
sessions when index.csv has a ``session_id``; whole clips (never windows,
so that adjacent windows cannot leak) when the worker has at least K clips;
contiguous time blocks, with guard windows dropped between blocks of
different groups, when the worker has fewer clips than K (a few long
recordings). Clips and blocks are stratified by label where the population
has labels. Fold k tests on group k of the *same test workers as l20wo
fold k*, validates on group k+1 of all workers and trains on the other K-2
groups of all workers. Group k of the other workers is left unused; the
split's ``test_workers`` are l20wo fold k's (one whose group k is empty has
no test windows). Why: the test population and the training volume (about
(K-2)/K of all windows) match l20wo fold k, so the generalisation gap
``within_k - cross_k`` is a paired difference that isolates one thing,
whether the test person was seen in training.

``protocol.within_test="all"`` tests group k of *every* worker instead (the
split's ``test_workers`` are then all workers). The groups do not depend on
the fold, so over the K folds every window (guards aside) is tested
within-person exactly once, each by a model that trained on the rest of
that person's data: the matched comparison (``report.matched``) then scores
every cross-person test window, not only 1/K of them, at the same K runs.

A split with time blocks lists them per part as ``<part>_ranges``
(``{clip: [[first_t0_us, last_t0_us], ...]}``, the windows of a clip whose
start lies in a range), next to the whole clips of ``<part>_clips``, with
``guard_us`` (two windows of different parts on one clip start at least
this far apart), ``guard_windows`` (windows in no part) and
``time_block_workers``. A split without time blocks has none of these
fields.
"""

from __future__ import annotations

import types
from typing import Any, Dict, List, Mapping, Tuple

from egoimu_jax.input_pipeline import folds
from egoimu_jax.input_pipeline.population import Population
from egoimu_jax.input_pipeline.population import SplitError
from egoimu_jax.input_pipeline.protocols import base
from egoimu_jax.input_pipeline.protocols import person_groups


WITHIN_TEST = ("fold", "all")


class Within(base.Protocol):
  name = "within"
  title = "Within-person"
  test_part = "within-person test parts"
  pairs_with = "l20wo"
  options = types.MappingProxyType(dict(
      within_test="fold",   # fold: l20wo fold k's people | all: everyone
  ))

  def make(self, pop: Population, cfg: Mapping[str, Any]) -> Dict[str, Any]:
    fold, k, seed = cfg["fold"], cfg["num_folds"], cfg["seed"]
    if cfg["within_test"] not in WITHIN_TEST:
      raise SplitError(f"unknown protocol.within_test {cfg['within_test']!r}; "
                       f"known: {WITHIN_TEST}")
    _, _, tested = folds.cross_fold(pop, fold, k, seed)
    if cfg["within_test"] == "all":
      tested = sorted(pop.workers)
    tested_in = {w: g for g, ws in enumerate(folds.fold_groups(pop, k, seed))
                 for w in ws}
    groups = {w: person_groups.person_groups(pop, w, k, seed, tested_in[w])
              for w in pop.workers}
    val = (fold + 1) % k
    train_groups = [i for i in range(k) if i not in (fold, val)]
    picked = {"train": [(w, i) for w in pop.workers for i in train_groups],
              "val": [(w, val) for w in pop.workers],
              "test": [(w, fold) for w in tested]}
    clips, ranges, owners = {}, {}, {}
    for part, pairs in picked.items():
      clips[part], ranges[part], owners[part] = _collect(groups, pairs)
    # train/val list the workers their windows belong to; test lists the
    # fold's test people (as l20wo fold k does, so report pairs the two by
    # fold; everyone with within_test="all"), even one whose group k is
    # empty.
    blocked = sorted(w for w, g in groups.items() if g.method == "time_blocks")
    extra = {}
    if blocked:
      extra = {**{f"{p}_ranges": ranges[p] for p in base.PARTS},
               "guard_us": person_groups.guard_us(pop),
               "guard_windows": sum(g.guard_windows for g in groups.values()),
               "time_block_workers": blocked}
    return base.parts(owners["train"], owners["val"], tested, clips,
                      **extra)


def _collect(groups: Mapping[str, person_groups.PersonGroups],
             pairs: List[Tuple[str, int]]):
  """(whole clips, {clip: ranges}, workers) of the (worker, group) pairs."""
  clips, ranges, workers = [], {}, set()
  for w, i in pairs:
    for item in groups[w].groups[i]:
      workers.add(w)
      if isinstance(item, str):
        clips.append(item)
      else:
        ranges.setdefault(item[0], []).append([item[1], item[2]])
  return (sorted(clips), {c: sorted(r) for c, r in sorted(ranges.items())},
          workers)
