"""The ``memory`` raw source: already-windowed clips held in memory.

``prepare`` normally ingests a raw dataset (files on disk or gs://). Data
that already exists as windows (another project's arrays, or generated
windows in benchmarks and tests) can be written to the same shard format
without going through raw files::

  clips = [ingest.ClipWindows(...), ingest.Quarantined(...), ...]
  source = MemoryDataset(classes, clips)
  prepare.prepare(config.data, "memory:mine", out_dir, dataset=source)

Each clip is one index row; ``Quarantined`` entries count as quarantined
rows, exactly like bad raw clips. The source lives in one process (prepare
pickles it to its workers): it cannot be opened again from a root, so
teachers never read raw videos from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Callable, Iterator, Mapping, Optional, Sequence

import numpy as np

from egoimu_jax import errors
from egoimu_jax.input_pipeline.raw import ingest as ingest_lib
from egoimu_jax.input_pipeline.raw import source as source_lib


class MemoryDataset(source_lib.RawSource):
  """Clips held in memory; ``ingest`` returns them (frames per ``store_frames``)."""

  reopenable = False

  def __init__(self, classes: Sequence[str],
               clips: Sequence["ingest_lib.ClipWindows | ingest_lib.Quarantined"],
               workers: Optional[Mapping[str, dict]] = None,
               unit_rows: int = 16):
    self.root = "memory"
    self.classes = tuple(classes)
    self.clips = list(clips)
    self.rows = [source_lib.ClipRow(i, c.clip_id, c.worker_id, "", "", {})
                 for i, c in enumerate(self.clips)]
    if len({r.clip_id for r in self.rows}) != len(self.rows):
      raise ValueError("clip ids must be unique")
    self.workers = {r.worker_id: {} for r in self.rows}
    self.workers.update({w: dict(m) for w, m in (workers or {}).items()})
    self.unit_rows = unit_rows
    self._fingerprint = None

  @classmethod
  def open(cls, root: str, data_cfg) -> "MemoryDataset":
    del data_cfg
    raise errors.UserError(
        f"config.data.layout='memory' cannot open {root!r}: an in-memory "
        "source is built in code, MemoryDataset(classes, clips), and passed "
        "as prepare(..., dataset=source)")

  def fingerprint(self) -> str:
    """sha256 over every clip's ids, arrays and quarantine reason."""
    if self._fingerprint is None:
      h = hashlib.sha256(repr(self.classes).encode())
      for c in self.clips:
        h.update(f"{type(c).__name__}|{c.clip_id}|{c.worker_id}".encode())
        if isinstance(c, ingest_lib.Quarantined):
          h.update(f"{c.path}|{c.reason}".encode())
          continue
        for a in (c.imu, c.t0_us, c.label, c.purity, c.frames):
          if a is not None:
            h.update(np.ascontiguousarray(a).tobytes())
      self._fingerprint = h.hexdigest()
    return self._fingerprint

  def work_units(self) -> list[list[int]]:
    n = len(self.rows)
    return [list(range(s, min(s + self.unit_rows, n)))
            for s in range(0, n, self.unit_rows)]

  def ingest(self, rows: Sequence[int], data_cfg,
             store_frames: Callable[[str], bool]
             ) -> Iterator["ingest_lib.ClipWindows | ingest_lib.Quarantined"]:
    del data_cfg
    for r in rows:
      clip = self.clips[r]
      if (isinstance(clip, ingest_lib.ClipWindows) and clip.frames is not None
          and not store_frames(clip.clip_id)):
        clip = dataclasses.replace(clip, frames=None)
      yield clip
