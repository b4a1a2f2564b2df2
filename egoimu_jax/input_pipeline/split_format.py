"""The split file's format: its fields, validation, membership, read/write."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple

from egoimu_jax.input_pipeline import protocols
from egoimu_jax.input_pipeline.population import Population
from egoimu_jax.input_pipeline.population import SplitError
from egoimu_jax.input_pipeline.protocols.base import PARTS

SPLIT_FILE = "split.json"
# Fields whose values define a split; everything else in the dict is derived.
KEY_FIELDS = ("protocol", "fold", "seed", "num_folds", "scale")
# Derived counts and sizes of a split with sub-clip parts (``within``).
DERIVED_FIELDS = ("guard_us", "guard_windows")


def ranges_of(split: Mapping[str, Any], part: str
              ) -> Optional[Mapping[str, Any]]:
  """``<part>_ranges`` ({clip: [[first_t0_us, last_t0_us], ...]}: the
  windows of a clip whose start lies in a range), or None."""
  return split.get(f"{part}_ranges")


def validate_split(split: Mapping[str, Any], pop: Optional[Population] = None,
                   source: str = "split") -> None:
  """Raises ``SplitError`` unless ``split`` is well formed and leak-free.

  Checks: required fields; non-empty parts (a protocol that is not
  ``tested`` has no test part); no clip in two parts, and a clip split in
  time (``<part>_ranges``) in no part whole, its ranges of different parts
  ``guard_us`` apart or more (no window in two parts, guards kept); for
  cross-person protocols, no worker in both train and test (nor in val and
  test, nor train and val); listed clips belong to listed workers; with a
  ``pop``, every id exists in the dataset and ``guard_us`` spans two
  windows.
  """
  missing = [f for f in KEY_FIELDS + ("dataset_fingerprint",) +
             tuple(f"{p}_{x}" for p in PARTS for x in ("workers", "clips"))
             if f not in split]
  if missing:
    raise SplitError(f"{source}: missing fields {missing}")
  name = split["protocol"]
  if name not in protocols.PROTOCOLS:
    raise SplitError(f"{source}: unknown protocol {name!r}")
  protocol = protocols.get(name)
  workers = {p: set(split[f"{p}_workers"]) for p in PARTS}
  for p in PARTS:
    if len(workers[p]) != len(split[f"{p}_workers"]):
      raise SplitError(f"{source}: {p}_workers has duplicates")
  ranges = _check_ranges(split, source)
  for p in PARTS if protocol.tested else ("train", "val"):
    if not workers[p]:
      raise SplitError(f"{source}: no {p} workers")
    if ranges[p]:
      continue
    if split[f"{p}_clips"] is not None and not split[f"{p}_clips"]:
      if ranges[p] is not None:
        raise SplitError(f"{source}: {name} fold {split['fold']} has no {p} "
                         f"windows; use fewer folds (protocol.num_folds)")
      raise SplitError(
          f"{source}: {name} fold {split['fold']} has no {p} clips: its workers have "
          f"fewer clips than protocol.num_folds={split['num_folds']} clip groups; "
          f"use fewer folds or a dataset with more clips per worker (a dataset "
          f"prepared before the manifest's clip_windows cannot be split in "
          f"time: prepare it again)")
  if protocol.cross_person:
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
  whole = set().union(*clip_sets.values()) if clip_sets else set()
  split_in_time = sorted(whole & {c for r in ranges.values() if r for c in r})
  if split_in_time:
    raise SplitError(f"{source}: clips both whole in a part and split in "
                     f"time: {split_in_time[:5]}")
  if pop is None:
    return
  if any(ranges.values()) and split["guard_us"] < 2 * pop.window_us:
    raise SplitError(f"{source}: guard_us {split['guard_us']} is less than "
                     f"two windows ({2 * pop.window_us} µs)")
  known = set(pop.workers)
  for p in PARTS:
    unknown = workers[p] - known
    if unknown:
      raise SplitError(f"{source}: {p}_workers not in the dataset: {sorted(unknown)[:5]}")
  if clip_sets:
    owner = {c: w for w in pop.workers for c in pop.clips[w]}
    for p, s in clip_sets.items():
      stray = sorted(c for c in set(s) | set(ranges[p] or ())
                     if owner.get(c) not in workers[p])
      if stray:
        raise SplitError(
            f"{source}: {p}_clips not in the dataset or not of a {p} worker: {stray[:5]}")


def _check_ranges(split: Mapping[str, Any], source: str
                  ) -> Dict[str, Optional[Mapping[str, Any]]]:
  """Each part's ranges (None: none), checked for form, overlap and guards."""
  ranges = {p: ranges_of(split, p) for p in PARTS}
  if not any(r is not None for r in ranges.values()):
    return ranges
  guard = split.get("guard_us")
  if not isinstance(guard, int) or guard < 0:
    raise SplitError(f"{source}: a split with ranges needs guard_us (µs), "
                     f"got {guard!r}")
  spans: Dict[str, List[Tuple[int, int, str]]] = {}
  for p, r in ranges.items():
    if r is None:
      continue
    if split[f"{p}_clips"] is None:
      raise SplitError(f"{source}: {p}_ranges needs {p}_clips to be a list")
    for clip, pairs in r.items():
      for pair in pairs:
        if (len(pair) != 2 or not all(isinstance(t, int) for t in pair)
            or pair[0] > pair[1]):
          raise SplitError(f"{source}: {p}_ranges[{clip!r}] has {pair!r}, "
                           "not [first_t0_us, last_t0_us]")
        spans.setdefault(clip, []).append((pair[0], pair[1], p))
  for clip, s in spans.items():
    s.sort()
    for (_, last, a), (first, _, b) in zip(s, s[1:]):
      if first <= last or (a != b and first - last < guard):
        raise SplitError(
            f"{source}: clip {clip!r}: {a} windows up to t0={last} µs and "
            f"{b} windows from t0={first} µs overlap or are closer than "
            f"guard_us={guard}")
  return ranges


@dataclasses.dataclass(frozen=True)
class Members:
  """Which records a part of a split holds: by worker, narrowed by clip if
  set, and for clips split in time by the window's start (``ranges``)."""

  workers: frozenset
  clips: Optional[frozenset]
  ranges: Optional[Mapping[str, Tuple[Tuple[int, int], ...]]] = None

  def __contains__(self, window: Tuple) -> bool:
    """``(worker, clip)``, or ``(worker, clip, t0_us)`` for a window."""
    worker, clip = window[:2]
    if self.ranges and clip in self.ranges:
      if len(window) < 3:
        raise ValueError(f"clip {clip!r} is split in time; ask with "
                         "(worker, clip, t0_us)")
      return any(a <= window[2] <= b for a, b in self.ranges[clip])
    if self.clips is not None:
      return clip in self.clips
    return worker in self.workers


def members(split: Mapping[str, Any], part: str) -> Members:
  """The membership test for ``part`` ("train" | "val" | "test")."""
  if part not in PARTS:
    raise ValueError(f"part must be one of {PARTS}, got {part!r}")
  clips = split[f"{part}_clips"]
  ranges = ranges_of(split, part)
  return Members(frozenset(split[f"{part}_workers"]),
                 None if clips is None else frozenset(clips),
                 None if ranges is None else {
                     c: tuple((int(a), int(b)) for a, b in r)
                     for c, r in ranges.items()})


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
