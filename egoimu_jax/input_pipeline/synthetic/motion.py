"""Motion model of the synthetic pilot: workers, devices, schedules, signals.

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

Planted hard workers (``HARD_PROFILES``): one on break 72% of the time
whose breaks are spent walking the floor, a gentle bench worker whose work
barely moves (and who rests on the phone), and one whose breaks are
restless (strolling, chatting, fidgeting).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Tuple

import numpy as np

from egoimu_jax.input_pipeline.raw.imu_resample import GRAVITY
from egoimu_jax.input_pipeline.synthetic import activities as acts

WORKING, BREAK, NOT_ON_PERSON = 0, 1, 2
# Pilot statistics (mean, std) of per-worker state fractions.
PILOT_FRACTIONS = {"working": (0.843, 0.110), "break": (0.123, 0.110),
                   "not_on_person": (0.034, 0.016)}
# Planted hard workers, cycled: (profile, fractions or None).
HARD_PROFILES = (
    ("break_heavy", (0.25, 0.72, 0.03)),
    ("gentle_worker", None),
    ("restless_breaks", (0.6, 0.37, 0.03)),
)
# Device models: (name, probability, acc noise range m/s², gyro noise range
# rad/s, acc bias std m/s², gyro bias std rad/s).
DEVICE_MODELS = (
    ("imu-a", 0.35, (0.02, 0.04), (0.003, 0.006), 0.05, 0.005),
    ("imu-b", 0.40, (0.04, 0.08), (0.006, 0.012), 0.2, 0.015),
    ("imu-c", 0.25, (0.08, 0.14), (0.012, 0.024), 0.4, 0.03),
)
_MEAN_SEGMENT_S = 45.0  # scale of state bout durations (see state_segments)
_MIN_BOUT_S = 3.0       # shortest state bout or activity bout
_RAMP_S = 1.0           # crossfade between activities
_HANDLING_S = 1.5       # crossfade when the device is taken off / put on
_WORK_ACTIVITY_S = 40.0   # mean duration of one work task
_BREAK_ACTIVITY_S = 30.0  # mean duration of one break activity


def _beta_params(mean: float, std: float) -> Tuple[float, float]:
  s = mean * (1 - mean) / std**2 - 1
  return mean * s, (1 - mean) * s


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
  axis = axis / np.linalg.norm(axis)
  k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]],
                [-axis[1], axis[0], 0]])
  return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def _unit(rng) -> np.ndarray:
  v = rng.normal(size=3)
  return v / np.linalg.norm(v)


def _random_rotation(rng) -> np.ndarray:
  q = rng.normal(size=4)
  q /= np.linalg.norm(q)
  w, x, y, z = q
  return np.array([
      [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
      [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
      [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


@dataclasses.dataclass
class Worker:
  """A synthetic worker: state fractions, behaviour, body and device."""
  worker_id: str
  profile: str
  fractions: np.ndarray   # [3] target working / break / not_on_person
  # What they do: mixtures over acts.WORK_TASKS, BREAK_STYLES, NOP_PLACES.
  work_mix: np.ndarray
  break_mix: np.ndarray
  nop_mix: np.ndarray
  leave_walk: float       # chance a break starts/ends walking away/back
  carry_prob: float       # chance the device is carried after taking it off
  # How they move.
  vigour: float           # scales hand and body motion
  tempo_hz: float         # rhythm of bench work
  harmonics: np.ndarray   # [3] weights of the tempo's harmonics 1..3
  hand_dirs: np.ndarray   # [3, 3] unit directions of hand-driven head motion
  fine_depth: float       # how far motion drops during fine manual work
  tool_hz: float          # hammering rate
  tool_kind: float        # 1: hammer, 0: powered driver, between: both
  buzz_hz: float          # driver vibration
  lift_hz: float          # bend-and-lift cycles per second
  cadence_hz: float       # step frequency
  gait_amp: float         # m/s² vertical head acceleration while walking
  work_pitch: float       # rad, head pitched down at the bench
  rest_pitch: float       # rad, head pitch when sitting or standing at rest
  phone_pitch: float      # rad, head pitched down on the phone
  inspect_pitch: float    # rad, head pitched down inspecting parts
  walk_pitch: float       # rad, head pitch while walking
  look_down: float        # rad, extra pitch while carrying
  carry_pace: float       # step frequency factors: carrying a load,
  stroll_pace: float      # and strolling
  scan: float             # how much they look around
  glance_hz: float        # and how often
  event_s: float          # rhythm of small events (reaches, looking up)
  fidget: float           # m/s² of restless hand motion on break
  chew_hz: float
  breath_hz: float
  style: Dict[str, np.ndarray]  # activity -> acts.STYLE_FIELDS
  # Their device.
  device: str
  mount: np.ndarray       # [3, 3] body -> sensor rotation (row vectors)
  loose: float            # mount rattle gain
  loose_hz: float         # mount resonance
  acc_scale: np.ndarray   # [3] 1 + scale error
  gyro_scale: np.ndarray  # [3]
  acc_bias: np.ndarray    # [3] m/s²
  gyro_bias: np.ndarray   # [3] rad/s
  acc_noise: float        # white noise std, m/s²
  gyro_noise: float       # white noise std, rad/s
  site: int               # which workplace scene the video shows


def _draw_device(rng) -> Dict[str, object]:
  probs = np.array([d[1] for d in DEVICE_MODELS])
  name, _, acc_n, gyro_n, acc_b, gyro_b = DEVICE_MODELS[
      int(rng.choice(len(DEVICE_MODELS), p=probs / probs.sum()))]
  if rng.uniform() < 0.3:     # clipped on sideways / upside down
    angle = rng.uniform(np.deg2rad(30), np.deg2rad(110))
  else:
    angle = abs(rng.normal(0, np.deg2rad(10)))
  return dict(
      device=name,
      mount=_rotation(_unit(rng), float(angle)),
      loose=float(np.clip(rng.lognormal(np.log(0.08), 0.8), 0.0, 0.4)),
      loose_hz=float(rng.uniform(4.0, 5.5)),
      acc_scale=1 + rng.normal(0, 0.02, 3),
      gyro_scale=1 + rng.normal(0, 0.03, 3),
      acc_bias=rng.normal(0, acc_b, 3),
      gyro_bias=rng.normal(0, gyro_b, 3),
      acc_noise=float(rng.uniform(*acc_n)),
      gyro_noise=float(rng.uniform(*gyro_n)),
  )


def _draw_style(rng) -> Dict[str, np.ndarray]:
  """How this person does each activity (see acts.STYLE_FIELDS)."""
  n = len(acts.WORN)
  draws = np.stack([np.exp(rng.normal(0, 0.1, n)), np.exp(rng.normal(0, 0.1, n)),
                    rng.normal(0, 0.03, n), np.exp(rng.normal(0, 0.1, n))], 1)
  return dict(zip(acts.WORN, draws))


# How much a break style looks like a work task (acts.BREAK_STYLES rows x
# acts.WORK_TASKS columns). People avoid on break what their job looks like:
# porters sit down, bench and screen workers stretch their legs.
_LOOKALIKE = np.array([
    # assembly carry lifting tool inspect monitor
    [0.5,      0.0,  0.0,    0.0, 0.0,    1.0],   # sit
    [0.0,      1.0,  0.5,    0.0, 0.3,    0.0],   # stroll
    [0.7,      0.0,  0.0,    0.3, 1.0,    0.0],   # phone
    [0.0,      0.0,  0.0,    0.0, 0.0,    0.0],   # eat
    [0.0,      0.0,  0.0,    0.0, 0.3,    0.3],   # chat
])
_BREAK_BASE = np.array([1.0, 1.0, 1.0, 0.6, 1.0])


def _break_mix(rng, work_mix: np.ndarray) -> np.ndarray:
  """Break styles that do not look like the worker's own job."""
  alpha = _BREAK_BASE * np.exp(-4.0 * (_LOOKALIKE @ work_mix))
  return rng.dirichlet(0.8 * alpha / alpha.max() + 1e-3)


def make_worker(seed: int, index: int, hard: str | None = None) -> Worker:
  """Draws worker ``index`` deterministically from ``seed``."""
  rng = np.random.default_rng([seed, 1, index])
  nop = float(np.clip(rng.beta(*_beta_params(0.034, 0.016)), 0.003, 0.15))
  w_mean, w_std = PILOT_FRACTIONS["working"]
  share = rng.beta(*_beta_params(w_mean / (1 - 0.034), w_std / (1 - 0.034)))
  working = float(share * (1 - nop))
  fractions = np.array([working, 1 - working - nop, nop])
  work_mix = rng.dirichlet(0.4 * np.array([1.5, 1.0, 0.7, 1.0, 0.8, 0.0]) + 1e-3)
  hand_dirs = np.stack([_unit(rng) for _ in range(3)])
  worker = Worker(
      worker_id=f"w{index:04d}",
      profile="typical",
      fractions=fractions,
      work_mix=work_mix,
      break_mix=_break_mix(rng, work_mix),
      nop_mix=rng.dirichlet(np.array([3.0, 1.0, 0.7])),
      leave_walk=float(rng.uniform(0.2, 0.9)),
      carry_prob=float(rng.uniform(0.0, 0.5)),
      vigour=float(np.exp(rng.normal(0.0, 0.6))),
      tempo_hz=float(rng.uniform(0.5, 1.6)),
      harmonics=rng.dirichlet([2.0, 1.0, 0.6]),
      hand_dirs=hand_dirs,
      fine_depth=float(rng.uniform(0.2, 0.7)),
      tool_hz=float(rng.uniform(1.2, 2.5)),
      tool_kind=float(rng.choice([0.0, 0.5, 1.0])),
      buzz_hz=float(rng.uniform(4.5, 6.0)),
      lift_hz=float(rng.uniform(0.14, 0.25)),
      cadence_hz=float(np.clip(rng.normal(1.8, 0.12), 1.45, 2.15)),
      gait_amp=float(1.6 * np.exp(rng.normal(0.0, 0.25))),
      work_pitch=float(rng.uniform(0.2, 0.7)),
      rest_pitch=float(rng.normal(0.05, 0.08)),
      phone_pitch=float(rng.uniform(0.4, 0.85)),
      inspect_pitch=float(rng.uniform(0.3, 0.75)),
      walk_pitch=float(rng.normal(0.1, 0.08)),
      look_down=float(rng.uniform(0.1, 0.3)),
      carry_pace=float(rng.uniform(0.8, 0.92)),
      stroll_pace=float(rng.uniform(0.95, 1.08)),
      scan=float(np.exp(rng.normal(0.0, 0.4))),
      glance_hz=float(np.exp(rng.uniform(np.log(0.05), np.log(0.25)))),
      event_s=float(rng.uniform(8.0, 25.0)),
      fidget=float(np.exp(rng.normal(np.log(0.3), 0.6))),
      chew_hz=float(rng.uniform(1.2, 1.8)),
      breath_hz=float(rng.uniform(0.2, 0.33)),
      site=int(rng.integers(0, 4)),
      style=_draw_style(rng),
      **_draw_device(rng),
  )
  if hard is not None:
    _plant(worker, hard)
  return worker


def _plant(worker: Worker, hard: str) -> None:
  """Turns ``worker`` into the planted hard profile ``hard``."""
  profile = next((p for p in HARD_PROFILES if p[0] == hard), None)
  if profile is None:
    raise ValueError(f"unknown hard profile {hard!r}")
  worker.profile = hard
  if profile[1] is not None:
    worker.fractions = np.asarray(profile[1], np.float64)
  one_hot = lambda names, name: np.array([float(n == name) for n in names])
  if hard == "break_heavy":
    # A lead hand: officially on break most of the day, walking the floor.
    worker.work_mix = one_hot(acts.WORK_TASKS, "assembly")
    worker.break_mix = np.array([0.0, 0.7, 0.0, 0.0, 0.3])
    worker.leave_walk = 0.9
  elif hard == "gentle_worker":
    # Minds a machine and does fine work at an eye-level fixture, sitting
    # upright and barely moving (like others sitting on break); spends
    # breaks on the phone (like others inspecting parts).
    worker.work_mix = np.array([0.3, 0.0, 0.0, 0.0, 0.0, 0.7])
    worker.break_mix = np.array([0.1, 0.0, 0.8, 0.1, 0.0])
    worker.vigour *= 0.3
    worker.tempo_hz *= 0.6
    worker.work_pitch = worker.rest_pitch
    worker.inspect_pitch = worker.rest_pitch + 0.15
    worker.fine_depth = 0.95
    worker.leave_walk = 0.0
  elif hard == "restless_breaks":
    # Long breaks spent walking briskly around the floor and chatting,
    # fidgeting: like others carrying loads and working at the bench.
    worker.work_mix = np.array([0.7, 0.0, 0.0, 0.3, 0.0, 0.0])
    worker.break_mix = np.array([0.0, 0.6, 0.0, 0.0, 0.4])
    worker.stroll_pace = worker.carry_pace
    worker.walk_pitch = 0.2
    worker.fidget *= 2.5
    worker.leave_walk = 0.9


def hard_assignment(num_workers: int, num_hard: int) -> Dict[int, str]:
  """Worker index -> hard profile, spread evenly over the worker list."""
  if num_hard < 0:
    num_hard = max(1, round(num_workers / 30)) if num_workers >= 3 else 0
  num_hard = min(num_hard, num_workers)
  if num_hard == 0:
    return {}
  idx = np.linspace(0, num_workers - 1, num_hard + 2)[1:-1].round().astype(int)
  return {int(i): HARD_PROFILES[k % len(HARD_PROFILES)][0]
          for k, i in enumerate(idx)}


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
    return _random_rotation(rng)
  # On a surface: on one of its faces, slightly tilted.
  face = np.eye(3)[rng.integers(0, 3)] * rng.choice([-1, 1])
  base = _rotation(np.cross(face, [0, 0, 1.0]) + 1e-9 * np.array([1, 0, 0]),
                   float(np.arccos(np.clip(face[2], -1, 1))))
  return _rotation(_unit(rng), float(rng.uniform(0, 0.1))) @ base


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
      m = acts.worn(piece.kind, ts, wk, self.day, piece.phases, piece.jitter)
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
      remount=_rotation(_unit(rng), float(abs(rng.normal(0, np.deg2rad(3))))),
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
                rng.normal(0, 1, acts.NUM_JITTER))
  return ClipMotion(
      worker=worker,
      segments=[(0.0, duration_s, label)],
      pieces=[piece],
      day=day,
      remount=_rotation(_unit(rng), float(abs(rng.normal(0, np.deg2rad(3))))),
      handling=rng.uniform(0, 2 * np.pi, 8),
      tempo_drift=day.tempo,
  )
