"""Per-window hard-case statistics on synthetic signals with known answers."""

import warnings

import numpy as np
import pytest
from statsmodels.tsa import stattools

from egoimu_jax.evaluation import hard_case_signal as signal
from egoimu_jax.evaluation import hard_cases

RATE = 50.0       # deliberately not 200 Hz: nothing may assume it


def _acc_z(values):
  """Windows [n, L, 6] whose acceleration is gravity + ``values`` on z."""
  values = np.atleast_2d(values)
  imu = np.zeros(values.shape + (6,))
  imu[..., 2] = 9.81 + values
  return imu


def test_sine_gives_its_frequency_and_low_entropy():
  t = np.arange(500) / RATE                       # 10 s, 0.1 Hz bins
  imu = _acc_z(np.sin(2 * np.pi * 3.0 * t))
  out = signal.spectral(imu, RATE)
  assert out["dominant_freq_hz"][0] == pytest.approx(3.0)
  assert out["spectral_centroid_hz"][0] == pytest.approx(3.0, abs=0.05)
  assert out["spectral_entropy"][0] < 0.2
  # Without the rate nothing in Hz is computed (never a guessed 200 Hz).
  assert set(signal.spectral(imu, None)) == {"spectral_entropy"}


def test_entropy_white_noise_high_constant_undefined():
  rng = np.random.default_rng(0)
  white = signal.spectral(_acc_z(rng.normal(size=(8, 1000))), RATE)
  assert np.all(white["spectral_entropy"] > 0.9)
  const = signal.spectral(_acc_z(np.zeros((1, 1000))), RATE)
  assert all(np.isnan(v[0]) for v in const.values())


def test_jerk_and_autocorrelation_decay_of_a_sine():
  f, amp = 1.0, 2.0
  t = np.arange(1000) / RATE                      # 20 s
  imu = _acc_z(amp * np.sin(2 * np.pi * f * t))
  # mean |d/dt A sin(2πft)| = A·2πf·(2/π) = 4Af
  assert signal.jerk(imu, RATE)[0] == pytest.approx(4 * amp * f, rel=0.01)
  # ACF ≈ cos(2πfτ) crosses 1/e at τ = arccos(1/e) / 2πf ≈ 0.190 s
  expected = np.arccos(np.exp(-1)) / (2 * np.pi * f)
  assert signal.acf_decay_s(imu, RATE)[0] == pytest.approx(expected, abs=1.5 / RATE)
  assert np.isnan(signal.acf_decay_s(_acc_z(np.zeros((1, 100))), RATE)[0])


def test_adf_random_walk_vs_white_noise_matches_statsmodels():
  rng = np.random.default_rng(1)
  walk = np.cumsum(rng.normal(size=(20, 600)), axis=1)
  white = rng.normal(size=(20, 600))
  p_walk = signal.adf_pvalue(_acc_z(walk))
  p_white = signal.adf_pvalue(_acc_z(white))
  assert np.mean(p_walk > 0.05) >= 0.85 and np.all(p_white < 0.01)
  lags = signal.adf_lags(600)
  x = np.abs(9.81 + walk[:3])
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")       # statsmodels' tuple-return notice
    ref = [stattools.adfuller(s, maxlag=lags, autolag=None) for s in x]
  np.testing.assert_allclose(signal.adf_statistic(x, lags), [r[0] for r in ref],
                             rtol=1e-8)
  np.testing.assert_allclose(p_walk[:3], [r[1] for r in ref], rtol=1e-6)
  assert np.isnan(signal.adf_pvalue(_acc_z(np.zeros((1, 200))))[0])


def test_basic_rms_and_gyro_variance():
  rng = np.random.default_rng(2)
  imu = np.zeros((1, 20000, 6))
  imu[..., 0] = rng.normal(0.0, 0.5, 20000)
  imu[..., 2] = 9.81
  imu[..., 3:] = rng.normal(0.0, 0.2, (20000, 3))
  out = signal.basic(imu)
  assert out["rms_acc"][0] == pytest.approx(0.5, rel=0.02)
  assert out["gyro_variance"][0] == pytest.approx(3 * 0.04, rel=0.05)


def test_transition_rate_counts_switches_per_minute():
  # Worker 0 alternates high/low every 5 s window of one clip: 12 switches
  # per minute; worker 1 is always high: 0; worker 2 has one window: NaN.
  energy = np.array([1, 0, 1, 0, 1, 2, 2, 2, 1.0])
  worker = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2])
  clip = np.array(["a"] * 5 + ["b"] * 3 + ["c"])
  t0 = np.array([20, 5, 10, 15, 0, 0, 5, 10, 0.0])      # out of order on purpose
  rate = hard_cases.transition_rate(energy, 0.5, worker, clip, t0, 3)
  assert rate[0] == pytest.approx(12.0) and rate[1] == 0.0 and np.isnan(rate[2])
  # A clip boundary is not a transition.
  rate = hard_cases.transition_rate(np.array([1, 0.0]), 0.5, np.array([0, 0]),
                                    np.array(["a", "b"]), np.zeros(2), 1)
  assert np.isnan(rate[0])


def test_worker_statistics_use_the_given_rate_and_window_ids():
  t = np.arange(250) / RATE
  imu = _acc_z(np.stack([np.sin(2 * np.pi * 2.0 * t)] * 4))
  ids = [f"clip1/{ms:08d}" for ms in (0, 5000, 10000, 15000)]
  s = hard_cases.worker_statistics(imu, np.zeros(4, int), ["w"] * 4, ["x"],
                                   rate_hz=RATE, window_ids=ids)["w"]
  assert s["dominant_freq_hz"] == pytest.approx(2.0)
  assert s["transition_rate_per_min"] == 0.0
  s = hard_cases.worker_statistics(imu, np.zeros(4, int), ["w"] * 4, ["x"])["w"]
  assert "dominant_freq_hz" not in s and "jerk" not in s
  assert "transition_rate_per_min" not in s


def test_clip_sampling_keeps_whole_clips_in_time_order():
  clips = np.repeat([f"c{i}" for i in range(10)], 8)
  t0 = np.tile(np.arange(8) * 5.0, 10)
  workers = np.array(["w"] * 80)
  pos = hard_cases.sample_indices(np.arange(80), workers, 20, seed=3,
                                  clips=clips, t0_s=t0)
  assert len(pos) == 20
  taken = {c: np.sort(t0[pos][clips[pos] == c]) for c in np.unique(clips[pos])}
  full = [c for c, t in taken.items() if len(t) == 8]
  assert len(full) == 2 and len(taken) == 3          # 8 + 8 + first 4
  cut = [t for t in taken.values() if len(t) == 4][0]
  np.testing.assert_array_equal(cut, [0, 5, 10, 15])
  parsed = hard_cases.parse_window_ids(["a/b/00001500", "odd"])
  assert list(parsed[0]) == ["a/b", "odd"] and parsed[1][0] == 1.5
  assert np.isnan(parsed[1][1])
