"""Splits: disjointness, coverage, nesting, determinism, stratification, refusal."""

import json
import os
import random
import statistics

import pytest

from egoimu_jax.config_lib import protocol_config
from egoimu_jax.input_pipeline import folds
from egoimu_jax.input_pipeline import population
from egoimu_jax.input_pipeline import split_format
from egoimu_jax.input_pipeline import splits


def make_population(num_workers=50, seed=0):
  rng = random.Random(seed)
  clips = {f"w{i:03d}": [f"w{i:03d}_c{j:03d}" for j in range(rng.randint(3, 40))]
           for i in range(num_workers)}
  fractions = {w: rng.betavariate(2, 6) for w in clips}
  return splits.Population.from_lists(clips, fractions)


POP = make_population()


def cfg(**kw):
  c = protocol_config()
  c.update(kw)
  return c


def test_l20wo_partitions_and_covers():
  tested, validated = [], []
  for k in range(5):
    s = splits.make_split(cfg(name="l20wo", fold=k), POP)
    tr, va, te = (set(s[f"{p}_workers"]) for p in splits.PARTS)
    assert not (tr & va or tr & te or va & te)
    assert tr | va | te == set(POP.workers)
    assert (len(tr), len(va), len(te)) == (30, 10, 10)
    assert s["train_clips"] is s["val_clips"] is s["test_clips"] is None
    tested += s["test_workers"]
    validated += s["val_workers"]
  # Every worker is tested once and validated once over the folds.
  assert sorted(tested) == sorted(validated) == sorted(POP.workers)


def test_fold_groups_are_stratified_by_stratify_fraction():
  groups = folds.fold_groups(POP, 5, seed=0)
  hardest = set(sorted(POP.workers, key=POP.stratify_fraction.get)[-10:])
  # Permuted-block dealing: each group gets exactly one of each block of 5.
  assert [len(hardest & set(g)) for g in groups] == [2] * 5
  means = [statistics.mean(POP.stratify_fraction[w] for w in g) for g in groups]
  rng = random.Random(1)
  random_spreads = []
  for _ in range(50):
    ws = list(POP.workers)
    rng.shuffle(ws)
    rand = [statistics.mean(POP.stratify_fraction[w] for w in ws[i::5]) for i in range(5)]
    random_spreads.append(max(rand) - min(rand))
  assert max(means) - min(means) < 0.25 * statistics.median(random_spreads)


def test_uneven_worker_count_group_sizes_differ_by_at_most_one():
  pop = make_population(23)
  sizes = sorted(len(g) for g in folds.fold_groups(pop, 5, seed=3))
  assert sizes == [4, 4, 5, 5, 5]


def test_deterministic_and_seed_dependent():
  a = splits.make_split(cfg(name="l20wo", fold=2, seed=7), POP)
  b = splits.make_split(cfg(name="l20wo", fold=2, seed=7), make_population())
  c = splits.make_split(cfg(name="l20wo", fold=2, seed=8), POP)
  assert a == b
  assert a["test_workers"] != c["test_workers"]
  assert a["dataset_fingerprint"] == c["dataset_fingerprint"]
  assert a["dataset_fingerprint"] != make_population(seed=1).fingerprint()


def test_within_person_clips_disjoint_and_comparable_to_cross():
  all_test_clips = []
  for k in range(5):
    w = splits.make_split(cfg(name="within", fold=k), POP)
    x = splits.make_split(cfg(name="l20wo", fold=k), POP)
    tr, va, te = (set(w[f"{p}_clips"]) for p in splits.PARTS)
    assert not (tr & va or tr & te or va & te)
    # Same test people as the cross-person fold; trained on everyone.
    assert w["test_workers"] == x["test_workers"]
    assert set(w["train_workers"]) == {
        v for v in POP.workers if set(POP.clips[v]) & tr}
    assert len(w["train_workers"]) >= 0.9 * len(POP.workers)
    owner = {c: v for v in POP.workers for c in POP.clips[v]}
    assert {owner[c] for c in te} <= set(w["test_workers"])
    assert len({owner[c] for c in te}) >= 0.8 * len(w["test_workers"])
    # ~60/20/20 of each worker's clips.
    for v in POP.workers:
      n = len(POP.clips[v])
      n_tr = sum(owner[c] == v for c in tr)
      assert abs(n_tr - 0.6 * n) <= 2
    # Training volume matches the cross-person fold (both ~60% of all clips).
    cross_train = sum(len(POP.clips[v]) for v in x["train_workers"])
    assert 0.75 < len(tr) / cross_train < 1.33
    all_test_clips += sorted(te)
  # Each test worker's tested clips are one fifth of its clips.
  assert len(all_test_clips) == len(set(all_test_clips))


def test_within_refuses_empty_parts():
  few = splits.Population.from_lists({f"w{i}": [f"w{i}c0", f"w{i}c1"] for i in range(10)},
                                     {f"w{i}": 0.1 for i in range(10)})
  with pytest.raises(splits.SplitError, match="no (test|val) clips.*fewer clips than "
                     "protocol.num_folds=5"):
    for k in range(5):
      splits.make_split(cfg(name="within", fold=k), few)


def test_lowo_explicit_and_rules():
  s = splits.make_split(cfg(name="lowo", fold=1, lowo_workers=("w003", "w010")), POP)
  assert s["test_workers"] == ["w010"]
  assert "w010" not in s["train_workers"] + s["val_workers"]
  assert len(s["val_workers"]) == 10 and len(s["train_workers"]) == 39
  most = splits.make_split(cfg(name="lowo", fold=0, lowo_count=3), POP)
  assert len(POP.clips[most["test_workers"][0]]) == max(map(len, POP.clips.values()))
  hard = splits.make_split(cfg(name="lowo", fold=0, lowo_rule="most_stratify_label"), POP)
  assert POP.stratify_fraction[hard["test_workers"][0]] == max(POP.stratify_fraction.values())
  with pytest.raises(splits.SplitError, match="lowo fold 2 is not in"):
    splits.make_split(cfg(name="lowo", fold=2, lowo_workers=("w003", "w010")), POP)
  with pytest.raises(splits.SplitError, match="not in the dataset"):
    splits.make_split(cfg(name="lowo", lowo_workers=("nobody",)), POP)
  with pytest.raises(splits.SplitError, match="lowo_rule"):
    splits.make_split(cfg(name="lowo", lowo_rule="hardest"), POP)


def test_worker_scaling_nested_with_fixed_test():
  x = splits.make_split(cfg(name="l20wo", fold=3), POP)
  prev = set()
  for scale in (3, 6, 0.5, 24, -1):
    s = splits.make_split(cfg(name="worker_scaling", fold=3, scale=scale), POP)
    assert s["test_workers"] == x["test_workers"]
    assert s["val_workers"] == x["val_workers"]
    train = set(s["train_workers"])
    assert prev <= train and train <= set(x["train_workers"])
    prev = train
  assert len(prev) == 30
  # A small subset is spread over break fraction (8 strata, one each).
  eight = splits.make_split(cfg(name="worker_scaling", fold=3, scale=8), POP)
  pool = sorted(x["train_workers"], key=POP.stratify_fraction.get)
  assert sum(pool.index(w) < 8 for w in eight["train_workers"]) <= 2
  with pytest.raises(splits.SplitError, match="pool has only 30"):
    splits.make_split(cfg(name="worker_scaling", scale=31), POP)
  with pytest.raises(splits.SplitError, match="whole count"):
    splits.make_split(cfg(name="worker_scaling", scale=2.5), POP)


def test_data_scaling_nested_spread_over_workers():
  x = splits.make_split(cfg(name="l20wo", fold=0), POP)
  pool_clips = {c for w in x["train_workers"] for c in POP.clips[w]}
  prev = set()
  for scale in (30, 0.25, 200, 1.0):
    s = splits.make_split(cfg(name="data_scaling", fold=0, scale=scale), POP)
    assert s["test_workers"] == x["test_workers"]
    assert s["test_clips"] is None
    train = set(s["train_clips"])
    assert prev <= train <= pool_clips
    prev = train
  assert prev == pool_clips
  # 30 clips from 30 pool workers: one each (round-robin).
  s = splits.make_split(cfg(name="data_scaling", fold=0, scale=30), POP)
  assert len(s["train_workers"]) == 30


def test_refuses_overlap_and_bad_files(tmp_path):
  s = splits.make_split(cfg(name="l20wo"), POP)
  bad = dict(s, train_workers=s["train_workers"] + s["test_workers"][:1])
  with pytest.raises(splits.SplitError, match="both train and test"):
    splits.validate_split(bad)
  bad_within = splits.make_split(cfg(name="within"), POP)
  bad_within["train_clips"] = bad_within["train_clips"] + bad_within["test_clips"][:1]
  with pytest.raises(splits.SplitError, match="clips in both train and test"):
    splits.validate_split(bad_within)
  path = tmp_path / splits.SPLIT_FILE
  path.write_text(json.dumps(bad))
  with pytest.raises(splits.SplitError, match=str(path)):
    splits.load_or_create_split(str(tmp_path), cfg(name="l20wo"), POP)


def test_load_or_create_round_trip_and_mismatch(tmp_path):
  wd = str(tmp_path / "run")
  created = splits.load_or_create_split(wd, cfg(name="within", fold=1), POP)
  assert os.path.exists(os.path.join(wd, "split.json"))
  assert splits.load_or_create_split(wd, cfg(name="within", fold=1), POP) == created
  with pytest.raises(splits.SplitError, match="fold is 1 but the config asks for 2"):
    splits.load_or_create_split(wd, cfg(name="within", fold=2), POP)
  with pytest.raises(splits.SplitError, match="was made for dataset"):
    splits.load_or_create_split(wd, cfg(name="within", fold=1), make_population(seed=5))
  # Hand-edited content with the same keys is caught too.
  edited = dict(created, val_clips=created["val_clips"][1:])
  splits.write_split(os.path.join(wd, "split.json"), edited)
  with pytest.raises(splits.SplitError, match=r"different content in \['val_clips'\]"):
    splits.load_or_create_split(wd, cfg(name="within", fold=1), POP)


def test_members():
  s = splits.make_split(cfg(name="data_scaling", scale=10), POP)
  train, test = split_format.members(s, "train"), split_format.members(s, "test")
  c = s["train_clips"][0]
  w = c.split("_")[0]
  assert (w, c) in train and (w, c) not in test
  t = s["test_workers"][0]
  assert (t, POP.clips[t][0]) in test


def test_from_manifest():
  manifest = {
      "worker_clips": {"a": ["a1", "a2"], "b": ["b1"], "c": ["c1"]},
      "state_fractions": {w: {"working": 0.8, "break": 0.2} for w in "abc"},
  }
  pop = splits.from_manifest(manifest)
  assert pop.workers == ("a", "b", "c") and pop.clips["a"] == ("a1", "a2")
  nested = dict(manifest, state_fractions={"source": "labels",
                                           "per_worker": manifest["state_fractions"]})
  assert splits.from_manifest(nested) == pop
  with pytest.raises(splits.SplitError, match="stratify label 'rest'"):
    splits.from_manifest(manifest, stratify_label="rest")
  with pytest.raises(splits.SplitError, match="manifest: has none of"):
    splits.from_manifest({"classes": []})
  with pytest.raises(splits.SplitError, match="two workers"):
    splits.Population.from_lists({"a": ["x"], "b": ["x"]}, {"a": 0.1, "b": 0.1})


def test_stratify_label_is_derived_from_the_data_not_the_names():
  fractions = {f"w{i}": {"walk": 0.7 - 0.05 * i, "stairs": 0.1 + 0.05 * i,
                         "sit": 0.2} for i in range(6)}
  # The majority class (walk) is left out; of the rest, stairs varies most.
  assert population.auto_stratify_label(fractions, ("walk", "stairs", "sit")) == (
      "stairs")
  assert population.auto_stratify_label({"a": {"only": 1.0}}, ("only",)) == "only"
  manifest = {"classes": ["walk", "stairs", "sit"],
              "worker_clips": {w: [f"{w}_c{j}" for j in range(5)]
                               for w in fractions},
              "state_fractions": fractions}
  split = splits.make_split({"name": "l20wo", "fold": 0, "num_folds": 3},
                            manifest)
  assert split["test_workers"]
  pop = splits.from_manifest(manifest)
  assert pop.stratify_fraction == {w: f["stairs"] for w, f in fractions.items()}


def make_labelled_population(num_workers=40, seed=0, classes=("walk", "sit",
                                                               "stairs", "cycle")):
  """One label per clip; each worker has its own class mixture (some classes
  with one clip or none), as in public HAR data."""
  rng = random.Random(seed)
  clips, labels = {}, {}
  for i in range(num_workers):
    w = f"w{i:03d}"
    mix = [rng.gammavariate(1.0, 1.0) for _ in classes]
    clips[w] = [f"{w}_c{j:03d}" for j in range(rng.randint(5, 15))]
    labels.update({c: rng.choices(classes, mix)[0] for c in clips[w]})
  fractions = {w: rng.random() for w in clips}
  return clips, fractions, labels


def unseen_test_clips(pop, labels):
  """Test clips (over the 5 within folds) whose label is absent from the same
  worker's training clips, and the number of test clips."""
  unseen, tested = [], 0
  for k in range(5):
    s = splits.make_split(cfg(name="within", fold=k), pop)
    trained = {}
    for c in s["train_clips"]:
      trained.setdefault(c.split("_")[0], set()).add(labels[c])
    for c in s["test_clips"]:
      tested += 1
      if labels[c] not in trained.get(c.split("_")[0], set()):
        unseen.append(c)
  return unseen, tested


def test_within_stratified_by_clip_label_tests_only_trained_classes():
  for seed in range(3):
    clips, fractions, labels = make_labelled_population(seed=seed)
    plain = splits.Population.from_lists(clips, fractions)
    strat = splits.Population.from_lists(clips, fractions, labels)
    unseen_plain, n_plain = unseen_test_clips(plain, labels)
    unseen_strat, n_strat = unseen_test_clips(strat, labels)
    # Label-blind dealing tests people on classes they never trained on;
    # every worker here has room for each of its labels outside the test group.
    assert unseen_plain and not unseen_strat
    assert n_plain == n_strat  # same group sizes: the same test volume
    groups = folds.fold_groups(strat, 5, 0)
    for w in strat.workers:
      test_group = next(g for g, ws in enumerate(groups) if w in ws)
      dealt = folds.clip_groups(strat, w, 5, 0, test_group)
      sizes = [len(g) for g in dealt]
      assert max(sizes) - min(sizes) <= 1
      assert sorted(c for g in dealt for c in g) == sorted(clips[w])
      trained = {labels[c] for g, cs in enumerate(dealt)
                 if g not in (test_group, (test_group + 1) % 5) for c in cs}
      count = {}
      for c in clips[w]:
        count[labels[c]] = count.get(labels[c], 0) + 1
      for label, n in count.items():
        held = [sum(labels[c] == label for c in g) for g in dealt]
        # A label with K clips or more is trained and tested on; a label
        # with one clip is never the one tested on.
        assert n < 5 or (held[test_group] and label in trained), (w, held)
        assert n > 1 or held[test_group] == 0


def test_within_stratified_deal_spreads_each_label_evenly():
  # Every label has K clips or more: nothing to repair, each label's clips
  # are spread over the groups +-1 (the round-robin deal of sorted labels).
  rng = random.Random(4)
  clips = {f"w{i}": [f"w{i}_c{j:02d}" for j in range(rng.randint(10, 30))]
           for i in range(20)}
  labels = {c: ("walk" if j % 3 else "sit") if int(c[-2:]) < 10 else
            rng.choice(["walk", "sit"]) for cs in clips.values()
            for j, c in enumerate(cs)}
  pop = splits.Population.from_lists(clips, {w: rng.random() for w in clips},
                                     labels)
  for w in pop.workers:
    for test_group in range(5):
      dealt = folds.clip_groups(pop, w, 5, 1, test_group)
      for label in ("walk", "sit"):
        held = [sum(labels[c] == label for c in g) for g in dealt]
        assert max(held) - min(held) <= 1, (w, label, held)


def test_within_stratified_split_is_seeded_and_labels_change_the_fingerprint():
  clips, fractions, labels = make_labelled_population()
  pop = splits.Population.from_lists(clips, fractions, labels)
  a = splits.make_split(cfg(name="within", fold=1), pop)
  again = splits.Population.from_lists(clips, fractions, dict(labels))
  assert splits.make_split(cfg(name="within", fold=1), again) == a
  assert splits.make_split(cfg(name="within", fold=1, seed=3), pop)[
      "test_clips"] != a["test_clips"]
  plain = splits.Population.from_lists(clips, fractions)
  assert pop.fingerprint() != plain.fingerprint()
  # Worker splits do not depend on clip labels.
  assert (splits.make_split(cfg(name="l20wo", fold=1), pop)["test_workers"] ==
          splits.make_split(cfg(name="l20wo", fold=1), plain)["test_workers"])
  with pytest.raises(splits.SplitError, match="no clip label"):
    splits.Population.from_lists(clips, fractions,
                                 {c: l for c, l in list(labels.items())[1:]})


def test_from_manifest_reads_clip_labels():
  manifest = {
      "classes": ["walk", "sit"],
      "worker_clips": {"a": ["a1", "a2"], "b": ["b1"]},
      "state_fractions": {w: {"walk": 0.5, "sit": 0.5} for w in "ab"},
      "clip_labels": {"a1": "walk", "a2": "sit"},  # b1: no windows
  }
  pop = splits.from_manifest(manifest)
  assert pop.clip_labels == {"a1": "walk", "a2": "sit", "b1": ""}
  del manifest["clip_labels"]  # a manifest written before clip labels
  assert splits.from_manifest(manifest).clip_labels == {}


def test_within_test_all_tests_every_clip_once_over_the_folds():
  tested = []
  for k in range(5):
    w = splits.make_split(cfg(name="within", fold=k, within_test="all"), POP)
    same = splits.make_split(cfg(name="within", fold=k), POP)
    assert w["test_workers"] == sorted(POP.workers)
    # The groups do not depend on the mode: fold k's training part is the same.
    assert w["train_clips"] == same["train_clips"]
    assert set(same["test_clips"]) <= set(w["test_clips"])
    assert not set(w["test_clips"]) & set(w["train_clips"])
    tested += w["test_clips"]
  # Every clip is tested within-person exactly once: the matched set of the
  # cross-person folds is every test window.
  assert sorted(tested) == sorted(c for v in POP.workers for c in POP.clips[v])
  with pytest.raises(population.SplitError, match="within_test"):
    splits.make_split(cfg(name="within", fold=0, within_test="some"), POP)
