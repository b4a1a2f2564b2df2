"""Cheap egocentric video for the synthetic pilot.

The camera sees a textured scene through a window whose position follows the
head's yaw and pitch, so the picture moves with the IMU's gyro. What is in
view depends on the activity, and it is deliberately ambiguous:

* working: the worker's site scene. Hands or a tool (a bright blob) bob at
  the work tempo during assembly/tool/lifting/carry; inspecting holds a small
  object still; monitoring shows no hands.
* break: some workers take most breaks at their station (the site scene, no
  hands: it looks like monitoring), others in one of their site's two break
  rooms. A phone is a bright screen low in view, eating a bobbing blob.
* not on person: the device sees what it rests against: the site scene dimly
  (on a desk, at a machine that shakes it) or darkness (hung up, carried).

Each worker's camera has its own colour cast and each clip its own lighting.
Frames are encoded with libx264 ``ultrafast`` (one thread: deterministic
bytes), optionally with variable frame rate so decoders must use
presentation times.
"""

from __future__ import annotations

import fractions
import functools
import io
from typing import Tuple

import av
import numpy as np

from egoimu_jax.input_pipeline.synthetic import motion as motion_lib
from egoimu_jax.input_pipeline.synthetic import workers as workers_lib

_PX_PER_RAD = 90.0
_HANDS_KINDS = ("assembly", "tool", "lifting", "carry")
_DARK = {"hung": 14, "carried": 10}       # grey level seen when stowed
_DIM = {"desk": 0.35, "machine": 0.55}    # resting against the site scene


@functools.lru_cache(maxsize=32)
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


def _blob(size: int, color=(1.0, 0.85, 0.7)) -> np.ndarray:
  y, x = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
  blob = np.exp(-3 * (x**2 + y**2))[..., None] * np.array(color)
  return (blob * 0.95 * 255).astype(np.uint8)


@functools.lru_cache(maxsize=32)
def _scene(seed: int, kind: int, height: int, width: int,
           tint=(1.0, 1.0, 1.0), gain: float = 0.95) -> np.ndarray:
  tex = _texture(seed, kind, height, width) * np.array(tint) * gain
  return (tex * 255).astype(np.uint8)


def _camera(seed: int, clip: motion_lib.ClipMotion):
  """(worker's break habits and colour cast, this clip's lighting gain)."""
  index = int(clip.worker.worker_id.lstrip("w") or 0)
  rng = np.random.default_rng([seed, 9, index])
  at_station = float(rng.beta(1.2, 2.0))        # share of breaks at station
  room = int(rng.integers(0, 2))
  cast = np.clip(rng.normal(1.0, 0.08, 3), 0.8, 1.2)
  clip_rng = np.random.default_rng([seed, 10, index,
                                    int(clip.handling[0] * 1e6)])
  gain = float(clip_rng.uniform(0.6, 1.15))
  return at_station, room, cast * gain, clip_rng


def render(clip: motion_lib.ClipMotion, t: np.ndarray, size: Tuple[int, int],
           seed: int) -> np.ndarray:
  """uint8 [n, H, W, 3] frames at times ``t`` (s)."""
  h, w = size
  wk = clip.worker
  at_station, room, light, rng = _camera(seed, clip)
  site = _scene(seed, wk.site, h, w)
  rooms = [_scene(seed, 100 + 2 * wk.site + r, h, w, (1.0, 0.85, 0.65), 0.75)
           for r in (room, 1 - room)]
  weights = clip.weights(t)
  ang, _ = clip.head(t, weights)
  state = np.argmax(weights, axis=1)
  hands = _blob(max(4, h // 3))
  food = _blob(max(4, h // 4), (0.9, 0.7, 0.4))
  part = _blob(max(4, h // 5), (0.7, 0.8, 0.9))
  f = wk.tempo_hz * clip.tempo_drift
  dx = np.round(ang[:, 2] * _PX_PER_RAD).astype(int) % w
  dy = np.round(ang[:, 1] * _PX_PER_RAD).astype(int) % h
  bob_y = (h - 2 + 0.1 * h * np.sin(2 * np.pi * f * t))
  bob_x = (w / 2 + 0.15 * w * np.sin(np.pi * f * t))
  starts = np.array([p.start for p in clip.pieces])
  piece_of = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, None)
  # Where each break bout is spent, and where a resting device points.
  break_scene = {k: (site if rng.uniform() < at_station
                     else rooms[int(rng.uniform() < 0.2)])
                 for k, p in enumerate(clip.pieces)
                 if p.state == workers_lib.BREAK}
  rest_view = {k: rng.integers(0, [h, w]) for k in range(len(clip.pieces))}
  out = np.empty((t.size, h, w, 3), np.uint8)
  for i in range(t.size):
    k = int(piece_of[i])
    kind = clip.pieces[k].kind
    if state[i] == workers_lib.NOT_ON_PERSON:
      if kind in _DIM:
        y0, x0 = rest_view[k]
        if kind == "machine":  # it shakes
          y0, x0 = (y0 + i % 2) % h, (x0 + (i // 2) % 2) % w
        out[i] = (site[y0:y0 + h, x0:x0 + w] * _DIM[kind]).astype(np.uint8)
      else:
        out[i] = _DARK.get(kind, 12)
      continue
    scene = site if state[i] == workers_lib.WORKING else break_scene.get(k, site)
    out[i] = scene[dy[i]:dy[i] + h, dx[i]:dx[i] + w]
    if kind in _HANDS_KINDS:
      _paste(out[i], hands, bob_y[i] - hands.shape[0], bob_x[i])
    elif kind == "inspect":
      _paste(out[i], part, 0.6 * h, w / 2)
    elif kind == "phone":
      y0, x0 = int(0.6 * h), int(0.35 * w)
      out[i, y0:y0 + h // 4, x0:x0 + w // 4] = (200, 215, 235)
    elif kind == "eat":
      _paste(out[i], food, bob_y[i] - food.shape[0] - 0.05 * h * np.sin(
          2 * np.pi * wk.chew_hz * t[i]), 0.4 * w)
  return np.clip(out * light.astype(np.float32), 0, 255).astype(np.uint8)


def _paste(img: np.ndarray, blob: np.ndarray, y: float, x: float) -> None:
  """Lightens ``img`` with ``blob`` at top-left ``(y, x)`` (clipped)."""
  h, w = img.shape[:2]
  b = blob.shape[0]
  y0 = int(np.clip(y, 0, h - b))
  x0 = int(np.clip(x - b / 2, 0, w - b))
  patch = img[y0:y0 + b, x0:x0 + b]
  np.maximum(patch, blob, out=patch)


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
