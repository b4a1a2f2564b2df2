"""Motion model of the synthetic pilot: schedules and signals of a clip.

The workers themselves are drawn in ``workers``.

Every signal is an analytic function of continuous time (sinusoids and
smooth pulses under smooth crossfades), so the same clip can be sampled at
200 Hz with jitter, at 30/50 Hz, or at video frame times, and the variants
agree up to sampling. Content stays below 8 Hz so even 30 Hz sampling does
not alias; white sensor noise is added per sample.

What differs between people (why a model that has seen a person does
better on them than on a stranger, as in real wearable data):

* **What they do.** A worker has a mixture of work tasks and a mixture of
  break styles (``activities``). Break styles lean against the
  job: people with walking/lifting jobs tend to sit, eat or use the phone on
  break; people at a bench tend to stroll and chat. So a bench worker's
  stroll looks like a porter's work and a porter's phone break like a bench
  worker's assembly, while within one person the states stay apart.
* **How they move.** Vigour (amplitude, log-normal), work tempo, step
  cadence, gait amplitude, head posture at work / at rest / on the phone,
  how much they look around, fidgeting, chewing and breathing rates.
* **Their device.** Three device models with different noise floors and
  bias spreads; per-axis scale errors; a mounting rotation (most within
  ~15 degrees of nominal, one in five turned 30-100 degrees: clipped on
  sideways or upside down), so gravity points elsewhere in the sensor frame;
  a loose mount rattles at its resonance (4-5.5 Hz) when the head jolts.
* **Where the device goes when not worn.** Mostly a desk, else a hung
  jacket or a running machine, sometimes carried in the hand first.

Within a person, clips differ too: each clip (a "day") re-mounts the device
a few degrees differently, shifts tempo and vigour a little and reweights
the task mixture.

Time structure: state bouts are a semi-Markov process whose time fractions
equal the worker's state fractions (bout lengths: 3 s + gamma). Inside a
bout the worker switches activity every ~40 s (work) or ~30 s (break);
going on break often starts with walking away from the station and ends
walking back, and taking the device off may be followed by carrying it.
Activities crossfade over 1 s (1.5 s when the device is taken off or put
on, with a burst of handling motion), so windows that span a change mix
both, as real windows do (the purity policy labels them).

Planted hard workers (``workers.HARD_PROFILES``): one on break 72% of the time
whose breaks are spent walking the floor, a gentle bench worker whose work
barely moves (and who rests on the phone, 37% of the time), and one whose
breaks are restless (strolling, chatting, fidgeting).
"""

from __future__ import annotations

import dataclasses
from typing import List, Tuple

import numpy as np

from egoimu_jax.input_pipeline.raw.imu_resample import GRAVITY
from egoimu_jax.input_pipeline.synthetic import activities as acts
from egoimu_jax.input_pipeline.synthetic.workers import (
    BREAK, NOT_ON_PERSON, WORKING, Worker, random_rotation, rotation,
    unit_vector)

_MEAN_SEGMENT_S = 45.0  # scale of state bout durations (see state_segments)
_MIN_BOUT_S = 3.0       # shortest state bout or activity bout
_RAMP_S = 1.0           # crossfade between activities
_HANDLING_S = 1.5       # crossfade when the device is taken off / put on
_WORK_ACTIVITY_S = 40.0   # mean duration of one work task
_BREAK_ACTIVITY_S = 30.0  # mean duration of one break activity


def _bout(rng, mean: float) -> float:
  """A bout length: _MIN_BOUT_S plus a gamma(2) draw, ``mean`` on average."""
  return _MIN_BOUT_S + rng.gamma(2.0, max(mean - _MIN_BOUT_S, 0.1) / 2.0)


def state_segments(rng, fractions: np.ndarray, duration_s: float
                   ) -> List[Tuple[float, float, int]]:
  """A clip's state bouts as (start_s, end_s, state); contiguous, cover it.

  A semi-Markov process whose long-run time fractions equal ``fractions``:
  bouts of state i last ``_MEAN_SEGMENT_S / (1 - p_i)`` on average (at least
  _MIN_BOUT_S, gamma-distributed above that: few implausibly short bouts),
  and the next state is drawn from the other states in proportion to ``p``,
  which visits state i in proportion to ``p_i (1 - p_i)``. A clip starts in
  state i with probability ``p_i``.
  """
  p = fractions / fractions.sum()
  mean = _MEAN_SEGMENT_S / np.maximum(1 - p, 1e-3)
  state = int(rng.choice(3, p=p))
  t, out = 0.0, []
  while t < duration_s:
    end = min(duration_s, t + _bout(rng, mean[state]))
    out.append((t, end, state))
    t = end
    q = p.copy()
    q[state] = 0
    if q.sum() > 0:
      state = int(rng.choice(3, p=q / q.sum()))
  return out


@dataclasses.dataclass
class Day:
  """Per-clip variation of a worker: tempo and vigour factors."""
  tempo: float
  vigour: float


@dataclasses.dataclass
class Piece:
  """One activity bout: [start, end) s of clip time."""
  start: float
  end: float
  state: int
  kind: str
  phases: np.ndarray
  jitter: np.ndarray
  place: np.ndarray | None = None   # device resting orientation (not worn)
  label: int | None = None  # the bout's class if not its state (one per clip)

  @property
  def cls(self) -> int:
    return self.state if self.label is None else self.label


def _split(rng, start: float, end: float, mean: float, names, mix,
           state: int) -> List[Tuple[float, float, int, str]]:
  out = []
  t = start
  while t < end:
    stop = min(end, t + _bout(rng, mean))
    if end - stop < _MIN_BOUT_S:
      stop = end
    kind = names[int(rng.choice(len(names), p=mix))]
    if out and out[-1][3] == kind:
      out[-1] = (out[-1][0], stop, state, kind)
    else:
      out.append((t, stop, state, kind))
    t = stop
  return out


def _resting_place(rng, kind: str) -> np.ndarray:
  """World -> device rotation of a device put down (rows: device axes)."""
  if kind in ("hung", "carried"):
    return random_rotation(rng)
  # On a surface: on one of its faces, slightly tilted.
  face = np.eye(3)[rng.integers(0, 3)] * rng.choice([-1, 1])
  base = rotation(np.cross(face, [0, 0, 1.0]) + 1e-9 * np.array([1, 0, 0]),
                  float(np.arccos(np.clip(face[2], -1, 1))))
  return rotation(unit_vector(rng), float(rng.uniform(0, 0.1))) @ base


def plan_pieces(worker: Worker, rng, segments, duration_s: float,
                work_mix: np.ndarray, break_mix: np.ndarray) -> List[Piece]:
  """Fills the state bouts with activity bouts."""
  raw: List[Tuple[float, float, int, str]] = []
  for k, (s, e, state) in enumerate(segments):
    prev = segments[k - 1][2] if k > 0 else None
    nxt = segments[k + 1][2] if k + 1 < len(segments) else None
    if state == WORKING:
      raw += _split(rng, s, e, _WORK_ACTIVITY_S, acts.WORK_TASKS, work_mix, state)
    elif state == BREAK:
      lead = trail = 0.0
      if prev == WORKING and rng.uniform() < worker.leave_walk:
        lead = rng.uniform(4.0, 10.0)
      if nxt == WORKING and rng.uniform() < worker.leave_walk:
        trail = rng.uniform(3.0, 8.0)
      if e - s < lead + trail + _MIN_BOUT_S:
        lead = trail = 0.0
      if lead:
        raw.append((s, s + lead, state, "stroll"))
      raw += _split(rng, s + lead, e - trail, _BREAK_ACTIVITY_S,
                    acts.BREAK_STYLES, break_mix, state)
      if trail:
        raw.append((e - trail, e, state, "stroll"))
    else:
      place = acts.NOP_PLACES[int(rng.choice(3, p=worker.nop_mix))]
      carried = 0.0
      if prev is not None and rng.uniform() < worker.carry_prob:
        carried = rng.uniform(3.0, 8.0)
        if e - s < carried + _MIN_BOUT_S:
          carried = 0.0
      if carried:
        raw.append((s, s + carried, state, "carried"))
      raw.append((s + carried, e, state, place))
  pieces = []
  for s, e, state, kind in raw:
    if pieces and pieces[-1].kind == kind and pieces[-1].state == state:
      pieces[-1].end = e   # a stroll into a stroll: one bout
      continue
    pieces.append(Piece(
        s, e, state, kind, rng.uniform(0, 2 * np.pi, acts.NUM_PHASES),
        rng.normal(0, 1, acts.NUM_JITTER),
        _resting_place(rng, kind) if state == NOT_ON_PERSON else None))
  return pieces


def _smoothstep(x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  x = np.clip(x, 0.0, 1.0)
  return x * x * (3 - 2 * x), 6 * x * (1 - x)


@dataclasses.dataclass
class ClipMotion:
  """Per-clip random draws; ``sample`` evaluates the signal at any times."""
  worker: Worker
  # Label bouts: states, or one class over the clip (make_activity_clip).
  segments: List[Tuple[float, float, int]]
  pieces: List[Piece]                        # activity bouts
  day: Day
  remount: np.ndarray     # [3, 3] this clip's small mounting change
  handling: np.ndarray    # [8] phases of the take-off / put-on motion
  tempo_drift: float      # = day.tempo (the video's work rhythm)

  def _ramp(self, k: int) -> float:
    """Crossfade length at the boundary between pieces k-1 and k."""
    a, b = self.pieces[k - 1].state, self.pieces[k].state
    return _HANDLING_S if NOT_ON_PERSON in (a, b) and a != b else _RAMP_S

  def _spans(self, t: np.ndarray):
    """Yields (piece, i0, i1, weight, dweight) over sorted times ``t``."""
    n = len(self.pieces)
    for k, piece in enumerate(self.pieces):
      r_in = self._ramp(k) if k > 0 else 0.0
      r_out = self._ramp(k + 1) if k + 1 < n else 0.0
      lo = piece.start - r_in / 2 if k > 0 else -np.inf
      hi = piece.end + r_out / 2 if k + 1 < n else np.inf
      i0, i1 = np.searchsorted(t, [lo, hi])
      if i0 >= i1:
        continue
      ts = t[i0:i1]
      w = np.ones(ts.size)
      dw = np.zeros(ts.size)
      if r_in:
        rise, drise = _smoothstep((ts - lo) / r_in)
        w, dw = rise, drise / r_in
      if r_out:
        fall, dfall = _smoothstep((hi - ts) / r_out)
        w, dw = w * fall, dw * fall - w * dfall / r_out
      yield piece, i0, i1, w, dw

  def weights(self, t: np.ndarray) -> np.ndarray:
    """[n, 3] smooth state weights (crossfades at changes); rows sum to 1."""
    t = np.asarray(t, np.float64)
    out = np.zeros((t.size, 3))
    for piece, i0, i1, w, _ in self._spans(t):
      out[i0:i1, piece.state] += w
    return out

  def _signals(self, t: np.ndarray):
    n = t.size
    ang, rate, lin = np.zeros((n, 3)), np.zeros((n, 3)), np.zeros((n, 3))
    worn = np.zeros(n)
    nop_acc, nop_gyro = np.zeros((n, 3)), np.zeros((n, 3))
    state_w = np.zeros((n, 3))
    wk = self.worker
    for piece, i0, i1, w, dw in self._spans(t):
      state_w[i0:i1, piece.state] += w
      ts = t[i0:i1]
      if piece.state == NOT_ON_PERSON:
        a, g = acts.device_frame(piece.kind, ts, wk, piece.place,
                                 piece.phases, piece.jitter)
        nop_acc[i0:i1] += w[:, None] * a
        nop_gyro[i0:i1] += w[:, None] * g
        continue
      m = acts.worn(piece.kind, ts, wk, self.day, piece.phases, piece.jitter,
                    None if wk.signature is None else wk.signature[piece.cls])
      ang[i0:i1] += w[:, None] * m.ang
      rate[i0:i1] += w[:, None] * m.rate + dw[:, None] * m.ang
      lin[i0:i1] += w[:, None] * m.lin
      worn[i0:i1] += w
    return ang, rate, lin, worn, nop_acc, nop_gyro, state_w

  def head(self, t: np.ndarray, w: np.ndarray | None = None):
    """Head angles (roll, pitch, yaw) [n, 3] and their rates [n, 3] while
    worn (zero where the device is not worn). ``w`` is ignored (kept for
    callers that pass the state weights)."""
    del w
    ang, rate, _, worn, *_ = self._signals(np.asarray(t, np.float64))
    scale = 1.0 / np.maximum(worn, 1e-9)[:, None] * (worn > 0)[:, None]
    return ang * scale, rate * scale

  def sample(self, t: np.ndarray, rng: np.random.Generator | None = None
             ) -> Tuple[np.ndarray, np.ndarray]:
    """acc [n, 3] m/s² and gyro [n, 3] rad/s in the sensor frame at ``t`` s.

    Noise is added iff ``rng`` is given. ``t`` must be sorted.
    """
    wk = self.worker
    t = np.asarray(t, np.float64)
    ang, rate, lin, worn, nop_acc, nop_gyro, _ = self._signals(t)
    # Worn pieces carry weight ``worn``; their blend is normalised so the
    # head's posture holds while the device is being taken off.
    inv = np.where(worn > 0, 1.0 / np.maximum(worn, 1e-9), 0.0)[:, None]
    ang_n = ang * inv
    roll, pitch = ang_n[:, 0], ang_n[:, 1]
    cp = np.cos(pitch)
    acc_body = GRAVITY * np.stack([-np.sin(pitch), np.sin(roll) * cp,
                                   np.cos(roll) * cp], axis=1)
    acc_body = acc_body * worn[:, None] + lin
    gyro_body = rate.copy()
    if wk.loose > 0:
      # A loose mount rattles at its resonance when the head jolts.
      rattle = wk.loose * lin[:, 2] * np.sin(2 * np.pi * wk.loose_hz * t
                                             + self.handling[7])
      acc_body[:, 0] += rattle
      gyro_body[:, 1] += 0.08 * rattle
    mount = wk.mount @ self.remount
    acc = acc_body @ mount + nop_acc
    gyro = gyro_body @ mount + nop_gyro
    # Taking the device off / putting it on: a burst of handling motion.
    handling = 4.0 * worn * (1.0 - worn)
    if handling.any():
      h = self.handling
      for i in range(3):
        s = np.sin(2 * np.pi * (1.0 + 0.5 * i) * t + h[i])
        acc[:, i] += 2.0 * handling * s
        gyro[:, (i + 1) % 3] += 1.2 * handling * np.sin(
            2 * np.pi * (0.7 + 0.4 * i) * t + h[3 + i])
    acc = acc * wk.acc_scale + wk.acc_bias
    gyro = gyro * wk.gyro_scale + wk.gyro_bias
    if rng is not None:
      acc += rng.normal(0, wk.acc_noise, acc.shape)
      gyro += rng.normal(0, wk.gyro_noise, gyro.shape)
    return acc, gyro


def make_clip(worker: Worker, rng: np.random.Generator,
              duration_s: float) -> ClipMotion:
  segments = state_segments(rng, worker.fractions, duration_s)
  # A clip is a different day: the task mixture, tempo and vigour shift a
  # little and the device sits a few degrees differently.
  work_mix = rng.dirichlet(8.0 * worker.work_mix + 1e-3)
  break_mix = rng.dirichlet(8.0 * worker.break_mix + 1e-3)
  day = Day(tempo=float(rng.uniform(0.95, 1.05)),
            vigour=float(np.exp(rng.normal(0.0, 0.08))))
  pieces = plan_pieces(worker, rng, segments, duration_s, work_mix, break_mix)
  return ClipMotion(
      worker=worker,
      segments=segments,
      pieces=pieces,
      day=day,
      remount=rotation(unit_vector(rng), float(abs(rng.normal(0, np.deg2rad(3))))),
      handling=rng.uniform(0, 2 * np.pi, 8),
      tempo_drift=day.tempo,
  )


def make_activity_clip(worker: Worker, rng: np.random.Generator,
                       duration_s: float, kind: str, label: int
                       ) -> ClipMotion:
  """A clip of one worn activity throughout, labelled ``label`` (an index
  into the dataset's classes): one label per clip, as in most public HAR
  data. The worker's style, device and the day's variation apply as in
  ``make_clip``."""
  if kind not in acts.WORN:
    raise ValueError(f"unknown worn activity {kind!r}; known: "
                     f"{sorted(acts.WORN)}")
  state = WORKING if kind in acts.WORK_TASKS else BREAK
  day = Day(tempo=float(rng.uniform(0.95, 1.05)),
            vigour=float(np.exp(rng.normal(0.0, 0.08))))
  piece = Piece(0.0, duration_s, state, kind,
                rng.uniform(0, 2 * np.pi, acts.NUM_PHASES),
                rng.normal(0, 1, acts.NUM_JITTER), label=label)
  return ClipMotion(
      worker=worker,
      segments=[(0.0, duration_s, label)],
      pieces=[piece],
      day=day,
      remount=rotation(unit_vector(rng), float(abs(rng.normal(0, np.deg2rad(3))))),
      handling=rng.uniform(0, 2 * np.pi, 8),
      tempo_drift=day.tempo,
  )
