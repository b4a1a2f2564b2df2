"""Cheap egocentric video for the synthetic pilot.

The camera sees a textured scene (one per workplace "site", another for the
break area) through a window whose position follows the head's yaw and pitch,
so the picture moves with the IMU's gyro. While working, hands/tool (a bright
blob) bob in the lower part of the view at the work tempo; breaks are dimmer
and warmer; a device set down shows a dark static view. Frames are encoded
with libx264 ``ultrafast`` (one thread: deterministic bytes), optionally with
variable frame rate so decoders must use presentation times.
"""

from __future__ import annotations

import fractions
import functools
import io
from typing import Tuple

import av
import numpy as np

from egoimu_jax.input_pipeline import synthetic_motion as motion_lib

_PX_PER_RAD = 90.0


@functools.lru_cache(maxsize=16)
def _texture(seed: int, kind: int, height: int, width: int) -> np.ndarray:
  """A smooth, tileable float texture [2H, 2W, 3] in [0, 1]."""
  rng = np.random.default_rng([seed, 7, kind])
  hh, ww = 2 * height, 2 * width
  y, x = np.mgrid[0:hh, 0:ww] / np.array([hh, ww])[:, None, None]
  img = np.zeros((hh, ww, 3))
  for _ in range(6):
    ky, kx = rng.integers(1, 6, 2)
    color = rng.uniform(0.2, 1.0, 3)
    img += color * (0.5 + 0.5 * np.sin(2 * np.pi * (ky * y + kx * x)
                                       + rng.uniform(0, 2 * np.pi)))[..., None]
  img /= img.max()
  return img


def _blob(size: int) -> np.ndarray:
  y, x = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
  return np.exp(-3 * (x**2 + y**2))[..., None] * np.array([1.0, 0.85, 0.7])


@functools.lru_cache(maxsize=16)
def _scenes(seed: int, site: int, height: int, width: int):
  """uint8 views of the work and break scenes with their brightness applied."""
  work = (_texture(seed, site, height, width) * 0.95 * 255).astype(np.uint8)
  rest = (_texture(seed, 100, height, width) * np.array([1.0, 0.8, 0.6]) * 0.7
          * 255).astype(np.uint8)
  return work, rest


def render(clip: motion_lib.ClipMotion, t: np.ndarray, size: Tuple[int, int],
           seed: int) -> np.ndarray:
  """uint8 [n, H, W, 3] frames at times ``t`` (s)."""
  h, w = size
  wk = clip.worker
  work_tex, break_tex = _scenes(seed, wk.site, h, w)
  weights = clip.weights(t)
  ang, _ = clip.head(t, weights)
  state = np.argmax(weights, axis=1)
  blob = (_blob(max(4, h // 3)) * 0.95 * 255).astype(np.uint8)
  bh = blob.shape[0]
  f = wk.tempo_hz * clip.tempo_drift
  dx = np.round(ang[:, 2] * _PX_PER_RAD).astype(int) % w
  dy = np.round(ang[:, 1] * _PX_PER_RAD).astype(int) % h
  by = np.clip((h - bh - 2 + 0.1 * h * np.sin(2 * np.pi * f * t)).astype(int),
               0, h - bh)
  bx = np.clip((w / 2 - bh / 2 + 0.15 * w * np.sin(np.pi * f * t)).astype(int),
               0, w - bh)
  out = np.empty((t.size, h, w, 3), np.uint8)
  table_grey = 25 + 10 * int(clip.table[0, 0] > 0)
  for i in range(t.size):
    if state[i] == motion_lib.NOT_ON_PERSON:
      out[i] = table_grey
      continue
    tex = work_tex if state[i] == motion_lib.WORKING else break_tex
    out[i] = tex[dy[i]:dy[i] + h, dx[i]:dx[i] + w]
    if state[i] == motion_lib.WORKING:
      patch = out[i, by[i]:by[i] + bh, bx[i]:bx[i] + bh]
      np.maximum(patch, blob, out=patch)
  return out


def frame_times(duration_s: float, fps: float, vfr: bool,
                rng: np.random.Generator) -> np.ndarray:
  """Presentation times (s) of the frames; VFR draws intervals 0.6-1.4/fps."""
  if not vfr:
    return np.arange(int(np.floor(duration_s * fps))) / fps
  steps = rng.uniform(0.6, 1.4, int(duration_s * fps * 1.5) + 2) / fps
  t = np.concatenate([[0.0], np.cumsum(steps)])
  return t[t < duration_s]


def encode(frames: np.ndarray, t: np.ndarray, fps: float) -> bytes:
  """H.264 MP4 bytes; frame i is presented at ``t[i]`` seconds."""
  buf = io.BytesIO()
  container = av.open(buf, "w", format="mp4")
  stream = container.add_stream("libx264", rate=int(round(fps)))
  stream.width, stream.height = frames.shape[2], frames.shape[1]
  stream.pix_fmt = "yuv420p"
  stream.options = {"preset": "ultrafast", "crf": "28"}
  stream.codec_context.thread_count = 1
  tb = fractions.Fraction(1, 90000)  # the MPEG clock: exact for common rates
  stream.codec_context.time_base = tb
  pts = np.round(np.asarray(t) * 90000).astype(np.int64)
  for img, p in zip(frames, pts):
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
    frame.pts = int(p)
    frame.time_base = tb
    for packet in stream.encode(frame):
      container.mux(packet)
  for packet in stream.encode():
    container.mux(packet)
  container.close()
  return buf.getvalue()
