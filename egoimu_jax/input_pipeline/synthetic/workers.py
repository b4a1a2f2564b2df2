"""Synthetic workers: state fractions, behaviour, body and device.

``make_worker`` draws one person of the synthetic pilot deterministically
from the seed and their index (what they do, how they move, their device:
see ``motion``'s docstring for why each trait differs between people), and
``hard_assignment`` / ``HARD_PROFILES`` / ``plant`` plant the hard workers.
``variation`` shrinks or widens the differences between people.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from egoimu_jax.input_pipeline.synthetic import activities as acts

WORKING, BREAK, NOT_ON_PERSON = 0, 1, 2
# Pilot statistics (mean, std) of per-worker state fractions.
PILOT_FRACTIONS = {"working": (0.843, 0.110), "break": (0.123, 0.110),
                   "not_on_person": (0.034, 0.016)}
# Planted hard workers, cycled: (profile, fractions or None).
HARD_PROFILES = (
    ("break_heavy", (0.25, 0.72, 0.03)),
    # On break often enough that a few short clips show both states: with
    # the pilot's drawn fractions (84% working, bouts of minutes) a dataset
    # of 30 s clips may never see this worker's breaks, and their work alone
    # is no harder than anyone's.
    ("gentle_worker", (0.6, 0.37, 0.03)),
    ("restless_breaks", (0.6, 0.37, 0.03)),
)
# Bumped when a profile's output changes: it enters the synthetic config
# hash of the datasets that plant the profile (none: revision 1), so their
# caches are regenerated and every other dataset keeps its hash.
HARD_PROFILE_REVISIONS = {"gentle_worker": 2}
# Device models: (name, probability, acc noise range m/s², gyro noise range
# rad/s, acc bias std m/s², gyro bias std rad/s).
DEVICE_MODELS = (
    ("imu-a", 0.35, (0.02, 0.04), (0.003, 0.006), 0.05, 0.005),
    ("imu-b", 0.40, (0.04, 0.08), (0.006, 0.012), 0.2, 0.015),
    ("imu-c", 0.25, (0.08, 0.14), (0.012, 0.024), 0.4, 0.03),
)


def _beta_params(mean: float, std: float) -> Tuple[float, float]:
  s = mean * (1 - mean) / std**2 - 1
  return mean * s, (1 - mean) * s


def rotation(axis: np.ndarray, angle: float) -> np.ndarray:
  """Rotation by ``angle`` (rad) about ``axis`` (Rodrigues)."""
  axis = axis / np.linalg.norm(axis)
  k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]],
                [-axis[1], axis[0], 0]])
  return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def unit_vector(rng) -> np.ndarray:
  """A uniformly random direction in 3-D."""
  v = rng.normal(size=3)
  return v / np.linalg.norm(v)


def random_rotation(rng) -> np.ndarray:
  """A uniformly random rotation matrix (from a random unit quaternion)."""
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
  # The planted person signature: a ``signature.ClassSignature`` per class;
  # None: none.
  signature: Optional[List[Any]] = None


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
      mount=rotation(unit_vector(rng), float(angle)),
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


def break_alpha(work_mix: np.ndarray) -> np.ndarray:
  """The Dirichlet concentration of a break mix: break styles that do not
  look like the worker's own job (``work_mix``)."""
  alpha = _BREAK_BASE * np.exp(-4.0 * (_LOOKALIKE @ work_mix))
  return 0.8 * alpha / alpha.max() + 1e-3


def _break_mix(rng, work_mix: np.ndarray) -> np.ndarray:
  return rng.dirichlet(break_alpha(work_mix))


def make_worker(seed: int, index: int, hard: str | None = None) -> Worker:
  """Draws worker ``index`` deterministically from ``seed``."""
  rng = np.random.default_rng([seed, 1, index])
  nop = float(np.clip(rng.beta(*_beta_params(0.034, 0.016)), 0.003, 0.15))
  w_mean, w_std = PILOT_FRACTIONS["working"]
  share = rng.beta(*_beta_params(w_mean / (1 - 0.034), w_std / (1 - 0.034)))
  working = float(share * (1 - nop))
  fractions = np.array([working, 1 - working - nop, nop])
  work_mix = rng.dirichlet(0.4 * np.array([1.5, 1.0, 0.7, 1.0, 0.8, 0.0]) + 1e-3)
  hand_dirs = np.stack([unit_vector(rng) for _ in range(3)])
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
    plant(worker, hard)
  return worker


def plant(worker: Worker, hard: str) -> None:
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
