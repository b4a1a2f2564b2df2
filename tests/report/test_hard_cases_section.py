"""The report's hard-case section: difficulty source, small n, the rate."""

import os

import numpy as np
import pytest

from egoimu_jax.evaluation import results
from egoimu_jax.report import build
from egoimu_jax.report import hard_cases_section

CLASSES = ["sitting", "cycling"]       # not the pilot's classes
RATE = 50.0


def _write(root, protocol, fold, workers, n_per=24, shift=True):
  worker = np.repeat(workers, n_per)
  label = np.tile(np.arange(n_per) % 2, len(workers))
  # Person shift: unseen (``shift``), worker k gets its first 2k windows
  # wrong (k of each class): macro-F1 1 − 2k / n_per, so later workers are
  # harder to generalise to; seen in training (within-person) all right.
  k = np.array([int(w[1:]) for w in worker]) * shift
  pred = np.where(np.tile(np.arange(n_per), len(workers)) < 2 * k, 1 - label,
                  label)
  index = np.array([1000 * int(w[1:]) for w in worker]) + np.tile(
      np.arange(n_per), len(workers))
  split = {"protocol": protocol, "fold": fold, "seed": 0, "scale": None,
           "test_workers": list(workers), "train_workers": []}
  results.write(os.path.join(root, f"m_{protocol}_{fold}"),
                config={"protocol": {}}, split=split, model="m", name="m",
                classes=CLASSES, predictions={"test": results.Predictions.from_probs(
                    index=index,
                    window_id=[f"clip{i // 1000}/{5000 * (i % 1000):08d}"
                               for i in index],
                    worker_id=worker, label=label,
                    probs=np.eye(2)[pred])})


def _read(indices):
  """Worker k's windows: a (1 + k) Hz sine on z, 5 s at ``RATE``."""
  t = np.arange(int(5 * RATE)) / RATE
  freq = 1.0 + np.asarray(indices) // 1000
  imu = np.zeros((len(indices), len(t), 6))
  imu[..., 2] = 9.81 + np.sin(2 * np.pi * freq[:, None] * t)
  return imu


def _folds(root, workers, per_fold=4):
  """l20wo folds of ``per_fold`` workers and their within-person pairs."""
  for f in range(len(workers) // per_fold):
    part = workers[f * per_fold:(f + 1) * per_fold]
    _write(root, "l20wo", f, part)
    _write(root, "within", f, part, shift=False)


def test_eight_workers_exact_p_and_too_few_people_notes(tmp_path):
  _folds(str(tmp_path / "runs"), [f"w{k}" for k in range(8)])
  rep = build.build_report(
      [str(tmp_path / "runs" / "*")], str(tmp_path / "out"), n_boot=20,
      imu_reader=hard_cases_section.WindowSource(_read, RATE))
  corr = rep.tables["hard_case_correlations"]
  rows = [dict(zip(corr.columns, r)) for r in corr.rows]
  freq = [r for r in rows if r["statistic"] == "dominant_freq_hz"][0]
  assert freq["p_method"] == "exact"
  assert freq["rho"] == pytest.approx(-1.0)
  assert freq["p_value"] == pytest.approx(2 / 40320)
  hard = dict(zip(rep.tables["hard_workers"].columns,
                  rep.tables["hard_workers"].rows[0]))
  assert hard["worker"] == "w7"
  assert hard["cross − within F1"] == pytest.approx(-14 / 24, abs=0.05)
  assert "hard_case_prediction" not in rep.tables
  assert "hard_case_clusters" not in rep.tables
  assert any("too few people for predicting difficulty: 8" in n
             for n in rep.notes)
  assert any("l20wo test folds" in n for n in rep.notes)
  assert os.path.exists(tmp_path / "out" / "figures" / "hard_cases.png")


def test_below_eight_people_no_correlation_is_printed(tmp_path):
  _folds(str(tmp_path / "runs"), [f"w{k}" for k in range(4)])
  rep = build.build_report(
      [str(tmp_path / "runs" / "*")], str(tmp_path / "out"), n_boot=20,
      imu_reader=hard_cases_section.WindowSource(_read, RATE))
  assert "hard_workers" in rep.tables
  assert "hard_case_correlations" not in rep.tables
  assert any("too few people for rank correlations: 4" in n for n in rep.notes)


def test_without_within_person_runs_there_is_no_difficulty(tmp_path):
  _write(str(tmp_path / "runs"), "l20wo", 0, [f"w{k}" for k in range(8)])
  rep = build.build_report(
      [str(tmp_path / "runs" / "*")], str(tmp_path / "out"), n_boot=20,
      imu_reader=hard_cases_section.WindowSource(_read, RATE))
  assert "hard_workers" not in rep.tables
  assert any("no difficulty measure" in n for n in rep.notes)


def test_lowo_is_preferred_and_unknown_rate_is_a_note(tmp_path):
  workers = [f"w{k}" for k in range(12)]
  _folds(str(tmp_path / "runs"), workers)
  for k, w in enumerate(workers):
    _write(str(tmp_path / "runs"), "lowo", k, [w])
  rep = build.build_report([str(tmp_path / "runs" / "*")],
                           str(tmp_path / "out"), n_boot=20, imu_reader=_read)
  assert any("leave-one-worker-out" in n and "12 workers" in n
             for n in rep.notes)
  assert any("IMU rate is unknown" in n for n in rep.notes)
  stats = rep.tables["hard_case_correlations"]
  names = {r[0] for r in stats.rows}
  assert "dominant_freq_hz" not in names and "spectral_entropy" in names
  pred = dict(zip(rep.tables["hard_case_prediction"].columns,
                  rep.tables["hard_case_prediction"].rows[0]))
  assert pred["workers"] == 12 and pred["cross-validation"] == "leave-one-worker-out"
  for name in ("hard_cases", "hard_case_clusters", "hard_case_prediction"):
    assert os.path.getsize(tmp_path / "out" / "figures" / f"{name}.png") > 5000
