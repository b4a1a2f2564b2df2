"""Within-person splits for any recording structure: few long recordings are
split in guarded time blocks, sessions are dealt whole, many clips as before;
sub-clip parts in the split file are validated and honoured by membership."""

import random

import numpy as np
import pytest

from egoimu_jax.config_lib import protocol_config
from egoimu_jax.input_pipeline import split_format
from egoimu_jax.input_pipeline import splits
from egoimu_jax.input_pipeline import timelines
from egoimu_jax.input_pipeline.protocols import person_groups
from egoimu_jax.input_pipeline.store import record_table

WINDOW_US = 5_000_000
CLASSES = "ABCDEF"


def recordings(num_workers=30, clips_per_worker=2, activities=8, seed=0,
               sessions_per_worker=0):
  """Workers with a few long recordings of several activities each (as in
  UCI HAPT): clip -> runs of 5 s windows, some gaps where windows dropped."""
  rng = random.Random(seed)
  clips, windows, sessions = {}, {}, {}
  for i in range(num_workers):
    w = f"p{i:02d}"
    clips[w] = [f"{w}_r{j}" for j in range(clips_per_worker)]
    for j, c in enumerate(clips[w]):
      runs, t = [], 0
      for _ in range(activities):
        n = rng.randint(3, 15)
        runs.append((t, WINDOW_US, n, rng.choice(CLASSES)))
        t += (n + (rng.random() < 0.3)) * WINDOW_US
      windows[c] = runs
      if sessions_per_worker:
        sessions[c] = f"day{j % sessions_per_worker}"
  labels = {c: max(CLASSES, key=lambda y: sum(n for _, _, n, x in r if x == y))
            for c, r in windows.items()}
  fractions = {w: rng.random() for w in clips}
  return splits.Population.from_lists(clips, fractions, labels, windows,
                                      sessions, WINDOW_US)


def cfg(**kw):
  c = protocol_config()
  c.update(kw)
  return c


def part_windows(pop, split, part):
  """{(clip, t0_us)} of a part, by the split's membership rule."""
  test = split_format.members(split, part)
  owner = {c: w for w in pop.workers for c in pop.clips[w]}
  return {(c, t) for c in owner for t in timelines.decode(pop.windows[c])[0]
          if (owner[c], c, t) in test}


def test_two_long_recordings_per_person_split_on_every_fold():
  pop = recordings()
  for k in range(5):
    s = splits.make_split(cfg(name="within", fold=k), pop)
    x = splits.make_split(cfg(name="l20wo", fold=k), pop)
    assert s["test_workers"] == x["test_workers"]
    assert s["time_block_workers"] == list(pop.workers)
    parts = {p: part_windows(pop, s, p) for p in splits.PARTS}
    assert all(parts.values()), {p: len(v) for p, v in parts.items()}
    owner = {c: w for w in pop.workers for c in pop.clips[w]}
    tested = {owner[c] for c, _ in parts["test"]}
    assert tested <= set(x["test_workers"]) and len(tested) >= 5
    # Everyone trains; training is about 3/5 of the windows.
    assert {owner[c] for c, _ in parts["train"]} == set(pop.workers)
    total = sum(n for r in pop.windows.values() for _, _, n, _ in r)
    assert 0.5 < len(parts["train"]) / total < 0.65
    # No window in two parts; windows of different parts on one clip start
    # at least two window lengths apart (one window of signal between).
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
      assert not parts[a] & parts[b]
      for clip in {c for c, _ in parts[a]} & {c for c, _ in parts[b]}:
        ta = np.array([t for c, t in parts[a] if c == clip])
        tb = np.array([t for c, t in parts[b] if c == clip])
        assert np.abs(ta[:, None] - tb[None, :]).min() >= 2 * WINDOW_US
    split_format.validate_split(s, pop)


def test_guard_windows_are_counted_and_in_no_group():
  pop = recordings(num_workers=6)
  for w in pop.workers:
    g = person_groups.person_groups(pop, w, 5, 0, 0)
    assert g.method == "time_blocks" and g.guard_windows > 0
    total = sum(n for c in pop.clips[w] for _, _, n, _ in pop.windows[c])
    in_groups = set()
    for grp in g.groups:
      for c, a, b in grp:
        in_groups |= {(c, t) for t in timelines.decode(pop.windows[c])[0]
                      if a <= t <= b}
    assert len(in_groups) + g.guard_windows == total
    assert all(g.groups)   # every group of the person has windows


def test_blocks_spread_labels_over_groups():
  pop = recordings(num_workers=30, seed=3)
  spread = []
  for w in pop.workers:
    g = person_groups.person_groups(pop, w, 5, 0, 1)
    labels = [{y for c, a, b in grp for t, y in zip(*timelines.decode(
        pop.windows[c])) if a <= t <= b} for grp in g.groups]
    spread.append(len(labels[1]))
  # A test group of a fifth of a person's time sees several activities.
  assert np.mean(spread) >= 2.5


def test_many_clips_are_dealt_as_before():
  pop = recordings(num_workers=20, clips_per_worker=7, activities=2, seed=1)
  plain = splits.Population.from_lists(pop.clips, pop.stratify_fraction,
                                       pop.clip_labels)
  for k in range(5):
    a = splits.make_split(cfg(name="within", fold=k), pop)
    b = splits.make_split(cfg(name="within", fold=k), plain)
    assert "train_ranges" not in a and "guard_us" not in a
    assert {f: a[f] for f in a if f != "dataset_fingerprint"} == {
        f: b[f] for f in b if f != "dataset_fingerprint"}
  # The windows are part of what the split depends on.
  assert pop.fingerprint() != plain.fingerprint()


@pytest.mark.parametrize("per_worker", [2, 6])
def test_a_session_is_never_in_two_parts(per_worker):
  pop = recordings(num_workers=20, clips_per_worker=12, activities=2,
                   sessions_per_worker=per_worker)
  session = {c: (w, pop.sessions[c]) for w in pop.workers
             for c in pop.clips[w]}
  for k in range(5):
    s = splits.make_split(cfg(name="within", fold=k), pop)
    assert "train_ranges" not in s
    seen = {}
    for p in splits.PARTS:
      for c in s[f"{p}_clips"]:
        assert seen.setdefault(session[c], p) == p
    # Every test person is tested and trained on in its fold (few sessions:
    # one tests, the others train).
    trained = {session[c][0] for c in s["train_clips"]}
    assert {session[c][0] for c in s["test_clips"]} == set(s["test_workers"])
    assert set(s["test_workers"]) <= trained
  assert pop.fingerprint() != splits.Population.from_lists(
      pop.clips, pop.stratify_fraction, pop.clip_labels, pop.windows,
      None, WINDOW_US).fingerprint()


def test_validation_refuses_leaks_between_sub_clip_parts():
  pop = recordings()
  good = splits.make_split(cfg(name="within", fold=0), pop)
  clip = next(iter(good["test_ranges"]))
  last = good["test_ranges"][clip][0][1]
  near = dict(good, train_ranges=dict(good["train_ranges"]))
  near["train_ranges"][clip] = sorted(
      near["train_ranges"].get(clip, []) + [[last + WINDOW_US] * 2])
  with pytest.raises(splits.SplitError, match="closer than guard_us"):
    split_format.validate_split(near, pop)
  whole = dict(good, train_clips=[clip])
  with pytest.raises(splits.SplitError, match="whole in a part and split"):
    split_format.validate_split(whole, pop)
  with pytest.raises(splits.SplitError, match="guard_us .* less than two"):
    split_format.validate_split(dict(good, guard_us=WINDOW_US), pop)
  with pytest.raises(splits.SplitError, match="first_t0_us, last_t0_us"):
    split_format.validate_split(dict(good, val_ranges={clip: [[1, 0]]}), pop)


def test_record_selection_and_members_honour_ranges():
  clip_ids = ("a", "b", "c")
  t0 = np.array([0, 5, 10, 15, 20, 0, 5, 0], np.int64) * 1_000_000
  clip = np.array([0, 0, 0, 0, 0, 1, 1, 2], np.int32)
  n = len(t0)
  cols = {name: np.zeros(n, dtype) for name, dtype in
          record_table.COLUMNS.items()}
  cols.update(clip=clip, t0_us=t0, worker=np.array([0] * 7 + [1], np.int32))
  table = record_table.RecordTable(cols, ("u", "v"), clip_ids)
  split = {"test_workers": ["u"], "test_clips": ["b"],
           "test_ranges": {"a": [[0, 5_000_000], [20_000_000, 20_000_000]]}}
  np.testing.assert_array_equal(
      record_table.split_indices(table, split, "test"), [0, 1, 4, 5, 6])
  m = split_format.members(dict(split, train_workers=[], val_workers=[],
                                train_clips=None, val_clips=None), "test")
  assert ("u", "a", 20_000_000) in m and ("u", "a", 10_000_000) not in m
  assert ("u", "b") in m and ("v", "c") not in m
  with pytest.raises(ValueError, match="split in time"):
    ("u", "a") in m   # pylint: disable=pointless-statement


def test_timelines_round_trip():
  t0 = np.array([10, 0, 5, 15, 30, 35, 0, 7], np.int64)
  label = np.array([1, 0, 0, 1, 1, 1, 2, 2], np.int32)
  clip = np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int32)
  enc = timelines.encode(clip, t0, label, ("x", "y", "unused"))
  assert enc == {"x": [[0, 5, 2, 0], [10, 5, 2, 1], [30, 5, 2, 1]],
                 "y": [[0, 7, 2, 2]]}
  runs = timelines.from_manifest(enc, ("A", "B", "C"))
  assert timelines.decode(runs["x"]) == ([0, 5, 10, 15, 30, 35],
                                         ["A", "A", "B", "B", "B", "B"])
