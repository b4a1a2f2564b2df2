"""One raw clip -> validated 5 s windows (``ClipWindows``) or ``Quarantined``.

Steps: read the IMU (a reader per file suffix, ``imu_formats``), put it
on clip time, validate and convert units (``imu_resample.clean``), check the
MP4 (every packet is demuxed, so a truncated file is caught even when no
frames are stored), cut windows on clip time, label them from the segments
(``windows``), resample the IMU onto every window's 200 Hz grid, and decode
10 fps frames for clips whose frames are stored.

Windows are dropped, and counted by reason, when:
  ``gap``         a target sample lies in an IMU gap longer than
                  ``data.imu.max_gap_seconds`` (or outside the IMU stream);
  ``video_short`` the window extends past the end of the clip's video;
  ``unlabeled``   no label segment touches the window;
  ``impure``      its majority label covers less than ``data.imu.min_purity``.
A window gets the first reason that applies, in this order.

Repairs are counted in ``notes``, summarised in ``warnings`` and listed one
by one, with file and line, in ``repairs`` (up to
``data.max_repairs_per_clip``; prepare writes them to ``repairs.csv``):
dropped corrupt lines and rows with NaN/inf or physically impossible values
(together up to ``data.imu.max_bad_line_fraction`` of the file; more
quarantines the clip), repeated timestamps, interpolated short gaps, gaps
split at.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from egoimu_jax import errors
from egoimu_jax.input_pipeline import fs
from egoimu_jax.input_pipeline.raw import imu_clock
from egoimu_jax.input_pipeline.raw import imu_formats
from egoimu_jax.input_pipeline.raw import imu_resample
from egoimu_jax.input_pipeline.raw import storage_errors
from egoimu_jax.input_pipeline.raw import video_decode
from egoimu_jax.input_pipeline.raw import windows as windows_lib

# IMU timestamps above this (1 h in µs) are read as absolute (e.g. epoch) when
# the index gives no clip-time offset; clip time zero is then the first sample.
ABSOLUTE_TIME_THRESHOLD_US = 3_600_000_000
DROP_REASONS = ("gap", "video_short", "unlabeled", "impure")
# Bump when a fix changes which windows or values ingest returns for the same
# raw data and config: it is part of prepare's config hash, so datasets
# prepared by older code are not reused (v2: impossible values dropped).
INGEST_VERSION = 2
# ``notes`` keys that count repaired defects (listed in ``repairs``).
REPAIR_KINDS = ("dropped_corrupt_lines", "dropped_nonfinite_rows",
                "dropped_impossible_values", "dropped_duplicate_timestamps",
                "interpolated_gaps", "split_gaps")
# ``Repair.kind`` of the last entry of a clip whose repairs exceed the cap.
NOT_LISTED = "not_listed"
DEFAULT_MAX_REPAIRS_PER_CLIP = 100


class IngestError(errors.UserError, ValueError):
  """A clip (or dataset file) that cannot be used: ``"path: reason"``."""

  def __init__(self, path: str, reason: str):
    super().__init__(f"{path}: {reason}")
    self.path = path
    self.reason = reason


@dataclasses.dataclass(frozen=True)
class Repair:
  """One repaired defect of a used clip: a row of ``repairs.csv``."""
  path: str
  line: Optional[int]  # 1-based line of a text file; None for arrays
  kind: str            # a REPAIR_KINDS key of ``notes``, or NOT_LISTED
  detail: str


@dataclasses.dataclass
class ClipWindows:
  """The usable windows of one clip."""
  clip_id: str
  worker_id: str
  imu: np.ndarray             # float32 [n, L, 6]; acc m/s², gyro rad/s
  t0_us: np.ndarray           # int64 [n], window start from clip start
  label: np.ndarray           # int32 [n], index into classes
  purity: np.ndarray          # float32 [n]
  frames: Optional[np.ndarray]  # uint8 [n, T, S, S, 3] or None
  native_rate_hz: float
  dropped: Dict[str, int]     # windows dropped, by reason (DROP_REASONS)
  notes: Dict[str, int]       # repaired defects, counted
  warnings: List[str] = dataclasses.field(default_factory=list)  # "path: what"
  repairs: List[Repair] = dataclasses.field(default_factory=list)  # by line

  def __len__(self) -> int:
    return int(self.t0_us.shape[0])


@dataclasses.dataclass
class Quarantined:
  """An index row that yields no windows, and why."""
  clip_id: str
  worker_id: str
  path: str
  reason: str   # names the file and the problem


@dataclasses.dataclass
class ClipSource:
  """Everything ingest needs about one clip, already located.

  ``imu_data``/``video_data`` hold bytes read from a tar; when None, the
  file at ``imu_path``/``video_path`` is read. ``meta`` is the sample's
  ``<key>.json`` in the WebDataset variant.
  """
  clip_id: str
  worker_id: str
  imu_path: str
  imu_format: str = ""                 # reader suffix (imu_formats); "" = from imu_path
  video_path: str = ""                 # "" : the clip has no video
  imu_data: Optional[bytes] = None
  video_data: Optional[bytes] = None
  meta: Dict[str, object] = dataclasses.field(default_factory=dict)
  imu_t0_us: Optional[int] = None      # clip time zero on the IMU clock
  imu_t0_source: str = ""              # file imu_t0_us comes from (messages)
  imu_t0_name: str = "imu_t0_us"       # its column name there
  seg_start_us: np.ndarray = dataclasses.field(
      default_factory=lambda: np.zeros(0, np.int64))
  seg_end_us: np.ndarray = dataclasses.field(
      default_factory=lambda: np.zeros(0, np.int64))
  seg_label: np.ndarray = dataclasses.field(
      default_factory=lambda: np.zeros(0, np.int32))
  segments_path: str = "segments.csv"
  # The IMU file's units (dataset.json, resolved by the source); "": data.imu.
  acc_unit: str = ""
  gyro_unit: str = ""


def frames_selector(data_cfg) -> Callable[[str], bool]:
  """``store_frames(clip_id)`` from ``data.video``: a stable hash subset."""
  video = data_cfg.video
  if not video.store_frames or video.frames_fraction <= 0:
    return lambda clip_id: False
  fraction = float(video.frames_fraction)

  def store(clip_id: str) -> bool:
    h = hashlib.sha256(clip_id.encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64 < fraction

  return store


def check_regular(path: str) -> None:
  """IngestError unless local ``path`` is a regular file (URLs pass): a
  FIFO blocks a read forever, a device reads without end."""
  if fs.is_url(path):
    return
  mode = os.stat(path).st_mode
  if not stat.S_ISREG(mode):
    kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO" if
            stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or
            stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "not a file")
    raise IngestError(path, f"not a regular file ({kind}); nothing read")


def _read(path: str, data: Optional[bytes]) -> bytes:
  """The file's bytes; IngestError if it is missing or may not be read,
  ``storage_errors.StorageUnreachable`` if the storage failed."""
  if data is not None:
    return data
  try:
    check_regular(path)
    return fs.read_bytes(path)
  except FileNotFoundError:
    raise IngestError(path, "file not found") from None
  except IngestError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    storage_errors.check(e, path)
    if not isinstance(e, OSError) and not fs.is_url(path):
      raise  # a bug: only file systems raise here
    raise IngestError(path, f"cannot read ({e})") from None


# |clock values| beyond this (~146,000 years in µs) are no clock.
MAX_CLOCK_US = 2**62


def _check_clock(clean, offset_source: str, src: ClipSource) -> List[str]:
  """IngestError for a span no clip holds; else what looks wrong with the
  clock (``imu_clock``: rows in ms, an uptime clock), as warnings."""
  where = {"index": f"{src.imu_t0_name} in {src.imu_t0_source}",
           "json": "imu_t0_us in the sample's json"}.get(offset_source,
                                                        "clip time 0")
  try:
    imu_clock.check_span(clean.t_us, clean.where, where, src.clip_id)
  except ValueError as e:
    raise IngestError(src.imu_path, str(e)) from None
  found = [imu_clock.millisecond_rows(clean.t_us, lambda i: clean.where(i)[1])]
  if not offset_source:
    found.append(imu_clock.late_start(int(clean.t_us[0]),
                                      imu_clock.covered_us(clean.t_us)))
  return [w for w in found if w]


def _check_segment_span(src: ClipSource, imu_end_us: int) -> None:
  """Segments far past the clip's end were written in another unit (ms for
  s): every window would get the first segment's label."""
  seg_end = int(src.seg_end_us.max())
  if seg_end > 2 * imu_end_us + 60_000_000:
    raise IngestError(src.segments_path, (
        f"clip {src.clip_id}: segments run to {seg_end / 1e6:.6g} s but the "
        f"clip's IMU lasts {imu_end_us / 1e6:.6g} s "
        f"({seg_end / max(imu_end_us, 1):.0f}x): segment times must be "
        "seconds from clip start (milliseconds?)"))


def _clip_offset(t_us, src: ClipSource, notes) -> Tuple[int, str]:
  """(IMU clock value at clip time 0, where it comes from: "" if none)."""
  if src.imu_t0_us is not None:
    return int(src.imu_t0_us), "index"
  offset = src.meta.get("imu_t0_us") if src.meta else None
  if offset is not None:
    return int(offset), "json"
  if t_us.size and t_us[0] > ABSOLUTE_TIME_THRESHOLD_US:
    notes["absolute_timestamps"] = 1
    return int(t_us[0]), ""
  return 0, ""


def _check_offset(last_us: int, offset: int, source: str,
                  src: ClipSource) -> None:
  """An offset beyond the last IMU sample leaves no data on clip time."""
  if last_us >= 0 or not source:
    return
  where, check = ((f"{src.imu_t0_name}={offset}", f"the clip's "
                   f"{src.imu_t0_name}") if source == "index" else
                  (f"imu_t0_us={offset} in the sample's json",
                   "the json's imu_t0_us"))
  message = (f"{where} is after the last IMU sample (t_us {last_us + offset} "
             f"in {src.imu_path}): the IMU ends {-last_us / 1e6:.2f} s before "
             f"clip time 0; check {check}")
  if source == "index" and src.imu_t0_source:
    raise IngestError(src.imu_t0_source, f"clip {src.clip_id!r}: {message}")
  raise IngestError(src.imu_path, message)


def _repairs(src: ClipSource, reader: List, clean, gaps, notes,
             limit: int) -> List[Repair]:
  """Every repair with its line, sorted, capped at ``limit`` per clip."""
  found = [Repair(src.imu_path, line, kind, detail)
           for line, kind, detail in list(reader) + clean.repairs]
  interpolated, split = gaps
  dt = np.diff(clean.t_us)
  for kind, idx, what in (
      ("interpolated_gaps", interpolated, "no samples for {:.0f} ms before "
       "this one; interpolated over"),
      ("split_gaps", split, "no samples for {:.0f} ms before this one; "
       "windows across the gap dropped")):
    for i in idx[:limit]:
      line, name = clean.where(int(i))
      detail = what.format(dt[i - 1] / 1e3)
      found.append(Repair(src.imu_path, line, kind,
                          detail if line is not None else f"{name}: {detail}"))
  found.sort(key=lambda r: (r.line is None, r.line or 0))
  total = sum(int(notes.get(k, 0)) for k in REPAIR_KINDS)
  listed = found[:max(int(limit), 0)]
  if total > len(listed):
    listed.append(Repair(src.imu_path, None, NOT_LISTED, (
        f"{total - len(listed)} more repair(s) not listed "
        f"(data.max_repairs_per_clip={limit}); all are counted in "
        "manifest.json repaired_defects")))
  return listed


def ingest_clip(src: ClipSource, data_cfg, num_classes: int,
                store_frames: bool = False) -> "ClipWindows | Quarantined":
  """Never raises for bad clip data: returns Quarantined instead."""
  try:
    return _ingest(src, data_cfg, num_classes, store_frames)
  except IngestError as e:
    return Quarantined(src.clip_id, src.worker_id, e.path, str(e))


def _ingest(src: ClipSource, data_cfg, num_classes: int,
            store_frames: bool) -> "ClipWindows | Quarantined":
  imu_cfg, video_cfg = data_cfg.imu, data_cfg.video
  notes: Dict[str, int] = {}
  warnings: List[str] = []

  video_info = None
  video_bytes = None
  if src.video_path:
    video_bytes = _read(src.video_path, src.video_data)
    try:
      video_info = video_decode.probe(video_bytes)
    except ValueError as e:
      raise IngestError(src.video_path, str(e)) from None

  max_repairs = int(data_cfg.get("max_repairs_per_clip",
                                 DEFAULT_MAX_REPAIRS_PER_CLIP))
  reader_source = imu_formats.ImuSource(
      src.imu_path, src.meta or {}, imu_cfg, video_info, notes, warnings)
  try:
    stream = imu_formats.read(_read(src.imu_path, src.imu_data),
                              reader_source, src.imu_format)
  except ValueError as e:
    raise IngestError(src.imu_path, str(e)) from None
  t_us, values, line = stream.t_us, stream.values, stream.line
  offset, offset_source = _clip_offset(t_us, src, notes)
  if abs(offset) > MAX_CLOCK_US:  # 1e30 raised OverflowError below
    where = (src.imu_t0_source or src.imu_path) if offset_source == "index" \
        else src.imu_path
    raise IngestError(where, f"clip {src.clip_id}: clock offset {offset} µs "
                      "is beyond any clock; check imu_t0_us")
  t_us = t_us - offset

  try:
    clean = imu_resample.clean(
        t_us, values, line,
        acc_unit=src.acc_unit or imu_cfg.get("acc_unit") or "m/s2",
        gyro_unit=src.gyro_unit or imu_cfg.get("gyro_unit") or "rad/s",
        check_units=imu_cfg.get("check_units", True),
        max_bad_fraction=float(imu_cfg.get("max_bad_line_fraction", 0.01)),
        max_listed=max_repairs)
  except ValueError as e:
    raise IngestError(src.imu_path, str(e)) from None
  notes.update(clean.notes)
  warnings.extend(f"{src.imu_path}: {w}" for w in clean.warnings)
  _check_offset(int(clean.t_us[-1]), offset, offset_source, src)
  clock = _check_clock(clean, offset_source, src)
  warnings.extend(f"{src.imu_path}: {w}" for w in clock)

  rate = float(imu_cfg.rate_hz)
  window_us = int(round(imu_cfg.window_seconds * 1e6))
  length = int(round(imu_cfg.window_seconds * rate))
  max_gap_us = float(imu_cfg.max_gap_seconds) * 1e6
  native_period_us = 1e6 / clean.rate_hz
  if native_period_us > max_gap_us:
    raise IngestError(src.imu_path, f"native IMU rate {clean.rate_hz:.3g} Hz: "
                      f"its sample interval exceeds data.imu.max_gap_seconds="
                      f"{imu_cfg.max_gap_seconds}")
  gap_idx = imu_resample.gap_indices(clean.t_us, max_gap_us, clean.rate_hz)
  gaps = {"interpolated_gaps": int(gap_idx[0].size),
          "split_gaps": int(gap_idx[1].size)}
  for k, v in gaps.items():
    if v:
      notes[k] = v
  if gaps["interpolated_gaps"]:
    warnings.append(
        f"{src.imu_path}: interpolated {gaps['interpolated_gaps']} gap(s) of "
        f"up to {imu_resample.longest_gap_us(clean.t_us, max_gap_us) / 1e3:.0f}"
        " ms")
  if gaps["split_gaps"]:
    warnings.append(f"{src.imu_path}: {gaps['split_gaps']} gap(s) longer than "
                    f"{imu_cfg.max_gap_seconds} s; windows across them dropped")

  t0 = windows_lib.window_starts(int(clean.t_us[-1]), window_us, 1e6 / rate,
                                 max_gap_us / 2)
  if t0.size == 0:
    raise IngestError(src.imu_path, f"IMU covers only "
                      f"{clean.t_us[-1] / 1e6:.2f} s of clip time, shorter than "
                      f"one {imu_cfg.window_seconds} s window")

  try:
    windows_lib.check_segments(src.seg_start_us, src.seg_end_us)
  except ValueError as e:
    raise IngestError(src.segments_path, f"clip {src.clip_id}: {e}") from None
  if src.seg_start_us.size == 0:
    raise IngestError(src.segments_path,
                      f"no label segments for clip {src.clip_id}")
  _check_segment_span(src, int(clean.t_us[-1]))
  label, purity = windows_lib.label_windows(
      t0, window_us, src.seg_start_us, src.seg_end_us, src.seg_label,
      num_classes)

  times = windows_lib.sample_times(t0, length, rate)
  imu, valid = imu_resample.resample(
      clean.t_us, clean.values, times, max_gap_us=max_gap_us,
      rate_hz=clean.rate_hz, target_hz=rate)

  reasons = np.full(t0.shape, "", dtype=object)
  reasons[~valid.all(axis=1)] = "gap"
  if video_info is not None:
    short = (t0 + window_us > video_info.duration_us + max_gap_us / 2)
    reasons[(reasons == "") & short] = "video_short"
  reasons[(reasons == "") & (purity <= 0)] = "unlabeled"
  reasons[(reasons == "") & (purity < float(imu_cfg.min_purity))] = "impure"
  keep = reasons == ""
  dropped = {r: int((reasons == r).sum()) for r in DROP_REASONS
             if (reasons == r).any()}

  if not keep.any():
    counts = "; ".join([", ".join(f"{v} dropped as {k}" for k, v in
                                  dropped.items()), *clock])
    if video_info is not None and dropped.get("video_short", 0) >= max(
        dropped.values()):  # the MP4 is what is short: name it
      raise IngestError(src.video_path, (
          f"no usable window: the MP4 covers {video_info.duration_us / 1e6:.1f}"
          f" s of clip time, the IMU ({src.imu_path}) "
          f"{clean.t_us[-1] / 1e6:.1f} s: {counts}"))
    raise IngestError(src.imu_path, "no usable window: " + counts)

  frames = None
  if store_frames and video_bytes is not None:
    fps = float(video_cfg.fps)
    t_frames = (t0[keep, None] + np.round(
        np.arange(int(video_cfg.frames_per_window)) * 1e6 / fps).astype(np.int64))
    try:
      frames, fvalid = video_decode.sample_frames(video_bytes, t_frames,
                                                  int(video_cfg.size))
    except ValueError as e:
      raise IngestError(src.video_path, str(e)) from None
    if not fvalid.all():  # beyond the decodable frames: same as video_short
      idx = np.flatnonzero(keep)
      keep[idx[~fvalid]] = False
      frames = frames[fvalid]
      dropped["video_short"] = dropped.get("video_short", 0) + int((~fvalid).sum())
      if not keep.any():
        raise IngestError(src.video_path, "no window has decodable frames")

  imu = np.ascontiguousarray(imu[keep])
  if not np.isfinite(imu).all():  # after the float32 cast; clean prevents it
    raise IngestError(src.imu_path, "non-finite values after resampling to "
                      "float32")
  return ClipWindows(
      clip_id=src.clip_id,
      worker_id=src.worker_id,
      imu=imu,
      t0_us=t0[keep],
      label=label[keep],
      purity=purity[keep],
      frames=frames,
      native_rate_hz=clean.rate_hz,
      dropped=dropped,
      notes=notes,
      warnings=warnings,
      repairs=_repairs(src, reader_source.repairs, clean, gap_idx, notes,
                       max_repairs))
