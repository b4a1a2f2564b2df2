"""ArrayRecord shard files: atomic writing and batched random reads.

Processed shard sets live on a local or mounted file system (ArrayRecord's
reader and writer are C++ file I/O; gs:// is reachable through a gcsfuse mount).
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Sequence

import numpy as np
from array_record.python import array_record_module

# group_size:1 gives O(1) random access per record (grain and tfds require it).
_READER_OPTIONS = "readahead_buffer_size:0"


class ShardWriter:
  """Writes ``path`` via a temp file; ``close`` renames it into place.

  A killed writer leaves only the temp file, so a shard file that exists is
  complete. ``abort`` removes the temp file.
  """

  def __init__(self, path: str, compression: str = "uncompressed"):
    self.path = path
    self._tmp = (f"{path}.tmp-{socket.gethostname()}-{os.getpid()}-"
                 f"{uuid.uuid4().hex[:8]}")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    self._writer = array_record_module.ArrayRecordWriter(
        self._tmp, f"group_size:1,{compression}")
    self.num_records = 0

  def write(self, record: bytes) -> None:
    self._writer.write(record)
    self.num_records += 1

  def close(self) -> int:
    """Finishes the file; returns its size in bytes."""
    self._writer.close()
    os.replace(self._tmp, self.path)
    return os.path.getsize(self.path)

  def abort(self) -> None:
    self._writer.close()
    if os.path.exists(self._tmp):
      os.remove(self._tmp)


class ShardReader:
  """Random access to records addressed by ``(shard, offset)``.

  Readers open lazily and are dropped on pickling, so an instance can be sent
  to grain worker processes.
  """

  def __init__(self, paths: Sequence[str]):
    self.paths = list(paths)
    self._readers: dict[int, array_record_module.ArrayRecordReader] = {}

  def __getstate__(self):
    return {"paths": self.paths}

  def __setstate__(self, state):
    self.paths = state["paths"]
    self._readers = {}

  def _reader(self, shard: int) -> array_record_module.ArrayRecordReader:
    reader = self._readers.get(shard)
    if reader is None:
      path = self.paths[shard]
      if not os.path.exists(path):
        raise FileNotFoundError(f"shard file missing: {path}")
      reader = array_record_module.ArrayRecordReader(path, _READER_OPTIONS)
      self._readers[shard] = reader
    return reader

  def read(self, shards: np.ndarray, offsets: np.ndarray) -> list[bytes]:
    """Returns the records at ``(shards[i], offsets[i])``, in that order.

    One batched read per shard touched; a contiguous run of offsets becomes a
    range read.
    """
    shards = np.asarray(shards)
    offsets = np.asarray(offsets, np.int64)
    out: list[bytes] = [b""] * len(shards)
    if not len(shards):
      return out
    order = np.lexsort((offsets, shards))
    sorted_shards = shards[order]
    bounds = np.flatnonzero(np.diff(sorted_shards)) + 1
    for group in np.split(order, bounds):
      positions = offsets[group]
      reader = self._reader(int(shards[group[0]]))
      if len(positions) > 1 and np.all(np.diff(positions) == 1):
        records = reader.read(int(positions[0]), int(positions[-1]) + 1)
      else:
        records = reader.read(positions.tolist())
      for i, record in zip(group.tolist(), records):
        out[i] = record
    return out

  def close(self) -> None:
    for reader in self._readers.values():
      reader.close()
    self._readers = {}


def num_records(path: str) -> int:
  reader = array_record_module.ArrayRecordReader(path, _READER_OPTIONS)
  try:
    return reader.num_records()
  finally:
    reader.close()
