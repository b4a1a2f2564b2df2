"""Person-aware IMU normalisation: per-worker statistics and gravity alignment.

A strategy of ``normalization.NORMALIZATIONS`` (``"person"``, and
``"population"`` with ``gravity_align``).

``input.normalization = "person"`` z-normalises each worker's windows with
the mean and std of that worker's own windows in the split (any part: they
are used unlabeled, as a deployed device could collect them), instead of
the training population's. ``input.gravity_align`` first rotates each
worker's accelerometer and gyroscope axes by the rotation that takes the
worker's mean acceleration direction (gravity, for a body-worn sensor) to
the training population's, so that a differently mounted or tilted device
reads in a common frame; the statistics are then computed on rotated data.

Saved as ``person_norm.json`` in the workdir (next to ``split.json``) and
checked against the processed dataset, the split and the options on reload.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Mapping, Optional

import numpy as np

from egoimu_jax.input_pipeline import normalization
from egoimu_jax.input_pipeline.store import manifest as manifest_lib

PERSON_NORM_FILE = "person_norm.json"
KINDS = ("population", "person")
_PARTS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True, eq=False)
class WorkerNorm:
  """Per-worker rotation and z-normalisation, indexed by worker index.

  ``rotation [W, 3, 3]`` acts on acc and gyro alike (``x @ R.T``);
  ``mean``/``std [W, 6]`` are in the rotated frame.
  """
  rotation: np.ndarray
  mean: np.ndarray
  std: np.ndarray

  def apply_batch(self, imu: np.ndarray, workers: np.ndarray) -> np.ndarray:
    """``imu [b, L, 6]`` of windows from ``workers [b]``, float32."""
    workers = np.asarray(workers, np.int64)
    imu = rotate(np.asarray(imu, np.float32), self.rotation[workers])
    imu -= self.mean[workers][:, None]
    imu /= self.std[workers][:, None]
    return imu


def rotate(imu: np.ndarray, rotation: np.ndarray) -> np.ndarray:
  """``imu [b, L, 6]`` with acc and gyro rotated by ``rotation [b, 3, 3]``."""
  out = np.empty_like(imu)
  for s in (slice(0, 3), slice(3, 6)):
    out[..., s] = np.einsum("blj,bij->bli", imu[..., s], rotation)
  return out


def rotation_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
  """The smallest rotation ``R`` (3x3) with ``R @ u/|u| = v/|v|``.

  Rodrigues' formula about ``u x v``; antiparallel vectors turn by pi about
  any axis orthogonal to ``u``.
  """
  u = np.asarray(u, np.float64) / np.linalg.norm(u)
  v = np.asarray(v, np.float64) / np.linalg.norm(v)
  axis, cos = np.cross(u, v), float(np.dot(u, v))
  if cos < -1 + 1e-9:
    ortho = np.eye(3)[np.argmin(np.abs(u))]
    k = np.cross(u, ortho)
    k /= np.linalg.norm(k)
    return 2 * np.outer(k, k) - np.eye(3)
  skew = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]],
                   [-axis[1], axis[0], 0]])
  return np.eye(3) + skew + skew @ skew / (1 + cos)


def compute(dataset, split: Mapping, kind: str, gravity_align: bool, *,
            max_windows: int = 0, seed: int = 0) -> tuple[WorkerNorm, dict]:
  """The split's ``WorkerNorm``: per-person (``kind="person"``) or
  population statistics, with or without gravity alignment.

  A worker's statistics and gravity direction come from that worker's
  windows in the split only; the population's from the training windows.
  """
  if kind not in KINDS:
    raise ValueError(f"config.input.normalization must be one of {KINDS}, "
                     f"got {kind!r}")
  num_workers = len(dataset.workers)
  table_worker = dataset.table.worker
  used = np.unique(np.concatenate(
      [dataset.split_indices(split, p) for p in _PARTS]))
  per_worker = {int(w): used[table_worker[used] == w]
                for w in np.unique(table_worker[used])}
  train = dataset.split_indices(split, "train")
  rotation = np.tile(np.eye(3, dtype=np.float32), (num_workers, 1, 1))
  info = {"kind": kind, "gravity_align": bool(gravity_align),
          "workers": {dataset.workers[w]: int(len(i))
                      for w, i in per_worker.items()}}
  if gravity_align:
    target = normalization.compute(dataset, train, max_windows=max_windows,
                                   seed=seed)[0].mean[:3]
    for w, idx in per_worker.items():
      gravity = normalization.compute(dataset, idx, max_windows=max_windows,
                                      seed=seed)[0].mean[:3]
      rotation[w] = rotation_between(gravity, target)
    info["gravity_target"] = (target / np.linalg.norm(target)).tolist()

  def rotated(imu, indices):
    return rotate(imu, rotation[table_worker[indices]])

  mean = np.zeros((num_workers, 6), np.float32)
  std = np.ones((num_workers, 6), np.float32)
  if kind == "person":
    for w, idx in per_worker.items():
      stats, _ = normalization.compute(dataset, idx, max_windows=max_windows,
                                       seed=seed, transform=rotated)
      mean[w], std[w] = stats.mean, stats.std
  else:
    stats, _ = normalization.compute(dataset, train, max_windows=max_windows,
                                     seed=seed, transform=rotated)
    mean[:], std[:] = stats.mean, stats.std
  return WorkerNorm(rotation, mean, std), info


def load_or_compute(workdir: Optional[str], dataset, split: Mapping,
                    input_config) -> WorkerNorm:
  """``workdir/person_norm.json`` if it matches, else computed and saved."""
  kind = input_config.get("normalization", "population")
  gravity = bool(input_config.get("gravity_align", False))
  max_windows = int(input_config.get("norm_max_windows", 0))
  seed = int(input_config.get("shuffle_seed", 0))
  key = hashlib.sha256(json.dumps(
      [dict(split), kind, gravity, max_windows, seed, dataset.fingerprint],
      sort_keys=True, default=str).encode()).hexdigest()[:24]
  path = os.path.join(workdir, PERSON_NORM_FILE) if workdir else None
  if path and os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      saved = json.load(f)
    if saved.get("key") != key:
      raise ValueError(
          f"{path} was computed for another split, dataset or "
          "input.normalization / gravity_align; use a fresh workdir")
    return WorkerNorm(*(np.asarray(saved[k], np.float32)
                        for k in ("rotation", "mean", "std")))
  norm, info = compute(dataset, split, kind, gravity, max_windows=max_windows,
                       seed=seed)
  if path:
    os.makedirs(workdir, exist_ok=True)
    manifest_lib.write_json_atomic(path, {
        "key": key, "rotation": norm.rotation.tolist(),
        "mean": norm.mean.tolist(), "std": norm.std.tolist(), **info})
  return norm
