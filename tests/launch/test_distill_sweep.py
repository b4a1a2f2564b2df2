"""The distillation sweep (RQ3) expands; its tiny run end to end, to the
report's RQ3 table, is part of tests/launch/test_reproduce.py."""

import os

import pytest

import launch


def load(spec, extra=""):
  return launch.load_sweep(os.path.join("launch/sweeps", spec), extra)[1]


def test_expansion():
  # Default: distilled on the training workers (the primary rows), then on
  # all workers; the baselines run once per student (issue 22).
  both = load("distillation.py:students=moment,allow_random_init=True")
  assert [(j.tags["method"], j.tags["pretrain_on"], j.workdir,
           j.overrides["experiment.baselines"]) for j in both] == [
               ("comodo", "train", "moment/comodo-train", True),
               ("imu2clip", "train", "moment/imu2clip-train", False),
               ("comodo", "all", "moment/comodo-all", False),
               ("imu2clip", "all", "moment/imu2clip-all", False)]
  assert both[0].config == "configs/comodo.py:student=moment,pretrain_on=train"
  jobs = load("distillation.py:pretrain_on=all,allow_random_init=True")
  assert [(j.tags["model"], j.tags["method"]) for j in jobs] == [
      ("moment", "comodo"), ("moment", "imu2clip"), ("mantis", "comodo"),
      ("mantis", "imu2clip")]
  assert all(j.overrides["job"] == "distill_evaluate" for j in jobs)
  assert [j.overrides["experiment.baselines"] for j in jobs] == [
      True, False, True, False]
  assert jobs[0].overrides["experiment.folds"] == (0, 1, 2, 3, 4)
  weighted = load("distillation.py:students=mantis,weights.mantis=/m,"
                  "weights.clip=/c,pretrain_on=train,allow_random_init=True")
  assert weighted[0].config == (
      "configs/comodo.py:student=mantis,pretrain_on=train,weights=/m")
  assert "teacher.weights" not in weighted[0].overrides
  assert weighted[1].overrides["teacher.weights"] == "/c"
  assert weighted[1].overrides["teacher.weights_format"] == "clip"
  with pytest.raises(ValueError, match="objectives"):
    load("distillation.py:objectives=dino,allow_random_init=True")
