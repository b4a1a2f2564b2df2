"""The report's hard-case section: difficulty source, small n, the rate."""

import os

import numpy as np
import pytest

from egoimu_jax.evaluation import results
from egoimu_jax.report import build
from egoimu_jax.report import hard_cases_section

CLASSES = ["sitting", "cycling"]       # not the pilot's classes
RATE = 50.0


def _write(root, protocol, fold, workers, n_per=16):
  worker = np.repeat(workers, n_per)
  label = np.tile(np.arange(n_per) % 2, len(workers))
  # Worker k gets its first 2k windows wrong (k of each class): macro-F1
  # 1 − 2k / n_per, so later workers are harder.
  k = np.array([int(w[1:]) for w in worker])
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


def test_four_workers_exact_p_and_small_n_notes(tmp_path):
  _write(str(tmp_path / "runs"), "l20wo", 0, ["w0", "w1", "w2", "w3"])
  rep = build.build_report(
      [str(tmp_path / "runs" / "*")], str(tmp_path / "out"), n_boot=20,
      imu_reader=hard_cases_section.WindowSource(_read, RATE))
  corr = rep.tables["hard_case_correlations"]
  rows = [dict(zip(corr.columns, r)) for r in corr.rows]
  freq = [r for r in rows if r["statistic"] == "dominant_freq_hz"][0]
  assert freq["p_method"] == "exact"
  assert freq["rho"] == pytest.approx(-1.0) and freq["p_value"] == pytest.approx(2 / 24)
  assert "hard_case_prediction" not in rep.tables
  assert any("not enough workers for predicting difficulty: 4" in n
             for n in rep.notes)
  assert any("l20wo test folds" in n for n in rep.notes)
  assert os.path.exists(tmp_path / "out" / "figures" / "hard_cases.png")


def test_lowo_is_preferred_and_unknown_rate_is_a_note(tmp_path):
  workers = [f"w{k}" for k in range(8)]
  _write(str(tmp_path / "runs"), "l20wo", 0, workers[:4])
  _write(str(tmp_path / "runs"), "l20wo", 1, workers[4:])
  for k, w in enumerate(workers):
    _write(str(tmp_path / "runs"), "lowo", k, [w])
  rep = build.build_report([str(tmp_path / "runs" / "*")],
                           str(tmp_path / "out"), n_boot=20, imu_reader=_read)
  assert any("leave-one-worker-out" in n and "8 workers" in n for n in rep.notes)
  assert any("IMU rate is unknown" in n for n in rep.notes)
  stats = rep.tables["hard_case_correlations"]
  names = {r[0] for r in stats.rows}
  assert "dominant_freq_hz" not in names and "spectral_entropy" in names
  pred = dict(zip(rep.tables["hard_case_prediction"].columns,
                  rep.tables["hard_case_prediction"].rows[0]))
  assert pred["workers"] == 8 and pred["cross-validation"] == "leave-one-worker-out"
  for name in ("hard_cases", "hard_case_clusters", "hard_case_prediction"):
    assert os.path.getsize(tmp_path / "out" / "figures" / f"{name}.png") > 5000
