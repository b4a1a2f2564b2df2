"""The split file's format: its fields, validation, membership, read/write."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, Mapping, Optional, Tuple

from egoimu_jax.input_pipeline import protocols
from egoimu_jax.input_pipeline.population import Population
from egoimu_jax.input_pipeline.population import SplitError
from egoimu_jax.input_pipeline.protocols.base import PARTS

SPLIT_FILE = "split.json"
# Fields whose values define a split; everything else in the dict is derived.
KEY_FIELDS = ("protocol", "fold", "seed", "num_folds", "scale")


def validate_split(split: Mapping[str, Any], pop: Optional[Population] = None,
                   source: str = "split") -> None:
  """Raises ``SplitError`` unless ``split`` is well formed and leak-free.

  Checks: required fields; non-empty parts (a protocol that is not
  ``tested`` has no test part); no clip in two parts; for cross-person protocols, no worker in both train and test (nor in val
  and test, nor train and val); listed clips belong to listed workers; with a
  ``pop``, every id exists in the dataset.
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
  for p in PARTS if protocol.tested else ("train", "val"):
    if not workers[p]:
      raise SplitError(f"{source}: no {p} workers")
    if split[f"{p}_clips"] is not None and not split[f"{p}_clips"]:
      raise SplitError(
          f"{source}: {name} fold {split['fold']} has no {p} clips: its workers have "
          f"fewer clips than protocol.num_folds={split['num_folds']} clip groups; "
          f"use fewer folds or a dataset with more clips per worker")
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
