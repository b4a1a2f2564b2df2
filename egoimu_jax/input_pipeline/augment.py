"""IMU augmentation of training batches (``config.input.augment``).

Four transforms of a raw window ``[L, 6]`` (acc xyz m/s², gyro xyz rad/s),
applied before normalisation, each with its own probability (all 0 by
default: no transform is built and batches are unchanged):

* ``rotation``: one rotation ``R`` of the sensor frame, the same for acc and
  gyro (both are vectors in that frame), so ``|acc|`` and ``|gyro|`` of every
  sample are kept. ``rotation_max_degrees >= 180``: ``R`` uniform on SO(3)
  (a uniform unit quaternion); less: a uniform axis and an angle uniform in
  ``[0, max]``.
* ``scale``: acc and gyro each multiplied by a factor ``~ N(1, scale_sigma)``
  (one per sensor, so directions are kept).
* ``jitter``: Gaussian noise, ``jitter_acc`` m/s² and ``jitter_gyro`` rad/s.
* ``time_warp``: smooth monotone resampling: the local speed is
  ``1 + time_warp_sigma * g(t)``, ``g`` a cubic spline through
  ``time_warp_knots`` standard normal knots, clipped at 0.1; its cumulative
  sum maps ``[0, L)`` onto itself and the window is linearly interpolated.

Randomness: it runs in the grain pipeline (numpy), not on the device, so it
is a pure function of ``(augment.seed, global step, row of the global
batch)``: a row's draws do not depend on which host reads it or on the
process count, and a restored iterator repeats them exactly.
"""

from __future__ import annotations

import numpy as np
from scipy import interpolate

from egoimu_jax import errors

KINDS = ("rotation", "scale", "jitter", "time_warp")


class AugmentConfigError(errors.UserError, ValueError):
  """An ``input.augment`` value out of range."""


def enabled(cfg) -> bool:
  return cfg is not None and any(
      float(cfg.get(f"{k}_prob", 0.0)) > 0 for k in KINDS)


def random_rotation(rng: np.random.Generator,
                    max_degrees: float = 180.0) -> np.ndarray:
  """A 3x3 rotation: uniform on SO(3), or about a uniform axis by an angle
  uniform in ``[0, max_degrees]``."""
  if max_degrees >= 180.0:
    q = rng.standard_normal(4)
    w, x, y, z = q / np.linalg.norm(q)
  else:
    axis = rng.standard_normal(3)
    axis /= np.linalg.norm(axis)
    half = np.deg2rad(rng.uniform(0.0, max_degrees)) / 2
    w, (x, y, z) = np.cos(half), np.sin(half) * axis
  return np.array([
      [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
      [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
      [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def time_warp(window: np.ndarray, rng: np.random.Generator, sigma: float,
              knots: int) -> np.ndarray:
  """``window`` [L, C] resampled along a smooth monotone map of [0, L-1]."""
  length = window.shape[0]
  at = np.linspace(0, length - 1, max(int(knots), 2) + 2)
  speed = interpolate.CubicSpline(at, rng.standard_normal(at.size))(
      np.arange(length))
  speed = np.clip(1.0 + sigma * speed, 0.1, None)
  warped = np.concatenate([[0.0], np.cumsum(speed[:-1])])
  warped *= (length - 1) / warped[-1]
  return np.stack([np.interp(warped, np.arange(length), window[:, c])
                   for c in range(window.shape[1])], axis=1)


class Augmenter:
  """``(imu [b, L, 6], step, rows [b]) -> imu``: picklable, numpy only."""

  def __init__(self, cfg):
    self.seed = int(cfg.get("seed", 0))
    self.prob = {k: float(cfg.get(f"{k}_prob", 0.0)) for k in KINDS}
    for k, p in self.prob.items():
      if not 0.0 <= p <= 1.0:
        raise AugmentConfigError(f"input.augment.{k}_prob={p} is not a "
                                 "probability in [0, 1]")
    self.max_degrees = float(cfg.get("rotation_max_degrees", 180.0))
    self.scale_sigma = float(cfg.get("scale_sigma", 0.1))
    self.jitter = np.repeat([float(cfg.get("jitter_acc", 0.05)),
                             float(cfg.get("jitter_gyro", 0.005))], 3)
    self.warp_sigma = float(cfg.get("time_warp_sigma", 0.2))
    self.warp_knots = int(cfg.get("time_warp_knots", 4))
    for name, value in (("rotation_max_degrees", self.max_degrees),
                        ("scale_sigma", self.scale_sigma),
                        ("time_warp_sigma", self.warp_sigma)):
      if value < 0:
        raise AugmentConfigError(f"input.augment.{name}={value} is negative")

  def window(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One raw window ``[L, 6]`` (float64 copy)."""
    x = np.array(x, np.float64)
    draws = rng.uniform(size=len(KINDS))  # drawn always: fixed stream layout
    use = {k: u < self.prob[k] for k, u in zip(KINDS, draws)}
    if use["rotation"]:
      r = random_rotation(rng, self.max_degrees)
      x[:, :3] = x[:, :3] @ r.T
      x[:, 3:] = x[:, 3:] @ r.T
    if use["scale"]:
      x[:, :3] *= 1.0 + self.scale_sigma * rng.standard_normal()
      x[:, 3:] *= 1.0 + self.scale_sigma * rng.standard_normal()
    if use["jitter"]:
      x += rng.standard_normal(x.shape) * self.jitter
    if use["time_warp"]:
      x = time_warp(x, rng, self.warp_sigma, self.warp_knots)
    return x

  def __call__(self, imu: np.ndarray, step: int,
               rows: np.ndarray) -> np.ndarray:
    out = np.empty_like(imu)
    for i, row in enumerate(np.asarray(rows, np.int64)):
      rng = np.random.default_rng([self.seed, int(step), int(row)])
      out[i] = self.window(imu[i], rng)
    return out
