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
import gzip
import hashlib
import io
import json
import os
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from egoimu_jax import config_lib
from egoimu_jax.input_pipeline import fs
from egoimu_jax.input_pipeline import ingest as ingest_lib
from egoimu_jax.input_pipeline import webdataset

IngestError = ingest_lib.IngestError
INDEX, WORKERS, SEGMENTS, LABELS = ("index.csv", "workers.csv", "segments.csv",
                                    "labels.json")
# Rows of plain-file clips ingested together (tar clips go by tar).
JSONL_UNIT_ROWS = 16


@dataclasses.dataclass(frozen=True)
class ClipRow:
  """One row of index.csv. ``video``/``imu`` are as written in the index."""
  row: int
  clip_id: str
  worker_id: str
  video: str
  imu: str
  extra: dict


def _read_csv(path: str, required: Sequence[str]) -> Tuple[List[str], List[Dict[str, str]]]:
  try:
    text = fs.read_text(path)
  except FileNotFoundError:
    raise IngestError(path, "file not found") from None
  except UnicodeDecodeError as e:
    raise IngestError(path, f"not UTF-8 text ({e})") from None
  reader = csv.DictReader(io.StringIO(text))
  header = [h.strip() for h in (reader.fieldnames or [])]
  reader.fieldnames = header
  missing = [c for c in required if c not in header]
  if missing:
    raise IngestError(path, f"missing column(s) {missing}; columns are {header} "
                      "(names are set by config.data.columns)")
  rows = []
  for i, r in enumerate(reader):
    if None in r:  # more cells than header columns
      raise IngestError(path, f"line {i + 2}: {len(header) + len(r[None])} cells "
                        f"for {len(header)} columns")
    rows.append({k: (v or "").strip() for k, v in r.items()})
  return header, rows


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


def imu_format(path: str) -> str:
  name = path.lower().removesuffix(".gz")
  if name.endswith((".jsonl", ".json", ".ndjson")):
    return "jsonl"
  if name.endswith(".npy"):
    return "npy"
  raise ValueError(f"unknown IMU file type {path!r} (expected .jsonl or .npy)")


class RawDataset:
  """A raw dataset: its tables, read and checked; clip files read on ingest."""

  def __init__(self, root: str, classes: Tuple[str, ...], rows: List[ClipRow],
               workers: Dict[str, dict], segments: Dict[str, Tuple[np.ndarray, ...]],
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

    index_path = fs.join(root, INDEX)
    required = [cols["clip_id"], cols["worker_id"], cols["imu"]]
    header, table = _read_csv(index_path, required)
    digest.update(fs.read_bytes(index_path))
    if not table:
      raise IngestError(index_path, "no rows")
    known = {cols["clip_id"], cols["worker_id"], cols["imu"], cols["video"]}
    rows, seen = [], {}
    for i, r in enumerate(table):
      clip_id, worker_id = r[cols["clip_id"]], r[cols["worker_id"]]
      if not clip_id or not worker_id or not r[cols["imu"]]:
        raise IngestError(index_path, f"line {i + 2}: empty clip id, worker id "
                          "or IMU path")
      if clip_id in seen:
        raise IngestError(index_path, f"clip_id {clip_id!r} on lines "
                          f"{seen[clip_id] + 2} and {i + 2}; clip ids must be "
                          "unique")
      seen[clip_id] = i
      extra = {k: v for k, v in r.items() if k not in known}
      rows.append(ClipRow(i, clip_id, worker_id, r.get(cols["video"], ""),
                          r[cols["imu"]], extra))

    workers: Dict[str, dict] = {r.worker_id: {} for r in rows}
    workers_path = fs.join(root, WORKERS)
    if fs.exists(workers_path):
      w_header, w_table = _read_csv(workers_path, [cols["worker_id"]])
      digest.update(fs.read_bytes(workers_path))
      typed = {h: _typed([r[h] for r in w_table]) for h in w_header
               if h != cols["worker_id"]}
      for i, r in enumerate(w_table):
        workers[r[cols["worker_id"]]] = {h: typed[h][i] for h in typed}

    seg_path = fs.join(root, SEGMENTS)
    seg_cols = [cols["clip_id"], cols["segment_start"], cols["segment_end"],
                cols["segment_label"]]
    _, s_table = _read_csv(seg_path, seg_cols)
    digest.update(fs.read_bytes(seg_path))
    by_clip: Dict[str, List[Tuple[int, int, int]]] = {}
    for i, r in enumerate(s_table):
      label = r[cols["segment_label"]]
      if label not in class_index:
        raise IngestError(seg_path, f"line {i + 2}: label {label!r} is not in the "
                          f"class vocabulary {list(classes)}")
      try:
        start = float(r[cols["segment_start"]])
        end = float(r[cols["segment_end"]])
      except ValueError:
        raise IngestError(seg_path, f"line {i + 2}: start/end must be seconds, got "
                          f"{r[cols['segment_start']]!r}, {r[cols['segment_end']]!r}"
                          ) from None
      by_clip.setdefault(r[cols["clip_id"]], []).append(
          (round(start * 1e6), round(end * 1e6), class_index[label]))
    segments = {
        k: (np.array([s[0] for s in v], np.int64),
            np.array([s[1] for s in v], np.int64),
            np.array([s[2] for s in v], np.int32))
        for k, v in by_clip.items()}
    return cls(root, classes, rows, workers, segments, digest.hexdigest(), cols)

  def fingerprint(self) -> str:
    """sha256 of the tables' bytes, the classes and the column mapping.

    Clip files are not hashed (too large); replace a clip's file and you must
    change its row (e.g. its path) for the fingerprint to change.
    """
    return self._digest

  def segments(self, clip_id: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start_us, end_us, label) arrays of a clip's label segments."""
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32))
    return self._segments.get(clip_id, empty)

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
      fmt = imu_format(ref[1] if ref else r.imu)
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
    if path.lower().endswith(".gz"):
      try:
        data = gzip.decompress(data if data is not None else fs.read_bytes(path))
      except FileNotFoundError:
        raise IngestError(path, "file not found") from None
      except (OSError, EOFError) as e:
        raise IngestError(path, f"bad gzip ({e})") from None
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
        raise IngestError(fs.join(self.root, INDEX), f"line {r.row + 2}: {col} "
                          f"must be an integer (µs), got {raw!r}") from None

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


def resolve_root(data_cfg) -> str:
  """``data.raw_dir``, or the synthetic pilot generated once into the cache."""
  if data_cfg.get("raw_dir"):
    return data_cfg.raw_dir
  from egoimu_jax.input_pipeline import synthetic  # pylint: disable=g-import-not-at-top
  return synthetic.ensure(data_cfg.synthetic, default_cache_dir(data_cfg))
