"""How far apart the synthetic people are: ``person_variation``.

The knob sizes the person shift, so that a measurement of it can be checked
on data where the answer is known. ``varied_worker`` draws a worker as
``workers.make_worker`` does, moves every person-level trait toward one
typical person, then plants the hard profile (so a planted hard worker
stays hard at any variation). With ``v`` the variation:

* ``v = 1``: the worker as drawn, bit for bit (the default data).
* ``v = 0``: everyone is the typical person: the same state fractions, task
  and break mixtures, motion signature, device and mount. What varies is
  what varies within one person: which activity when, each clip's small
  re-mount and day-to-day shifts, sensor noise.
* between: trait = typical + v (drawn − typical) on the trait's own scale:
  linear for shares, mixtures, postures and offsets; in log for positive
  rates, gains and amplitudes. The mount turns by v times its angle about
  its own axis, and each hand direction turns from the typical one toward
  the drawn one by v times the angle between them, so rotations stay
  rotations and directions unit vectors.
* ``v > 1``: the same formula widens the spread; shares and mixtures are
  clipped to their range and renormalised.

Traits without a scale (the device model's name, the video site) stay as
drawn with probability v, else take the typical one (one uniform draw per
worker, so a larger v keeps a superset). ``class_mix`` does the same for
the per-worker class mixture of ``clip_activities`` datasets.

``shift`` plants a person signature on top (``signature``: what a model
that has seen the person can learn and one that has not cannot).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from egoimu_jax.input_pipeline.synthetic import signature as signature_lib
from egoimu_jax.input_pipeline.synthetic import workers as workers_lib

# The typical person: the centre of each trait's distribution in
# ``workers.make_worker`` (mid-range of uniforms, median of log-normals).
_LINEAR = dict(  # field: (centre, low, high) on a linear scale
    leave_walk=(0.55, 0.0, 1.0), carry_prob=(0.25, 0.0, 1.0),
    fine_depth=(0.45, 0.0, 1.0), tool_kind=(0.5, 0.0, 1.0),
    work_pitch=(0.45, None, None), rest_pitch=(0.05, None, None),
    phone_pitch=(0.625, None, None), inspect_pitch=(0.525, None, None),
    walk_pitch=(0.1, None, None), look_down=(0.2, None, None))
_LOG = dict(  # field: centre, varied in log (positive quantities)
    vigour=1.0, tempo_hz=1.05, tool_hz=1.85, buzz_hz=5.25, lift_hz=0.195,
    cadence_hz=1.8, gait_amp=1.6, carry_pace=0.86, stroll_pace=1.015,
    scan=1.0, glance_hz=float(np.sqrt(0.05 * 0.25)), event_s=16.5,
    fidget=0.3, chew_hz=1.5, breath_hz=0.265,
    loose=0.08, loose_hz=4.75, acc_noise=0.06, gyro_noise=0.009)
_TYPICAL_DEVICE, _TYPICAL_SITE = "imu-b", 0
# Dirichlet means of the mixtures (workers.make_worker's concentrations).
_WORK_ALPHA = 0.4 * np.array([1.5, 1.0, 0.7, 1.0, 0.8, 0.0]) + 1e-3
_TYPICAL_WORK = _WORK_ALPHA / _WORK_ALPHA.sum()
_TYPICAL_NOP = np.array([3.0, 1.0, 0.7]) / 4.7
_TYPICAL_HARMONICS = np.array([2.0, 1.0, 0.6]) / 3.6
_TYPICAL_FRACTIONS = np.array(
    [m for m, _ in workers_lib.PILOT_FRACTIONS.values()])
# workers.STYLE columns varied in log (gains); the others are offsets.
_STYLE_LOG = np.array([True, True, False, True])


def varied_worker(seed: int, index: int, hard: Optional[str] = None,
                  variation: float = 1.0, shift: float = 0.0,
                  class_kinds: Sequence[Sequence[str]] = ()
                  ) -> workers_lib.Worker:
  """Worker ``index`` of ``seed`` at person variation ``variation``, with
  the planted signature of ``shift`` (``signature``; 0: none) over the
  classes whose worn activities are ``class_kinds``."""
  if variation < 0:
    raise ValueError(f"person_variation must be >= 0, got {variation}")
  worker = workers_lib.make_worker(seed, index)
  if variation != 1.0:
    vary(worker, float(variation), seed, index)
  if shift:
    worker.signature = signature_lib.draw(seed, index, class_kinds,
                                          float(shift))
  if hard is not None:
    workers_lib.plant(worker, hard)
  return worker


def vary(worker: workers_lib.Worker, v: float, seed: int, index: int) -> None:
  """Moves ``worker``'s person-level traits toward the typical person."""
  for name, (centre, low, high) in _LINEAR.items():
    x = centre + v * (getattr(worker, name) - centre)
    setattr(worker, name, float(np.clip(x, low, high)) if low is not None
            else float(x))
  for name, centre in _LOG.items():
    setattr(worker, name, _log_shrink(getattr(worker, name), centre, v))
  worker.loose = min(worker.loose, 0.4)  # the drawn range's ceiling
  worker.fractions = _mix(worker.fractions, _TYPICAL_FRACTIONS, v, 0.003)
  worker.work_mix = _mix(worker.work_mix, _TYPICAL_WORK, v)
  typical_break = workers_lib.break_alpha(_TYPICAL_WORK)
  worker.break_mix = _mix(worker.break_mix, typical_break / typical_break.sum(), v)
  worker.nop_mix = _mix(worker.nop_mix, _TYPICAL_NOP, v)
  worker.harmonics = _mix(worker.harmonics, _TYPICAL_HARMONICS, v)
  worker.style = {k: _style(s, v) for k, s in worker.style.items()}
  worker.acc_scale = 1 + v * (worker.acc_scale - 1)
  worker.gyro_scale = 1 + v * (worker.gyro_scale - 1)
  worker.acc_bias = v * worker.acc_bias
  worker.gyro_bias = v * worker.gyro_bias
  axis, angle = axis_angle(worker.mount)
  worker.mount = workers_lib.rotation(axis, v * angle)
  typical_dirs = np.random.default_rng([seed, 11])
  worker.hand_dirs = np.stack([
      turn_toward(workers_lib.unit_vector(typical_dirs), d, v)
      for d in worker.hand_dirs])
  keep = np.random.default_rng([seed, 12, index]).uniform() < v
  if not keep:
    worker.device, worker.site = _TYPICAL_DEVICE, _TYPICAL_SITE


def class_mix(mix: np.ndarray, v: float) -> np.ndarray:
  """A worker's class mixture at variation ``v`` (typical: uniform)."""
  if v == 1.0:
    return mix
  return _mix(mix, np.full(len(mix), 1.0 / len(mix)), v)


def _style(style: np.ndarray, v: float) -> np.ndarray:
  out = v * style
  out[_STYLE_LOG] = style[_STYLE_LOG] ** v
  return out


def _log_shrink(x: float, centre: float, v: float) -> float:
  return float(centre * (x / centre) ** v)


def _mix(drawn: np.ndarray, typical: np.ndarray, v: float,
         floor: float = 0.0) -> np.ndarray:
  out = typical + v * (np.asarray(drawn, np.float64) - typical)
  if v > 1:
    out = np.clip(out, floor, None)
    out = out / out.sum()
  return out


def axis_angle(r: np.ndarray):
  """(unit axis, angle in [0, π]) of a rotation matrix (``workers.rotation``
  inverted); the x axis for the identity."""
  angle = float(np.arccos(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0)))
  axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
  norm = np.linalg.norm(axis)
  if norm < 1e-9:
    if angle < 1e-6:
      return np.array([1.0, 0.0, 0.0]), 0.0
    # A half turn: the axis is the eigenvector of eigenvalue 1.
    w, vecs = np.linalg.eigh((r + r.T) / 2)
    return vecs[:, int(np.argmax(w))], angle
  return axis / norm, angle


def turn_toward(a: np.ndarray, b: np.ndarray, v: float) -> np.ndarray:
  """Unit vector ``a`` turned toward unit vector ``b`` by ``v`` times the
  angle between them (``b`` at v = 1)."""
  axis = np.cross(a, b)
  norm = np.linalg.norm(axis)
  angle = float(np.arctan2(norm, np.dot(a, b)))
  if norm < 1e-12:
    return np.array(b if v >= 0.5 else a, np.float64)
  return workers_lib.rotation(axis / norm, v * angle) @ a
