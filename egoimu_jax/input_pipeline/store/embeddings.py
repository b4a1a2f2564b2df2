"""Teacher-embedding shard sets, keyed by window id.

A frozen video teacher's embeddings of (a subset of) the windows are stored as
their own tfds-readable shard set ``<processed_dir>/egoimu/teacher_<name>/``
with records ``{window_id, embedding float32[D]}``, plus ``index.npz``
mapping each embedded window's global record index to its shard and offset, so
the pipeline looks embeddings up by record index without a string table.

  with embeddings.EmbeddingWriter(processed_dir, "videomae", dim=768) as w:
    w.add(window_ids, vectors)            # any order, any number of calls
  table = embeddings.EmbeddingSet.open(processed_dir, "videomae")
  vectors = table.read(record_indices)    # float32 [n, 768]

A set written by the ``extract_embeddings`` job (``egoimu_jax/teachers``)
also holds ``teacher_manifest.json`` (model, weights checksum, pooling,
counts; written last, so it marks a complete set) and ``teacher_missing.csv``
(the windows without a vector, with reasons). Rewriting a set removes both.
"""

from __future__ import annotations

import glob
import json
import os
from typing import Optional, Sequence

import numpy as np

from egoimu_jax.input_pipeline.store import manifest as manifest_lib
from egoimu_jax.input_pipeline.store import record_table
from egoimu_jax.input_pipeline.store import records
from egoimu_jax.input_pipeline.store import shard_io
from egoimu_jax.input_pipeline.store import tfds_format

INDEX_FILE = "index.npz"
MANIFEST_FILE = "teacher_manifest.json"
MISSING_FILE = "teacher_missing.csv"


def set_dir(processed_dir: str, name: str) -> str:
  """Directory of the teacher set ``name`` (shards, index, manifest)."""
  return tfds_format.shard_set_dir(processed_dir,
                                   tfds_format.teacher_config(name))


def read_manifest(processed_dir: str, name: str) -> Optional[dict]:
  """The set's ``teacher_manifest.json``, None if the set has none."""
  path = os.path.join(set_dir(processed_dir, name), MANIFEST_FILE)
  if not os.path.exists(path):
    return None
  with open(path, encoding="utf-8") as f:
    return json.load(f)


class EmbeddingWriter:
  """Streams ``(window_id, embedding)`` pairs into a teacher shard set."""

  def __init__(self, processed_dir: str, name: str, dim: int,
               records_per_shard: int = 65536):
    self.processed_dir = processed_dir
    self.config = tfds_format.teacher_config(name)
    self.dim = int(dim)
    self.records_per_shard = int(records_per_shard)
    self._manifest = manifest_lib.load(processed_dir)
    self._table = record_table.RecordTable.load(processed_dir, self._manifest)
    self._features = records.embedding_features(self.dim)
    self._dir = tfds_format.shard_set_dir(processed_dir, self.config)
    os.makedirs(self._dir, exist_ok=True)
    for stale in glob.glob(os.path.join(self._dir, "*")):
      os.remove(stale)  # Rewriting a set replaces it entirely.
    self._writer: Optional[shard_io.ShardWriter] = None
    self._paths: list[str] = []
    self._lengths: list[int] = []
    self._indices: list[np.ndarray] = []

  def __enter__(self):
    return self

  def __exit__(self, exc_type, exc, tb):
    if exc_type is None:
      self.close()
    elif self._writer is not None:
      self._writer.abort()

  def add(self, window_ids: Sequence[str], embeddings: np.ndarray) -> None:
    self._add(window_ids, self._table.index_of_window_ids(window_ids),
              embeddings)

  def add_indices(self, record_indices: np.ndarray,
                  embeddings: np.ndarray) -> None:
    """``add`` by global record index (no window-id lookup: for callers
    that add many batches of known records)."""
    record_indices = np.asarray(record_indices, np.int64)
    if record_indices.ndim != 1 or (len(record_indices) and (
        record_indices.min() < 0 or
        record_indices.max() >= len(self._table))):
      raise IndexError(f"record indices must be 1-D in "
                       f"[0, {len(self._table)})")
    self._add(self._table.window_ids(record_indices), record_indices,
              embeddings)

  def _add(self, window_ids: Sequence[str], record_indices: np.ndarray,
           embeddings: np.ndarray) -> None:
    embeddings = np.asarray(embeddings, np.float32)
    if embeddings.shape != (len(window_ids), self.dim):
      raise ValueError(f"embeddings shape {embeddings.shape}, expected "
                       f"({len(window_ids)}, {self.dim})")
    self._indices.append(record_indices)
    for wid, vector in zip(window_ids, embeddings):
      if self._writer is None:
        path = os.path.join(self._dir, f"part-{len(self._paths):05d}")
        self._writer = shard_io.ShardWriter(path, "uncompressed")
        self._paths.append(path)
      self._writer.write(records.encode(
          self._features, {"window_id": wid, "embedding": vector}))
      if self._writer.num_records == self.records_per_shard:
        self._finish_shard()

  def _finish_shard(self) -> None:
    self._writer.close()
    self._lengths.append(self._writer.num_records)
    self._writer = None

  def close(self) -> None:
    if self._writer is not None:
      self._finish_shard()
    index = (np.concatenate(self._indices) if self._indices
             else np.zeros(0, np.int64))
    if len(np.unique(index)) != len(index):
      raise ValueError(f"teacher set {self.config}: a window id was added "
                       "more than once")
    count = len(self._paths)
    num_bytes = 0
    for k, path in enumerate(self._paths):
      final = tfds_format.shard_path(self.processed_dir, self.config, k, count)
      os.replace(path, final)
      num_bytes += os.path.getsize(final)
    shard = np.repeat(np.arange(count), self._lengths)
    offset = np.concatenate([np.arange(n) for n in self._lengths] or
                            [np.zeros(0, np.int64)])
    order = np.argsort(index)
    record_table.save_npz(os.path.join(self._dir, INDEX_FILE), {
        "record_index": index[order], "shard": shard[order].astype(np.int32),
        "offset": offset[order].astype(np.int64),
        "dim": np.asarray(self.dim),
        "fingerprint": np.asarray(self._manifest["fingerprint"])})
    tfds_format.write_dataset_info(
        self.processed_dir, self.config, self._features, self._lengths,
        num_bytes, description=f"teacher embeddings {self.config}")


class EmbeddingSet:
  """Read side: embeddings by global record index."""

  def __init__(self, processed_dir: str, name: str, fingerprint: str):
    self.config = tfds_format.teacher_config(name)
    directory = tfds_format.shard_set_dir(processed_dir, self.config)
    path = os.path.join(directory, INDEX_FILE)
    if not os.path.exists(path):
      raise FileNotFoundError(f"teacher embeddings {name!r} not found: {path}")
    with np.load(path) as npz:
      self.record_index = npz["record_index"]
      self.shard = npz["shard"]
      self.offset = npz["offset"]
      self.dim = int(npz["dim"])
      if str(npz["fingerprint"]) != fingerprint:
        raise ValueError(f"{path} was written for another processed dataset "
                         f"({npz['fingerprint']} != {fingerprint})")
    count = int(self.shard.max()) + 1 if len(self.shard) else 0
    self.reader = shard_io.ShardReader(
        [tfds_format.shard_path(processed_dir, self.config, k, count)
         for k in range(count)])

  @classmethod
  def open(cls, processed_dir: str, name: str) -> "EmbeddingSet":
    return cls(processed_dir, name,
               manifest_lib.load(processed_dir)["fingerprint"])

  def positions(self, record_indices: np.ndarray) -> np.ndarray:
    """Row in this set of each record index, -1 where it has no embedding."""
    record_indices = np.asarray(record_indices, np.int64)
    pos = np.searchsorted(self.record_index, record_indices)
    pos = np.minimum(pos, max(len(self.record_index) - 1, 0))
    found = (self.record_index[pos] == record_indices
             if len(self.record_index) else np.zeros(len(pos), bool))
    return np.where(found, pos, -1)

  def read_rows(self, rows: np.ndarray) -> np.ndarray:
    """Vectors of rows of this set (``positions``); a row of -1 (a window
    without a vector) is an error, never the last row."""
    rows = np.asarray(rows, np.int64)
    if len(rows) and rows.min() < 0:
      raise KeyError(f"{self.config}: {int((rows < 0).sum())} window(s) "
                     "have no embedding (see the set's teacher_missing.csv)")
    serialized = self.reader.read(self.shard[rows], self.offset[rows])
    return records.decode_tensor_batch(serialized, "embedding", np.float32,
                                       (self.dim,))

  def read(self, record_indices: np.ndarray) -> np.ndarray:
    rows = self.positions(record_indices)
    if (rows < 0).any():
      missing = np.asarray(record_indices)[rows < 0]
      raise KeyError(f"{self.config}: no embedding for {len(missing)} "
                     f"record(s), e.g. {missing[:5].tolist()}")
    return self.read_rows(rows)
