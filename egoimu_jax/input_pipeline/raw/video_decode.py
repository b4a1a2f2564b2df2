"""MP4 decoding with PyAV, sampled by presentation time.

Clip time zero is the presentation time of the first video frame; IMU
timestamps and label segments use the same clock. A frame is "shown" from
its presentation time until the next frame's, so sampling at 10 fps picks,
for every target time, the last frame whose PTS is not after it. This works
for variable frame rate video, where frame index and time are unrelated.

Errors are ``ValueError`` naming the problem; callers add the file name.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Optional, Tuple, Union

import av
import numpy as np

from egoimu_jax.input_pipeline import fs

Source = Union[str, bytes]
# A frame whose PTS is this close after a target time still counts as shown
# at it (PTS are rounded to the container's time base).
_PTS_SLACK_US = 500


@dataclasses.dataclass(frozen=True)
class VideoInfo:
  num_frames: int
  width: int
  height: int
  frame_times_us: np.ndarray  # int64 [num_frames], presentation order, from 0
  duration_us: int            # last frame's PTS + its (median) frame interval

  @property
  def fps(self) -> float:
    return self.num_frames / (self.duration_us / 1e6) if self.duration_us else 0.0


def _describe(e: Exception) -> str:
  return getattr(e, "strerror", None) or str(e)


def _open(source: Source):
  fileobj = io.BytesIO(source) if isinstance(source, bytes) else fs.open_file(source, "rb")
  try:
    return av.open(fileobj, mode="r"), fileobj
  except av.FFmpegError as e:
    fileobj.close()
    raise ValueError(f"unreadable MP4, truncated or corrupt ({_describe(e)})") from None


def _video_stream(container):
  if not container.streams.video:
    raise ValueError("no video stream")
  return container.streams.video[0]


def probe(source: Source) -> VideoInfo:
  """Demuxes every packet (no decoding): frame times and truncation check."""
  container, fileobj = _open(source)
  try:
    stream = _video_stream(container)
    tb = float(stream.time_base)
    pts = []
    try:
      for packet in container.demux(stream):
        if packet.size == 0:  # flush packet
          continue
        if packet.pts is None:
          raise ValueError("video packet without a presentation time")
        pts.append(packet.pts)
    except av.FFmpegError as e:
      raise ValueError(f"unreadable MP4, truncated or corrupt ({_describe(e)})") from None
    declared = stream.frames
    if not pts:
      raise ValueError("MP4 has no video frames")
    if declared and len(pts) < declared:
      raise ValueError(f"truncated MP4: {len(pts)} of {declared} frames present")
    width, height = stream.codec_context.width, stream.codec_context.height
  finally:
    container.close()
    fileobj.close()
  pts = np.sort(np.asarray(pts, np.int64))
  times = np.round((pts - pts[0]) * tb * 1e6).astype(np.int64)
  step = int(np.median(np.diff(times))) if times.size > 1 else 0
  return VideoInfo(len(times), width, height, times, int(times[-1]) + step)


def _resize_crop(frame, size: int) -> np.ndarray:
  """Short side to ``size`` (aspect kept), then the centre ``size``²."""
  w, h = frame.width, frame.height
  scale = size / min(w, h)
  nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
  rgb = frame.reformat(width=nw, height=nh, format="rgb24",
                       interpolation="AREA" if scale < 1 else "BILINEAR")
  arr = rgb.to_ndarray()
  y0, x0 = (nh - size) // 2, (nw - size) // 2
  return arr[y0:y0 + size, x0:x0 + size]


def sample_frames(source: Source, times_us: np.ndarray, size: int,
                  threads: bool = True) -> Tuple[np.ndarray, np.ndarray]:
  """Frames shown at the given clip times, resized and centre-cropped.

  Args:
    source: MP4 path/URL or bytes.
    times_us: int64 [n, T] target times (µs, clip time), e.g. 10 fps per window.
    size: output side S.
    threads: let FFmpeg decode with its own threads.

  Returns:
    (frames uint8 [n, T, S, S, 3], valid bool [n]); a window is invalid when
    one of its times lies before the first frame or after the video ends
    (last PTS + one frame interval).
  """
  times_us = np.asarray(times_us, np.int64)
  n, t_count = times_us.shape
  flat = times_us.ravel()
  order = np.argsort(flat, kind="stable")
  out = np.zeros((flat.size, size, size, 3), np.uint8)
  filled = np.zeros(flat.size, bool)
  container, fileobj = _open(source)
  try:
    stream = _video_stream(container)
    if threads:
      stream.thread_type = "AUTO"
    tb = float(stream.time_base)
    first_pts: Optional[int] = None
    prev_frame, prev_t, prev_img = None, None, None
    k = 0  # next target (in sorted order) to assign
    intervals = []

    def assign_until(limit_us: float, frame, img):
      """Gives ``frame`` to every pending target before ``limit_us``."""
      nonlocal k
      start = k
      while k < flat.size and flat[order[k]] < limit_us:
        k += 1
      if k > start:
        if img is None:
          img = _resize_crop(frame, size)
        out[order[start:k]] = img
        filled[order[start:k]] = True
      return img

    try:
      for frame in container.decode(stream):
        if frame.pts is None:
          continue
        if first_pts is None:
          first_pts = frame.pts
        t = (frame.pts - first_pts) * tb * 1e6
        if prev_frame is None:
          # Targets before the first frame stay unfilled (invalid), unless
          # they are within the PTS slack of it.
          while k < flat.size and flat[order[k]] < t - _PTS_SLACK_US:
            k += 1
        else:
          intervals.append(t - prev_t)
          assign_until(t - _PTS_SLACK_US, prev_frame, prev_img)
        prev_frame, prev_t, prev_img = frame, t, None
        if k == flat.size:
          break
    except av.FFmpegError as e:
      raise ValueError(f"MP4 decode failed, truncated or corrupt ({_describe(e)})") from None
    if prev_frame is None:
      raise ValueError("MP4 has no decodable video frames")
    step = float(np.median(intervals)) if intervals else 0.0
    assign_until(prev_t + max(step, 1.0), prev_frame, prev_img)
  finally:
    container.close()
    fileobj.close()
  frames = out.reshape(n, t_count, size, size, 3)
  return frames, filled.reshape(n, t_count).all(axis=1)
