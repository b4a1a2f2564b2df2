"""Frames of processed windows for a video teacher: stored shards or raw MP4s.

``prepare`` keeps frames for a subset of clips (``data.video.store_frames``,
``frames_fraction``); the others can be decoded from the raw dataset's MP4s
on the fly, with the code path ``prepare`` uses (``raw.video_decode.
sample_frames``: the frame shown at each 10 fps target time on clip time,
short-side resize + centre crop), so a window gets the same frames from
either source. Only the ``num_frames`` a teacher takes are decoded, at
``round(linspace(0, F - 1, T))`` of the ``F`` per window (the grain
pipeline's rule); each target picks its frame independently of the others,
so the subset equals that subset of what ``prepare`` stores.

The raw dataset is opened by the raw source ``data.layout`` names, with the
columns and classes recorded in the manifest's ``prepare_config``, and
checked against its ``raw_fingerprint``.

A window without frames is never an exception: it comes back as a
``Missing`` with a kind (``MISSING_KINDS``) and a reason naming the file.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import threading
from typing import Optional, Sequence

import ml_collections
import numpy as np

from egoimu_jax.input_pipeline import fs
from egoimu_jax.input_pipeline.raw import ingest
from egoimu_jax.input_pipeline.raw import source as source_lib
from egoimu_jax.input_pipeline.raw import video_decode
from egoimu_jax.input_pipeline.raw import webdataset
from egoimu_jax.input_pipeline.store import processed

STORED, RAW, NONE = 0, 1, -1   # per-window source codes
SOURCE_NAMES = {STORED: "stored", RAW: "raw"}
MISSING_KINDS = (
    "no_video",              # the clip's index row names no video
    "missing_video",         # MP4 file, tar or tar member not found
    "unreadable_video",      # I/O error reading it
    "undecodable_video",     # not an MP4, truncated, corrupt
    "frames_outside_video",  # a target time lies past the decodable frames
    "no_stored_frames",      # source "stored" and the window has none
)


@dataclasses.dataclass(frozen=True)
class Missing:
  """A requested window without frames: its position in the request."""
  position: int
  kind: str     # one of MISSING_KINDS
  path: str
  reason: str   # names the file and the problem


@dataclasses.dataclass
class Frames:
  """Frames of requested windows, in request order."""
  frames: np.ndarray          # uint8 [n, T, S, S, 3]; zeros where missing
  source: np.ndarray          # int8 [n]: STORED, RAW or NONE
  missing: list[Missing]

  @property
  def ok(self) -> np.ndarray:
    return self.source != NONE


def frame_index(frames_per_window: int, num_frames: int) -> np.ndarray:
  """Which of a window's frames a ``num_frames`` model takes (pipeline rule)."""
  if not 0 < num_frames <= frames_per_window:
    raise ValueError(f"teacher.num_frames={num_frames} must be in [1, "
                     f"{frames_per_window}] (frames per window)")
  return np.round(np.linspace(0, frames_per_window - 1, num_frames)
                  ).astype(np.int64)


def frame_times(t0_us: np.ndarray, fps: float, frames_per_window: int,
                index: np.ndarray) -> np.ndarray:
  """int64 [n, T] clip times of the frames ``index`` of windows at ``t0_us``
  (``ingest``'s grid: ``t0 + round(k * 1e6 / fps)``)."""
  offsets = np.round(np.arange(int(frames_per_window)) * 1e6 / float(fps)
                     ).astype(np.int64)
  return np.asarray(t0_us, np.int64)[:, None] + offsets[index]


class RawVideos:
  """The videos of a processed dataset's raw clips, by index row."""

  def __init__(self, root: str, manifest, layout: str):
    data_config = ml_collections.ConfigDict(manifest["prepare_config"])
    data_config.layout = layout
    try:
      dataset = source_lib.open_source(root, data_config)
    except ingest.IngestError as e:
      raise ValueError(f"raw dataset for teacher frames: {e}") from None
    if dataset.fingerprint() != manifest["raw_fingerprint"]:
      raise ValueError(
          f"raw dataset {root} is not the one the processed dataset was "
          f"prepared from (raw fingerprint {dataset.fingerprint()[:16]}..., "
          f"manifest {manifest['raw_fingerprint'][:16]}...); set "
          "teacher.raw_dir to the right root")
    self.root = root
    self.video_ref = dataset.video_ref


@dataclasses.dataclass
class _Clip:
  """One clip's requested windows: positions in the request and starts."""
  row: int
  path: str
  positions: np.ndarray
  t0_us: np.ndarray
  data: Optional[bytes] = None
  error: Optional[tuple[str, str]] = None   # (kind, reason)


class Pending:
  """Frames being read or decoded; ``result()`` waits and assembles them."""

  def __init__(self, source: "FrameSource", n: int, plan: np.ndarray,
               setup: concurrent.futures.Future):
    self._source, self._n, self._plan, self._setup = source, n, plan, setup

  def result(self) -> Frames:
    shape = (self._n, *self._source.frames_shape)
    frames = np.zeros(shape, np.uint8)
    source = self._plan.copy()
    missing: list[Missing] = []
    stored_future, clip_futures, early = self._setup.result()
    missing.extend(early)
    if stored_future is not None:
      positions, values = stored_future.result()
      frames[positions] = values
    for future in clip_futures:
      clip, values, valid, error = future.result()
      if error is not None:
        kind, reason = error
        missing.extend(Missing(int(p), kind, clip.path, reason)
                       for p in clip.positions)
        continue
      frames[clip.positions[valid]] = values[valid]
      missing.extend(
          Missing(int(p), "frames_outside_video", clip.path,
                  f"{clip.path}: window at {t // 1000} ms extends past the "
                  "decodable frames")
          for p, t in zip(clip.positions[~valid], clip.t0_us[~valid]))
    for m in missing:
      source[m.position] = NONE
    missing.sort(key=lambda m: m.position)
    return Frames(frames, source, missing)


class FrameSource:
  """Frames ``[T, S, S, 3]`` (uint8) of windows by global record index.

  Args:
    dataset: the processed dataset.
    mode: "stored", "raw" or "auto" (stored where kept, else raw).
    num_frames: T, sampled from the frames per window.
    size: S; 0 = the dataset's ``data.video.size``. Stored frames are used
      only at their stored size ("auto" decodes everything else).
    raw_root: the raw dataset root, needed when a window is decoded.
    layout: the raw source reading it (``data.layout``).
    threads: decode threads (0 = CPU count).
  """

  def __init__(self, dataset: processed.ProcessedDataset, mode: str,
               num_frames: int, size: int = 0, raw_root: str = "",
               threads: int = 0, layout: str = source_lib.DEFAULT_LAYOUT):
    video = dataset.manifest["frames"]
    if mode not in ("auto", "stored", "raw"):
      raise ValueError(f"teacher.source={mode!r}; expected auto, stored or "
                       "raw")
    self.dataset = dataset
    self.mode = mode
    self.fps = float(video["fps"])
    self.frames_per_window = int(video["frames_per_window"])
    self.index = frame_index(self.frames_per_window, num_frames)
    self.size = int(size or video["size"])
    self.frames_shape = (len(self.index), self.size, self.size, 3)
    stored_size = int(video["size"])
    self.stored_usable = dataset.frames is not None and (
        self.size == stored_size)
    if mode == "stored" and dataset.frames is None:
      raise ValueError(f"teacher.source='stored', but {dataset.processed_dir} "
                       "stores no frames; use teacher.source='raw' or 'auto'")
    if mode == "stored" and not self.stored_usable:
      raise ValueError(
          f"teacher.frame_size={self.size}, but {dataset.processed_dir} "
          f"stores frames at {stored_size}^2; use teacher.source='raw'")
    self.raw_root = raw_root
    self.layout = layout
    self._raw: Optional[RawVideos] = None
    self._lock = threading.Lock()   # shard readers are not thread-safe
    self._pool = concurrent.futures.ThreadPoolExecutor(
        threads or os.cpu_count() or 1, thread_name_prefix="decode")
    self._planner = concurrent.futures.ThreadPoolExecutor(
        1, thread_name_prefix="frames")

  def close(self) -> None:
    self._planner.shutdown(wait=True, cancel_futures=True)
    self._pool.shutdown(wait=True, cancel_futures=True)

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()

  def plan(self, indices: np.ndarray) -> np.ndarray:
    """int8 [n]: where each window's frames will come from (NONE: no
    stored frames under mode "stored")."""
    indices = np.asarray(indices, np.int64)
    has = (self.dataset.has_frames(indices) if self.stored_usable
           else np.zeros(len(indices), bool))
    if self.mode == "raw":
      return np.full(len(indices), RAW, np.int8)
    if self.mode == "stored":
      return np.where(has, STORED, NONE).astype(np.int8)
    return np.where(has, STORED, RAW).astype(np.int8)

  def raw(self) -> RawVideos:
    """The raw dataset (opened on first use)."""
    if self._raw is None:
      if not self.raw_root:
        raise ValueError(
            f"{self.dataset.processed_dir}: windows without stored frames "
            "need the raw dataset, and its root is unknown; set "
            "teacher.raw_dir (or use teacher.source='stored')")
      self._raw = RawVideos(self.raw_root, self.dataset.manifest,
                            self.layout)
    return self._raw

  def submit(self, indices: Sequence[int]) -> Pending:
    """Starts reading / decoding the frames of ``indices`` in the background."""
    indices = np.asarray(indices, np.int64)
    plan = self.plan(indices)
    if (plan == RAW).any():
      self.raw()  # Errors about the raw root belong to the caller.
    setup = self._planner.submit(self._start, indices, plan)
    return Pending(self, len(indices), plan, setup)

  def load(self, indices: Sequence[int]) -> Frames:
    return self.submit(indices).result()

  # Runs on the planner thread: submits the work, never waits for it.
  def _start(self, indices: np.ndarray, plan: np.ndarray):
    early = [Missing(int(p), "no_stored_frames", self.dataset.processed_dir,
                     f"{self.dataset.processed_dir}: no stored frames for "
                     f"record {indices[p]} (source 'stored')")
             for p in np.flatnonzero(plan == NONE)]
    stored = np.flatnonzero(plan == STORED)
    stored_future = (self._pool.submit(self._read_stored, stored,
                                       indices[stored])
                     if len(stored) else None)
    clips = self._clips(indices, np.flatnonzero(plan == RAW))
    self._read_tars(clips)
    futures = [self._pool.submit(self._decode, clip) for clip in clips]
    return stored_future, futures, early

  def _read_stored(self, positions: np.ndarray, indices: np.ndarray):
    with self._lock:
      frames = self.dataset.read_frames(indices)
    return positions, frames[:, self.index]

  def _clips(self, indices: np.ndarray, positions: np.ndarray) -> list[_Clip]:
    table = self.dataset.table
    rows = table.clip[indices[positions]]
    out = []
    for row in np.unique(rows):  # windows of a clip decode together
      mine = positions[rows == row]
      path, _ = self.raw().video_ref(int(row))
      clip = _Clip(int(row), path, mine, table.t0_us[indices[mine]])
      if not path:
        clip.error = ("no_video", f"{self.raw().root}/index.csv: clip "
                      f"{table.clip_ids[row]!r} has no video")
      out.append(clip)
    return out

  def _read_tars(self, clips: list[_Clip]) -> None:
    """Reads the members of tars once per request (``read_members``)."""
    wanted: dict[str, list[tuple[_Clip, str]]] = {}
    for clip in clips:
      _, ref = self.raw().video_ref(clip.row)
      if ref and clip.error is None:
        wanted.setdefault(ref[0], []).append((clip, ref[1]))
    for tar, members in wanted.items():
      try:
        data = webdataset.read_members(tar, {m for _, m in members})
        error = None
      except FileNotFoundError:
        data, error = {}, ("missing_video", f"{tar}: file not found")
      except ValueError as e:
        data, error = {}, ("undecodable_video", str(e))
      except OSError as e:
        data, error = {}, ("unreadable_video", f"{tar}: cannot read ({e})")
      for clip, member in members:
        clip.data = data.get(member)
        if error is not None:
          clip.error = error
        elif clip.data is None:
          clip.error = ("missing_video",
                        f"{clip.path}: member {member!r} not found in the tar")

  def _decode(self, clip: _Clip):
    """(clip, frames [n, T, S, S, 3], valid [n], None) or (clip, None, None,
    (kind, reason))."""
    if clip.error is not None:
      return clip, None, None, clip.error
    data = clip.data
    if data is None:
      try:
        data = fs.read_bytes(clip.path)
      except FileNotFoundError:
        return clip, None, None, ("missing_video",
                                  f"{clip.path}: file not found")
      except OSError as e:
        return clip, None, None, ("unreadable_video",
                                  f"{clip.path}: cannot read ({e})")
    clip.data = None  # the bytes are not needed after decoding
    times = frame_times(clip.t0_us, self.fps, self.frames_per_window,
                        self.index)
    try:
      frames, valid = video_decode.sample_frames(data, times, self.size)
    except ValueError as e:
      return clip, None, None, ("undecodable_video", f"{clip.path}: {e}")
    return clip, frames, valid, None
