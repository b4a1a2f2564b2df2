"""The raw dataset layout (docs/data_layout.md) and the ``RawDataset`` API.

A raw dataset root (local path or fsspec URL) holds ``index.csv`` (one row
per clip), ``segments.csv`` (activity labels as time segments), optionally
``workers.csv`` (per-worker metadata) and ``labels.json`` (the class
vocabulary), and the clip files the index points at: IMU JSONL + MP4 files,
or members of WebDataset tar shards (``shard.tar#key.imu.npy``).

``RawDataset.open`` reads and checks the tables; errors that make the whole
dataset unusable (missing table, missing column, duplicate clip id, unknown
label, a path leaving the root, a worker listed twice with different
values) raise ``IngestError`` naming the file. Ids are read NFC-normalised
and stripped in every table; what is suspicious but usable (ids spelled
two ways, ids differing only in case, segments of clips not in the index,
a worker listed twice alike) is counted in ``warning_counts`` and described
in ``warnings``, which prepare copies into the manifest. ``ingest`` turns
index rows into windows, one result per row, never raising for a bad clip.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import hashlib
import io
import itertools
import json
import os
import posixpath
import unicodedata
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
# data.verify: what the fingerprint covers besides the tables.
VERIFY_MODES = ("", "stat", "hash")
# Warnings of one kind described in ``RawDataset.warnings`` (all are counted).
_MAX_WARNINGS_PER_KIND = 5


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

  ``rows`` is a single-use iterator of (line number, stripped cells, raw
  cells), so a million-row table is never held as Python lists all at once.
  """
  path: str
  data: bytes
  header: List[str]
  rows: Iterator[Tuple[int, List[str], List[str]]]

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
      yield reader.line_num, [v.strip() for v in r], r

  return _Table(path, data, header, rows())


class _Warnings:
  """Counted dataset warnings; the first few of each kind described."""

  def __init__(self):
    self.counts: Dict[str, int] = collections.Counter()
    self.messages: List[str] = []
    self._described: Dict[str, int] = collections.Counter()

  def add(self, kind: str, message: "str | Callable[[], str]",
          count: int = 1) -> None:
    """Counts a warning; ``message`` may be a callable (built if described)."""
    self.counts[kind] += count
    self._described[kind] += 1
    if self._described[kind] <= _MAX_WARNINGS_PER_KIND:
      self.messages.append(message() if callable(message) else message)
    elif self._described[kind] == _MAX_WARNINGS_PER_KIND + 1:
      self.messages.append(f"... more {kind} warnings (all counted in "
                           "dataset_warning_counts)")


class _Ids:
  """Ids of one kind (clip or worker), normalised in every table.

  Ids are registered from the index (first line kept, and the raw spelling
  when it is not the id itself); a cell of any table spelling a known id
  differently (Unicode normal form, surrounding spaces) is warned about.
  """

  def __init__(self, name: str, index_path: str, warnings: _Warnings):
    self.name = name                  # "worker_id" or "clip_id"
    self.index_path = index_path
    self.line: Dict[str, int] = {}    # id -> first index line
    self._raw: Dict[str, str] = {}    # id -> first spelling, if not the id
    self._warnings = warnings

  def __call__(self, raw: str, path: str, line: int,
               register: bool = False) -> str:
    ident = raw.strip()
    if not ident.isascii():
      ident = unicodedata.normalize("NFC", ident)
    first_line = self.line.get(ident)
    if first_line is not None:
      first = self._raw.get(ident, ident)
      if first != raw:
        self._warnings.add(f"{self.name}_spellings", lambda: (
            f"{path}: line {line}: {self.name} {ascii(raw)} is {ascii(first)} "
            f"({INDEX} line {first_line}) {_how_equal(raw, first)}; read as "
            "the same id"))
    elif register:
      self.line[ident] = line
      if raw != ident:
        self._raw[ident] = raw
    return ident

  def spelling(self, ident: str) -> str:
    return self._raw.get(ident, ident)

  def case_twins(self) -> None:
    """Warns about registered ids that differ only in case."""
    first_of: Dict[str, str] = {}
    twins: Dict[str, List[str]] = {}
    for ident in self.line:
      folded = ident.casefold()
      other = first_of.setdefault(ident if folded == ident else folded, ident)
      if other != ident:
        twins.setdefault(folded, [other]).append(ident)
    for group in twins.values():
      lines = " and ".join(str(self.line[t]) for t in group)
      self._warnings.add(f"{self.name}_case", (
          f"{self.index_path}: {self.name.replace('_id', ' ids')} "
          f"{' and '.join(ascii(t) for t in group)} (lines {lines}) differ "
          "only in case; kept apart — if they are the same, spell them the "
          "same"))


def _how_equal(a: str, b: str) -> str:
  """Why two spellings are one id: "after Unicode NFC normalisation", ..."""
  how = []
  if a.strip() != a or b.strip() != b:
    how.append("once surrounding spaces are removed")
  if a.strip() != b.strip():
    how.append("after Unicode NFC normalisation")
  return " and ".join(how)


def _leaves_root(path: str) -> bool:
  """A relative index path (or a tar member's tar) that climbs out of root."""
  if ".." not in path:
    return False
  ref = webdataset.split_member_ref(path)
  path = ref[0] if ref else path
  if not path or fs.is_url(path) or path.startswith("/"):
    return False
  norm = posixpath.normpath(path)
  return norm == ".." or norm.startswith("../")


# data.verify="hash": digest of every clip file's content, keyed by a digest
# of their local stat identities (inode, size, mtime, ctime: any write or
# utime changes ctime), so ensure() + prepare() read the data once.
_CONTENT_DIGESTS: "collections.OrderedDict[str, str]" = (
    collections.OrderedDict())
_MAX_CONTENT_DIGESTS = 4


def _stat_signature(path: str) -> str:
  """A file's size and modification time ("missing" if absent)."""
  try:
    if not fs.is_url(path):
      st = os.stat(path)
      return f"{st.st_size}:{st.st_mtime_ns}"
    fsys, p = fs.filesystem(path)
    info = fsys.info(p)
  except FileNotFoundError:
    return "missing"
  keys = ("mtime", "updated", "LastModified", "last_modified", "generation",
          "ETag", "etag", "md5Hash", "crc32c", "created")
  return f"{info.get('size')}:" + ":".join(
      str(info[k]) for k in keys if info.get(k) is not None)


def _content_hash(path: str) -> str:
  """sha256 of a file's bytes ("missing" if absent)."""
  h = hashlib.sha256()
  try:
    with fs.open_file(path, "rb") as f:
      for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
  except FileNotFoundError:
    return "missing"
  return h.hexdigest()


def _local_identity(paths: Sequence[str]) -> Optional[str]:
  """Digest of local files' stat identities; None if any path is a URL."""
  h = hashlib.sha256()
  for path in paths:
    if fs.is_url(path):
      return None
    try:
      st = os.stat(path)
      ident = f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
    except FileNotFoundError:
      ident = "missing"
    h.update(f"{path}\0{ident}\n".encode())
  return h.hexdigest()


def _files_digest(paths: Sequence[str], verify: str) -> str:
  """What data.verify adds to the fingerprint for these clip files."""
  key = _local_identity(paths) if verify == "hash" else None
  if key is not None and key in _CONTENT_DIGESTS:
    return _CONTENT_DIGESTS[key]
  sign = _stat_signature if verify == "stat" else _content_hash
  h = hashlib.sha256(f"verify={verify}\n".encode())
  for path in paths:
    h.update(f"{path}\0{sign(path)}\n".encode())
  if key is not None:
    _CONTENT_DIGESTS[key] = h.hexdigest()
    while len(_CONTENT_DIGESTS) > _MAX_CONTENT_DIGESTS:
      _CONTENT_DIGESTS.popitem(last=False)
  return h.hexdigest()


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
               digest: str, columns: Dict[str, str],
               warnings: Optional[_Warnings] = None, verify: str = ""):
    self.root = root
    self.classes = classes
    self.rows = rows
    self.workers = workers
    self._segments = segments
    self._digest = digest
    self._columns = columns
    warnings = warnings or _Warnings()
    # "path: problem" for suspicious but usable table content, and counts.
    self.warnings: List[str] = list(warnings.messages)
    self.warning_counts: Dict[str, int] = dict(sorted(warnings.counts.items()))
    self._verify = verify
    self._fingerprint: Optional[str] = None

  # ---------------------------------------------------------------- reading
  @classmethod
  def open(cls, root: str, data_cfg) -> "RawDataset":
    """Reads index.csv, segments.csv, workers.csv, labels.json under root."""
    cols = dict(data_cfg.columns)
    verify = data_cfg.get("verify", "") or ""
    if verify not in VERIFY_MODES:
      raise ValueError(f"data.verify={verify!r}: expected one of "
                       f"{list(VERIFY_MODES)}")
    allow_outside = bool(data_cfg.get("allow_paths_outside_root", False))
    warnings = _Warnings()
    worker_ids = _Ids("worker_id", fs.join(root, INDEX), warnings)
    clip_ids = _Ids("clip_id", fs.join(root, INDEX), warnings)
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
    rows = []
    seen = clip_ids.line  # clip id -> its index line
    outside: List[Tuple[int, str, str]] = []
    for line, r, raw in index.rows:
      clip_id = clip_ids(raw[c_clip], index.path, line, register=True)
      worker_id = worker_ids(raw[c_worker], index.path, line, register=True)
      if not clip_id or not worker_id or not r[c_imu]:
        raise IngestError(index.path, f"line {line}: empty clip id, worker id "
                          "or IMU path")
      if seen[clip_id] != line:
        first = clip_ids.spelling(clip_id)
        same = (f" ({ascii(first)} and {ascii(raw[c_clip])} are equal "
                f"{_how_equal(first, raw[c_clip])})"
                if first != raw[c_clip] else "")
        raise IngestError(index.path, f"clip_id {clip_id!r} on lines "
                          f"{seen[clip_id]} and {line}; clip ids must be "
                          f"unique{same}")
      video = r[c_video] if c_video is not None else ""
      for name, path in ((cols["imu"], r[c_imu]), (cols["video"], video)):
        if _leaves_root(path):
          outside.append((line, name, path))
      rows.append(ClipRow(len(rows), clip_id, worker_id, video, r[c_imu],
                          {h: r[j] for j, h in extra_cols}))
    if not rows:
      raise IngestError(index.path, "no rows")
    if outside and not allow_outside:
      line, name, path = outside[0]
      raise IngestError(index.path, (
          f"line {line}: {name} {path!r} leaves the dataset root {root!r} "
          f"({len(outside)} path(s) in all); set data.allow_paths_outside_root"
          "=True to read such paths, or write them as absolute paths"))
    for line, name, path in outside:
      warnings.add("paths_outside_root", (
          f"{index.path}: line {line}: {name} {path!r} is outside the dataset "
          "root (allowed by data.allow_paths_outside_root)"))
    worker_ids.case_twins()
    clip_ids.case_twins()

    workers: Dict[str, dict] = {r.worker_id: {} for r in rows}
    workers_path = fs.join(root, WORKERS)
    if fs.exists(workers_path):
      table = _read_csv(workers_path, [cols["worker_id"]])
      digest.update(table.data)
      c_id = table.col(cols["worker_id"])
      listed: Dict[str, Tuple[int, str, List[str]]] = {}
      w_rows = []
      for line, r, raw in table.rows:
        wid = worker_ids(raw[c_id], table.path, line)
        values = [v for j, v in enumerate(r) if j != c_id]
        if wid in listed:
          first_line, first_raw, first_values = listed[wid]
          if values != first_values:
            diff = "; ".join(
                f"{h}: {a!r} vs {b!r}" for h, a, b in zip(
                    [h for j, h in enumerate(table.header) if j != c_id],
                    first_values, values) if a != b)
            same = (f"; the ids are equal {_how_equal(first_raw, raw[c_id])}"
                    if first_raw != raw[c_id] else "")
            raise IngestError(table.path, (
                f"worker {wid!r} on lines {first_line} and {line} with "
                f"different values ({diff}); list each worker once{same}"))
          warnings.add("workers_duplicate", (
              f"{table.path}: worker {wid!r} listed twice (lines {first_line} "
              f"and {line}) with the same values; read once"))
          continue
        listed[wid] = (line, raw[c_id], values)
        w_rows.append((wid, r))
      typed = {h: _typed([r[j] for _, r in w_rows])
               for j, h in enumerate(table.header) if j != c_id}
      for i, (wid, _) in enumerate(w_rows):
        workers[wid] = {h: typed[h][i] for h in typed}

    table = _read_csv(fs.join(root, SEGMENTS),
                      [cols["clip_id"], cols["segment_start"], cols["segment_end"],
                       cols["segment_label"]])
    digest.update(table.data)
    c_clip, c_start, c_end, c_label = (table.col(cols[k]) for k in (
        "clip_id", "segment_start", "segment_end", "segment_label"))
    clip_of, start, end, label = [], [], [], []
    unknown: Dict[str, List[int]] = {}  # clip id -> [first line, rows]
    for line, r, raw in table.rows:
      name = r[c_label]
      if name not in class_index:
        raise IngestError(table.path, f"line {line}: label {name!r} is not in "
                          f"the class vocabulary {list(classes)}")
      try:
        s_us, e_us = (round(float(r[c_start]) * 1e6),
                      round(float(r[c_end]) * 1e6))
      except ValueError:
        raise IngestError(table.path, f"line {line}: start/end must be seconds, "
                          f"got {r[c_start]!r}, {r[c_end]!r}") from None
      clip_id = clip_ids(raw[c_clip], table.path, line)
      if clip_id not in seen:
        unknown.setdefault(clip_id, [line, 0])[1] += 1
        continue
      start.append(s_us)
      end.append(e_us)
      clip_of.append(clip_id)
      label.append(class_index[name])
    if unknown:
      folded = {c.casefold(): c for c in seen}
      examples = []
      for clip_id, (line, _) in itertools.islice(unknown.items(), 5):
        twin = folded.get(clip_id.casefold())
        hint = f"; {INDEX} has {twin!r}" if twin else ""
        examples.append(f"{clip_id!r} (line {line}{hint})")
      rows_unknown = sum(n for _, n in unknown.values())
      more = ", ..." if len(unknown) > 5 else ""
      warnings.add("segments_unknown_clip", (
          f"{table.path}: {rows_unknown} row(s) for {len(unknown)} clip id(s) "
          f"not in {INDEX}, ignored: {', '.join(examples)}{more}"),
                   count=rows_unknown)
    segments = _Segments(clip_of, start, end, label)
    return cls(root, classes, rows, workers, segments, digest.hexdigest(), cols,
               warnings, verify)

  def fingerprint(self) -> str:
    """sha256 of the tables' bytes, the classes and the column mapping.

    Clip files are covered only with ``data.verify``: "stat" adds every clip
    file's size and modification time, "hash" its content (reads all data).
    Without it, a clip file edited in place keeps the fingerprint, so a
    cached prepare is reused: change its row (e.g. its path) or set verify.
    """
    if not self._verify:
      return self._digest
    if self._fingerprint is None:
      files = _files_digest(self.clip_files(), self._verify)
      self._fingerprint = hashlib.sha256(
          f"{self._digest}:{files}".encode()).hexdigest()
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
        imu_t0_source=fs.join(self.root, INDEX),
        imu_t0_name=self._columns.get("imu_t0", "") or "imu_t0_us",
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
