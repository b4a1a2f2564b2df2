"""The STFT op: shapes, a frame-by-frame reference, tone placement, JAX parity."""

import time

import numpy as np
import pytest

from egoimu_jax import config_lib
from egoimu_jax.input_pipeline import spectrogram


def _reference(x, n_fft, hop, time_bins, freq_bins, eps=1e-6):
  """Frame loop in float64 (independent of the vectorised op)."""
  length = x.shape[0]
  pad = n_fft + hop * (time_bins - 1) - length
  xp = np.pad(x.astype(np.float64), [(pad // 2, pad - pad // 2), (0, 0)],
              mode="reflect")
  win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
  out = np.zeros((time_bins, freq_bins, x.shape[1]))
  for t in range(time_bins):
    seg = xp[t * hop:t * hop + n_fft] * win[:, None]
    out[t] = np.abs(np.fft.rfft(seg, axis=0))[:freq_bins]
  return np.log(out + eps)


def test_config_shape_and_reference():
  cfg = config_lib.data_config().spectrogram
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 3, 1000, 6)).astype(np.float32)
  out = spectrogram.from_config(x, cfg)
  assert out.shape == (2, 3, 160, 128, 6) and out.dtype == np.float32
  ref = _reference(x[1, 2], cfg.n_fft, cfg.hop, cfg.time_bins, cfg.freq_bins)
  np.testing.assert_allclose(out[1, 2], ref, atol=2e-3, rtol=1e-4)


def test_tone_lands_in_its_bin_and_linear_magnitude():
  t = np.arange(1000) / 200.0
  f = 200.0 / 256 * 16  # exactly bin 16
  x = np.repeat(np.sin(2 * np.pi * f * t)[:, None], 6, axis=1)
  mag = spectrogram.stft(x, log=False)
  assert mag.shape == (160, 128, 6)
  inner = mag[18:142]  # frames that lie wholly inside the window (no padding)
  assert (np.argmax(inner, axis=1) == 16).all()
  # Hann-windowed unit sine: peak |X| = n_fft / 4.
  np.testing.assert_allclose(inner[:, 16, 0], 64.0, rtol=1e-3)


def test_n_fft_254_gives_128_bins():
  x = np.zeros((1000, 6), np.float32)
  assert spectrogram.stft(x, n_fft=254, freq_bins=128).shape == (160, 128, 6)
  with pytest.raises(ValueError, match="freq_bins"):
    spectrogram.stft(x, n_fft=254, freq_bins=129)
  with pytest.raises(ValueError, match="fewer than"):
    spectrogram.stft(x, n_fft=64, hop=2, time_bins=100)


def test_jax_matches_numpy():
  jax = pytest.importorskip("jax")
  x = np.random.default_rng(1).normal(size=(2, 1000, 6)).astype(np.float32)
  ref = spectrogram.stft(x)
  out = jax.jit(spectrogram.stft_jax)(x)
  np.testing.assert_allclose(np.asarray(out), ref, atol=2e-3, rtol=1e-4)


def test_throughput_is_reported():
  x = np.random.default_rng(2).normal(size=(64, 1000, 6)).astype(np.float32)
  spectrogram.stft(x)
  start = time.perf_counter()
  spectrogram.stft(x)
  us = (time.perf_counter() - start) / 64 * 1e6
  print(f"stft: {us:.0f} us/window on one core")
  assert us < 50_000  # a sanity bound only; benchmarks/imu_ingest.py measures
