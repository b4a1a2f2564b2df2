"""What splits are built from: a ``Population`` of workers and their clips.

Read from a prepared dataset's ``manifest.json`` (``from_manifest``) or
built directly (``Population.from_lists``) in tests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple

from egoimu_jax import errors
from egoimu_jax.input_pipeline import timelines

AUTO = "auto"


class SplitError(errors.UserError, ValueError):
  """A split is invalid, or does not match the dataset or config it is used with."""


@dataclasses.dataclass(frozen=True)
class Population:
  """What splits are built from: each worker's clips and break fraction.

  Attributes:
    clips: worker id -> its clip ids.
    stratify_fraction: worker id -> fraction of its windows in the stratifying
      state (derived from the data by default); the stratification key.
    clip_labels: clip id -> the clip's label (its majority state), for every
      clip, or empty when unknown; stratifies the within-person clip groups.
    windows: clip id -> its windows as ``timelines.Run``s (t0 and label of
      each), for every clip, or empty when unknown; within-person time
      blocks are cut from it.
    sessions: clip id -> its session (``session_id`` of index.csv), for the
      clips that have one; a session is dealt whole.
    window_us: the window length in µs (0: unknown); sizes the guard between
      time blocks.
  """

  clips: Mapping[str, Tuple[str, ...]]
  stratify_fraction: Mapping[str, float]
  clip_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
  windows: Mapping[str, Tuple[timelines.Run, ...]] = dataclasses.field(
      default_factory=dict)
  sessions: Mapping[str, str] = dataclasses.field(default_factory=dict)
  window_us: int = 0

  def __post_init__(self):
    missing = set(self.clips) ^ set(self.stratify_fraction)
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
    for w, f in self.stratify_fraction.items():
      if not (0.0 <= f <= 1.0) or math.isnan(f):
        raise SplitError(f"worker {w!r}: break fraction {f} is not in [0, 1]")
    if self.clip_labels:
      unlabelled = sorted(set(owner) - set(self.clip_labels))
      if unlabelled:
        raise SplitError(f"{len(unlabelled)} clips have no clip label, e.g. "
                         f"{unlabelled[:5]}")
    if self.windows and set(self.windows) != set(owner):
      raise SplitError("clip windows must list exactly the population's clips")
    if self.windows and self.window_us <= 0:
      raise SplitError("clip windows need the window length (window_us > 0)")
    stray = sorted(set(self.sessions) - set(owner))
    if stray:
      raise SplitError(f"sessions of clips not in the population: {stray[:5]}")

  @classmethod
  def from_lists(cls, clips: Mapping[str, Iterable[str]],
                 stratify_fraction: Mapping[str, float],
                 clip_labels: Optional[Mapping[str, str]] = None,
                 windows: Optional[Mapping[str, Sequence[timelines.Run]]] = None,
                 sessions: Optional[Mapping[str, str]] = None,
                 window_us: int = 0) -> "Population":
    clips = {str(w): tuple(sorted(map(str, c))) for w, c in clips.items()}
    labels = {str(c): str(x) for c, x in (clip_labels or {}).items()}
    return cls(clips, {str(w): float(f) for w, f in stratify_fraction.items()},
               {c: labels[c] for cs in clips.values() for c in cs if c in labels}
               if labels else {},
               {str(c): tuple(tuple(r) for r in runs)
                for c, runs in (windows or {}).items()},
               {str(c): str(s) for c, s in (sessions or {}).items() if s != ""},
               int(window_us))

  @property
  def workers(self) -> Tuple[str, ...]:
    return tuple(sorted(self.clips))

  def fingerprint(self) -> str:
    """Hash of exactly what a split depends on (worker, clips, break
    fraction and, when known, clip labels, sessions, and clip windows with
    the window length)."""
    rows = [[w, round(self.stratify_fraction[w], 9), sorted(self.clips[w])]
            for w in self.workers]
    for known, of_clip in ((self.clip_labels, self.clip_labels.get),
                           (self.sessions, self.sessions.get),
                           (self.windows, lambda c: self.windows[c])):
      if known:
        for row in rows:
          row.append([of_clip(c) for c in row[2]])
    if self.windows:
      rows.append(self.window_us)
    blob = json.dumps(rows, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()[:24]

  def subset(self, workers: Iterable[str]) -> "Population":
    ws = list(workers)
    kept = [c for w in ws for c in self.clips[w]]
    return Population({w: self.clips[w] for w in ws},
                      {w: self.stratify_fraction[w] for w in ws},
                      {c: self.clip_labels[c] for c in kept}
                      if self.clip_labels else {},
                      {c: self.windows[c] for c in kept} if self.windows else {},
                      {c: self.sessions[c] for c in kept if c in self.sessions},
                      self.window_us)




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
  within-person clip groups are not stratified), each clip's windows
  (``clip_windows``, see ``timelines``; without it no within-person time
  blocks) and sessions (``clip_sessions``).

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
  stratify_fraction = {}
  for w in clips:
    if w not in fractions:
      raise SplitError(f"{source}: worker {w!r} has clips but no state fractions")
    per_label = fractions[w]
    if stratify_label not in per_label:
      classes = sorted(per_label)
      raise SplitError(
          f"{source}: worker {w!r} has no fraction for stratify label "
          f"{stratify_label!r} (has {classes}); set protocol.stratify_label")
    stratify_fraction[w] = per_label[stratify_label]
  labels = manifest.get("clip_labels")
  if labels is not None:  # "": a clip without windows (nothing to stratify).
    labels = {c: labels.get(c, "") for cs in clips.values() for c in cs}
  windows, window_us = None, 0
  if manifest.get("clip_windows") is not None:
    runs = timelines.from_manifest(manifest["clip_windows"],
                                   manifest.get("classes", ()))
    windows = {c: runs.get(c, ()) for cs in clips.values() for c in cs}
    window_us = int(round(float(manifest["window_seconds"]) * 1e6))
  return Population.from_lists(clips, stratify_fraction, labels, windows,
                               manifest.get("clip_sessions"), window_us)


def _first_key(d: Mapping[str, Any], keys: Sequence[str], source: str) -> Any:
  for k in keys:
    if k in d:
      return d[k]
  raise SplitError(f"{source}: has none of {list(keys)}; keys: {sorted(d)}")

