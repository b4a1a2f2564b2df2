"""Are an IMU stream's values in m/s² and rad/s? Magnitude checks.

The accelerometer must read gravity; the gyro must neither exceed what
consumer gyros measure nor claim tilting the accelerometer does not see
(deg/s read as rad/s is ~57x too large). Errors are ``ValueError``.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from scipy import ndimage

GRAVITY = 9.80665
# Plausibility bounds in m/s² and rad/s. A body-worn accelerometer reads
# gravity, so its median magnitude is near 9.81 (5-20 covers any activity);
# acc in g gives ~1. Consumer gyros saturate at 2000 deg/s = 34.9 rad/s, so
# larger values mean deg/s.
_ACC_MEDIAN_RANGE = (4.0, 25.0)
_GYRO_P99_MAX = 35.0
# A calm clip in deg/s stays under that bound, so gyro units are also checked
# against the accelerometer: the gravity direction u seen by the sensor turns
# at |du/dt| = |ω × u|. With gyro in deg/s the ratio |du/dt| / |ω × u| drops
# ~57×, from ≈1 to ≈0.02. It is only trusted once the gyro claims at least
# _GYRO_MIN_TILT_RAD of tilting over the clip.
_GYRO_GRAVITY_RATIO_MIN = 0.1
_GYRO_MIN_TILT_RAD = 1.5
_TILT_SMOOTH_S = 0.4
_TILT_BLOCK_S = 0.04
# Rotation about gravity (yaw) leaves the accelerometer blind, so the gyro's
# own magnitudes bound it too, per axis and robust to spikes: half a clip
# turning faster than _GYRO_MEDIAN_MAX rad/s (460 deg/s), or any axis held
# beyond _GYRO_P99_MAX for _GYRO_HOLD_S (a running median), is no body
# motion in rad/s; in deg/s it is ordinary walking or one quick turn.
_GYRO_MEDIAN_MAX = 8.0
_GYRO_HOLD_S = 0.25


def _quantile(x: np.ndarray, q: float) -> float:
  """Lower q-quantile by partition (cheaper than np.percentile's sort)."""
  x = np.ravel(x)
  k = min(int(q * (x.size - 1)), x.size - 1)
  return float(np.partition(x, k)[k])


def gyro_gravity_ratio(values: np.ndarray, t_us: np.ndarray
                       ) -> Tuple[float, float]:
  """(|du/dt| / |ω × u|, claimed tilt in rad) over a clip; u = gravity dir.

  Both signals are smoothed over ``_TILT_SMOOTH_S`` so that linear
  acceleration and noise matter little; the gyro's median (its bias) is
  removed first. Rotation about gravity (yaw) does not enter either side.
  """
  t_s = (np.asarray(t_us, np.int64) - t_us[0]) / 1e6
  dt = float(np.median(np.diff(t_s)))
  # Block means down to ~25 Hz first: the smoothing below removes more than
  # that anyway, and it keeps this check a small part of ingest.
  k = max(1, int(_TILT_BLOCK_S / dt))
  if k > 1:
    n = t_s.size // k * k
    t_s = t_s[:n].reshape(-1, k).mean(axis=1)
    values = values[:n].reshape(-1, k, values.shape[1]).mean(axis=1)
    dt *= k
  win = max(1, int(round(_TILT_SMOOTH_S / dt)))
  step = max(1, win // 2)
  if t_s.size <= 2 * step + 1:
    return float("nan"), 0.0
  acc = ndimage.uniform_filter1d(values[:, :3], win, axis=0)
  gyro = values[:, 3:] - np.median(values[:, 3:], axis=0)
  gyro = ndimage.uniform_filter1d(gyro, win, axis=0)
  u = acc / np.maximum(np.linalg.norm(acc, axis=1, keepdims=True), 1e-9)
  du = ((u[2 * step:] - u[:-2 * step])
        / (t_s[2 * step:] - t_s[:-2 * step])[:, None])
  claimed = np.linalg.norm(np.cross(gyro, u)[step:-step], axis=1)
  tilt = float(claimed.sum() * dt)
  seen = float(np.linalg.norm(du, axis=1).sum() * dt)
  return (seen / tilt if tilt > 0 else float("nan")), tilt


def _held_peak(gyro: np.ndarray, t_us: np.ndarray) -> Tuple[float, int, int]:
  """(largest |gyro| an axis holds for _GYRO_HOLD_S, its axis, t_us there).

  A running median over _GYRO_HOLD_S: spikes shorter than half of it do not
  count. Only samples above _GYRO_P99_MAX are filtered (cheap when none).
  """
  dt = float(np.median(np.diff(t_us)))
  win = max(3, int(round(_GYRO_HOLD_S * 1e6 / dt)) | 1)
  mag = np.abs(gyro)
  hot = np.flatnonzero((mag > _GYRO_P99_MAX).any(axis=1))
  if hot.size * 2 < win:
    return 0.0, 0, 0
  lo, hi = max(0, hot[0] - win), min(mag.shape[0], hot[-1] + win + 1)
  held = ndimage.median_filter(mag[lo:hi], size=(win, 1), mode="nearest")
  i, axis = np.unravel_index(int(np.argmax(held)), held.shape)
  return float(held[i, axis]), int(axis), int(t_us[lo + i])


def check_unit_plausibility(values: np.ndarray,
                            t_us: Optional[np.ndarray] = None) -> None:
  """Raises ValueError if acc is not m/s² or gyro is not rad/s.

  ``t_us`` enables the gyro-vs-gravity check (see _GYRO_GRAVITY_RATIO_MIN)
  and the held-rate check (_GYRO_HOLD_S).
  """
  acc = values[:, :3]
  acc_med = float(np.sqrt(_quantile(np.einsum("ij,ij->i", acc, acc), 0.5)))
  if acc_med < _ACC_MEDIAN_RANGE[0]:
    hint = (" — acc looks like it is in g, not m/s² (set data.imu.acc_unit='g' "
            "if the whole dataset is in g)") if 0.5 < acc_med < 2.0 else ""
    raise ValueError(
        f"implausible accelerometer units: median |acc| = {acc_med:.3g}, "
        f"expected ≈ {GRAVITY:.2f} m/s² with gravity{hint}")
  if acc_med > _ACC_MEDIAN_RANGE[1]:
    raise ValueError(
        f"implausible accelerometer units: median |acc| = {acc_med:.3g}, "
        f"expected ≈ {GRAVITY:.2f} m/s² (mg or raw counts?)")
  gyro_p99 = _quantile(np.abs(values[:, 3:]), 0.99)
  if gyro_p99 > _GYRO_P99_MAX:
    raise ValueError(
        f"implausible gyroscope units: 99th percentile |gyro| = {gyro_p99:.3g}, "
        f"above {_GYRO_P99_MAX} rad/s (2000 deg/s) — gyro looks like deg/s, not "
        "rad/s (set data.imu.gyro_unit='deg/s' if the whole dataset is in deg/s)")
  deg_hint = ("gyro looks like deg/s, not rad/s (set data.imu.gyro_unit="
              "'deg/s' if the whole dataset is in deg/s)")
  if t_us is not None:
    ratio, tilt = gyro_gravity_ratio(values, t_us)
    if tilt >= _GYRO_MIN_TILT_RAD and ratio < _GYRO_GRAVITY_RATIO_MIN:
      raise ValueError(
          f"implausible gyroscope units: the gyro claims {tilt:.3g} rad of "
          f"tilting but the accelerometer's gravity direction turns only "
          f"{ratio:.3g}× that (≈1 for rad/s, ≈{np.pi / 180:.3f} for deg/s) — "
          + deg_hint)
    held, axis, at = _held_peak(values[:, 3:], t_us)
    if held > _GYRO_P99_MAX:
      raise ValueError(
          f"implausible gyroscope units: gyro {'xyz'[axis]} stays above "
          f"{held:.3g} for {_GYRO_HOLD_S:g} s at {at / 1e6:.3g} s, beyond "
          f"{_GYRO_P99_MAX} rad/s (2000 deg/s) — {deg_hint}")
  gyro_med = float(np.sqrt(_quantile(
      np.einsum("ij,ij->i", values[:, 3:], values[:, 3:]), 0.5)))
  if gyro_med > _GYRO_MEDIAN_MAX:
    raise ValueError(
        f"implausible gyroscope units: median |gyro| = {gyro_med:.3g}, above "
        f"{_GYRO_MEDIAN_MAX:g} rad/s for half the clip — {deg_hint}")
