"""One person's data dealt into K groups: by session, by clip or by time.

The within-person protocol (``within.py``) tests group k of a person,
validates on group k+1 and trains on the rest. The unit dealt is, per
person:

* ``sessions``: when index.csv gives the person's clips a ``session_id``,
  each session (a clip without one is its own session) is dealt whole, so
  no session straddles two parts. With fewer sessions than K, one goes to
  the test group and the rest to training groups first (``deal_few_units``).
* ``clips``: a person with at least K clips deals whole clips
  (``folds.clip_groups``).
* ``time_blocks``: a person with fewer clips than K (a few long
  recordings) is cut in time. Their windows in clip and time order are cut
  into K x R contiguous blocks of about equal window count, R = the
  windows per K x ``MIN_BLOCK_WINDOWS`` (1 to ``MAX_ROUNDS``), and the
  blocks are dealt like clips (stratified by each block's majority label).
  Where two blocks of different groups meet inside a clip, windows are
  dropped until one window length of signal separates the two: two kept
  windows of different groups on one clip start ``guard_us`` = 2 x the
  window length apart or more. Dropped windows are counted
  (``guard_windows``) and in no part; the guards do not depend on the fold.

Rules read only the data (clip, session and window counts, labels), never
class names. Without the manifest's ``clip_windows`` (datasets prepared
before it) there are no time blocks and such a person is dealt by clips.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Tuple, Union

from egoimu_jax.input_pipeline import folds
from egoimu_jax.input_pipeline import timelines
from egoimu_jax.input_pipeline.population import Population

# A block is at least this many windows when the person has enough of them.
MIN_BLOCK_WINDOWS = 8
# At most this many blocks per group and person.
MAX_ROUNDS = 4
# A whole clip, or windows (clip, first_t0_us, last_t0_us) of one clip.
Item = Union[str, Tuple[str, int, int]]


@dataclasses.dataclass(frozen=True)
class PersonGroups:
  method: str                 # "sessions" | "clips" | "time_blocks"
  groups: List[List[Item]]    # K groups
  guard_windows: int = 0      # windows dropped between blocks


def guard_us(pop: Population) -> int:
  """Minimum t0 distance of two windows of different parts on one clip."""
  return 2 * pop.window_us


def person_groups(pop: Population, worker: str, num_folds: int, seed: int,
                  test_group: int) -> PersonGroups:
  """``worker``'s data in ``num_folds`` groups (see the module docstring)."""
  clips = pop.clips[worker]
  if any(c in pop.sessions for c in clips):
    sessions: Dict[str, List[str]] = {}
    for c in clips:
      unit = f"s:{pop.sessions[c]}" if c in pop.sessions else f"c:{c}"
      sessions.setdefault(unit, []).append(c)
    units = sorted(sessions)
    if len(units) >= num_folds:
      dealt = folds.deal_units(units, _session_labels(pop, sessions), worker,
                               num_folds, seed, test_group, salt="sessions")
    else:
      dealt = folds.deal_few_units(units, worker, num_folds, seed, test_group)
    return PersonGroups("sessions", [sorted(c for u in g for c in sessions[u])
                                     for g in dealt])
  if len(clips) >= num_folds or not pop.windows:
    return PersonGroups("clips", folds.clip_groups(pop, worker, num_folds,
                                                   seed, test_group))
  return _time_blocks(pop, worker, num_folds, seed, test_group)


def _majority(labels: List[str]) -> str:
  return max(sorted(set(labels)), key=labels.count)


def _session_labels(pop: Population, sessions: Dict[str, List[str]]
                    ) -> Dict[str, str]:
  """Each session's majority label (by windows, else by clip labels)."""
  out = {}
  for unit, clips in sessions.items():
    if pop.windows:
      labels = [y for c in clips for y in timelines.decode(pop.windows[c])[1]]
    else:
      labels = [pop.clip_labels[c] for c in clips if pop.clip_labels]
    if not labels:
      return {}
    out[unit] = _majority(labels)
  return out


def _time_blocks(pop: Population, worker: str, num_folds: int, seed: int,
                 test_group: int) -> PersonGroups:
  windows = [(c, t, y) for c in pop.clips[worker]
             for t, y in zip(*timelines.decode(pop.windows[c]))]
  n = len(windows)
  rounds = max(1, min(MAX_ROUNDS, n // (num_folds * MIN_BLOCK_WINDOWS)))
  count = max(1, min(num_folds * rounds, n))
  cuts = [round(i * n / count) for i in range(count + 1)]
  names = [f"b{i:04d}" for i in range(count)]
  labels = {names[i]: _majority([y for _, _, y in windows[cuts[i]:cuts[i + 1]]])
            for i in range(count) if cuts[i + 1] > cuts[i]}
  dealt = folds.deal_units(list(labels), labels, worker, num_folds, seed,
                           test_group, salt="blocks")
  group_of = {u: g for g, us in enumerate(dealt) for u in us}
  guard = guard_us(pop)
  groups: List[List[Item]] = [[] for _ in range(num_folds)]
  dropped = 0
  last = None   # (clip, t0, group) of the last kept window
  run = None    # the open range [clip, first_t0, last_t0, group]
  for i, name in enumerate(names):
    g = group_of.get(name)
    for c, t, _ in windows[cuts[i]:cuts[i + 1]]:
      if last and last[0] == c and last[2] != g and t - last[1] < guard:
        dropped += 1
        if run:
          groups[run[3]].append(tuple(run[:3]))
          run = None
        continue
      if run and run[0] == c and run[3] == g:
        run[2] = t
      else:
        if run:
          groups[run[3]].append(tuple(run[:3]))
        run = [c, t, t, g]
      last = (c, t, g)
  if run:
    groups[run[3]].append(tuple(run[:3]))
  return PersonGroups("time_blocks", groups, dropped)
