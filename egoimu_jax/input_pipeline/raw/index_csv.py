"""The ``index_csv`` raw source: ``index.csv`` + ``segments.csv`` + clip files.

The layout of docs/data_layout.md: the tables (``tables``) point at IMU
JSONL / NPY + MP4 files, or at members of WebDataset tar shards
(``shard.tar#key.imu.npy``). ``ingest`` reads each tar a batch needs once and
turns index rows into windows, one result per row, never raising for a bad
clip.
"""

from __future__ import annotations

import json
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from egoimu_jax.input_pipeline import fs
from egoimu_jax.input_pipeline.raw import dataset_json
from egoimu_jax.input_pipeline.raw import fingerprint as fingerprint_lib
from egoimu_jax.input_pipeline.raw import imu_formats
from egoimu_jax.input_pipeline.raw import ingest as ingest_lib
from egoimu_jax.input_pipeline.raw import sample_json
from egoimu_jax.input_pipeline.raw import source as source_lib
from egoimu_jax.input_pipeline.raw import storage_errors
from egoimu_jax.input_pipeline.raw import tables
from egoimu_jax.input_pipeline.raw import webdataset

IngestError = ingest_lib.IngestError
ClipRow = source_lib.ClipRow
# Rows of plain-file clips ingested together (tar clips go by tar).
JSONL_UNIT_ROWS = 16


class IndexCsvSource(source_lib.RawSource):
  """A raw dataset: its tables, read and checked; clip files read on ingest."""

  def __init__(self, root: str, read: tables.Tables, columns: Dict[str, str],
               verify: str = "", allow_outside: bool = False,
               units: Optional[Dict[str, str]] = None):
    self.root = root
    self.allow_outside = allow_outside  # data.allow_paths_outside_root
    self.classes = read.classes
    self.rows = read.rows
    self.workers = read.workers
    self._segments = read.segments
    self._digest = read.digest
    self._columns = columns
    self.warnings: List[str] = list(read.warnings.messages)
    self.warning_counts: Dict[str, int] = dict(
        sorted(read.warnings.counts.items()))
    self._verify = verify
    self._fingerprint: Optional[str] = None
    # The clip files' units (dataset.json, else data.imu; dataset_json).
    self.units = units or dataset_json.resolve_units(read.declaration, None)
    self.declared_rate_hz = read.declaration.rate_hz

  # ---------------------------------------------------------------- reading
  @classmethod
  def open(cls, root: str, data_cfg) -> "IndexCsvSource":
    """Reads index.csv, segments.csv, workers.csv, labels.json and
    dataset.json under root; the units are resolved against data.imu."""
    verify = fingerprint_lib.check_mode(data_cfg.get("verify", "") or "")
    read = tables.read_tables(root, data_cfg)
    return cls(root, read, dict(data_cfg.columns), verify,
               bool(data_cfg.get("allow_paths_outside_root", False)),
               dataset_json.resolve_units(read.declaration,
                                          data_cfg.get("imu")))

  def fingerprint(self) -> str:
    """sha256 of the tables' bytes, the classes and the column mapping.

    Clip files are covered only with ``data.verify``: "stat" adds every clip
    file's size and modification time, "hash" its content (reads all data).
    Without it, a clip file edited in place keeps the fingerprint, so a
    cached prepare is reused: change its row (e.g. its path) or set verify.
    """
    if self._fingerprint is None:
      self._fingerprint = fingerprint_lib.with_files(
          self._digest, self.clip_files() if self._verify else (),
          self._verify)
    return self._fingerprint

  def clip_files(self) -> List[str]:
    """Every file the index points at (a tar once), resolved, in index order."""
    files: Dict[str, None] = {}
    for r in self.rows:
      for p in (r.imu, r.video):
        if p:
          ref = webdataset.split_member_ref(p)
          files[fs.join(self.root, ref[0] if ref else p)] = None
    return list(files)

  def segments(self, clip_id: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start_us, end_us, label) arrays of a clip's label segments."""
    return self._segments.get(clip_id)

  def resolve(self, path: str) -> str:
    """A path from the index, made absolute against the root."""
    ref = webdataset.split_member_ref(path)
    if ref:
      return webdataset.member_ref(fs.join(self.root, ref[0]), ref[1])
    return fs.join(self.root, path)

  def video_ref(self, row: int) -> Tuple[str, Optional[Tuple[str, str]]]:
    video = self.rows[row].video
    ref = webdataset.split_member_ref(video) if video else None
    if ref:
      tar = fs.join(self.root, ref[0])
      return webdataset.member_ref(tar, ref[1]), (tar, ref[1])
    return (fs.join(self.root, video) if video else ""), None

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
    non_files: Dict[str, Dict[str, str]] = {}  # tar -> {member: what}
    for tar, names in wanted.items():
      path = fs.join(self.root, tar)
      try:
        if not self.allow_outside:
          tables.check_inside_root(self.root, tar, path)
        ingest_lib.check_regular(path)
        members[tar] = webdataset.read_members(path, names,
                                               non_files.setdefault(tar, {}))
      except FileNotFoundError:
        tar_errors[tar] = f"{path}: file not found"
      except ValueError as e:  # IngestError too
        tar_errors[tar] = str(e)
      except Exception as e:  # pylint: disable=broad-except
        storage_errors.check(e, path)
        if not isinstance(e, OSError) and not fs.is_url(path):
          raise
        tar_errors[tar] = f"{path}: cannot read ({e})"
    for tar, found in non_files.items():
      for name, what in found.items():
        members[tar][name] = webdataset.NonFile(what)
    for r in todo:
      yield self._ingest_row(r, data_cfg, store_frames, members, tar_errors)

  def _member(self, p: str, members, tar_errors) -> Tuple[str, Optional[bytes]]:
    """(display path, bytes) of an index path; bytes None for plain files."""
    ref = webdataset.split_member_ref(p)
    if not ref:
      path = fs.join(self.root, p)
      if not self.allow_outside:
        tables.check_inside_root(self.root, p, path)
      return path, None
    display = self.resolve(p)
    if ref[0] in tar_errors:
      raise IngestError(display, tar_errors[ref[0]])
    data = members[ref[0]].get(ref[1])
    if data is None:
      raise IngestError(display, f"member {ref[1]!r} not found in the tar")
    if isinstance(data, webdataset.NonFile):
      raise IngestError(display, f"the member is {data.what}")
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
      if isinstance(raw, webdataset.NonFile):
        raise IngestError(self.resolve(webdataset.member_ref(ref[0], json_name)),
                          f"the member is {raw.what}")
      if raw is not None:
        try:
          meta = json.loads(raw)
        except ValueError as e:
          raise IngestError(self.resolve(webdataset.member_ref(ref[0], json_name)),
                            f"invalid JSON ({e})") from None
        if not isinstance(meta, dict):
          raise IngestError(self.resolve(webdataset.member_ref(ref[0], json_name)),
                            "expected a JSON object")
        try:
          meta = sample_json.check(meta)
        except ValueError as e:
          raise IngestError(self.resolve(webdataset.member_ref(ref[0], json_name)),
                            str(e)) from None
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
        raise IngestError(fs.join(self.root, tables.INDEX), (
            f"clip {r.clip_id!r}: {col} must be an integer (µs), got "
            f"{raw!r}")) from None

  def _ingest_row(self, r: ClipRow, data_cfg, store_frames, members, tar_errors):
    try:
      imu_path, imu_data, fmt, meta = self._imu(r, members, tar_errors)
      video_path, video_data = ("", None)
      if r.video:
        video_path, video_data = self._member(r.video, members, tar_errors)
      imu_t0 = self._clock_offset(r)
      if r.clip_id in self._segments.bad:
        raise IngestError(fs.join(self.root, tables.SEGMENTS), (
            f"clip {r.clip_id}: {self._segments.bad[r.clip_id]}"))
    except IngestError as e:
      return ingest_lib.Quarantined(r.clip_id, r.worker_id, e.path, str(e))
    start, end, label = self.segments(r.clip_id)
    src = ingest_lib.ClipSource(
        clip_id=r.clip_id, worker_id=r.worker_id, imu_path=imu_path,
        imu_format=fmt, video_path=video_path, imu_data=imu_data,
        video_data=video_data, meta=meta, imu_t0_us=imu_t0,
        imu_t0_source=fs.join(self.root, tables.INDEX),
        imu_t0_name=self._columns.get("imu_t0", "") or "imu_t0_us",
        seg_start_us=start, seg_end_us=end, seg_label=label,
        segments_path=fs.join(self.root, tables.SEGMENTS), **self.units)
    return ingest_lib.ingest_clip(src, data_cfg, len(self.classes),
                                  bool(store_frames(r.clip_id)))

  def __repr__(self) -> str:
    return (f"IndexCsvSource({self.root!r}, {len(self.rows)} clips, "
            f"{len(self.workers)} workers, classes={list(self.classes)})")
