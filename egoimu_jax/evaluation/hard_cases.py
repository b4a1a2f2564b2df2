"""Which people are hard, and what their IMU data has in common.

Per-worker IMU statistics (computed from the worker's raw test windows)
are set against per-worker difficulty (macro-F1, lower = harder):

* ``fraction/<class>``: share of the worker's windows in each state (e.g. the
  break fraction: rare states are harder);
* ``motion_energy``: mean over windows of the std of |acc| (m/s²), i.e.
  dynamic acceleration;
* ``rotation_energy``: mean over windows of the RMS of |gyro| (rad/s);
* ``gravity_offset_deg``: angle between the worker's mean gravity direction
  (mean of the windows' unit mean-acc vectors) and the population's median
  direction; large when the sensor is worn differently;
* ``gravity_spread_deg``: mean angle between each window's gravity direction
  and the worker's own mean direction (posture / mounting variability);
* ``acc_noise``, ``gyro_noise``: median over windows of a robust noise
  estimate, ``median(|Δ²x|) / (0.6745·√6)`` averaged over axes (the second
  difference removes smooth motion; for white noise of std σ it has std
  √6·σ, and 0.6745 turns a median absolute value into a std).

``spearman_table`` ranks the association of each statistic with F1,
``hardest_workers`` lists the workers with the lowest F1 and their
statistics.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np
from scipy import stats as sp_stats

WorkerStats = Dict[str, Dict[str, float]]
_NOISE_SCALE = 1.0 / (0.6745 * np.sqrt(6.0))


def window_statistics(imu: np.ndarray) -> Dict[str, np.ndarray]:
  """Per-window quantities ``[n]`` (and unit gravity vectors ``[n, 3]``)."""
  imu = np.asarray(imu, np.float64)
  if imu.ndim != 3 or imu.shape[2] != 6:
    raise ValueError(f"imu must be [n, L, 6], got {imu.shape}")
  acc, gyro = imu[..., :3], imu[..., 3:]
  acc_mag = np.linalg.norm(acc, axis=-1)
  gyro_mag = np.linalg.norm(gyro, axis=-1)
  gravity = acc.mean(1)
  gravity /= np.maximum(np.linalg.norm(gravity, axis=-1, keepdims=True), 1e-9)

  def noise(x):
    d2 = np.diff(x, n=2, axis=1)
    return (np.median(np.abs(d2), axis=1) * _NOISE_SCALE).mean(-1)

  return {
      "motion_energy": acc_mag.std(1),
      "rotation_energy": np.sqrt((gyro_mag ** 2).mean(1)),
      "gravity": gravity,
      "acc_noise": noise(acc),
      "gyro_noise": noise(gyro),
  }


def worker_statistics(imu: np.ndarray, labels: np.ndarray,
                      worker_ids: Sequence[str] | np.ndarray,
                      classes: Sequence[str]) -> WorkerStats:
  """``{worker: {statistic: value}}`` from windows ``[n, L, 6]`` (see module doc)."""
  labels = np.asarray(labels)
  worker_ids = np.asarray(worker_ids).astype(str)
  if labels.shape != (len(imu),) or worker_ids.shape != (len(imu),):
    raise ValueError("imu, labels and worker_ids must have the same length")
  per_window = window_statistics(imu)
  names, inverse = np.unique(worker_ids, return_inverse=True)
  counts = np.bincount(inverse, minlength=len(names)).astype(np.float64)

  def worker_mean(v):
    return np.bincount(inverse, weights=v, minlength=len(names)) / counts

  mean_dir = np.stack([worker_mean(per_window["gravity"][:, i]) for i in range(3)], -1)
  mean_dir /= np.maximum(np.linalg.norm(mean_dir, axis=-1, keepdims=True), 1e-9)
  population = np.median(mean_dir, axis=0)
  population /= max(np.linalg.norm(population), 1e-9)
  offset = _angle_deg(mean_dir, population[None])
  spread = worker_mean(_angle_deg(per_window["gravity"], mean_dir[inverse]))
  out: WorkerStats = {}
  for i, w in enumerate(names):
    sel = inverse == i
    row = {f"fraction/{c}": float(np.mean(labels[sel] == k))
           for k, c in enumerate(classes)}
    row.update(
        motion_energy=float(per_window["motion_energy"][sel].mean()),
        rotation_energy=float(per_window["rotation_energy"][sel].mean()),
        gravity_offset_deg=float(offset[i]),
        gravity_spread_deg=float(spread[i]),
        acc_noise=float(np.median(per_window["acc_noise"][sel])),
        gyro_noise=float(np.median(per_window["gyro_noise"][sel])),
        n_windows=int(sel.sum()))
    out[str(w)] = row
  return out


def spearman_table(difficulty: Mapping[str, float], stats: WorkerStats
                   ) -> List[Dict[str, object]]:
  """Spearman correlation of each statistic with per-worker F1.

  Rows sorted by |rho|, strongest first. A statistic that is constant over
  the workers has no defined rank correlation; its rho and p are None.
  """
  workers = sorted(set(difficulty) & set(stats))
  if len(workers) < 3:
    raise ValueError(f"need >= 3 workers with both F1 and statistics, got {len(workers)}")
  f1 = np.array([difficulty[w] for w in workers])
  rows = []
  for name in sorted({k for w in workers for k in stats[w]} - {"n_windows"}):
    v = np.array([stats[w].get(name, np.nan) for w in workers], np.float64)
    ok = ~np.isnan(v)
    if ok.sum() < 3 or np.ptp(v[ok]) == 0 or np.ptp(f1[ok]) == 0:
      rows.append({"statistic": name, "rho": None, "p_value": None, "n": int(ok.sum())})
      continue
    r = sp_stats.spearmanr(v[ok], f1[ok])
    rows.append({"statistic": name, "rho": float(r.statistic),
                 "p_value": float(r.pvalue), "n": int(ok.sum())})
  return sorted(rows, key=lambda r: -abs(r["rho"]) if r["rho"] is not None else 1.0)


def hardest_workers(difficulty: Mapping[str, float], stats: Optional[WorkerStats],
                    k: int = 10) -> List[Dict[str, object]]:
  """The ``k`` workers with the lowest F1, with their statistics if known."""
  ranked = sorted(difficulty, key=lambda w: (difficulty[w], w))[:k]
  rows = []
  for rank, w in enumerate(ranked, 1):
    row: Dict[str, object] = {"rank": rank, "worker": w, "macro_f1": difficulty[w]}
    row.update((stats or {}).get(w, {}))
    rows.append(row)
  return rows


def sample_indices(index: np.ndarray, worker_ids: np.ndarray,
                   max_per_worker: int, seed: int = 0) -> np.ndarray:
  """Positions of at most ``max_per_worker`` windows per worker (seeded)."""
  rng = np.random.default_rng(seed)
  worker_ids = np.asarray(worker_ids).astype(str)
  keep = []
  for w in np.unique(worker_ids):
    pos = np.nonzero(worker_ids == w)[0]
    if len(pos) > max_per_worker:
      pos = np.sort(rng.choice(pos, max_per_worker, replace=False))
    keep.append(pos)
  return np.concatenate(keep) if keep else np.zeros(0, np.int64)


def statistics_from_records(read_imu: Callable[[np.ndarray], np.ndarray],
                            index: np.ndarray, labels: np.ndarray,
                            worker_ids: np.ndarray, classes: Sequence[str],
                            max_per_worker: int = 64, seed: int = 0
                            ) -> WorkerStats:
  """Worker statistics from a sample of each worker's windows.

  ``read_imu(record_indices) -> [n, L, 6]`` reads raw windows (e.g. from the
  processed shards); ``index``/``labels``/``worker_ids`` come from a run's
  predictions.
  """
  pos = sample_indices(index, worker_ids, max_per_worker, seed)
  order = np.argsort(np.asarray(index)[pos], kind="stable")   # sequential reads
  pos = pos[order]
  imu = read_imu(np.asarray(index)[pos])
  return worker_statistics(imu, np.asarray(labels)[pos],
                           np.asarray(worker_ids)[pos], classes)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  cos = np.clip((a * b).sum(-1), -1.0, 1.0)
  return np.degrees(np.arccos(cos))
