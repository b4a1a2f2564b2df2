"""Exports a split's windows for any framework: numpy and Parquet, in chunks.

Layout of an export directory::

  export.json           what is where (written last: marks a complete export)
  split.json            the split (Contract 2)
  <part>/<column>.npy   format "npy": one memory-mappable array per column
  <part>.npz            format "npz": the same arrays in one zip (``np.load``)
  <part>.parquet        format "parquet": one row per window, one row group
                        per chunk

Parts are ``train``, ``val`` and ``test``; a part without windows (the
``pretrain`` protocol's test) is left out. Columns:

* metadata: ``index`` (int64, the global record index), ``window_id``,
  ``worker_id``, ``clip_id`` (str), ``t0_us`` (int64, window start in µs from
  the clip start), ``label`` (int32, into ``export.json``'s ``classes``),
  ``purity`` (float32);
* ``imu`` float32 ``[L, 6]``: raw acc xyz (m/s²), gyro xyz (rad/s) at
  ``rate_hz`` (never normalised);
* ``frames`` uint8 ``[T, S, S, 3]`` and ``has_frames`` (bool), when the
  dataset stores frames (zeros where a window has none);
* ``teacher_<name>`` float32 ``[D]`` and ``has_teacher_<name>``, per teacher
  embedding set (zeros where a window has no vector).

In Parquet a tensor column is a fixed-size list of its flattened values; its
shape is in the field metadata (``shape``) and in ``export.json``.

Memory: windows are read and written ``rows_per_chunk`` at a time (at most
``chunk_windows`` windows and about ``chunk_bytes`` of row data). ``.npy``
files are written sequentially after their header, Parquet gets one row
group per chunk, and ``.npz`` members are copied from the ``.npy`` files in
blocks, so peak memory is about one chunk whatever the dataset size.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import os
import shutil
import time
import zipfile
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from egoimu_jax import errors
from egoimu_jax.export import split_bundle
from egoimu_jax.input_pipeline import splits
from egoimu_jax.input_pipeline.store import embeddings
from egoimu_jax.input_pipeline.store import processed
from egoimu_jax.input_pipeline.store import tfds_format

FORMAT = "egoimu_jax.export"
VERSION = 1
EXPORT_FILE = "export.json"
FORMATS = ("npy", "npz", "parquet")
IMU_CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
META_COLUMNS = ("index", "window_id", "worker_id", "clip_id", "t0_us",
                "label", "purity")
_META_DTYPES = {"index": np.int64, "t0_us": np.int64, "label": np.int32,
                "purity": np.float32}
_STRING_COLUMNS = ("window_id", "worker_id", "clip_id")


class ExportError(errors.UserError, ValueError):
  """An export cannot be made as asked (a user mistake, not a bug)."""


@dataclasses.dataclass(frozen=True)
class Column:
  """One exported array: ``dtype`` and per-window ``shape``."""
  name: str
  dtype: np.dtype
  shape: Tuple[int, ...] = ()

  @property
  def row_bytes(self) -> int:
    return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

  def describe(self) -> Dict[str, Any]:
    kind = "str" if self.dtype.kind == "U" else self.dtype.name
    return {"dtype": kind, "shape": list(self.shape)}


def rows_per_chunk(row_bytes: int, chunk_windows: int, chunk_bytes: int) -> int:
  """Windows per chunk: at most ``chunk_windows`` and ``chunk_bytes`` (>= 1)."""
  if chunk_windows < 1 or chunk_bytes < 1:
    raise ExportError(f"chunk sizes must be >= 1, got {chunk_windows} "
                      f"windows and {chunk_bytes} bytes")
  return int(max(1, min(chunk_windows, chunk_bytes // max(1, row_bytes))))


def chunk_bounds(n: int, size: int) -> Iterator[Tuple[int, int]]:
  """``(start, stop)`` of consecutive chunks covering ``range(n)``."""
  for start in range(0, n, size):
    yield start, min(n, start + size)


class NpyWriter:
  """Streams rows of one column into a ``.npy`` file (header, then rows)."""

  def __init__(self, path: str, column: Column, n: int):
    self.path, self.column, self._left = path, column, int(n)
    self._tmp = f"{path}.tmp{os.getpid()}"
    self._f = open(self._tmp, "wb")
    np.lib.format.write_array_header_1_0(self._f, {
        "descr": np.lib.format.dtype_to_descr(column.dtype),
        "fortran_order": False, "shape": (self._left,) + column.shape})

  def write(self, rows: np.ndarray) -> None:
    rows = np.ascontiguousarray(rows, self.column.dtype)
    if rows.shape[1:] != self.column.shape or len(rows) > self._left:
      raise ValueError(f"{self.path}: rows of shape {rows.shape}, expected "
                       f"[<={self._left}, *{self.column.shape}]")
    self._f.write(rows.data)
    self._left -= len(rows)

  def close(self) -> None:
    self._f.close()
    if self._left:
      raise ValueError(f"{self.path}: {self._left} rows never written")
    os.replace(self._tmp, self.path)

  def abort(self) -> None:
    self._f.close()
    if os.path.exists(self._tmp):
      os.remove(self._tmp)


class ParquetWriter:
  """One Parquet file per part; every ``write`` is one row group."""

  def __init__(self, path: str, columns: Sequence[Column],
               metadata: Mapping[str, Any]):
    import pyarrow as pa  # pylint: disable=g-import-not-at-top
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    self._pa = pa
    self.path, self.columns = path, list(columns)
    fields = []
    for c in self.columns:
      if c.dtype.kind == "U":
        fields.append(pa.field(c.name, pa.string()))
      elif c.shape:
        size = int(np.prod(c.shape))
        fields.append(pa.field(
            c.name, pa.list_(pa.from_numpy_dtype(c.dtype), size),
            metadata={"shape": json.dumps(list(c.shape))}))
      else:
        fields.append(pa.field(c.name, pa.from_numpy_dtype(c.dtype)))
    self.schema = pa.schema(fields, metadata={
        FORMAT: json.dumps(dict(metadata), sort_keys=True)})
    self._tmp = f"{path}.tmp{os.getpid()}"
    self._writer = pq.ParquetWriter(self._tmp, self.schema)

  def write(self, chunk: Mapping[str, np.ndarray]) -> None:
    pa = self._pa
    arrays = []
    for c, field in zip(self.columns, self.schema):
      a = np.ascontiguousarray(chunk[c.name], c.dtype)
      if c.shape:
        arrays.append(pa.FixedSizeListArray.from_arrays(
            pa.array(a.reshape(-1)), int(np.prod(c.shape))))
      else:
        arrays.append(pa.array(a, type=field.type))
    table = pa.Table.from_arrays(arrays, schema=self.schema)
    self._writer.write_table(table, row_group_size=max(1, table.num_rows))

  def close(self) -> None:
    self._writer.close()
    os.replace(self._tmp, self.path)

  def abort(self) -> None:
    self._writer.close()
    if os.path.exists(self._tmp):
      os.remove(self._tmp)


def pack_npz(npy_dir: str, columns: Sequence[Column], path: str,
             block: int = 1 << 24) -> None:
  """Zips the columns' ``.npy`` files into ``path`` (stored, zip64), copying
  ``block`` bytes at a time; ``np.load(path)`` reads it like ``np.savez``."""
  tmp = f"{path}.tmp{os.getpid()}"
  with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
    for c in columns:
      with open(os.path.join(npy_dir, f"{c.name}.npy"), "rb") as src, \
          zf.open(f"{c.name}.npy", "w", force_zip64=True) as dst:
        shutil.copyfileobj(src, dst, block)
  os.replace(tmp, path)


def teacher_names(processed_dir: str) -> List[str]:
  """Names of the teacher embedding sets stored with a processed dataset."""
  pattern = os.path.join(processed_dir, tfds_format.DATASET_NAME, "teacher_*",
                         tfds_format.VERSION, embeddings.INDEX_FILE)
  return sorted(os.path.basename(os.path.dirname(os.path.dirname(p)))
                [len("teacher_"):] for p in glob.glob(pattern))


def columns_for(ds: processed.ProcessedDataset, indices: np.ndarray,
                frames: bool, teachers: Sequence[str], read_chunk: int
                ) -> List[Column]:
  """The columns of one part; string widths from a pass over its ids."""
  width = {name: 1 for name in _STRING_COLUMNS}
  for start, stop in chunk_bounds(len(indices), read_chunk):
    ids = ds.read(indices[start:stop], fields=_STRING_COLUMNS)
    for name in _STRING_COLUMNS:
      width[name] = max(width[name], ids[name].dtype.itemsize // 4)
  cols = [Column(n, np.dtype(f"<U{width[n]}") if n in width
                 else np.dtype(_META_DTYPES[n])) for n in META_COLUMNS]
  cols.append(Column("imu", np.dtype(np.float32),
                     (ds.window_length, len(IMU_CHANNELS))))
  if frames:
    cols += [Column("frames", np.dtype(np.uint8), tuple(ds.frames_shape)),
             Column("has_frames", np.dtype(bool))]
  for name in teachers:
    cols += [Column(f"teacher_{name}", np.dtype(np.float32),
                    (ds.teacher(name).dim,)),
             Column(f"has_teacher_{name}", np.dtype(bool))]
  return cols


def read_chunk(ds: processed.ProcessedDataset, indices: np.ndarray,
               frames: bool, teachers: Sequence[str]) -> Dict[str, np.ndarray]:
  """Every column's rows for ``indices``."""
  out = ds.read(indices, fields=META_COLUMNS + ("imu",))
  if frames:
    has = ds.has_frames(indices)
    out["frames"] = np.zeros((len(indices),) + tuple(ds.frames_shape), np.uint8)
    if has.any():
      out["frames"][has] = ds.read_frames(indices[has])
    out["has_frames"] = has
  for name in teachers:
    table = ds.teacher(name)
    rows = table.positions(indices)
    has = rows >= 0
    out[f"teacher_{name}"] = np.zeros((len(indices), table.dim), np.float32)
    if has.any():
      out[f"teacher_{name}"][has] = table.read_rows(rows[has])
    out[f"has_teacher_{name}"] = has
  return out


def export_part(ds: processed.ProcessedDataset, indices: np.ndarray, part: str,
                out: str, *, formats: Sequence[str], frames: bool,
                teachers: Sequence[str], chunk_windows: int, chunk_bytes: int,
                metadata: Mapping[str, Any]) -> Dict[str, Any]:
  """Writes one part in every format; returns its entry of ``export.json``."""
  indices = np.asarray(indices, np.int64)
  columns = columns_for(ds, indices, frames, teachers, max(chunk_windows, 1))
  rows = rows_per_chunk(sum(c.row_bytes for c in columns), chunk_windows,
                        chunk_bytes)
  files: Dict[str, str] = {}
  writers: List[Any] = []
  npy_dir = os.path.join(out, part)
  if "npy" in formats or "npz" in formats:
    if "npy" not in formats:   # npz only: its members are staged as .npy
      npy_dir = os.path.join(out, f".{part}.staging")
    os.makedirs(npy_dir, exist_ok=True)
    npy = [NpyWriter(os.path.join(npy_dir, f"{c.name}.npy"), c, len(indices))
           for c in columns]
    writers += npy
  else:
    npy = []
  if "parquet" in formats:
    parquet = ParquetWriter(os.path.join(out, f"{part}.parquet"), columns,
                            dict(metadata, part=part))
    writers.append(parquet)
  else:
    parquet = None
  try:
    for start, stop in chunk_bounds(len(indices), rows):
      chunk = read_chunk(ds, indices[start:stop], frames, teachers)
      for w in npy:
        w.write(chunk[w.column.name])
      if parquet is not None:
        parquet.write(chunk)
      del chunk
  except BaseException:
    for w in writers:
      w.abort()
    raise
  for w in writers:
    w.close()
  if "npy" in formats:
    files["npy"] = part
  if "npz" in formats:
    pack_npz(npy_dir, columns, os.path.join(out, f"{part}.npz"))
    files["npz"] = f"{part}.npz"
    if "npy" not in formats:
      shutil.rmtree(npy_dir)
  if parquet is not None:
    files["parquet"] = f"{part}.parquet"
  workers = ds.read(indices, fields=("worker",))["worker"] if len(indices) else []
  return {"n": int(len(indices)), "workers": int(len(np.unique(workers))),
          "rows_per_chunk": rows, "chunks": -(-len(indices) // rows),
          "files": files, "columns": {c.name: c.describe() for c in columns}}


def export_split(ds: processed.ProcessedDataset, split: Mapping[str, Any],
                 out: str, *, formats: Sequence[str] = ("npy", "parquet"),
                 frames: str = "auto", teachers: Sequence[str] | str = "auto",
                 chunk_windows: int = 4096, chunk_bytes: int = 256 << 20,
                 split_source: str = "split") -> Dict[str, Any]:
  """Exports every part of ``split`` (checked against ``ds``) into ``out``.

  Args:
    ds: the processed dataset.
    split: a Contract-2 split of this dataset.
    out: the export directory (created; a previous export there is replaced).
    formats: any of ``FORMATS``.
    frames: "auto" (when the dataset stores frames), "yes" or "no".
    teachers: teacher set names, or "auto" (every stored set) / "none".
    chunk_windows: most windows per read and write.
    chunk_bytes: most bytes of row data per chunk (bounds memory with frames).
    split_source: a name for the split in error messages.

  Returns:
    The ``export.json`` dict.
  """
  t0 = time.time()
  formats = list(dict.fromkeys(formats))
  bad = [f for f in formats if f not in FORMATS]
  if bad or not formats:
    raise ExportError(f"unknown formats {bad}; choose from {list(FORMATS)}")
  split_bundle.population_for(split, ds.manifest, split_source)
  stored = bool(ds.manifest.get("frames", {}).get("stored"))
  if frames not in ("auto", "yes", "no"):
    raise ExportError(f"frames must be auto, yes or no, got {frames!r}")
  if frames == "yes" and not stored:
    raise ExportError(f"{ds.processed_dir}: the dataset stores no frames "
                      "(prepare with data.video.store_frames)")
  with_frames = stored and frames != "no"
  available = teacher_names(ds.processed_dir)
  if isinstance(teachers, str):
    teachers = (available if teachers == "auto" else
                [] if teachers in ("none", "") else teachers.split(","))
  missing = [t for t in teachers if t not in available]
  if missing:
    raise ExportError(f"{ds.processed_dir}: no teacher embeddings {missing}; "
                      f"stored: {available or 'none'}")
  os.makedirs(out, exist_ok=True)
  manifest_path = os.path.join(out, EXPORT_FILE)
  if os.path.exists(manifest_path):
    os.remove(manifest_path)    # a half-rewritten export must not look complete
  splits.write_split(os.path.join(out, splits.SPLIT_FILE), dict(split))
  meta = {"protocol": split["protocol"], "fold": split["fold"],
          "classes": list(ds.classes)}
  parts = {}
  for part in splits.PARTS:
    indices = ds.split_indices(split, part)
    if not len(indices):
      continue
    parts[part] = export_part(
        ds, indices, part, out, formats=formats, frames=with_frames,
        teachers=teachers, chunk_windows=chunk_windows,
        chunk_bytes=chunk_bytes, metadata=meta)
    logging.info("export: %s %d windows -> %s", part, parts[part]["n"], out)
  info = {
      "format": FORMAT, "version": VERSION,
      "protocol": split["protocol"], "fold": split["fold"],
      "scale": split.get("scale"), "split_file": splits.SPLIT_FILE,
      "dataset_fingerprint": split["dataset_fingerprint"],
      "manifest_fingerprint": ds.fingerprint,
      "processed_dir": os.path.abspath(ds.processed_dir),
      "classes": list(ds.classes),
      "rate_hz": ds.manifest.get("rate_hz"),
      "window_length": ds.window_length, "imu_channels": list(IMU_CHANNELS),
      "frames": with_frames, "teachers": list(teachers), "formats": formats,
      "chunk": {"windows": chunk_windows, "bytes": chunk_bytes},
      "parts": parts, "seconds": round(time.time() - t0, 2),
  }
  tmp = f"{manifest_path}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    json.dump(info, f, indent=1)
    f.write("\n")
  os.replace(tmp, manifest_path)
  return info


def read_info(export_dir: str) -> Dict[str, Any]:
  """``export.json`` of a complete export."""
  path = os.path.join(export_dir, EXPORT_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{path} not found: {export_dir!r} is not a "
                            "complete export (python -m egoimu_jax.export)")
  with open(path) as f:
    info = json.load(f)
  if info.get("format") != FORMAT or info.get("version") != VERSION:
    raise ExportError(f"{path}: format {info.get('format')!r} version "
                      f"{info.get('version')}, this code reads {FORMAT!r} "
                      f"version {VERSION}")
  return info


def read_columns(export_dir: str, part: str, columns: Sequence[str],
                 info: Optional[Mapping[str, Any]] = None
                 ) -> Dict[str, np.ndarray]:
  """Columns of an exported part, from .npy, .npz or Parquet (what exists)."""
  info = info or read_info(export_dir)
  if part not in info["parts"]:
    raise ExportError(f"{export_dir}: no {part} part (parts: "
                      f"{sorted(info['parts'])})")
  entry = info["parts"][part]
  files = entry["files"]
  if "npy" in files:
    d = os.path.join(export_dir, files["npy"])
    return {c: np.load(os.path.join(d, f"{c}.npy"), mmap_mode="r")
            for c in columns}
  if "npz" in files:
    with np.load(os.path.join(export_dir, files["npz"])) as z:
      return {c: z[c] for c in columns}
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  table = pq.read_table(os.path.join(export_dir, files["parquet"]),
                        columns=list(columns))
  out = {}
  for c in columns:
    shape = entry["columns"][c]["shape"]
    col = table.column(c).combine_chunks()
    if shape:
      out[c] = col.values.to_numpy().reshape([len(col)] + shape)
    elif entry["columns"][c]["dtype"] == "str":
      out[c] = col.to_numpy(zero_copy_only=False).astype(str)
    else:
      out[c] = col.to_numpy(zero_copy_only=False)
  return out
