"""The tables of the ``index_csv`` layout (docs/data_layout.md), read and checked.

A raw dataset root holds ``index.csv`` (one row per clip), ``segments.csv``
(activity labels as time segments), optionally ``workers.csv`` (per-worker
metadata), and ``labels.json`` (the class vocabulary) unless
``config.data.classes`` names it, and optionally ``dataset.json`` (what
the dataset declares about itself: its IMU units, ``dataset_json``).

Errors that make the whole dataset unusable (missing table, missing column,
duplicate clip id, unknown label, no stated classes, a path leaving the
root, a worker listed twice with different values) raise ``IngestError``
naming the file. Ids are read through ``ids.Ids``; what is suspicious but
usable (ids spelled two ways, ids differing only in case, segments of clips
not in the index, a worker listed twice alike) goes to ``ids.Warnings``.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import itertools
import json
import os
import posixpath
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from egoimu_jax.input_pipeline import fs
from egoimu_jax.input_pipeline.raw import dataset_json
from egoimu_jax.input_pipeline.raw import ids as ids_lib
from egoimu_jax.input_pipeline.raw import ingest as ingest_lib
from egoimu_jax.input_pipeline.raw import source as source_lib
from egoimu_jax.input_pipeline.raw import storage_errors
from egoimu_jax.input_pipeline.raw import webdataset

IngestError = ingest_lib.IngestError
INDEX, WORKERS, SEGMENTS, LABELS = (ids_lib.INDEX, "workers.csv",
                                    "segments.csv", "labels.json")


@dataclasses.dataclass
class Table:
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


def read_csv(path: str, required: Sequence[str]) -> Table:
  try:
    data = fs.read_bytes(path)
    text = data.decode("utf-8-sig")
  except FileNotFoundError:
    raise IngestError(path, "file not found") from None
  except UnicodeDecodeError as e:
    raise IngestError(path, f"not UTF-8 text ({e})") from None
  except Exception as e:  # pylint: disable=broad-except
    storage_errors.check(e, path)
    if not isinstance(e, OSError):
      raise
    raise IngestError(path, f"cannot read ({e})") from None
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

  return Table(path, data, header, rows())


def leaves_root(path: str) -> bool:
  """A relative index path (or a tar member's tar) that climbs out of root."""
  if ".." not in path:
    return False
  ref = webdataset.split_member_ref(path)
  path = ref[0] if ref else path
  if not path or fs.is_url(path) or path.startswith("/"):
    return False
  norm = posixpath.normpath(path)
  return norm == ".." or norm.startswith("../")


# Segment times beyond this many seconds (~3 years) are refused outright.
MAX_SEGMENT_S = 1e8


def check_inside_root(root: str, path: str, resolved: str) -> None:
  """Raises IngestError if the relative index path ``path`` (at
  ``resolved``) reaches outside the local ``root`` through a symlink: the
  text of a path says nothing about where its links lead."""
  if fs.is_url(resolved) or path.startswith("/") or fs.is_url(root):
    return
  real, real_root = os.path.realpath(resolved), os.path.realpath(root)
  if os.path.commonpath([real, real_root]) != real_root:
    raise IngestError(resolved, (
        f"a symlink leads outside the dataset root {root!r} (to {real!r}); "
        "set data.allow_paths_outside_root=True to read it"))


def _typed(values: List[str]):
  """A column as floats if every non-empty cell is a number, else strings."""
  try:
    return [float(v) if v != "" else None for v in values]
  except ValueError:
    return values


def read_classes(root: str, data_cfg) -> Tuple[str, ...]:
  """The vocabulary: labels.json, else data.classes (never guessed)."""
  path = fs.join(root, LABELS)
  from_cfg = tuple(data_cfg.get("classes", ()) or ())
  if storage_errors.exists(path):
    try:  # utf-8-sig: a byte-order mark is accepted, as in the CSVs
      obj = json.loads(storage_errors.read_bytes(path).decode("utf-8-sig"))
    except UnicodeDecodeError as e:
      raise IngestError(path, f"not UTF-8 text ({e})") from None
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
    return tuple(classes)
  if from_cfg:
    return from_cfg
  raise IngestError(root, (
      f"the dataset states no classes: write {LABELS} at its root "
      '({"classes": ["a", "b", ...]}, in label-index order) or set '
      "config.data.classes"))


class Segments:
  """All label segments in flat arrays, grouped by clip (compact at 1M rows)."""

  def __init__(self, clip_of: List[str], start: List[int], end: List[int],
               label: List[int], bad: Optional[Dict[str, str]] = None):
    # clip id -> "line N: problem" of its first unusable row (the clip is
    # quarantined; other clips go on).
    self.bad = dict(bad or {})
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


@dataclasses.dataclass
class Tables:
  """A dataset's tables, read and checked, and the digest of their bytes."""
  classes: Tuple[str, ...]
  rows: List[source_lib.ClipRow]
  workers: Dict[str, dict]
  segments: Segments
  digest: str
  warnings: ids_lib.Warnings
  declaration: dataset_json.Declaration


class _Reader:
  """Reads one dataset's tables, sharing ids, warnings and the digest."""

  def __init__(self, root: str, data_cfg):
    self.root = root
    self.cols = dict(data_cfg.columns)
    self.allow_outside = bool(data_cfg.get("allow_paths_outside_root", False))
    self.warnings = ids_lib.Warnings()
    self.worker_ids = ids_lib.Ids("worker_id", fs.join(root, INDEX),
                                  self.warnings)
    self.clip_ids = ids_lib.Ids("clip_id", fs.join(root, INDEX), self.warnings)
    self.digest = hashlib.sha256()

  def index(self, index: Table) -> List[source_lib.ClipRow]:
    cols = self.cols
    self.digest.update(index.data)
    c_clip, c_worker, c_imu = (index.col(cols[k])
                               for k in ("clip_id", "worker_id", "imu"))
    c_video = index.col(cols["video"]) if cols["video"] in index.header else None
    extra_cols = [(j, h) for j, h in enumerate(index.header)
                  if j not in (c_clip, c_worker, c_imu, c_video)]
    rows = []
    seen = self.clip_ids.line  # clip id -> its index line
    outside: List[Tuple[int, str, str]] = []
    for line, r, raw in index.rows:
      clip_id = self.clip_ids(raw[c_clip], index.path, line, register=True)
      worker_id = self.worker_ids(raw[c_worker], index.path, line,
                                  register=True)
      if not clip_id or not worker_id or not r[c_imu]:
        raise IngestError(index.path, f"line {line}: empty clip id, worker id "
                          "or IMU path")
      if seen[clip_id] != line:
        first = self.clip_ids.spelling(clip_id)
        same = (f" ({ascii(first)} and {ascii(raw[c_clip])} are equal "
                f"{ids_lib.how_equal(first, raw[c_clip])})"
                if first != raw[c_clip] else "")
        raise IngestError(index.path, f"clip_id {clip_id!r} on lines "
                          f"{seen[clip_id]} and {line}; clip ids must be "
                          f"unique{same}")
      video = r[c_video] if c_video is not None else ""
      for name, path in ((cols["imu"], r[c_imu]), (cols["video"], video)):
        if leaves_root(path):
          outside.append((line, name, path))
      rows.append(source_lib.ClipRow(len(rows), clip_id, worker_id, video,
                                     r[c_imu], {h: r[j] for j, h in extra_cols}))
    if not rows:
      raise IngestError(index.path, "no rows")
    if outside and not self.allow_outside:
      line, name, path = outside[0]
      raise IngestError(index.path, (
          f"line {line}: {name} {path!r} leaves the dataset root "
          f"{self.root!r} ({len(outside)} path(s) in all); set "
          "data.allow_paths_outside_root=True to read such paths, or write "
          "them as absolute paths"))
    for line, name, path in outside:
      self.warnings.add("paths_outside_root", (
          f"{index.path}: line {line}: {name} {path!r} is outside the dataset "
          "root (allowed by data.allow_paths_outside_root)"))
    self.worker_ids.case_twins()
    self.clip_ids.case_twins()
    return rows

  def workers(self, rows: List[source_lib.ClipRow]) -> Dict[str, dict]:
    workers: Dict[str, dict] = {r.worker_id: {} for r in rows}
    workers_path = fs.join(self.root, WORKERS)
    if not storage_errors.exists(workers_path):
      return workers
    table = read_csv(workers_path, [self.cols["worker_id"]])
    self.digest.update(table.data)
    c_id = table.col(self.cols["worker_id"])
    listed: Dict[str, Tuple[int, str, List[str]]] = {}
    w_rows = []
    for line, r, raw in table.rows:
      wid = self.worker_ids(raw[c_id], table.path, line)
      values = [v for j, v in enumerate(r) if j != c_id]
      if wid in listed:
        first_line, first_raw, first_values = listed[wid]
        if values != first_values:
          diff = "; ".join(
              f"{h}: {a!r} vs {b!r}" for h, a, b in zip(
                  [h for j, h in enumerate(table.header) if j != c_id],
                  first_values, values) if a != b)
          same = (f"; the ids are equal "
                  f"{ids_lib.how_equal(first_raw, raw[c_id])}"
                  if first_raw != raw[c_id] else "")
          raise IngestError(table.path, (
              f"worker {wid!r} on lines {first_line} and {line} with "
              f"different values ({diff}); list each worker once{same}"))
        self.warnings.add("workers_duplicate", (
            f"{table.path}: worker {wid!r} listed twice (lines {first_line} "
            f"and {line}) with the same values; read once"))
        continue
      listed[wid] = (line, raw[c_id], values)
      w_rows.append((wid, r))
    typed = {h: _typed([r[j] for _, r in w_rows])
             for j, h in enumerate(table.header) if j != c_id}
    for i, (wid, _) in enumerate(w_rows):
      workers[wid] = {h: typed[h][i] for h in typed}
    return workers

  def segments(self, classes: Tuple[str, ...]) -> Segments:
    cols = self.cols
    class_index = {c: i for i, c in enumerate(classes)}
    table = read_csv(fs.join(self.root, SEGMENTS),
                     [cols["clip_id"], cols["segment_start"],
                      cols["segment_end"], cols["segment_label"]])
    self.digest.update(table.data)
    c_clip, c_start, c_end, c_label = (table.col(cols[k]) for k in (
        "clip_id", "segment_start", "segment_end", "segment_label"))
    seen = self.clip_ids.line
    clip_of, start, end, label = [], [], [], []
    unknown: Dict[str, List[int]] = {}  # clip id -> [first line, rows]
    bad: Dict[str, str] = {}  # clip id -> its first bad row: quarantined
    for line, r, raw in table.rows:
      clip_id = self.clip_ids(raw[c_clip], table.path, line)
      if clip_id not in seen:
        unknown.setdefault(clip_id, [line, 0])[1] += 1
        continue
      name = r[c_label]
      if name not in class_index:
        bad.setdefault(clip_id, f"line {line}: label {name!r} is not in the "
                       f"class vocabulary {list(classes)}")
        continue
      try:
        s_s, e_s = float(r[c_start]), float(r[c_end])
        if not (abs(s_s) <= MAX_SEGMENT_S and abs(e_s) <= MAX_SEGMENT_S):
          raise ValueError  # inf, nan, 1e30: no clip is that long
        s_us, e_us = round(s_s * 1e6), round(e_s * 1e6)
      except ValueError:
        bad.setdefault(clip_id, (
            f"line {line}: start/end must be seconds (finite, within "
            f"±{MAX_SEGMENT_S:.0e}), got {r[c_start]!r}, {r[c_end]!r}"))
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
      self.warnings.add("segments_unknown_clip", (
          f"{table.path}: {rows_unknown} row(s) for {len(unknown)} clip id(s) "
          f"not in {INDEX}, ignored: {', '.join(examples)}{more}"),
                        count=rows_unknown)
    if bad and not clip_of:  # not one row usable: the tables, not a clip
      clip_id, reason = next(iter(bad.items()))
      raise IngestError(table.path, reason)
    return Segments(clip_of, start, end, label, bad)


def read_tables(root: str, data_cfg) -> Tables:
  """Reads index.csv, labels.json, workers.csv, segments.csv and
  dataset.json under root.

  The digest covers the classes, the column mapping and the tables' bytes
  (dataset.json's where there is one).
  """
  reader = _Reader(root, data_cfg)
  cols = reader.cols
  index = read_csv(fs.join(root, INDEX),
                   [cols["clip_id"], cols["worker_id"], cols["imu"]])
  classes = read_classes(root, data_cfg)
  reader.digest.update(json.dumps([list(classes),
                                   sorted(cols.items())]).encode())
  rows = reader.index(index)
  workers = reader.workers(rows)
  segments = reader.segments(classes)
  declaration = dataset_json.read(root)
  if declaration.data:
    reader.digest.update(declaration.data)
  return Tables(classes, rows, workers, segments, reader.digest.hexdigest(),
                reader.warnings, declaration)
