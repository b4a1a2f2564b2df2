import numpy as np
import pytest

from egoimu_jax.evaluation import hard_case_analysis
from egoimu_jax.evaluation import hard_cases

CLASSES = ("working", "break", "not_on_person")


def _worker_windows(rng, n, tilt_deg, motion, noise):
  t = np.arange(1000) / 200.0
  g = np.array([0.0, np.sin(np.radians(tilt_deg)), np.cos(np.radians(tilt_deg))]) * 9.81
  imu = np.zeros((n, 1000, 6))
  imu[..., :3] = g
  imu[..., 2] += motion * np.sin(2 * np.pi * 1.5 * t)
  imu += rng.normal(0.0, noise, imu.shape)
  return imu


def test_worker_statistics_recover_known_properties():
  rng = np.random.default_rng(0)
  specs = {"a": (0, 0.0, 0.01), "b": (5, 1.0, 0.01), "c": (60, 0.0, 0.2),
           "d": (3, 0.5, 0.05)}
  imu, workers, labels = [], [], []
  for w, (tilt, motion, noise) in specs.items():
    imu.append(_worker_windows(rng, 4, tilt, motion, noise))
    workers += [w] * 4
    labels += [1, 0, 0, 0] if w != "b" else [1, 1, 1, 0]
  s = hard_cases.worker_statistics(np.concatenate(imu), np.array(labels),
                                   np.array(workers), CLASSES)
  assert s["b"]["fraction/break"] == 0.75 and s["a"]["fraction/break"] == 0.25
  assert s["b"]["motion_energy"] > 10 * s["a"]["motion_energy"]
  assert s["c"]["gravity_offset_deg"] == pytest.approx(57, abs=3)   # median dir ~3°
  assert s["a"]["gravity_offset_deg"] < 5
  assert s["c"]["acc_noise"] == pytest.approx(0.2, rel=0.1)
  assert s["a"]["acc_noise"] == pytest.approx(0.01, rel=0.1)
  assert s["a"]["n_windows"] == 4
  for row in s.values():
    assert all(np.isfinite(v) for v in row.values())


def test_spearman_and_hardest():
  rng = np.random.default_rng(1)
  workers = [f"w{i}" for i in range(20)]
  noise = {w: float(i) for i, w in enumerate(workers)}
  f1 = {w: 0.9 - 0.02 * noise[w] + rng.normal(0, 0.005) for w in workers}
  stats = {w: {"acc_noise": noise[w], "constant": 1.0,
               "random": float(rng.random())} for w in workers}
  table = hard_case_analysis.correlation_table(f1, stats)
  assert table[0]["statistic"] == "acc_noise"
  # Monte-Carlo permutation p (n > 8): no draw of 9999 beats ρ ≈ −1.
  assert table[0]["rho"] < -0.9 and table[0]["p_value"] == 1 / 10000
  assert table[0]["p_method"] == "monte-carlo"
  assert table[0]["q_value"] == pytest.approx(2 / 10000)   # 2 tested
  const = [r for r in table if r["statistic"] == "constant"][0]
  assert const["rho"] is None
  hard = hard_cases.hardest_workers(f1, stats, k=3)
  assert [r["worker"] for r in hard] == ["w19", "w18", "w17"]
  assert hard[0]["acc_noise"] == 19.0


def test_statistics_from_records_samples_per_worker():
  rng = np.random.default_rng(2)
  store = rng.normal(size=(50, 100, 6))
  index = np.arange(50)[::-1].copy()
  workers = np.array(["a"] * 40 + ["b"] * 10)
  reads = []

  def read_imu(idx):
    reads.append(idx)
    return store[idx]

  s = hard_cases.statistics_from_records(read_imu, index, np.zeros(50, int),
                                         workers, CLASSES, max_per_worker=8)
  assert s["a"]["n_windows"] == 8 and s["b"]["n_windows"] == 8
  assert np.all(np.diff(reads[0]) > 0)
