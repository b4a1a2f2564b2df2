import numpy as np
import pytest

from egoimu_jax.baselines import features


def _col(name):
  return features.feature_names().index(name)


def test_shapes_and_finite_on_constant_and_random_windows():
  rng = np.random.default_rng(0)
  const = np.zeros((3, 1000, 6), np.float32)
  const[1] = 9.81                               # gravity on every axis
  const[2, :, 2] = -9.81
  rand = rng.normal(size=(4, 1000, 6)).astype(np.float32)
  f = features.window_features(np.concatenate([const, rand]))
  assert f.shape == (7, len(features.feature_names()))
  assert f.dtype == np.float32
  assert np.all(np.isfinite(f))
  for ch in ("acc_x", "gyro_z"):
    for stat in ("std", "skew", "kurtosis", "crossing_rate", "dominant_freq",
                 "spectral_entropy", "band_1_3hz"):
      assert np.all(f[:3, _col(f"{ch}/{stat}")] == 0.0), (ch, stat)
  assert f[1, _col("acc_mag/mean")] == pytest.approx(9.81 * np.sqrt(3), rel=1e-5)
  assert np.all(f[:3, _col("corr/acc_xy")] == 0.0)
  # White noise: near-flat spectrum, about one crossing per two samples.
  assert np.all(f[3:, _col("acc_x/spectral_entropy")] > 0.9)
  assert np.all(np.abs(f[3:, _col("acc_x/crossing_rate")] - 100) < 20)


def test_known_signals():
  t = np.arange(1000) / 200.0
  x = np.zeros((1, 1000, 6))
  x[0, :, 0] = np.sin(2 * np.pi * 2.0 * t)        # 2 Hz
  x[0, :, 1] = 2 * np.sin(2 * np.pi * 2.0 * t)    # perfectly correlated with x
  x[0, :, 2] = np.sin(2 * np.pi * 7.0 * t)        # 7 Hz
  x[0, :, 3] = 3.0 + 0.5 * t                      # ramp
  f = features.window_features(x)[0]
  assert f[_col("acc_x/dominant_freq")] == pytest.approx(2.0)
  assert f[_col("acc_z/dominant_freq")] == pytest.approx(7.0)
  assert f[_col("acc_x/band_1_3hz")] > 0.95
  assert f[_col("acc_z/band_5_10hz")] > 0.95
  assert f[_col("acc_x/spectral_entropy")] < 0.3
  assert f[_col("corr/acc_xy")] == pytest.approx(1.0, abs=1e-6)
  assert f[_col("acc_x/std")] == pytest.approx(np.sqrt(0.5), rel=1e-3)
  assert f[_col("acc_x/rms")] == pytest.approx(np.sqrt(0.5), rel=1e-3)
  assert f[_col("acc_x/crossing_rate")] == pytest.approx(4.0, abs=0.3)
  assert f[_col("gyro_x/jerk_mean_abs")] == pytest.approx(0.5, rel=1e-6)
  assert f[_col("gyro_x/p50")] == pytest.approx(3.0 + 0.5 * np.median(t), rel=1e-4)


def test_chunking_is_invisible_and_bad_input_rejected():
  x = np.random.default_rng(1).normal(size=(7, 200, 6))
  np.testing.assert_allclose(features.window_features(x, chunk_size=3),
                             features.window_features(x, chunk_size=100))
  with pytest.raises(ValueError, match=r"\[n, L, 6\]"):
    features.window_features(x[..., :3])
  x[2, 5, 1] = np.nan
  with pytest.raises(ValueError, match=r"windows \[2\]"):
    features.window_features(x)
