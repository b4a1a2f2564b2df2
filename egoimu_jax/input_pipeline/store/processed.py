"""A processed dataset opened for reading: manifest, record table, shards.

For consumers that want plain numpy (the classical baseline, probes)::

  ds = processed.ProcessedDataset.open(processed_dir)
  train = ds.split_indices(split, "train")          # Contract-2 split dict
  arrays = ds.read(train, fields=("imu", "label", "worker"))

or in one call ``processed.read_windows(processed_dir, indices, fields)``.
Values are raw (not normalised). Shard reads are batched (one read per shard
touched per call); pass a few thousand indices per call for large sets.
"""

from __future__ import annotations

import hashlib

from typing import Mapping, Optional, Sequence

import numpy as np

from egoimu_jax.input_pipeline.store import embeddings
from egoimu_jax.input_pipeline.store import manifest as manifest_lib
from egoimu_jax.input_pipeline.store import record_table
from egoimu_jax.input_pipeline.store import records
from egoimu_jax.input_pipeline.store import shard_io

TABLE_FIELDS = ("label", "worker", "clip", "t0_us", "purity")
ID_FIELDS = ("window_id", "worker_id", "clip_id")
SHARD_FIELDS = ("imu", "frames", "teacher")
FIELDS = ("index",) + TABLE_FIELDS + ID_FIELDS + SHARD_FIELDS


class ProcessedDataset:
  """Random access to a processed dataset's windows by global record index."""

  def __init__(self, processed_dir: str, manifest: Mapping,
               table: record_table.RecordTable):
    self.processed_dir = processed_dir
    self.manifest = manifest
    self.table = table
    self.classes = tuple(manifest["classes"])
    self.workers = tuple(manifest["workers"])
    self.window_length = int(manifest["window_length"])
    self.windows = shard_io.ShardReader(
        manifest_lib.shard_paths(processed_dir, manifest, "windows"))
    frames = manifest["frames"]
    self.frames_shape = (frames["frames_per_window"], frames["size"],
                         frames["size"], 3)
    self.frames = (shard_io.ShardReader(
        manifest_lib.shard_paths(processed_dir, manifest, "frames"))
                   if frames["stored"] else None)
    self._teachers: dict[str, embeddings.EmbeddingSet] = {}

  @classmethod
  def open(cls, processed_dir: str) -> "ProcessedDataset":
    manifest = manifest_lib.load(processed_dir)
    return cls(processed_dir, manifest,
               record_table.RecordTable.load(processed_dir, manifest))

  def __len__(self) -> int:
    return len(self.table)

  @property
  def fingerprint(self) -> str:
    return self.manifest["fingerprint"]

  def split_indices(self, split: Mapping, part: str) -> np.ndarray:
    """Sorted record indices of a split's part (train / val / test)."""
    return record_table.split_indices(self.table, split, part)

  def teacher(self, name: str) -> embeddings.EmbeddingSet:
    if name not in self._teachers:
      self._teachers[name] = embeddings.EmbeddingSet(
          self.processed_dir, name, self.fingerprint)
    return self._teachers[name]

  def has_frames(self, indices: np.ndarray) -> np.ndarray:
    return self.table.frames_offset[indices] >= 0

  def read_imu(self, indices: np.ndarray) -> np.ndarray:
    serialized = self.windows.read(self.table.shard[indices],
                                   self.table.offset[indices])
    return records.decode_tensor_batch(
        serialized, "imu", np.float32,
        (self.window_length, records.IMU_CHANNELS))

  def read_frames(self, indices: np.ndarray) -> np.ndarray:
    offsets = self.table.frames_offset[indices]
    if self.frames is None or (offsets < 0).any():
      missing = np.asarray(indices)[offsets < 0] if self.frames else indices
      raise KeyError(f"{self.processed_dir}: no stored frames for "
                     f"{len(missing)} record(s), e.g. {missing[:5].tolist()} "
                     "(data.video.store_frames / frames_fraction)")
    serialized = self.frames.read(self.table.shard[indices], offsets)
    return records.decode_tensor_batch(serialized, "frames", np.uint8,
                                       self.frames_shape)

  def read(self, indices: Sequence[int], fields: Sequence[str] = (
      "imu", "label"), teacher: Optional[str] = None) -> dict[str, np.ndarray]:
    """Arrays for the records ``indices`` (in that order), one per field."""
    indices = np.asarray(indices, np.int64)
    if indices.ndim != 1 or (len(indices) and (
        indices.min() < 0 or indices.max() >= len(self))):
      raise IndexError(f"record indices must be 1-D in [0, {len(self)})")
    unknown = set(fields) - set(FIELDS)
    if unknown:
      raise KeyError(f"unknown fields {sorted(unknown)}; known: {FIELDS}")
    out = {}
    for field in fields:
      if field == "index":
        out[field] = indices
      elif field in TABLE_FIELDS:
        out[field] = self.table.columns[field][indices]
      elif field == "window_id":
        out[field] = np.asarray(self.table.window_ids(indices), dtype=str)
      elif field == "worker_id":
        out[field] = np.asarray(self.workers, dtype=str)[
            self.table.worker[indices]]
      elif field == "clip_id":
        out[field] = np.asarray(
            [self.table.clip_ids[c] for c in self.table.clip[indices]],
            dtype=str)
      elif field == "imu":
        out[field] = self.read_imu(indices)
      elif field == "frames":
        out[field] = self.read_frames(indices)
      elif field == "teacher":
        if not teacher:
          raise ValueError("field 'teacher' needs teacher=<name>")
        out[field] = self.teacher(teacher).read(indices)
    return out


def read_windows(processed_dir: str, record_indices: Sequence[int],
                 fields: Sequence[str] = ("imu", "label"),
                 teacher: Optional[str] = None) -> dict[str, np.ndarray]:
  """``ProcessedDataset.open(processed_dir).read(...)`` in one call."""
  return ProcessedDataset.open(processed_dir).read(record_indices, fields,
                                                   teacher)


def split_record_indices(processed_dir: str, split: Mapping,
                         part: str) -> np.ndarray:
  """Sorted global record indices of ``part`` of a Contract-2 split."""
  manifest = manifest_lib.load(processed_dir)
  table = record_table.RecordTable.load(processed_dir, manifest)
  return record_table.split_indices(table, split, part)


def coverage(served: np.ndarray, total: int) -> dict:
  """How many of a part's ``total`` records a run was scored on, and a
  digest of exactly which (``report`` pairs runs only when they agree)."""
  digest = hashlib.sha256(np.sort(np.asarray(served, np.int64)).astype(
      "<i8").tobytes()).hexdigest()
  return {"served": int(len(served)), "total": int(total),
          "sha256": digest[:16]}
