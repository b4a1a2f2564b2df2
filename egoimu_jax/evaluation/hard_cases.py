"""Which people are hard, and what their IMU data has in common.

Per-worker statistics, computed from a sample of the worker's raw test
windows (``hard_case_signal`` defines the per-window quantities), are set
against per-worker difficulty (macro-F1, lower = harder). Each is computed
per window, then summarised over the worker's windows (``a``: acc vector):

* ``fraction/<class>``: share of windows per label (needs labels: not
  available before deployment, left out of clustering and prediction);
* ``motion_energy``: std of ``|a|`` (m/s²) -> mean;
* ``rotation_energy``: RMS of ``|gyro|`` (rad/s) -> mean;
* ``rms_acc``: RMS of the de-meaned acc vector, ``sqrt(mean|a − ā|²)``
  (m/s²; dynamic acceleration including changes of orientation) -> mean;
* ``gyro_variance``: sum of the gyro axes' variances (rad²/s²) -> mean;
* ``jerk``: mean ``|da/dt|`` (m/s³) -> mean;
* ``spectral_centroid_hz``, ``dominant_freq_hz``, ``spectral_entropy``
  (normalised Shannon entropy of the power spectrum, 0..1), all of
  ``|a| − mean|a|`` -> median;
* ``acf_decay_s``: lag where the autocorrelation of ``|a|`` falls below
  1/e (s) -> median;
* ``stationary_share``: share of windows whose ADF test on ``|a|`` rejects
  a unit root at p < 0.05;
* ``transition_rate_per_min``: switches between high and low activity
  (window motion energy above / below the median over all sampled
  windows of all workers) per minute;
* ``gravity_offset_deg``: angle between the worker's mean gravity direction
  (mean of the windows' unit mean-acc vectors) and the population's median
  direction (how the sensor is worn);
* ``gravity_spread_deg``: mean angle between each window's gravity direction
  and the worker's own mean direction;
* ``acc_noise``, ``gyro_noise``: ``median(|Δ²x|) / (0.6745·√6)`` averaged
  over axes (the white-noise std: the second difference removes smooth
  motion and has std √6·σ for white noise) -> median.

The frequency and time statistics (``jerk``, ``*_hz``, ``acf_decay_s``) need
the IMU rate, read from the dataset (manifest ``rate_hz``), never assumed;
without it they are left out. The transition rate needs each window's clip
and start time, parsed from its window id (``"{clip_id}/{t0_ms:08d}"``):
consecutive sampled windows of one clip, in time order, either keep or
switch state, and the switches are divided by the time between them.
Workers are sampled clip by clip (whole clips, in random order, up to the
window budget) so that consecutive windows are adjacent in time.

``hardest_workers`` lists the workers with the lowest F1 and their
statistics; ``hard_case_analysis`` correlates, clusters and predicts.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from egoimu_jax.evaluation import hard_case_signal as signal

WorkerStats = Dict[str, Dict[str, float]]
ADF_ALPHA = 0.05
_CHUNK = 1024            # windows per batch of per-window statistics
_MEAN = ("motion_energy", "rotation_energy", "rms_acc", "gyro_variance", "jerk")
_MEDIAN = ("spectral_centroid_hz", "dominant_freq_hz", "spectral_entropy",
           "acf_decay_s", "acc_noise", "gyro_noise")


def is_imu_statistic(name: str) -> bool:
  """True for statistics computed from IMU alone (usable before deployment)."""
  return not name.startswith("fraction/") and name != "n_windows"


def window_statistics(imu: np.ndarray, rate_hz: Optional[float] = None
                      ) -> Dict[str, np.ndarray]:
  """Per-window quantities ``[n]`` (and unit gravity vectors ``[n, 3]``)."""
  if imu.ndim != 3 or imu.shape[2] != 6:
    raise ValueError(f"imu must be [n, L, 6], got {imu.shape}")
  if rate_hz is not None and not rate_hz > 0:
    raise ValueError(f"IMU rate must be positive, got {rate_hz}")
  parts = []
  for i in range(0, max(len(imu), 1), _CHUNK):
    x = np.asarray(imu[i:i + _CHUNK], np.float64)
    part = signal.basic(x)
    part.update(signal.spectral(x, rate_hz))
    part["adf_pvalue"] = signal.adf_pvalue(x)
    if rate_hz:
      part["jerk"] = signal.jerk(x, rate_hz)
      part["acf_decay_s"] = signal.acf_decay_s(x, rate_hz)
    parts.append(part)
  return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def parse_window_ids(window_ids: Sequence[str] | np.ndarray
                     ) -> Tuple[np.ndarray, np.ndarray]:
  """Clip id and start time (s) of ``"{clip_id}/{t0_ms}"`` ids (NaN if not)."""
  clips, t0 = [], []
  for wid in np.asarray(window_ids).astype(str):
    clip, _, ms = wid.rpartition("/")
    ok = bool(clip) and ms.isdigit()
    clips.append(clip if ok else wid)
    t0.append(int(ms) / 1000.0 if ok else np.nan)
  return np.asarray(clips, dtype=str), np.asarray(t0, np.float64)


def transition_rate(energy: np.ndarray, threshold: float, worker: np.ndarray,
                    clip: np.ndarray, t0_s: np.ndarray, num_workers: int
                    ) -> np.ndarray:
  """Switches between high and low activity per minute, per worker.

  ``worker`` holds integer worker positions; windows are ordered by (worker,
  clip, start time) and only consecutive windows of one clip count. NaN for
  a worker with no such pair (or no start times).
  """
  order = np.lexsort((t0_s, clip, worker))
  w, c, t = worker[order], clip[order], t0_s[order]
  high = energy[order] > threshold
  pair = (w[1:] == w[:-1]) & (c[1:] == c[:-1]) & np.isfinite(t[1:] - t[:-1])
  switches = np.bincount(w[1:][pair], weights=(high[1:] != high[:-1])[pair],
                         minlength=num_workers)
  seconds = np.bincount(w[1:][pair], weights=(t[1:] - t[:-1])[pair],
                        minlength=num_workers)
  with np.errstate(divide="ignore", invalid="ignore"):
    return np.where(seconds > 0, 60.0 * switches / seconds, np.nan)


def worker_statistics(imu: np.ndarray, labels: np.ndarray,
                      worker_ids: Sequence[str] | np.ndarray,
                      classes: Sequence[str], rate_hz: Optional[float] = None,
                      window_ids: Optional[Sequence[str] | np.ndarray] = None
                      ) -> WorkerStats:
  """``{worker: {statistic: value}}`` from windows ``[n, L, 6]`` (module doc).

  ``rate_hz``: the IMU rate of ``imu`` (None: frequency and time statistics
  left out); ``window_ids``: for the transition rate (None: left out).
  """
  labels = np.asarray(labels)
  worker_ids = np.asarray(worker_ids).astype(str)
  if labels.shape != (len(imu),) or worker_ids.shape != (len(imu),):
    raise ValueError("imu, labels and worker_ids must have the same length")
  per_window = window_statistics(imu, rate_hz)
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
  transitions = None
  if window_ids is not None:
    clip, t0 = parse_window_ids(window_ids)
    energy = per_window["motion_energy"]
    transitions = transition_rate(energy, float(np.median(energy)), inverse,
                                  clip, t0, len(names))
  out: WorkerStats = {}
  for i, w in enumerate(names):
    sel = inverse == i
    row = {f"fraction/{c}": float(np.mean(labels[sel] == k))
           for k, c in enumerate(classes)}
    row.update({k: _reduce(np.nanmean, per_window[k][sel])
                for k in _MEAN if k in per_window})
    row.update({k: _reduce(np.nanmedian, per_window[k][sel])
                for k in _MEDIAN if k in per_window})
    adf = per_window["adf_pvalue"][sel]
    adf = adf[np.isfinite(adf)]
    row["stationary_share"] = (float(np.mean(adf < ADF_ALPHA)) if len(adf)
                               else float("nan"))
    if transitions is not None:
      row["transition_rate_per_min"] = float(transitions[i])
    row.update(gravity_offset_deg=float(offset[i]),
               gravity_spread_deg=float(spread[i]), n_windows=int(sel.sum()))
    out[str(w)] = row
  return out


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
                   max_per_worker: int, seed: int = 0,
                   clips: Optional[np.ndarray] = None,
                   t0_s: Optional[np.ndarray] = None) -> np.ndarray:
  """Positions of at most ``max_per_worker`` windows per worker (seeded).

  With ``clips``, whole clips are taken in random order (their windows in
  ``t0_s`` order; the last clip cut to fill the budget), so that sampled
  windows stay adjacent in time; else windows are drawn at random.
  """
  del index    # positions, not record indices, are sampled
  rng = np.random.default_rng(seed)
  worker_ids = np.asarray(worker_ids).astype(str)
  keep = []
  for w in np.unique(worker_ids):
    pos = np.nonzero(worker_ids == w)[0]
    if len(pos) > max_per_worker:
      if clips is None:
        pos = rng.choice(pos, max_per_worker, replace=False)
      else:
        names, clip_of = np.unique(np.asarray(clips)[pos], return_inverse=True)
        rank = np.argsort(rng.permutation(len(names)))[clip_of]
        t = np.zeros(len(pos)) if t0_s is None else np.asarray(t0_s)[pos]
        pos = pos[np.lexsort((t, rank))][:max_per_worker]
    keep.append(np.sort(pos))
  return np.concatenate(keep) if keep else np.zeros(0, np.int64)


def statistics_from_records(read_imu: Callable[[np.ndarray], np.ndarray],
                            index: np.ndarray, labels: np.ndarray,
                            worker_ids: np.ndarray, classes: Sequence[str],
                            max_per_worker: int = 64, seed: int = 0,
                            rate_hz: Optional[float] = None,
                            window_ids: Optional[np.ndarray] = None
                            ) -> WorkerStats:
  """Worker statistics from a sample of each worker's windows.

  ``read_imu(record_indices) -> [n, L, 6]`` reads raw windows (e.g. from the
  processed shards); ``index``/``labels``/``worker_ids``/``window_ids`` come
  from a run's predictions; ``rate_hz`` is the rate of the stored windows.
  """
  clips = t0 = None
  if window_ids is not None:
    clips, t0 = parse_window_ids(window_ids)
  pos = sample_indices(index, worker_ids, max_per_worker, seed, clips, t0)
  order = np.argsort(np.asarray(index)[pos], kind="stable")   # sequential reads
  pos = pos[order]
  imu = read_imu(np.asarray(index)[pos])
  return worker_statistics(
      imu, np.asarray(labels)[pos], np.asarray(worker_ids)[pos], classes,
      rate_hz=rate_hz,
      window_ids=None if window_ids is None else np.asarray(window_ids)[pos])


def _reduce(fn, values: np.ndarray) -> float:
  values = values[np.isfinite(values)]
  return float(fn(values)) if len(values) else float("nan")


def _angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  cos = np.clip((a * b).sum(-1), -1.0, 1.0)
  return np.degrees(np.arccos(cos))
