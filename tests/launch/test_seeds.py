"""Seed replicates (issue 22, item 7): every sweep takes ``seeds=N``; one
seed is the sweep as before, more repeat each job with moved seeds."""

import os

import pytest

import launch
from launch import seeds

# Random init allowed: the sweeps' papers' scale, without weights.
SWEEPS = ("classical.py", "cross_person.py:folds=1,allow_random_init=True",
          "distillation.py:allow_random_init=True", "evimae.py",
          "har_models.py:folds=1,allow_random_init=True", "scaling.py:folds=1",
          "video_models.py:folds=1,allow_random_init=True",
          "hpsearch.py:trials=2,folds=1")


def load(spec, extra=""):
  return launch.load_sweep(os.path.join("launch/sweeps", spec), extra)[1]


def test_replicates_move_the_seeds_and_rename():
  a = launch.Job(config="configs/classical.py", workdir="m/l20wo/fold0",
                 overrides={"protocol.fold": 0}, tags={"model": "m"})
  b = launch.Job(config="configs/classical.py", workdir="m/within/fold0",
                 overrides={"seed": 10}, after=(a.name, "prepare/x"))
  one = seeds.with_seeds([a, b], 1)
  assert [(j.name, j.workdir, j.overrides, j.after) for j in one] == [
      (j.name, j.workdir, j.overrides, j.after) for j in (a, b)]
  assert [j.tags["seed"] for j in one] == [0, 10]
  three = seeds.with_seeds([a, b], 3)
  assert [j.name for j in three] == [
      "m/l20wo/fold0", "m/within/fold0", "m/l20wo/fold0-seed1",
      "m/within/fold0-seed1", "m/l20wo/fold0-seed2", "m/within/fold0-seed2"]
  a2, b2 = three[4:]
  assert a2.workdir == "m/l20wo/fold0-seed2" and a2.tags == {
      "model": "m", "seed": 2}
  assert a2.overrides == {"protocol.fold": 0, "seed": 2,
                          "input.shuffle_seed": 2}
  assert b2.overrides["seed"] == 12 and b2.tags["seed"] == 12
  # It waits for the same replicate of its sweep's jobs, and for the rest
  # (e.g. a shared prepare job) as before.
  assert b2.after == ("m/l20wo/fold0-seed2", "prepare/x")
  assert len({j.workdir for j in three}) == len(three)
  for bad in (0, 1.5):
    with pytest.raises(ValueError, match="seeds"):
      seeds.with_seeds([a], bad)


@pytest.mark.parametrize("spec", SWEEPS)
def test_every_sweep_takes_seeds(spec):
  plain = load(spec)
  sep = "," if ":" in spec else ":"
  assert [(j.name, j.workdir, j.overrides) for j in load(spec + sep + "seeds=1")
          ] == [(j.name, j.workdir, j.overrides) for j in plain]
  assert {j.tags["seed"] for j in plain} == {0}
  two = load(spec + sep + "seeds=2")   # validated: the overrides fit
  assert len(two) == 2 * len(plain)
  again = two[len(plain):]
  assert [j.workdir for j in again] == [j.workdir + "-seed1" for j in plain]
  assert {(j.overrides["seed"], j.overrides["input.shuffle_seed"],
           j.tags["seed"]) for j in again} == {(1, 1, 1)}


def test_reproduce_passes_seeds_to_its_parts():
  spec = "reproduce.py:scale=tiny,experiments=C+D"
  plain = load(spec)
  two = load(spec + ",seeds=2")
  assert len(two) == 2 * len(plain)
  assert {j.name for j in plain} < {j.name for j in two}
  assert {j.name + "-seed1" for j in plain} == {j.name for j in two} - {
      j.name for j in plain}
