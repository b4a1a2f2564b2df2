"""Motion model of the synthetic pilot: workers, state sequences, IMU signals.

Every signal is an analytic function of continuous time (sums of sinusoids
under smooth envelopes), so the same clip can be sampled at 200 Hz with
jitter, at 30/50 Hz, or at video frame times, and the variants agree up to
sampling. Content stays below 8 Hz so even 30 Hz sampling does not alias;
white sensor noise is added per sample.

Per-worker differences (the reason cross-person generalisation is harder
than within-person): work tempo and harmonic profile, motion amplitude and
direction, posture while working, how often breaks include walking, sensor
mounting orientation, sensor biases and noise. States differ in dynamics:
``working`` is periodic arm/torso motion with tool bursts and the head
pitched down; ``break`` is slow sway and glances, sometimes walking;
``not_on_person`` is a static device on a surface (gravity only).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Tuple

import numpy as np

from egoimu_jax.input_pipeline.imu_resample import GRAVITY

WORKING, BREAK, NOT_ON_PERSON = 0, 1, 2
# Pilot statistics (mean, std) of per-worker state fractions.
PILOT_FRACTIONS = {"working": (0.843, 0.110), "break": (0.123, 0.110),
                   "not_on_person": (0.034, 0.016)}
# Planted hard workers, cycled: (profile, fractions or None, signature tweaks).
HARD_PROFILES = (
    ("break_heavy", (0.25, 0.72, 0.03), {}),
    ("gentle_worker", None, {"amp": 0.45, "tempo_hz": 0.6, "walk_prob": 0.0}),
    ("restless_breaks", None, {"walk_prob": 0.9, "break_amp": 2.5}),
)
_MEAN_SEGMENT_S = 45.0  # mean duration of a state bout
_RAMP_S = 0.4           # crossfade between states


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


@dataclasses.dataclass
class Worker:
  """A synthetic worker's state fractions and motion signature."""
  worker_id: str
  profile: str
  fractions: np.ndarray   # [3] target working / break / not_on_person
  vigour: float           # scales all of the worker's motion
  tempo_hz: float
  harmonics: np.ndarray   # [3] relative weights of harmonics 1..3
  amp: float              # m/s² of working motion
  burst: float            # strength of 4-6 Hz tool bursts, relative to amp
  fine_depth: float       # how far motion drops during fine manual work
  directions: np.ndarray  # [3, 3] unit direction of each harmonic
  work_pitch: float       # rad, head pitched down while working
  scan_amp: float         # rad, head yaw scanning amplitude while working
  break_amp: float        # relative sway during breaks
  walk_prob: float        # chance a break bout includes walking
  fidget: float           # m/s² of hand motion in breaks (eating, phone)
  fidget_hz: float
  walk_hz: float
  mount: np.ndarray       # [3, 3] sensor orientation on the body
  acc_bias: np.ndarray    # [3] m/s²
  gyro_bias: np.ndarray   # [3] rad/s
  acc_noise: float
  gyro_noise: float
  site: int               # which workplace scene the video shows


def make_worker(seed: int, index: int, hard: str | None = None) -> Worker:
  """Draws worker ``index`` deterministically from ``seed``."""
  rng = np.random.default_rng([seed, 1, index])
  nop = float(np.clip(rng.beta(*_beta_params(0.034, 0.016)), 0.003, 0.15))
  w_mean, w_std = PILOT_FRACTIONS["working"]
  share = rng.beta(*_beta_params(w_mean / (1 - 0.034), w_std / (1 - 0.034)))
  working = float(share * (1 - nop))
  fractions = np.array([working, 1 - working - nop, nop])
  vigour = float(np.exp(rng.normal(0.0, 0.6)))
  worker = Worker(
      worker_id=f"w{index:04d}",
      profile="typical",
      fractions=fractions,
      vigour=vigour,
      tempo_hz=float(rng.uniform(0.5, 1.8)),
      harmonics=rng.dirichlet([2.0, 1.0, 0.6]),
      amp=float(1.3 * vigour * np.exp(rng.normal(0.0, 0.3))),
      burst=float(rng.uniform(0.0, 1.2)),
      fine_depth=float(rng.uniform(0.3, 0.95)),
      directions=np.stack([_unit(rng) for _ in range(3)]),
      work_pitch=float(rng.uniform(0.1, 0.7)),
      scan_amp=float(rng.uniform(0.05, 0.35)),
      break_amp=float(vigour * np.exp(rng.normal(0.0, 0.35))),
      walk_prob=float(rng.uniform(0.0, 0.8)),
      walk_hz=float(rng.uniform(1.6, 2.1)),
      fidget=float(vigour * rng.uniform(0.0, 0.8)),
      fidget_hz=float(rng.uniform(0.5, 1.5)),
      mount=_rotation(_unit(rng), float(rng.uniform(0.0, np.deg2rad(70)))),
      acc_bias=rng.normal(0, 0.15, 3),
      gyro_bias=rng.normal(0, 0.01, 3),
      acc_noise=float(rng.uniform(0.03, 0.12)),
      gyro_noise=float(rng.uniform(0.004, 0.02)),
      site=int(rng.integers(0, 4)),
  )
  if hard is not None:
    profile = next(p for p in HARD_PROFILES if p[0] == hard)
    worker.profile = hard
    if profile[1] is not None:
      worker.fractions = np.asarray(profile[1], np.float64)
    for k, v in profile[2].items():
      setattr(worker, k, v if k == "walk_prob" else getattr(worker, k) * v)
  return worker


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


def state_segments(rng, fractions: np.ndarray, duration_s: float
                   ) -> List[Tuple[float, float, int]]:
  """A clip's state bouts as (start_s, end_s, state); contiguous, cover it.

  A semi-Markov process whose long-run time fractions equal ``fractions``:
  bouts are exponential with mean ``_MEAN_SEGMENT_S / (1 - p_i)`` and the
  next state is drawn from the other states in proportion to ``p``, which
  visits state i in proportion to ``p_i (1 - p_i)``. A clip starts in state
  i with probability ``p_i``, inside a bout (memoryless: same distribution).
  """
  p = fractions / fractions.sum()
  mean = _MEAN_SEGMENT_S / np.maximum(1 - p, 1e-3)
  state = int(rng.choice(3, p=p))
  t, out = 0.0, []
  while t < duration_s:
    end = min(duration_s, t + max(rng.exponential(mean[state]), 1.0))
    out.append((t, end, state))
    t = end
    q = p.copy()
    q[state] = 0
    if q.sum() > 0:
      state = int(rng.choice(3, p=q / q.sum()))
  return out


@dataclasses.dataclass
class ClipMotion:
  """Per-clip random draws; ``sample`` evaluates the signal at any times."""
  worker: Worker
  segments: List[Tuple[float, float, int]]
  phases: np.ndarray      # random phases of every sinusoid
  walking: bool           # this clip's breaks include walking
  table: np.ndarray       # [3, 3] device orientation when set down
  tempo_drift: float

  def weights(self, t: np.ndarray) -> np.ndarray:
    """[n, 3] smooth state weights (crossfade over _RAMP_S at changes)."""
    w = np.zeros((t.size, 3))
    for start, end, state in self.segments:
      rise = np.clip((t - start) / _RAMP_S + 0.5, 0, 1) if start > 0 else 1.0
      fall = np.clip((end - t) / _RAMP_S + 0.5, 0, 1)
      w[:, state] += rise * fall
    return w / np.maximum(w.sum(axis=1, keepdims=True), 1e-9)

  def work_intensity(self, t: np.ndarray) -> np.ndarray:
    """Spells of fine manual work (little motion) within working bouts."""
    ph = self.phases
    slow = (np.sin(2 * np.pi * 0.037 * t + ph[0] + ph[5]) +
            np.sin(2 * np.pi * 0.061 * t + ph[2] + ph[7]))
    fine = 1.0 / (1.0 + np.exp(-3.0 * slow))  # ~0 or ~1, smooth switches
    return 1.0 - self.worker.fine_depth * fine

  def head(self, t: np.ndarray, w: np.ndarray | None = None):
    """Head angles (roll, pitch, yaw) [n, 3] and their rates [n, 3]."""
    wk, ph = self.worker, self.phases
    w = self.weights(t) if w is None else w
    two_pi = 2 * np.pi
    f = wk.tempo_hz * self.tempo_drift
    ang = np.zeros((t.size, 3))
    rate = np.zeros((t.size, 3))

    def add(axis, amp, freq, phase, weight):
      om = two_pi * freq
      ang[:, axis] += weight * amp * np.sin(om * t + phase)
      rate[:, axis] += weight * amp * om * np.cos(om * t + phase)

    # Working: pitched down, nodding with the work, scanning the work area.
    ang[:, 1] += w[:, WORKING] * wk.work_pitch
    nod = w[:, WORKING] * self.work_intensity(t) * wk.vigour
    add(1, 0.08, f, ph[0], nod)
    add(0, 0.05, f, ph[1], nod)
    add(2, wk.scan_amp, 0.21, ph[2], w[:, WORKING])
    # Break: slow sway and glances around; walking adds gait bob.
    b = w[:, BREAK] * wk.break_amp
    add(0, 0.03, 0.23, ph[3], b)
    add(1, 0.05, 0.17, ph[4], b)
    add(2, 0.5, 0.07, ph[5], b)
    add(2, 0.15, 0.31, ph[6], b)
    if self.walking:
      add(0, 0.04, wk.walk_hz / 2, ph[7], w[:, BREAK])
      add(1, 0.03, wk.walk_hz, ph[8], w[:, BREAK])
    return ang, rate

  def sample(self, t: np.ndarray, rng: np.random.Generator | None = None
             ) -> Tuple[np.ndarray, np.ndarray]:
    """acc [n, 3] m/s² and gyro [n, 3] rad/s in the sensor frame at ``t`` s.

    Noise is added iff ``rng`` is given.
    """
    wk, ph = self.worker, self.phases
    t = np.asarray(t, np.float64)
    w = self.weights(t)
    ang, rate = self.head(t, w)
    roll, pitch = ang[:, 0], ang[:, 1]
    gravity = GRAVITY * np.stack([-np.sin(pitch), np.sin(roll) * np.cos(pitch),
                                  np.cos(roll) * np.cos(pitch)], axis=1)
    two_pi = 2 * np.pi
    f = wk.tempo_hz * self.tempo_drift
    lin = np.zeros((t.size, 3))
    for h in range(3):
      lin += np.outer(wk.harmonics[h] * np.sin(two_pi * (h + 1) * f * t + ph[9 + h]),
                      wk.directions[h])
    # Tool bursts: 4-6 Hz shaking that comes and goes with the task.
    env = np.clip(np.sin(two_pi * 0.09 * t + ph[12]), 0, None) ** 2
    lin += np.outer(wk.burst * env *
                    np.sin(two_pi * (4.0 + 2 * (ph[13] / two_pi)) * t),
                    wk.directions[0])
    lin *= (wk.amp * w[:, WORKING] * self.work_intensity(t))[:, None]
    # Break: a little sway; gait when walking.
    sway = 0.25 * wk.break_amp * np.stack([
        np.sin(two_pi * 0.23 * t + ph[14]), np.sin(two_pi * 0.19 * t + ph[15]),
        0.5 * np.sin(two_pi * 0.29 * t + ph[16])], axis=1)
    if self.walking:
      sway += wk.vigour * np.stack([
          0.5 * np.sin(two_pi * wk.walk_hz / 2 * t + ph[17]),
          0.3 * np.sin(two_pi * wk.walk_hz / 2 * t + ph[18]),
          1.5 * np.sin(two_pi * wk.walk_hz * t + ph[19])], axis=1)
    sway += np.outer(wk.fidget * np.sin(two_pi * wk.fidget_hz * t + ph[1])
                     * (0.5 + 0.5 * np.sin(two_pi * 0.05 * t + ph[3])),
                     wk.directions[1])
    lin += sway * w[:, BREAK, None]
    worn = gravity + lin
    acc_body = worn * (1 - w[:, NOT_ON_PERSON, None])
    gyro_body = rate * (1 - w[:, NOT_ON_PERSON, None])
    # Set down: the mount orientation no longer applies; gravity only.
    table_g = self.table.T @ np.array([0.0, 0.0, GRAVITY])
    acc = acc_body @ wk.mount + np.outer(w[:, NOT_ON_PERSON], table_g)
    gyro = gyro_body @ wk.mount
    acc += wk.acc_bias
    gyro += wk.gyro_bias
    if rng is not None:
      acc += rng.normal(0, wk.acc_noise, acc.shape)
      gyro += rng.normal(0, wk.gyro_noise, gyro.shape)
    return acc, gyro


def make_clip(worker: Worker, rng: np.random.Generator,
              duration_s: float) -> ClipMotion:
  segments = state_segments(rng, worker.fractions, duration_s)
  # A device set down lies on one of its faces, slightly tilted.
  face = np.eye(3)[rng.integers(0, 3)] * rng.choice([-1, 1])
  base = _rotation(np.cross([0, 0, 1.0], face) + 1e-9 * np.array([1, 0, 0]),
                   float(np.arccos(np.clip(face[2], -1, 1))))
  table = base @ _rotation(_unit(rng), float(rng.uniform(0, 0.15)))
  return ClipMotion(
      worker=worker,
      segments=segments,
      phases=rng.uniform(0, 2 * np.pi, 20),
      walking=bool(rng.uniform() < worker.walk_prob),
      table=table,
      tempo_drift=float(rng.uniform(0.93, 1.07)),
  )
