"""Train/val/test splits of workers (and clips), as data (Contract 2).

A split is a JSON dict written into the run's workdir as ``split.json``::

  {"protocol": "l20wo", "fold": 0, "seed": 0, "num_folds": 5, "scale": -1.0,
   "dataset_fingerprint": "...",
   "train_workers": [...], "val_workers": [...], "test_workers": [...],
   "train_clips": null, "val_clips": null, "test_clips": null}

``*_clips`` is null where a part is "every clip of its workers" (the
pipeline selects records with ``record_table.split_indices``; ``members`` is
the same rule as a predicate). ``num_folds`` and ``scale`` (and
``pretrain_*`` for ``pretrain``) extend Contract 2's fields: they change the
content, so a reloaded split is checked against them too.

Every split is a pure function of a ``Population`` (workers, their clips,
break fractions and clip labels), the protocol config and a seed. Orders are drawn from keyed
hashes (``_hash_order``), not from a NumPy generator, so a split does not
change with the NumPy version and ``split.json`` files stay reproducible.

Protocols (``config.protocol.name``), K = ``protocol.num_folds`` (default 5):

* ``l20wo`` — leave 20% of workers out. Workers are dealt into K groups,
  stratified by break fraction: sorted by break fraction, cut into blocks of
  K neighbours, and each block is dealt to the K groups in a seeded random
  order (permuted-block dealing). Each group thus holds one worker from every
  block, so no group gets all the hard workers. Fold k tests on group k,
  validates on group (k+1) mod K and trains on the other K-2 groups (60/20/20
  at K=5); every worker is tested exactly once and validated exactly once
  over the K folds.
* ``within`` — within-person. Each worker's *clips* (never windows, so that
  adjacent windows cannot leak) are dealt into K seeded clip groups
  (``_clip_groups``; stratified by the clip's label when the population
  has clip labels). Fold k
  tests on clip group k of the *same test workers as l20wo fold k*, validates
  on clip group k+1 of all workers and trains on the other K-2 clip groups of
  all workers. Clip group k of the other workers is left unused; the split's
  ``test_workers`` are l20wo fold k's (one with fewer than K clips may have
  no clip in group k). Why: the
  test population and the training volume (about (K-2)/K of all clips) match
  l20wo fold k, so the generalisation gap ``within_k - cross_k`` is a paired
  difference that isolates one thing, whether the test person was seen in
  training.
* ``lowo`` — leave one worker out, over a chosen subset: ``protocol.
  lowo_workers``, or ``protocol.lowo_count`` workers picked by ``protocol.
  lowo_rule`` (``most_clips``, ``most_break``, or ``spread``: evenly spaced in
  break fraction). Fold k tests on the k-th chosen worker; val is one
  stratified group (1/K) of the others; the rest train.
* ``worker_scaling`` — test and val as l20wo fold k; training workers are the
  first n of a seeded, break-fraction-stratified order of fold k's training
  workers, so the sets are nested across scales.
* ``data_scaling`` — test and val as l20wo fold k; training clips are the first
  n of a seeded round-robin over fold k's training workers (one clip from each
  worker per round), so the subsets are nested across scales and every subset
  spreads over all training workers as evenly as it can: data scaling varies
  clips per worker at a fixed worker pool, worker scaling the reverse.
* ``pretrain`` — self-supervised pretraining, labels unused. The population
  is every worker (``protocol.pretrain_on="all"``: train, val and test
  workers of every fold, Experiment D in the README) or fold k's l20wo
  training workers only (``"train"``, to measure what seeing the unlabeled
  test people is worth). A ``protocol.pretrain_val_fraction`` of its clips,
  dealt round-robin over workers, is held out to monitor the reconstruction
  loss; the rest train. There is no test part.

``protocol.scale`` for the scaling protocols: ``> 1`` is a count (workers or
clips), ``(0, 1]`` a fraction of fold k's pool, ``< 0`` the whole pool. The
pool is (K-2)/K of the workers; the full dataset's 800 training workers of about
1,000 need ``num_folds=10`` (80/10/10).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

PROTOCOLS = ("l20wo", "within", "lowo", "worker_scaling", "data_scaling",
             "pretrain")
PRETRAIN_ON = ("all", "train")
# Protocols whose train and test people must be disjoint.
CROSS_PERSON = frozenset({"l20wo", "lowo", "worker_scaling", "data_scaling"})
LOWO_RULES = ("most_clips", "most_break", "spread")
PARTS = ("train", "val", "test")
SPLIT_FILE = "split.json"
# Fields whose values define a split; everything else in the dict is derived.
_KEY_FIELDS = ("protocol", "fold", "seed", "num_folds", "scale")


class SplitError(ValueError):
  """A split is invalid, or does not match the dataset or config it is used with."""


@dataclasses.dataclass(frozen=True)
class Population:
  """What splits are built from: each worker's clips and break fraction.

  Attributes:
    clips: worker id -> its clip ids.
    break_fraction: worker id -> fraction of its windows in the stratifying
      state (derived from the data by default); the stratification key.
    clip_labels: clip id -> the clip's label (its majority state), for every
      clip, or empty when unknown; stratifies the within-person clip groups.
  """

  clips: Mapping[str, Tuple[str, ...]]
  break_fraction: Mapping[str, float]
  clip_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    missing = set(self.clips) ^ set(self.break_fraction)
    if missing:
      raise SplitError(
          f"workers without both clips and a break fraction: {sorted(missing)[:5]}")
    if len(self.clips) < 1:
      raise SplitError("a population needs at least one worker")
    owner: Dict[str, str] = {}
    for w, clips in self.clips.items():
      for c in clips:
        if owner.setdefault(c, w) != w:
          raise SplitError(f"clip {c!r} belongs to two workers: {owner[c]!r} and {w!r}")
    for w, f in self.break_fraction.items():
      if not (0.0 <= f <= 1.0) or math.isnan(f):
        raise SplitError(f"worker {w!r}: break fraction {f} is not in [0, 1]")
    if self.clip_labels:
      unlabelled = sorted(set(owner) - set(self.clip_labels))
      if unlabelled:
        raise SplitError(f"{len(unlabelled)} clips have no clip label, e.g. "
                         f"{unlabelled[:5]}")

  @classmethod
  def from_lists(cls, clips: Mapping[str, Iterable[str]],
                 break_fraction: Mapping[str, float],
                 clip_labels: Optional[Mapping[str, str]] = None
                 ) -> "Population":
    clips = {str(w): tuple(sorted(map(str, c))) for w, c in clips.items()}
    labels = {str(c): str(x) for c, x in (clip_labels or {}).items()}
    return cls(clips, {str(w): float(f) for w, f in break_fraction.items()},
               {c: labels[c] for cs in clips.values() for c in cs if c in labels}
               if labels else {})

  @property
  def workers(self) -> Tuple[str, ...]:
    return tuple(sorted(self.clips))

  def fingerprint(self) -> str:
    """Hash of exactly what a split depends on (worker, clips, break
    fraction and, when known, clip labels)."""
    rows = [[w, round(self.break_fraction[w], 9), sorted(self.clips[w])]
            for w in self.workers]
    if self.clip_labels:
      for row in rows:
        row.append([self.clip_labels[c] for c in row[2]])
    blob = json.dumps(rows, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()[:24]

  def subset(self, workers: Iterable[str]) -> "Population":
    ws = list(workers)
    return Population({w: self.clips[w] for w in ws},
                      {w: self.break_fraction[w] for w in ws},
                      {c: self.clip_labels[c] for w in ws for c in self.clips[w]}
                      if self.clip_labels else {})


AUTO = "auto"


def auto_stratify_label(fractions: Mapping[str, Mapping[str, float]],
                        classes: Sequence[str] = ()) -> str:
  """The class folds are stratified by when the config names none.

  Derived from the data, never from class names: among the classes other
  than the most frequent one (whose share is mostly the complement of the
  others), the one whose per-worker share varies most across workers, so
  the people who do a lot or little of it are spread over the folds. One
  class: that class. Ties go to the first in ``classes`` order.
  """
  names = list(classes) or sorted({c for f in fractions.values() for c in f})
  share = {c: [float(f.get(c, 0.0)) for f in fractions.values()]
           for c in names}
  if len(names) == 1:
    return names[0]
  majority = max(names, key=lambda c: sum(share[c]))
  rest = [c for c in names if c != majority]

  def spread(c):
    v = share[c]
    m = sum(v) / len(v)
    return sum((x - m) ** 2 for x in v) / len(v)

  return max(rest, key=spread)


def from_manifest(manifest: Mapping[str, Any], stratify_label: str = AUTO,
                  source: str = "manifest") -> Population:
  """Reads a ``Population`` from a prepared dataset's ``manifest.json`` dict.

  Uses the manifest's per-worker clip lists (``worker_clips``: the clips
  that made it into the shards), per-worker state fractions
  (``state_fractions``: worker -> {state: fraction}, optionally nested under
  ``per_worker``) and, when present, each clip's majority state
  (``clip_labels``; manifests written before it have none, and their
  within-person clip groups are not stratified).

  Args:
    manifest: the parsed manifest (``input_pipeline.manifest.load``).
    stratify_label: the state whose per-worker fraction stratifies folds;
      ``"auto"`` (or ``""``): ``auto_stratify_label`` of the data.
    source: a name for error messages (e.g. the manifest's path).
  """
  clips = _first_key(manifest, ("worker_clips", "clips_per_worker"), source)
  fractions = _first_key(manifest, ("state_fractions",), source)
  if isinstance(fractions.get("per_worker"), Mapping):
    fractions = fractions["per_worker"]
  if stratify_label in ("", AUTO):
    stratify_label = auto_stratify_label(
        {w: fractions[w] for w in clips if w in fractions},
        manifest.get("classes", ()))
  break_fraction = {}
  for w in clips:
    if w not in fractions:
      raise SplitError(f"{source}: worker {w!r} has clips but no state fractions")
    per_label = fractions[w]
    if stratify_label not in per_label:
      classes = sorted(per_label)
      raise SplitError(
          f"{source}: worker {w!r} has no fraction for stratify label "
          f"{stratify_label!r} (has {classes}); set protocol.stratify_label")
    break_fraction[w] = per_label[stratify_label]
  labels = manifest.get("clip_labels")
  if labels is not None:  # "": a clip without windows (nothing to stratify).
    labels = {c: labels.get(c, "") for cs in clips.values() for c in cs}
  return Population.from_lists(clips, break_fraction, labels)


def _first_key(d: Mapping[str, Any], keys: Sequence[str], source: str) -> Any:
  for k in keys:
    if k in d:
      return d[k]
  raise SplitError(f"{source}: has none of {list(keys)}; keys: {sorted(d)}")


# --- Seeded, NumPy-free orders ------------------------------------------------


def _hash_key(*parts: Any) -> bytes:
  return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()


def _hash_order(items: Iterable[Any], *salt: Any) -> List[Any]:
  """A seeded random permutation of ``items``: sorted by ``_hash_key(*salt, x)``."""
  # Same digests as _hash_key, with the salt hashed once (500K clips: ~3x faster).
  prefix = hashlib.blake2b("\x1f".join(map(str, salt + ("",))).encode(), digest_size=8)

  def key(x):
    h = prefix.copy()
    h.update(str(x).encode())
    return h.digest()

  return sorted(items, key=key)


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
                  key=lambda w: (pop.break_fraction[w], _hash_key(seed, "tie", w)))
  groups: List[List[str]] = [[] for _ in range(num_folds)]
  for start in range(0, len(ranked), num_folds):
    order = _hash_order(range(num_folds), seed, "deal", start)
    for worker, g in zip(ranked[start:start + num_folds], order):
      groups[g].append(worker)
  return [sorted(g) for g in groups]


def _stratified_order(pop: Population, workers: Sequence[str], *salt: Any,
                      num_strata: int = 8) -> List[str]:
  """An order of ``workers`` whose every prefix is spread over break fraction.

  Workers sorted by break fraction are cut into ``num_strata`` contiguous
  strata; the order takes one worker from each stratum per round (strata and
  workers within them in seeded random order). A prefix of length n thus has
  n/num_strata workers (+-1) from every stratum.
  """
  ranked = sorted(workers, key=lambda w: (pop.break_fraction[w], _hash_key(*salt, "tie", w)))
  s = max(1, min(num_strata, len(ranked)))
  bounds = [round(i * len(ranked) / s) for i in range(s + 1)]
  strata = [_hash_order(ranked[bounds[i]:bounds[i + 1]], *salt, "stratum", i)
            for i in range(s)]
  return _round_robin(strata, *salt)


def _round_robin(lists: Sequence[Sequence[Any]], *salt: Any) -> List[Any]:
  """Takes one item from each list per round, lists in a seeded order per round."""
  out = []
  for r in range(max((len(x) for x in lists), default=0)):
    for i in _hash_order(range(len(lists)), *salt, "round", r):
      if r < len(lists[i]):
        out.append(lists[i][r])
  return out


# --- Protocols ----------------------------------------------------------------


def _cross_fold(pop: Population, fold: int, num_folds: int, seed: int
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


def _clip_groups(pop: Population, worker: str, num_folds: int, seed: int,
                 test_group: int) -> List[List[str]]:
  """Deals one worker's clips into ``num_folds`` groups (seeded, sizes +-1).

  ``test_group`` is the group the worker is tested on (its l20wo fold); the
  next one validates and the rest train. Clips are dealt round-robin in a
  seeded order. With clip labels the order is stratified (sorted by label,
  most frequent first), so each label's clips are spread over the groups
  (+-1), and ``_train_tested_labels`` then swaps clips so that the test
  group holds no label the worker's training groups lack, where the clips
  allow it.
  """
  clips = _hash_order(pop.clips[worker], seed, "clips", worker)
  labels = pop.clip_labels
  if labels:
    count: Dict[str, int] = {}
    for c in clips:
      count[labels[c]] = count.get(labels[c], 0) + 1
    order = {x: i for i, x in enumerate(
        _hash_order(sorted(count), seed, "labels", worker))}
    clips.sort(key=lambda c: (-count[labels[c]], order[labels[c]]))
  offset = int.from_bytes(_hash_key(seed, "offset", worker), "big") % num_folds
  groups: List[List[str]] = [[] for _ in range(num_folds)]
  for i, c in enumerate(clips):
    groups[(i + offset) % num_folds].append(c)
  if labels:
    _train_tested_labels(groups, labels, test_group)
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


def resolve_scale(scale: float, pool: int, what: str, fold: int) -> int:
  """Turns ``protocol.scale`` (count, fraction or < 0 for all) into a count."""
  if scale < 0:
    return pool
  if scale == 0:
    raise SplitError(f"protocol.scale must be > 0 (or < 0 for all), got {scale}")
  if scale <= 1:
    return max(1, round(scale * pool))
  if scale != int(scale):
    raise SplitError(f"protocol.scale {scale} > 1 must be a whole count of {what}")
  if scale > pool:
    raise SplitError(
        f"protocol.scale asks for {int(scale)} training {what}, but fold {fold}'s "
        f"pool has only {pool}; use a fraction in (0, 1], or more folds "
        f"(protocol.num_folds) for a larger training pool")
  return int(scale)


def _lowo_choice(pop: Population, cfg: Mapping[str, Any]) -> List[str]:
  explicit = [str(w) for w in cfg.get("lowo_workers", ()) or ()]
  if explicit:
    unknown = sorted(set(explicit) - set(pop.workers))
    if unknown:
      raise SplitError(f"protocol.lowo_workers not in the dataset: {unknown}")
    if len(set(explicit)) != len(explicit):
      raise SplitError(f"protocol.lowo_workers has duplicates: {explicit}")
    return explicit
  count = int(cfg.get("lowo_count", 10))
  rule = cfg.get("lowo_rule", "most_clips")
  if count < 1:
    raise SplitError(f"protocol.lowo_count must be >= 1, got {count}")
  count = min(count, len(pop.workers))
  if rule == "most_clips":
    return sorted(pop.workers, key=lambda w: (-len(pop.clips[w]), w))[:count]
  if rule == "most_break":
    return sorted(pop.workers, key=lambda w: (-pop.break_fraction[w], w))[:count]
  if rule == "spread":
    ranked = sorted(pop.workers, key=lambda w: (pop.break_fraction[w], w))
    n = len(ranked)
    return [ranked[min(n - 1, int((i + 0.5) * n / count))] for i in range(count)]
  raise SplitError(f"unknown protocol.lowo_rule {rule!r}; known: {LOWO_RULES}")


def make_split(protocol_cfg: Mapping[str, Any], manifest: Any) -> Dict[str, Any]:
  """Builds the split a protocol config asks for.

  Args:
    protocol_cfg: ``config.protocol`` (name, fold, num_folds, seed, scale,
      lowo_*, stratify_label); a ConfigDict or a dict.
    manifest: a ``Population``, or a manifest dict (see ``from_manifest``).

  Returns:
    The split dict (Contract 2), validated.
  """
  cfg = dict(protocol_cfg)
  pop = manifest if isinstance(manifest, Population) else from_manifest(
      manifest, cfg.get("stratify_label", AUTO))
  name = cfg.get("name", "l20wo")
  fold, seed = int(cfg.get("fold", 0)), int(cfg.get("seed", 0))
  k = int(cfg.get("num_folds", 5))
  scale = float(cfg.get("scale", -1.0))
  clips: Dict[str, Optional[List[str]]] = {p: None for p in PARTS}

  if name == "l20wo":
    train, val, test = _cross_fold(pop, fold, k, seed)
  elif name == "within":
    _, _, cross_test = _cross_fold(pop, fold, k, seed)
    tested_in = {w: g for g, ws in enumerate(fold_groups(pop, k, seed))
                 for w in ws}
    groups = {w: _clip_groups(pop, w, k, seed, tested_in[w])
              for w in pop.workers}
    train_groups = [i for i in range(k) if i not in (fold, (fold + 1) % k)]
    clips["test"] = sorted(c for w in cross_test for c in groups[w][fold])
    clips["val"] = sorted(c for w in pop.workers for c in groups[w][(fold + 1) % k])
    clips["train"] = sorted(c for w in pop.workers for i in train_groups
                            for c in groups[w][i])
    # train/val list the workers their clips belong to; test lists the fold's
    # test people (as l20wo fold k does, so report pairs the two by fold),
    # even one whose few clips left clip group k empty.
    owner = {c: w for w in pop.workers for c in pop.clips[w]}
    train, val = ({owner[c] for c in clips[p]} for p in ("train", "val"))
    test = cross_test
  elif name == "lowo":
    chosen = _lowo_choice(pop, cfg)
    if not 0 <= fold < len(chosen):
      raise SplitError(f"lowo fold {fold} is not in [0, {len(chosen)}): "
                       f"{len(chosen)} workers are left out in turn")
    test = [chosen[fold]]
    rest = [w for w in pop.workers if w != test[0]]
    if len(rest) < 2:
      raise SplitError("lowo needs at least 3 workers (train, val, test)")
    val = fold_groups(pop.subset(rest), min(k, len(rest)), seed)[0]
    train = sorted(set(rest) - set(val))
  elif name == "worker_scaling":
    pool, val, test = _cross_fold(pop, fold, k, seed)
    order = _stratified_order(pop, pool, seed, "workers", fold)
    train = sorted(order[:resolve_scale(scale, len(pool), "workers", fold)])
  elif name == "data_scaling":
    pool, val, test = _cross_fold(pop, fold, k, seed)
    per_worker = [_hash_order(pop.clips[w], seed, "data", w)
                  for w in _hash_order(pool, seed, "data_workers", fold)]
    order = _round_robin(per_worker, seed, "data", fold)
    clips["train"] = sorted(order[:resolve_scale(scale, len(order), "clips", fold)])
    owner = {c: w for w in pool for c in pop.clips[w]}
    train = sorted({owner[c] for c in clips["train"]})
  elif name == "pretrain":
    on = cfg.get("pretrain_on", "all")
    if on not in PRETRAIN_ON:
      raise SplitError(f"unknown protocol.pretrain_on {on!r}; known: "
                       f"{PRETRAIN_ON}")
    pool = list(pop.workers) if on == "all" else _cross_fold(pop, fold, k,
                                                             seed)[0]
    per_worker = [_hash_order(pop.clips[w], seed, "pretrain", w)
                  for w in _hash_order(pool, seed, "pretrain_workers", fold)]
    order = _round_robin(per_worker, seed, "pretrain", fold)
    fraction = float(cfg.get("pretrain_val_fraction", 0.1))
    n_val = min(len(order) - 1, max(1, round(fraction * len(order))))
    if n_val < 1:
      raise SplitError("pretrain needs at least 2 clips (train and val)")
    clips["val"], clips["train"] = sorted(order[:n_val]), sorted(order[n_val:])
    owner = {c: w for w in pool for c in pop.clips[w]}
    train, val = ({owner[c] for c in clips[p]} for p in ("train", "val"))
    test = []
  else:
    raise SplitError(f"unknown protocol.name {name!r}; known: {PROTOCOLS}")

  split = {
      "protocol": name, "fold": fold, "seed": seed, "num_folds": k,
      "scale": scale, "dataset_fingerprint": pop.fingerprint(),
      "train_workers": sorted(train), "val_workers": sorted(val),
      "test_workers": sorted(test),
      "train_clips": clips["train"], "val_clips": clips["val"],
      "test_clips": clips["test"],
  }
  if name == "pretrain":
    split["pretrain_on"] = on
    split["pretrain_val_fraction"] = fraction
  validate_split(split, pop)
  return split


# --- Validation, membership, files --------------------------------------------


def validate_split(split: Mapping[str, Any], pop: Optional[Population] = None,
                   source: str = "split") -> None:
  """Raises ``SplitError`` unless ``split`` is well formed and leak-free.

  Checks: required fields; non-empty parts (pretrain has no test part); no
  clip in two parts;
  for cross-person protocols, no worker in both train and test (nor in val
  and test, nor train and val); listed clips belong to listed workers; with a
  ``pop``, every id exists in the dataset.
  """
  missing = [f for f in _KEY_FIELDS + ("dataset_fingerprint",) +
             tuple(f"{p}_{x}" for p in PARTS for x in ("workers", "clips"))
             if f not in split]
  if missing:
    raise SplitError(f"{source}: missing fields {missing}")
  name = split["protocol"]
  if name not in PROTOCOLS:
    raise SplitError(f"{source}: unknown protocol {name!r}")
  workers = {p: set(split[f"{p}_workers"]) for p in PARTS}
  for p in PARTS:
    if len(workers[p]) != len(split[f"{p}_workers"]):
      raise SplitError(f"{source}: {p}_workers has duplicates")
  for p in ("train", "val") if name == "pretrain" else PARTS:
    if not workers[p]:
      raise SplitError(f"{source}: no {p} workers")
    if split[f"{p}_clips"] is not None and not split[f"{p}_clips"]:
      raise SplitError(
          f"{source}: {name} fold {split['fold']} has no {p} clips: its workers have "
          f"fewer clips than protocol.num_folds={split['num_folds']} clip groups; "
          f"use fewer folds or a dataset with more clips per worker")
  if name in CROSS_PERSON:
    for a, b in (("train", "test"), ("val", "test"), ("train", "val")):
      both = workers[a] & workers[b]
      if both:
        raise SplitError(
            f"{source}: cross-person protocol {name!r} has {len(both)} workers in "
            f"both {a} and {b} (e.g. {sorted(both)[:5]}); the test people must be "
            f"unseen")
  clip_sets = {p: set(split[f"{p}_clips"]) for p in PARTS
               if split[f"{p}_clips"] is not None}
  for p, s in clip_sets.items():
    if len(s) != len(split[f"{p}_clips"]):
      raise SplitError(f"{source}: {p}_clips has duplicates")
  for a, b in (("train", "test"), ("val", "test"), ("train", "val")):
    if a in clip_sets and b in clip_sets and clip_sets[a] & clip_sets[b]:
      both = sorted(clip_sets[a] & clip_sets[b])
      raise SplitError(f"{source}: clips in both {a} and {b}: {both[:5]}")
  if pop is None:
    return
  known = set(pop.workers)
  for p in PARTS:
    unknown = workers[p] - known
    if unknown:
      raise SplitError(f"{source}: {p}_workers not in the dataset: {sorted(unknown)[:5]}")
  if clip_sets:
    owner = {c: w for w in pop.workers for c in pop.clips[w]}
    for p, s in clip_sets.items():
      stray = sorted(c for c in s if owner.get(c) not in workers[p])
      if stray:
        raise SplitError(
            f"{source}: {p}_clips not in the dataset or not of a {p} worker: {stray[:5]}")


@dataclasses.dataclass(frozen=True)
class Members:
  """Which records a part of a split holds: by worker, narrowed by clip if set."""

  workers: frozenset
  clips: Optional[frozenset]

  def __contains__(self, worker_and_clip: Tuple[str, str]) -> bool:
    worker, clip = worker_and_clip
    if self.clips is not None:
      return clip in self.clips
    return worker in self.workers


def members(split: Mapping[str, Any], part: str) -> Members:
  """The membership test for ``part`` ("train" | "val" | "test")."""
  if part not in PARTS:
    raise ValueError(f"part must be one of {PARTS}, got {part!r}")
  clips = split[f"{part}_clips"]
  return Members(frozenset(split[f"{part}_workers"]),
                 None if clips is None else frozenset(clips))


def read_split(path: str) -> Dict[str, Any]:
  try:
    with open(path) as f:
      split = json.load(f)
  except json.JSONDecodeError as e:
    raise SplitError(f"{path}: not valid JSON ({e})") from e
  validate_split(split, source=path)
  return split


def write_split(path: str, split: Mapping[str, Any]) -> None:
  """Writes atomically, so a concurrent reader never sees half a file."""
  tmp = f"{path}.tmp.{os.getpid()}"
  with open(tmp, "w") as f:
    json.dump(split, f, indent=1)
    f.write("\n")
  os.replace(tmp, path)


def load_or_create_split(workdir: str, protocol_cfg: Mapping[str, Any],
                         manifest: Any) -> Dict[str, Any]:
  """Returns the run's split: creates ``workdir/split.json``, or re-checks it.

  An existing file must match the config (protocol, fold, seed, num_folds,
  scale), the dataset (fingerprint) and be exactly what ``make_split`` builds
  now; anything else is a ``SplitError`` naming the file and the difference.
  """
  expected = make_split(protocol_cfg, manifest)
  path = os.path.join(workdir, SPLIT_FILE)
  if not os.path.exists(path):
    os.makedirs(workdir, exist_ok=True)
    write_split(path, expected)
    return expected
  found = read_split(path)
  if found["dataset_fingerprint"] != expected["dataset_fingerprint"]:
    raise SplitError(
        f"{path} was made for dataset {found['dataset_fingerprint']}, but the "
        f"dataset now is {expected['dataset_fingerprint']}; use a fresh workdir")
  # Config-like fields first (protocol, fold, seed, ..., pretrain_on), for a
  # clear message; then the id lists.
  for key in [k for k in expected if not isinstance(expected[k], list)
              and k != "dataset_fingerprint"]:
    if found.get(key) != expected[key]:
      raise SplitError(f"{path}: {key} is {found.get(key)!r} but the config asks for "
                       f"{expected[key]!r}; use a fresh workdir")
  # Equal to a freshly built (hence validated) split: valid for this dataset.
  diff = [k for k in expected if found.get(k) != expected[k]]
  if diff:
    raise SplitError(
        f"{path}: same dataset and config but different content in {diff}; it was "
        f"written by another version of the split code or edited by hand")
  return found
