"""Per-channel IMU z-normalisation from a split's training records only.

``for_split`` picks the strategy ``config.input.normalization`` names in
``NORMALIZATIONS``: ``"population"`` (this module: the training workers'
statistics) or ``"person"`` (``person_norm.py``: each worker's own); a
strategy returns an object with ``apply_batch(imu, workers)``.

Statistics are computed once per split and saved as ``norm_stats.json`` in
the run's workdir next to ``split.json``; a later run (or a restart) loads
them, after checking that they belong to the same processed dataset and the
same training set. Test and validation windows never contribute, so their
statistics cannot leak into training.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from typing import Mapping, Optional

import numpy as np

from egoimu_jax.input_pipeline.store import manifest as manifest_lib
from egoimu_jax.registry import Registry

NORM_FILE = "norm_stats.json"
# Channels whose training std is below this (e.g. a dead sensor axis) are only
# centred, not scaled, so they cannot blow up to huge values.
_MIN_STD = 1e-6


@dataclasses.dataclass(frozen=True, eq=False)
class NormStats:
  mean: np.ndarray  # float32 [6]
  std: np.ndarray   # float32 [6]

  def apply(self, imu: np.ndarray) -> np.ndarray:
    """``(imu - mean) / std`` over the last axis, float32."""
    return self.apply_inplace(np.array(imu, np.float32))

  def apply_inplace(self, imu: np.ndarray) -> np.ndarray:
    """Normalises a C-contiguous float32 ``[..., L, 6]`` array in place.

    In place: no new batch-sized buffers (their first-touch page faults cost
    as much as the arithmetic). Over rows of ``L * 6`` values with tiled
    statistics: broadcasting against a length-6 last axis runs numpy's inner
    loop 6 elements at a time, ~4x slower.
    """
    if imu.ndim < 2 or not imu.flags.c_contiguous:
      imu -= self.mean
      imu /= self.std
      return imu
    rows = imu.reshape(-1, imu.shape[-2] * imu.shape[-1])
    mean, inv_std = self._tiled(imu.shape[-2])
    rows -= mean
    rows *= inv_std
    return imu

  @functools.lru_cache(maxsize=4)
  def _tiled(self, length: int) -> tuple[np.ndarray, np.ndarray]:
    return (np.tile(self.mean, length),
            np.tile((1 / self.std).astype(np.float32), length))

  def apply_batch(self, imu: np.ndarray, workers: np.ndarray) -> np.ndarray:
    """The pipeline's call: population statistics ignore ``workers``."""
    del workers
    return self.apply_inplace(imu)

  def invert(self, imu: np.ndarray) -> np.ndarray:
    return np.asarray(imu, np.float32) * self.std + self.mean


def train_key(split: Mapping) -> str:
  """Hash of what defines a split's training records."""
  key = [split.get("dataset_fingerprint"),
         sorted(split.get("train_workers") or []),
         sorted(split["train_clips"])
         if split.get("train_clips") is not None else None]
  if split.get("train_ranges") is not None:   # clips split in time
    key.append(split["train_ranges"])
  blob = json.dumps(key, sort_keys=True)
  return hashlib.sha256(blob.encode()).hexdigest()[:24]


def compute(dataset, indices: np.ndarray, *, max_windows: int = 0,
            seed: int = 0, chunk: int = 4096,
            transform=None) -> tuple[NormStats, dict]:
  """Mean and std per channel over all samples of the windows ``indices``.

  ``dataset`` is a ``processed.ProcessedDataset``. With ``max_windows > 0``,
  a seeded uniform subset of that many windows is used. Accumulates
  per-chunk moments in float64 and merges them (Chan et al.), so it streams.
  ``transform(imu [n, L, 6], indices [n]) -> imu`` is applied to each chunk
  first (e.g. a per-worker rotation). Returns the stats and a dict
  describing what was used.
  """
  indices = np.asarray(indices, np.int64)
  if not len(indices):
    raise ValueError("cannot compute normalisation statistics: no training "
                     "records")
  if 0 < max_windows < len(indices):
    rng = np.random.default_rng(seed)
    indices = np.sort(rng.choice(indices, max_windows, replace=False))
  count, mean, m2 = 0, np.zeros(6), np.zeros(6)
  for start in range(0, len(indices), chunk):
    x = dataset.read_imu(indices[start:start + chunk])
    if transform is not None:
      x = transform(x, indices[start:start + chunk])
    x = x.reshape(-1, 6)
    x = x.astype(np.float64)
    n = len(x)
    batch_mean = x.mean(0)
    batch_m2 = ((x - batch_mean) ** 2).sum(0)
    delta = batch_mean - mean
    total = count + n
    mean = mean + delta * n / total
    m2 = m2 + batch_m2 + delta**2 * count * n / total
    count = total
  std = np.sqrt(m2 / count)
  std = np.where(std < _MIN_STD, 1.0, std)
  info = {"num_windows": int(len(indices)), "num_samples": int(count)}
  return NormStats(mean.astype(np.float32), std.astype(np.float32)), info


def load_or_compute(workdir: Optional[str], dataset, split: Mapping, *,
                    max_windows: int = 0, seed: int = 0) -> NormStats:
  """The split's stats: ``workdir/norm_stats.json`` if present, else computed
  from the split's training records and saved there (``workdir`` None: not
  saved)."""
  key = train_key(split)
  path = os.path.join(workdir, NORM_FILE) if workdir else None
  if path and os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      saved = json.load(f)
    if (saved.get("train_key") != key or
        saved.get("processed_fingerprint") != dataset.fingerprint):
      raise ValueError(
          f"{path} was computed for another training set or processed "
          "dataset than this split's; use a fresh workdir (or delete it)")
    return NormStats(np.asarray(saved["mean"], np.float32),
                     np.asarray(saved["std"], np.float32))
  train = dataset.split_indices(split, "train")
  stats, info = compute(dataset, train, max_windows=max_windows, seed=seed)
  if path:
    os.makedirs(workdir, exist_ok=True)
    manifest_lib.write_json_atomic(path, {
        "mean": stats.mean.tolist(), "std": stats.std.tolist(),
        "channels": ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"],
        "train_key": key, "processed_fingerprint": dataset.fingerprint,
        "max_windows": int(max_windows), "seed": int(seed), **info})
  return stats


# config.input.normalization -> fn(workdir, dataset, split, input_config).
NORMALIZATIONS = Registry("normalization")
NORMALIZATIONS.lazy("person",
                    "egoimu_jax.input_pipeline.person_norm:load_or_compute")


@NORMALIZATIONS.register("population")
def population(workdir: Optional[str], dataset, split: Mapping,
               input_config):
  """The training population's statistics (``norm_stats.json``); with
  ``input.gravity_align``, after each worker's gravity rotation
  (``person_norm.py``)."""
  if input_config.get("gravity_align", False):
    from egoimu_jax.input_pipeline import person_norm  # pylint: disable=g-import-not-at-top
    return person_norm.load_or_compute(workdir, dataset, split, input_config)
  return load_or_compute(
      workdir, dataset, split,
      max_windows=input_config.get("norm_max_windows", 0),
      seed=input_config.get("shuffle_seed", 0))


def for_split(workdir: Optional[str], dataset, split: Mapping, input_config):
  """The split's normalisation by ``input_config.normalization``."""
  kind = input_config.get("normalization", "population")
  if kind not in NORMALIZATIONS:
    raise ValueError(f"config.input.normalization must be one of "
                     f"{tuple(NORMALIZATIONS.names())}, got {kind!r}")
  return NORMALIZATIONS.get(kind)(workdir, dataset, split, input_config)
