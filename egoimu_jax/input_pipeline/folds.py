"""Worker folds and per-worker clip groups, the building blocks of protocols."""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from egoimu_jax.input_pipeline import orders
from egoimu_jax.input_pipeline.population import Population
from egoimu_jax.input_pipeline.population import SplitError


def fold_groups(pop: Population, num_folds: int, seed: int) -> List[List[str]]:
  """Deals workers into ``num_folds`` groups stratified by break fraction.

  Workers sorted by break fraction (ties broken at random) are cut into blocks
  of ``num_folds`` neighbours; each block is dealt to the groups in a seeded
  random order. The last, partial block goes to a random subset of groups, so
  group sizes differ by at most one.
  """
  if num_folds < 1:
    raise SplitError(f"num_folds must be >= 1, got {num_folds}")
  ranked = sorted(pop.workers,
                  key=lambda w: (pop.stratify_fraction[w], orders.hash_key(seed, "tie", w)))
  groups: List[List[str]] = [[] for _ in range(num_folds)]
  for start in range(0, len(ranked), num_folds):
    order = orders.hash_order(range(num_folds), seed, "deal", start)
    for worker, g in zip(ranked[start:start + num_folds], order):
      groups[g].append(worker)
  return [sorted(g) for g in groups]


def cross_fold(pop: Population, fold: int, num_folds: int, seed: int
               ) -> Tuple[List[str], List[str], List[str]]:
  """(train, val, test) workers of fold ``fold`` of the K-fold grouping."""
  if num_folds < 3:
    raise SplitError(f"num_folds must be >= 3 (train, val and test groups), got {num_folds}")
  if not 0 <= fold < num_folds:
    raise SplitError(f"fold {fold} is not in [0, {num_folds})")
  if len(pop.workers) < num_folds:
    raise SplitError(
        f"{len(pop.workers)} workers cannot fill {num_folds} folds; lower protocol.num_folds")
  groups = fold_groups(pop, num_folds, seed)
  test, val = groups[fold], groups[(fold + 1) % num_folds]
  train = sorted(w for i, g in enumerate(groups)
                 if i not in (fold, (fold + 1) % num_folds) for w in g)
  return train, val, test


def clip_groups(pop: Population, worker: str, num_folds: int, seed: int,
                test_group: int) -> List[List[str]]:
  """Deals one worker's clips into ``num_folds`` groups (``deal_units`` of
  its clips, stratified by clip label when the population has them)."""
  return deal_units(pop.clips[worker], pop.clip_labels, worker, num_folds,
                    seed, test_group)


def deal_units(units: Sequence[str], labels: Mapping[str, str], worker: str,
               num_folds: int, seed: int, test_group: int,
               salt: str = "clips") -> List[List[str]]:
  """Deals one worker's units (clips, sessions, time blocks) into
  ``num_folds`` groups (seeded, sizes +-1).

  ``test_group`` is the group the worker is tested on (its l20wo fold); the
  next one validates and the rest train. Units are dealt round-robin in a
  seeded order. With ``labels`` (unit -> label) the order is stratified
  (sorted by label, most frequent first), so each label's units are spread
  over the groups (+-1), and ``_train_tested_labels`` then swaps units so
  that the test group holds no label the worker's training groups lack,
  where the units allow it.
  """
  units = orders.hash_order(units, seed, salt, worker)
  if labels:
    count: Dict[str, int] = {}
    for c in units:
      count[labels[c]] = count.get(labels[c], 0) + 1
    order = {x: i for i, x in enumerate(
        orders.hash_order(sorted(count), seed, "labels", worker))}
    units.sort(key=lambda c: (-count[labels[c]], order[labels[c]]))
  offset = int.from_bytes(orders.hash_key(seed, "offset", worker), "big") % num_folds
  groups: List[List[str]] = [[] for _ in range(num_folds)]
  for i, c in enumerate(units):
    groups[(i + offset) % num_folds].append(c)
  if labels:
    _train_tested_labels(groups, labels, test_group)
  return groups


def deal_few_units(units: Sequence[str], worker: str, num_folds: int,
                   seed: int, test_group: int) -> List[List[str]]:
  """Deals fewer units than groups so that the worker is tested and
  trained on in its test fold: one unit to ``test_group``, then one to each
  training group, the validation group last; a single unit trains."""
  val = (test_group + 1) % num_folds
  train = [g % num_folds for g in range(test_group + 2, test_group + num_folds)]
  targets = ([test_group] if len(units) > 1 else []) + train + [val]
  groups: List[List[str]] = [[] for _ in range(num_folds)]
  for c, g in zip(orders.hash_order(units, seed, "few", worker), targets):
    groups[g].append(c)
  return groups


def _train_tested_labels(groups: List[List[str]], labels: Mapping[str, str],
                         test: int) -> None:
  """Swaps clips between groups (sizes kept) until every label in group
  ``test`` is also in a training group (all groups but ``test`` and the
  validation group after it), where possible.

  For a test clip whose label L the training groups lack: a clip of L in
  the validation group trains instead of a training clip whose label is not
  needed there (not tested, or trained on twice); else the test clip
  changes places with a training clip of a label trained on twice (the test
  clip then trains), or with a validation clip of a trained label. Swapped
  out are clips from groups that hold their label twice or more first, then
  of the most trained labels, so the per-label spread suffers least.
  """
  k = len(groups)
  val = (test + 1) % k
  train = [g for g in range(k) if g not in (test, val)]
  trained: Dict[str, int] = {}
  tested: Dict[str, int] = {}
  for g in train:
    for c in groups[g]:
      trained[labels[c]] = trained.get(labels[c], 0) + 1
  for c in groups[test]:
    tested[labels[c]] = tested.get(labels[c], 0) + 1

  def best(candidates, ok) -> Optional[Tuple[int, str]]:
    """The (group, clip) to swap out: of a label ``ok`` allows, preferring
    groups that hold its label twice, then the most trained label."""
    out = []
    for g in candidates:
      held: Dict[str, int] = {}
      for c in groups[g]:
        held[labels[c]] = held.get(labels[c], 0) + 1
      out += [((held[labels[c]] < 2, -trained.get(labels[c], 0)), g, c)
              for c in groups[g] if ok(g, labels[c])]
    return min(out, key=lambda t: t[0])[1:] if out else None

  def move(c: str, src: int, dst: int) -> None:
    groups[src].remove(c)
    groups[dst].append(c)
    for g, sign in ((src, -1), (dst, 1)):
      counter = trained if g in train else tested if g == test else None
      if counter is not None:
        counter[labels[c]] = counter.get(labels[c], 0) + sign

  for x in list(groups[test]):
    label = labels[x]
    if trained.get(label, 0):
      continue
    in_val = [c for c in groups[val] if labels[c] == label]
    swap = in_val and best(train, lambda g, m: not tested.get(m) or
                           trained.get(m, 0) > 1)
    if swap:
      move(in_val[0], val, swap[0])
      move(swap[1], swap[0], val)
      continue
    swap = best(train + [val], lambda g, m: trained.get(m, 0) > (g != val))
    if swap:
      move(x, test, swap[0])
      move(swap[1], swap[0], test)


