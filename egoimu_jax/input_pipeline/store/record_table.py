"""Per-record index arrays (``records.npz``) and split → record selection.

Record ``i`` (the global record index of Contract 3) is the ``i``-th record
of the window shards taken in shard order. The table holds, for each record,
what selecting, batching and reporting need without decoding a shard: worker
and clip (as indices into the manifest's lists), label, start time, purity and
where the record (and its frames, if stored) sit in the shard files.
"""

from __future__ import annotations

import dataclasses
import io
import os
import uuid
import zipfile
from typing import Mapping, Sequence

import numpy as np

RECORDS_FILE = "records.npz"

# name -> dtype of every per-record array.
COLUMNS = {
    "worker": np.int32,         # index into manifest["workers"] (sorted ids)
    "clip": np.int32,           # index into manifest["clip_ids"] (raw index row)
    "label": np.int32,          # index into manifest["classes"]
    "t0_us": np.int64,          # window start, µs from clip start
    "purity": np.float32,
    "shard": np.int32,          # window shard holding the record
    "offset": np.int64,         # position inside that shard
    "frames_offset": np.int64,  # position in the same-numbered frames shard, -1: none
}


def save_npz(path: str, arrays: Mapping[str, np.ndarray]) -> None:
  """Writes an ``.npz`` whose bytes depend only on the arrays (no timestamps).

  ``np.savez`` stamps the current time into the zip; identical prepare runs
  must give byte-identical outputs. Written via a temp file, then renamed.
  """
  tmp = f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
  with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
    for name in sorted(arrays):
      buf = io.BytesIO()
      array = np.asarray(arrays[name])  # (ascontiguousarray makes 0-d 1-d)
      np.lib.format.write_array(buf, array if array.flags.c_contiguous
                                else array.copy(), allow_pickle=False)
      info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
      zf.writestr(info, buf.getvalue())
  os.replace(tmp, path)


@dataclasses.dataclass(frozen=True)
class RecordTable:
  """Column arrays of equal length plus the id lists they index into."""
  columns: Mapping[str, np.ndarray]
  workers: tuple[str, ...]
  clip_ids: tuple[str, ...]

  def __post_init__(self):
    lengths = {k: len(v) for k, v in self.columns.items()}
    if set(lengths) != set(COLUMNS) or len(set(lengths.values())) > 1:
      raise ValueError(f"record table columns malformed: {lengths}")

  def __len__(self) -> int:
    return len(self.columns["worker"])

  def __getattr__(self, name):
    try:
      return self.__dict__["columns"][name]
    except KeyError:
      raise AttributeError(name) from None

  @classmethod
  def load(cls, processed_dir: str, manifest: Mapping) -> "RecordTable":
    path = os.path.join(processed_dir, manifest.get("records", RECORDS_FILE))
    with np.load(path, allow_pickle=False) as npz:
      columns = {k: npz[k].astype(dtype, copy=False)
                 for k, dtype in COLUMNS.items()}
    if len(columns["worker"]) != manifest["num_records"]:
      raise ValueError(f"{path}: {len(columns['worker'])} records, manifest "
                       f"says {manifest['num_records']}")
    return cls(columns, tuple(manifest["workers"]), tuple(manifest["clip_ids"]))

  def save(self, processed_dir: str) -> None:
    save_npz(os.path.join(processed_dir, RECORDS_FILE), self.columns)

  def select(self, *, workers: Sequence[str] | None = None,
             clips: Sequence[str] | None = None) -> np.ndarray:
    """Sorted record indices of the given workers, or of the given clips."""
    if (workers is None) == (clips is None):
      raise ValueError("pass exactly one of workers= or clips=")
    if workers is not None:
      ids, universe, column = workers, self.workers, self.worker
      what = "worker"
    else:
      ids, universe, column = clips, self.clip_ids, self.clip
      what = "clip"
    position = {v: i for i, v in enumerate(universe)}
    missing = [v for v in ids if v not in position]
    if missing:
      raise KeyError(f"{len(missing)} {what} id(s) not in the manifest, e.g. "
                     f"{missing[:5]}")
    wanted = np.zeros(len(universe), bool)
    wanted[[position[v] for v in ids]] = True
    return np.flatnonzero(wanted[column]).astype(np.int64)

  def select_ranges(self, ranges: Mapping[str, Sequence[Sequence[int]]]
                    ) -> np.ndarray:
    """Sorted record indices of the windows of clip ``c`` whose start lies
    in one of ``ranges[c]`` (``[first_t0_us, last_t0_us]``, inclusive)."""
    position = {v: i for i, v in enumerate(self.clip_ids)}
    missing = [c for c in ranges if c not in position]
    if missing:
      raise KeyError(f"{len(missing)} clip id(s) not in the manifest, e.g. "
                     f"{missing[:5]}")
    order = np.argsort(self.clip, kind="stable")
    sorted_clip = self.clip[order]
    wanted = []
    for c, pairs in ranges.items():
      lo, hi = np.searchsorted(sorted_clip, [position[c], position[c] + 1])
      rows = order[lo:hi]
      t0 = self.t0_us[rows]
      keep = np.zeros(len(rows), bool)
      for first, last in pairs:
        keep |= (t0 >= first) & (t0 <= last)
      wanted.append(rows[keep])
    return np.sort(np.concatenate(wanted or [np.zeros(0, np.int64)])).astype(
        np.int64)

  def window_ids(self, indices: np.ndarray) -> list[str]:
    return [f"{self.clip_ids[c]}/{t // 1000:08d}"
            for c, t in zip(self.clip[indices].tolist(),
                            self.t0_us[indices].tolist())]

  def index_of_window_ids(self, window_ids: Sequence[str]) -> np.ndarray:
    """Global record index of each ``"{clip_id}/{t0_ms:08d}"`` window id.

    Sorts one int64 key per record (clip row, t0 in ms) instead of building a
    string table, so it scales to millions of records.
    """
    clip_row = {c: i for i, c in enumerate(self.clip_ids)}
    keys = (self.clip.astype(np.int64) << 32) | (self.t0_us // 1000)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    wanted = np.full(len(window_ids), -1, np.int64)
    for i, wid in enumerate(window_ids):
      clip, _, t0_ms = wid.rpartition("/")
      if clip in clip_row and t0_ms.isdigit():
        wanted[i] = (clip_row[clip] << 32) | int(t0_ms)
    pos = np.minimum(np.searchsorted(sorted_keys, wanted),
                     max(len(sorted_keys) - 1, 0))
    found = (sorted_keys[pos] == wanted) & (wanted >= 0) if len(keys) else (
        np.zeros(len(wanted), bool))
    if not found.all():
      missing = [window_ids[i] for i in np.flatnonzero(~found)[:5]]
      raise KeyError(f"{int((~found).sum())} window id(s) not in this "
                     f"processed dataset, e.g. {missing}")
    return order[pos].astype(np.int64)


def split_indices(table: RecordTable, split: Mapping, part: str) -> np.ndarray:
  """Record indices of ``part`` ("train" | "val" | "test") of a Contract-2 split.

  The within-person protocol lists clips (``<part>_clips``) and, for clips
  split in time, the ranges of their windows' starts (``<part>_ranges``);
  cross-person protocols list workers (``<part>_clips`` null).
  """
  if part not in ("train", "val", "test"):
    raise ValueError(f"part must be train, val or test, got {part!r}")
  clips = split.get(f"{part}_clips")
  ranges = split.get(f"{part}_ranges")
  if ranges:
    return np.union1d(table.select(clips=list(clips or ())),
                      table.select_ranges(ranges)).astype(np.int64)
  if clips is not None:
    return table.select(clips=list(clips))
  workers = split.get(f"{part}_workers")
  if workers is None:
    raise KeyError(f"split has neither {part}_clips nor {part}_workers")
  return table.select(workers=list(workers))
