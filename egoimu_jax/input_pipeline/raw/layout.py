"""The raw dataset layout (docs/data_layout.md) and the ``RawDataset`` API.

A raw dataset root (local path or fsspec URL) holds ``index.csv`` (one row
per clip), ``segments.csv`` (activity labels as time segments), optionally
``workers.csv`` (per-worker metadata) and ``labels.json`` (the class
vocabulary), and the clip files the index points at: IMU JSONL + MP4 files,
or members of WebDataset tar shards (``shard.tar#key.imu.npy``).

``RawDataset.open`` reads and checks the tables; errors that make the whole
dataset unusable (missing table, missing column, duplicate clip id, unknown
label) raise ``IngestError`` naming the file. ``ingest`` turns index rows
into windows, one result per row, never raising for a bad clip.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from egoimu_jax import config_lib
from egoimu_jax.input_pipeline import fs
from egoimu_jax.input_pipeline.raw import imu_formats
from egoimu_jax.input_pipeline.raw import ingest as ingest_lib
from egoimu_jax.input_pipeline.raw import webdataset

IngestError = ingest_lib.IngestError
INDEX, WORKERS, SEGMENTS, LABELS = ("index.csv", "workers.csv", "segments.csv",
                                    "labels.json")
# Rows of plain-file clips ingested together (tar clips go by tar).
JSONL_UNIT_ROWS = 16


@dataclasses.dataclass(frozen=True, slots=True)
class ClipRow:
  """One row of index.csv. ``video``/``imu`` are as written in the index."""
  row: int
  clip_id: str
  worker_id: str
  video: str
  imu: str
  extra: dict


@dataclasses.dataclass
class _Table:
  """A CSV file read once: its bytes (for the fingerprint), header, rows.

  ``rows`` is a single-use iterator of (line number, stripped cells), so a
  million-row table is never held as Python lists all at once.
  """
  path: str
  data: bytes
  header: List[str]
  rows: Iterator[Tuple[int, List[str]]]

  def col(self, name: str) -> int:
    return self.header.index(name)


def _read_csv(path: str, required: Sequence[str]) -> _Table:
  try:
    data = fs.read_bytes(path)
    text = data.decode("utf-8-sig")
  except FileNotFoundError:
    raise IngestError(path, "file not found") from None
  except UnicodeDecodeError as e:
    raise IngestError(path, f"not UTF-8 text ({e})") from None
  reader = csv.reader(io.StringIO(text))
  header = [h.strip() for h in next(reader, [])]
  missing = [c for c in required if c not in header]
  if missing:
    raise IngestError(path, f"missing column(s) {missing}; columns are {header} "
                      "(names are set by config.data.columns)")

  def rows():
    width = len(header)
    for r in reader:
      if not r:
        continue
      if len(r) != width:
        raise IngestError(path, f"line {reader.line_num}: {len(r)} cells for "
                          f"{width} columns")
      yield reader.line_num, [v.strip() for v in r]

  return _Table(path, data, header, rows())


def _typed(values: List[str]):
  """A column as floats if every non-empty cell is a number, else strings."""
  try:
    return [float(v) if v != "" else None for v in values]
  except ValueError:
    return values


def read_classes(root: str, data_cfg) -> Tuple[Tuple[str, ...], Optional[str]]:
  """labels.json > data.classes > PILOT_CLASSES; returns (classes, source)."""
  path = fs.join(root, LABELS)
  from_cfg = tuple(data_cfg.get("classes", ()) or ())
  if fs.exists(path):
    try:
      obj = json.loads(fs.read_text(path))
    except ValueError as e:
      raise IngestError(path, f"invalid JSON ({e})") from None
    classes = obj.get("classes") if isinstance(obj, dict) else obj
    if (not isinstance(classes, list) or not classes or
        not all(isinstance(c, str) and c for c in classes)):
      raise IngestError(path, "expected a non-empty list of class names, as "
                        '["a", "b"] or {"classes": ["a", "b"]}')
    if len(set(classes)) != len(classes):
      raise IngestError(path, f"duplicate class names in {classes}")
    if from_cfg and tuple(from_cfg) != tuple(classes):
      raise IngestError(path, f"classes {classes} differ from config.data."
                        f"classes {list(from_cfg)}; remove one of them")
    return tuple(classes), path
  if from_cfg:
    return from_cfg, "config.data.classes"
  return tuple(config_lib.PILOT_CLASSES), "config_lib.PILOT_CLASSES"


class _Segments:
  """All label segments in flat arrays, grouped by clip (compact at 1M rows)."""

  def __init__(self, clip_of: List[str], start: List[int], end: List[int],
               label: List[int]):
    ids = {c: i for i, c in enumerate(dict.fromkeys(clip_of))}
    key = np.array([ids[c] for c in clip_of], np.int64)
    order = np.argsort(key, kind="stable")  # keeps file order within a clip
    self._start = np.array(start, np.int64)[order]
    self._end = np.array(end, np.int64)[order]
    self._label = np.array(label, np.int32)[order]
    bounds = np.searchsorted(key[order], np.arange(len(ids) + 1))
    self._span = {c: (int(bounds[i]), int(bounds[i + 1])) for c, i in ids.items()}

  def get(self, clip_id: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b = self._span.get(clip_id, (0, 0))
    return self._start[a:b], self._end[a:b], self._label[a:b]


class RawDataset:
  """A raw dataset: its tables, read and checked; clip files read on ingest."""

  def __init__(self, root: str, classes: Tuple[str, ...], rows: List[ClipRow],
               workers: Dict[str, dict], segments: "_Segments",
               digest: str, columns: Dict[str, str]):
    self.root = root
    self.classes = classes
    self.rows = rows
    self.workers = workers
    self._segments = segments
    self._digest = digest
    self._columns = columns

  # ---------------------------------------------------------------- reading
  @classmethod
  def open(cls, root: str, data_cfg) -> "RawDataset":
    """Reads index.csv, segments.csv, workers.csv, labels.json under root."""
    cols = dict(data_cfg.columns)
    digest = hashlib.sha256()
    classes, _ = read_classes(root, data_cfg)
    class_index = {c: i for i, c in enumerate(classes)}
    digest.update(json.dumps([list(classes), sorted(cols.items())]).encode())

    index = _read_csv(fs.join(root, INDEX),
                      [cols["clip_id"], cols["worker_id"], cols["imu"]])
    digest.update(index.data)
    c_clip, c_worker, c_imu = (index.col(cols[k]) for k in ("clip_id", "worker_id", "imu"))
    c_video = index.col(cols["video"]) if cols["video"] in index.header else None
    extra_cols = [(j, h) for j, h in enumerate(index.header)
                  if j not in (c_clip, c_worker, c_imu, c_video)]
    rows, seen = [], {}
    for line, r in index.rows:
      clip_id, worker_id = r[c_clip], r[c_worker]
      if not clip_id or not worker_id or not r[c_imu]:
        raise IngestError(index.path, f"line {line}: empty clip id, worker id "
                          "or IMU path")
      if clip_id in seen:
        raise IngestError(index.path, f"clip_id {clip_id!r} on lines "
                          f"{seen[clip_id]} and {line}; clip ids must be "
                          "unique")
      seen[clip_id] = line
      rows.append(ClipRow(len(rows), clip_id, worker_id,
                          r[c_video] if c_video is not None else "", r[c_imu],
                          {h: r[j] for j, h in extra_cols}))
    if not rows:
      raise IngestError(index.path, "no rows")

    workers: Dict[str, dict] = {r.worker_id: {} for r in rows}
    workers_path = fs.join(root, WORKERS)
    if fs.exists(workers_path):
      table = _read_csv(workers_path, [cols["worker_id"]])
      digest.update(table.data)
      c_id = table.col(cols["worker_id"])
      w_rows = [r for _, r in table.rows]
      typed = {h: _typed([r[j] for r in w_rows])
               for j, h in enumerate(table.header) if j != c_id}
      for i, r in enumerate(w_rows):
        workers[r[c_id]] = {h: typed[h][i] for h in typed}

    table = _read_csv(fs.join(root, SEGMENTS),
                      [cols["clip_id"], cols["segment_start"], cols["segment_end"],
                       cols["segment_label"]])
    digest.update(table.data)
    c_clip, c_start, c_end, c_label = (table.col(cols[k]) for k in (
        "clip_id", "segment_start", "segment_end", "segment_label"))
    clip_of, start, end, label = [], [], [], []
    for line, r in table.rows:
      name = r[c_label]
      if name not in class_index:
        raise IngestError(table.path, f"line {line}: label {name!r} is not in "
                          f"the class vocabulary {list(classes)}")
      try:
        start.append(round(float(r[c_start]) * 1e6))
        end.append(round(float(r[c_end]) * 1e6))
      except ValueError:
        raise IngestError(table.path, f"line {line}: start/end must be seconds, "
                          f"got {r[c_start]!r}, {r[c_end]!r}") from None
      clip_of.append(r[c_clip])
      label.append(class_index[name])
    segments = _Segments(clip_of, start, end, label)
    return cls(root, classes, rows, workers, segments, digest.hexdigest(), cols)

  def fingerprint(self) -> str:
    """sha256 of the tables' bytes, the classes and the column mapping.

    Clip files are not hashed (too large); replace a clip's file and you must
    change its row (e.g. its path) for the fingerprint to change.
    """
    return self._digest

  def segments(self, clip_id: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start_us, end_us, label) arrays of a clip's label segments."""
    return self._segments.get(clip_id)

  def resolve(self, path: str) -> str:
    """A path from the index, made absolute against the root."""
    ref = webdataset.split_member_ref(path)
    if ref:
      return webdataset.member_ref(fs.join(self.root, ref[0]), ref[1])
    return fs.join(self.root, path)

  def _tar_of(self, row: ClipRow) -> Optional[str]:
    for p in (row.imu, row.video):
      ref = webdataset.split_member_ref(p) if p else None
      if ref:
        return ref[0]
    return None

  def work_units(self) -> List[List[int]]:
    """Row numbers to ingest together: one tar per unit, else small chunks."""
    by_tar: Dict[str, List[int]] = {}
    units: List[List[int]] = []
    chunk: List[int] = []
    for r in self.rows:
      tar = self._tar_of(r)
      if tar is not None:
        if tar not in by_tar:
          by_tar[tar] = []
          units.append(by_tar[tar])
        by_tar[tar].append(r.row)
      else:
        if not chunk:
          units.append(chunk)
        chunk.append(r.row)
        if len(chunk) == JSONL_UNIT_ROWS:
          chunk = []
    return units

  # ---------------------------------------------------------------- ingest
  def ingest(self, rows: Sequence[int], data_cfg,
             store_frames: Callable[[str], bool]
             ) -> Iterator["ingest_lib.ClipWindows | ingest_lib.Quarantined"]:
    """Ingests index rows; yields exactly one result per row, in order."""
    todo = [self.rows[i] for i in rows]
    # Read every tar this batch needs once, front to back.
    wanted: Dict[str, set] = {}
    for r in todo:
      for p in (r.imu, r.video):
        ref = webdataset.split_member_ref(p) if p else None
        if ref:
          names = wanted.setdefault(ref[0], set())
          names.add(ref[1])
          if p == r.imu:
            names.add(webdataset.split_key(ref[1])[0] + ".json")
    members: Dict[str, Dict[str, bytes]] = {}
    tar_errors: Dict[str, str] = {}
    for tar, names in wanted.items():
      path = fs.join(self.root, tar)
      try:
        members[tar] = webdataset.read_members(path, names)
      except FileNotFoundError:
        tar_errors[tar] = f"{path}: file not found"
      except ValueError as e:
        tar_errors[tar] = str(e)
    for r in todo:
      yield self._ingest_row(r, data_cfg, store_frames, members, tar_errors)

  def _member(self, p: str, members, tar_errors) -> Tuple[str, Optional[bytes]]:
    """(display path, bytes) of an index path; bytes None for plain files."""
    ref = webdataset.split_member_ref(p)
    if not ref:
      return fs.join(self.root, p), None
    display = self.resolve(p)
    if ref[0] in tar_errors:
      raise IngestError(display, tar_errors[ref[0]])
    data = members[ref[0]].get(ref[1])
    if data is None:
      raise IngestError(display, f"member {ref[1]!r} not found in the tar")
    return display, data

  def _imu(self, r: ClipRow, members, tar_errors):
    """(display path, bytes or None, format, sample json) of a row's IMU."""
    path, data = self._member(r.imu, members, tar_errors)
    ref = webdataset.split_member_ref(r.imu)
    try:
      fmt = imu_formats.format_of(ref[1] if ref else r.imu)
    except ValueError as e:
      raise IngestError(path, str(e)) from None
    meta = {}
    if ref:
      json_name = webdataset.split_key(ref[1])[0] + ".json"
      raw = members[ref[0]].get(json_name)
      if raw is not None:
        try:
          meta = json.loads(raw)
        except ValueError as e:
          raise IngestError(self.resolve(webdataset.member_ref(ref[0], json_name)),
                            f"invalid JSON ({e})") from None
        if not isinstance(meta, dict):
          raise IngestError(self.resolve(webdataset.member_ref(ref[0], json_name)),
                            "expected a JSON object")
    return path, data, fmt, meta

  def _clock_offset(self, r: ClipRow) -> Optional[int]:
    """The row's ``imu_t0`` column (µs), if the index has one."""
    col = self._columns.get("imu_t0", "")
    raw = r.extra.get(col, "") if col else ""
    if not raw:
      return None
    try:
      return int(raw)
    except ValueError:
      try:
        return int(float(raw))
      except ValueError:
        raise IngestError(fs.join(self.root, INDEX), f"clip {r.clip_id!r}: "
                          f"{col} must be an integer (µs), got {raw!r}") from None

  def _ingest_row(self, r: ClipRow, data_cfg, store_frames, members, tar_errors):
    try:
      imu_path, imu_data, fmt, meta = self._imu(r, members, tar_errors)
      video_path, video_data = ("", None)
      if r.video:
        video_path, video_data = self._member(r.video, members, tar_errors)
      imu_t0 = self._clock_offset(r)
    except IngestError as e:
      return ingest_lib.Quarantined(r.clip_id, r.worker_id, e.path, str(e))
    start, end, label = self.segments(r.clip_id)
    src = ingest_lib.ClipSource(
        clip_id=r.clip_id, worker_id=r.worker_id, imu_path=imu_path,
        imu_format=fmt, video_path=video_path, imu_data=imu_data,
        video_data=video_data, meta=meta, imu_t0_us=imu_t0,
        seg_start_us=start, seg_end_us=end, seg_label=label,
        segments_path=fs.join(self.root, SEGMENTS))
    return ingest_lib.ingest_clip(src, data_cfg, len(self.classes),
                                  bool(store_frames(r.clip_id)))

  def __len__(self) -> int:
    return len(self.rows)

  def __repr__(self) -> str:
    return (f"RawDataset({self.root!r}, {len(self.rows)} clips, "
            f"{len(self.workers)} workers, classes={list(self.classes)})")


def default_cache_dir(data_cfg) -> str:
  return (data_cfg.get("cache_dir") or os.environ.get("EGOIMU_CACHE") or
          os.path.join(os.path.expanduser("~"), ".cache", "egoimu_jax"))
