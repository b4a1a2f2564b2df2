"""Rate inference, validation and resampling against analytic signals."""

import numpy as np
import pytest

from egoimu_jax.input_pipeline.raw import imu_resample
from egoimu_jax.input_pipeline.raw import imu_units

G = imu_resample.GRAVITY


def _signal(t_s):
  """Band-limited 6-channel test signal (0.7-4 Hz) with gravity on z."""
  f = np.array([0.7, 1.3, 2.1, 3.0, 4.0, 1.1])
  out = np.sin(2 * np.pi * f * t_s[:, None] + np.arange(6))
  out[:, 2] += G
  return out


def _times(rate, seconds=12.0, jitter=0.02, seed=0):
  rng = np.random.default_rng(seed)
  period = 1e6 / rate
  n = int(seconds * rate)
  j = np.clip(rng.normal(0, jitter * period, n), -0.4 * period, 0.4 * period)
  return np.round(np.arange(n) * period + j).astype(np.int64)


@pytest.mark.parametrize("rate", [30.0, 50.0, 200.0, 400.0])
def test_rate_inference(rate):
  t = _times(rate)
  assert imu_resample.infer_rate_hz(t) == pytest.approx(rate, rel=2e-3)


@pytest.mark.parametrize("rate,tol", [(30.0, 0.05), (50.0, 0.015), (200.0, 2e-4)])
def test_resample_to_200hz_matches_analytic_signal(rate, tol):
  t = _times(rate)
  y = _signal(t / 1e6)
  target = np.arange(200, 2200) * 5000  # 1 s .. 11 s at 200 Hz
  out, valid = imu_resample.resample(t, y, target, max_gap_us=1e5,
                                     rate_hz=rate, target_hz=200.0)
  assert out.shape == (2000, 6) and out.dtype == np.float32 and valid.all()
  err = np.abs(out - _signal(target / 1e6)).max()
  assert err < tol, f"{rate} Hz: max error {err}"


def test_downsampling_removes_content_above_target_nyquist():
  rate = 1000.0
  t = _times(rate, jitter=0.0)
  slow = np.sin(2 * np.pi * 2.0 * t / 1e6)
  fast = 0.5 * np.sin(2 * np.pi * 180.0 * t / 1e6)  # aliases to 20 Hz at 200 Hz
  y = np.repeat((slow + fast)[:, None], 6, axis=1)
  target = np.arange(200, 2200) * 5000
  out, valid = imu_resample.resample(t, y, target, max_gap_us=1e5,
                                     rate_hz=rate, target_hz=200.0)
  assert valid.all()
  err = np.abs(out[:, 0] - np.sin(2 * np.pi * 2.0 * target / 1e6)).max()
  assert err < 0.02


def test_gaps_interpolated_up_to_limit_and_invalid_beyond():
  t = _times(200.0, jitter=0.0)
  t_s = t / 1e6
  keep = ~(((t_s >= 3.0) & (t_s < 3.06)) | ((t_s >= 6.0) & (t_s < 8.0)))
  t, y = t[keep], _signal(t_s[keep])
  stats = imu_resample.gap_stats(t, 1e5)
  assert stats == {"interpolated_gaps": 1, "split_gaps": 1}
  target = np.arange(0, 2400) * 5000
  out, valid = imu_resample.resample(t, y, target, max_gap_us=1e5)
  ts = target / 1e6
  # Short gap filled smoothly; the long gap is invalid except within
  # max_gap/2 of its edges, where the edge value is held.
  assert valid[(ts > 2.9) & (ts < 3.2)].all()
  np.testing.assert_allclose(out[(ts > 3.0) & (ts < 3.06)],
                             _signal(ts[(ts > 3.0) & (ts < 3.06)]), atol=0.03)
  assert not valid[(ts > 6.05) & (ts < 7.95)].any()
  assert valid[(ts >= 8.0) | (ts < 6.0)].all()


def test_clean_drops_duplicates_and_rejects_backwards():
  t = _times(100.0, jitter=0.0)
  y = _signal(t / 1e6)
  t_dup = np.insert(t, 10, t[9])
  y_dup = np.insert(y, 10, y[9], axis=0)
  c = imu_resample.clean(t_dup, y_dup, np.arange(1, t_dup.size + 1))
  assert c.notes == {"dropped_duplicate_timestamps": 1}
  assert "line 11" in c.warnings[0]
  np.testing.assert_array_equal(c.t_us, t)
  t_back = t.copy()
  t_back[50], t_back[51] = t[51], t[50]
  with pytest.raises(ValueError, match=r"timestamps go backwards at line 52"):
    imu_resample.clean(t_back, y, np.arange(1, t.size + 1))


def test_clean_drops_nonfinite_rows():
  t = _times(100.0, jitter=0.0)
  y = _signal(t / 1e6)
  y[7, 3] = np.nan
  c = imu_resample.clean(t, y)
  assert c.notes == {"dropped_nonfinite_rows": 1}
  assert c.t_us.size == t.size - 1 and np.isfinite(c.values).all()


def test_units_detected_and_converted():
  t = _times(100.0, jitter=0.0)
  y = _signal(t / 1e6)
  y[:, 3:] *= 3.0  # a lively gyro: up to 3 rad/s
  with pytest.raises(ValueError, match="acc looks like it is in g"):
    imu_resample.clean(t, y * np.repeat([1 / G, 1.0], 3))
  with pytest.raises(ValueError, match="gyro looks like deg/s"):
    imu_resample.clean(t, y * np.repeat([1.0, 180 / np.pi], 3))
  # Declared units convert, then pass the plausibility check.
  c = imu_resample.clean(t, y * np.repeat([1 / G, 180 / np.pi], 3),
                         acc_unit="g", gyro_unit="deg/s")
  np.testing.assert_allclose(c.values, y, rtol=1e-12)
  with pytest.raises(ValueError, match="implausible accelerometer"):
    imu_resample.clean(t, y * np.repeat([1000.0, 1.0], 3))  # mg


def _nodding(t_s, amplitude_rad=0.1, hz=0.5):
  """A calm, physically consistent head nod: pitch(t) and its rate."""
  pitch = amplitude_rad * np.sin(2 * np.pi * hz * t_s)
  rate = amplitude_rad * 2 * np.pi * hz * np.cos(2 * np.pi * hz * t_s)
  out = np.zeros((t_s.size, 6))
  out[:, 0] = -G * np.sin(pitch)
  out[:, 2] = G * np.cos(pitch)
  out[:, 4] = rate
  return out


@pytest.mark.parametrize("rate", [30.0, 200.0])
def test_calm_deg_per_s_gyro_caught_by_gravity_consistency(rate):
  t = _times(rate, seconds=60.0)
  y = _nodding(t / 1e6) + np.random.default_rng(0).normal(0, 0.02, (t.size, 6))
  deg = y * np.repeat([1.0, 180 / np.pi], 3)
  assert np.quantile(np.abs(deg[:, 3:]), 0.99) < 35.0  # the p99 bound misses it
  ratio, tilt = imu_units.gyro_gravity_ratio(y, t)
  assert 0.7 < ratio < 1.5 and tilt > 1.5
  imu_resample.clean(t, y)  # rad/s passes
  with pytest.raises(ValueError, match="gravity direction turns only"):
    imu_resample.clean(t, deg)
  c = imu_resample.clean(t, deg, gyro_unit="deg/s")
  np.testing.assert_allclose(c.values, y, rtol=1e-12)
