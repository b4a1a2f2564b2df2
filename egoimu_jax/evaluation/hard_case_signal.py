"""Per-window IMU signal statistics for the hard-case analysis.

Every function takes raw windows ``[n, L, 6]`` (acc m/s², gyro rad/s) and
returns one value per window, vectorised over windows. Frequency and time
statistics need the IMU rate, which callers take from the dataset's manifest
(or the run's config); without it they are not computed.

Spectral statistics use the power spectrum of the dynamic acceleration
magnitude ``|acc| − mean|acc|`` (orientation-free, gravity removed), Hann
taper, DC bin dropped:

* spectral centroid (Hz): power-weighted mean frequency;
* dominant frequency (Hz): frequency of the largest power bin;
* spectral entropy: Shannon entropy of the normalised power spectrum divided
  by log(number of bins), in [0, 1]: ~1 for white noise, ~0 for a pure tone.

A window with zero dynamic power (a constant signal) has none of these
defined: NaN. The autocorrelation decay is the first lag (s) at which the
biased autocorrelation of the same signal falls below 1/e. The stationarity
test is the augmented Dickey-Fuller test (constant, no trend, a fixed
``ceil(12·(L/100)^¼)`` lags: statsmodels' default maximum, without its
per-series lag search) on ``|acc|``; the regression is solved for all
windows at once and the p-value is statsmodels' MacKinnon approximation,
so it equals ``statsmodels.tsa.stattools.adfuller(x, maxlag=k,
autolag=None)``.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

_NOISE_SCALE = 1.0 / (0.6745 * np.sqrt(6.0))
_CHUNK = 256          # windows per batched ADF regression (bounds memory)


def basic(imu: np.ndarray) -> Dict[str, np.ndarray]:
  """Rate-free statistics of each window (see ``hard_cases`` for units)."""
  acc, gyro = imu[..., :3], imu[..., 3:]
  acc_mag = np.linalg.norm(acc, axis=-1)
  gyro_mag = np.linalg.norm(gyro, axis=-1)
  gravity = acc.mean(1)
  gravity /= np.maximum(np.linalg.norm(gravity, axis=-1, keepdims=True), 1e-9)
  dyn = acc - acc.mean(1, keepdims=True)
  return {
      "motion_energy": acc_mag.std(1),
      "rotation_energy": np.sqrt((gyro_mag ** 2).mean(1)),
      "rms_acc": np.sqrt((dyn ** 2).sum(-1).mean(1)),
      "gyro_variance": gyro.var(1).sum(-1),
      "gravity": gravity,
      "acc_noise": _noise(acc),
      "gyro_noise": _noise(gyro),
  }


def spectral(imu: np.ndarray, rate_hz: Optional[float]
             ) -> Dict[str, np.ndarray]:
  """Spectral entropy always; centroid and dominant frequency given the rate."""
  x, defined = _dynamic_magnitude(imu)
  length = x.shape[1]
  power = np.abs(np.fft.rfft(x * np.hanning(length), axis=1)[:, 1:]) ** 2
  total = power.sum(1)
  defined &= total > 0
  p = power / np.where(defined, total, 1.0)[:, None]
  with np.errstate(divide="ignore", invalid="ignore"):
    entropy = -np.where(p > 0, p * np.log(p), 0.0).sum(1) / np.log(p.shape[1])
  out = {"spectral_entropy": np.where(defined, entropy, np.nan)}
  if rate_hz:
    freqs = np.fft.rfftfreq(length, 1.0 / rate_hz)[1:]
    out["spectral_centroid_hz"] = np.where(defined, p @ freqs, np.nan)
    out["dominant_freq_hz"] = np.where(defined, freqs[power.argmax(1)], np.nan)
  return out


def jerk(imu: np.ndarray, rate_hz: float) -> np.ndarray:
  """Mean magnitude of the acceleration's time derivative (m/s³)."""
  return np.linalg.norm(np.diff(imu[..., :3], axis=1), axis=-1).mean(1) * rate_hz


def acf_decay_s(imu: np.ndarray, rate_hz: float) -> np.ndarray:
  """First lag (s) where the autocorrelation of ``|acc|`` drops below 1/e."""
  x, defined = _dynamic_magnitude(imu)
  length = x.shape[1]
  spec = np.fft.rfft(x, n=2 * length, axis=1)
  acov = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :length]
  var = acov[:, 0]
  defined &= var > 0
  acf = acov / np.where(defined, var, 1.0)[:, None]
  below = acf[:, 1:] < np.exp(-1.0)
  lag = np.where(below.any(1), below.argmax(1) + 1, length)
  return np.where(defined, lag / rate_hz, np.nan)


def adf_lags(length: int) -> int:
  """statsmodels' default maximum ADF lag for a series of ``length``."""
  return int(min(np.ceil(12.0 * (length / 100.0) ** 0.25), length // 2 - 3))


def adf_pvalue(imu: np.ndarray, lags: Optional[int] = None) -> np.ndarray:
  """ADF p-value (H0: unit root) of ``|acc|`` per window; NaN if degenerate."""
  from statsmodels.tsa.adfvalues import mackinnonp  # pylint: disable=g-import-not-at-top
  x = np.linalg.norm(imu[..., :3], axis=-1)
  lags = adf_lags(x.shape[1]) if lags is None else lags
  stat = np.concatenate([adf_statistic(x[i:i + _CHUNK], lags)
                         for i in range(0, len(x), _CHUNK)] or [np.zeros(0)])
  return np.array([mackinnonp(s, regression="c", N=1) if np.isfinite(s)
                   else np.nan for s in stat])


def adf_statistic(x: np.ndarray, lags: int) -> np.ndarray:
  """ADF t-statistics ``[n]`` of series ``x [n, L]``: one batched OLS.

  Regression of Δx_t on x_{t−1}, Δx_{t−1..t−lags} and a constant, as
  statsmodels' ``adfuller(regression='c', autolag=None)``.
  """
  dx = np.diff(x, axis=1)
  nobs = dx.shape[1] - lags
  if nobs <= lags + 2:
    raise ValueError(f"windows of {x.shape[1]} samples are too short for "
                     f"an ADF test with {lags} lags")
  rows = [x[:, lags:lags + nobs]]
  rows += [dx[:, lags - j:lags - j + nobs] for j in range(1, lags + 1)]
  rows.append(np.ones_like(rows[0]))
  design = np.stack(rows, 1)                        # [n, lags + 2, nobs]
  y = dx[:, lags:]
  # einsum, not matmul: BLAS threads of numpy's and scipy's OpenBLAS copies
  # oversubscribe two cores (50-150x slower here once scipy was loaded).
  gram = np.einsum("npt,nqt->npq", design, design)
  rhs = np.einsum("npt,nt->np", design, y)
  # Solve with unit-diagonal normal equations (well conditioned); the
  # t-statistic does not depend on the columns' scale.
  d = 1.0 / np.sqrt(np.maximum(np.einsum("nii->ni", gram), 1e-300))
  gram = gram * d[:, :, None] * d[:, None, :]
  stat = np.full(len(x), np.nan)
  ok = np.linalg.matrix_rank(gram, tol=1e-10) == gram.shape[-1]
  if not ok.any():
    return stat
  sel = slice(None) if ok.all() else ok
  inv = np.linalg.inv(gram[sel])
  beta = (inv @ (rhs[sel] * d[sel])[..., None])[..., 0] * d[sel]
  resid = y[sel] - np.einsum("np,npt->nt", beta, design[sel])
  s2 = (resid ** 2).sum(1) / (nobs - gram.shape[-1])
  se = np.sqrt(s2 * inv[:, 0, 0]) * d[sel, 0]
  with np.errstate(divide="ignore", invalid="ignore"):
    stat[sel] = np.where(se > 0, beta[:, 0] / se, np.nan)
  return stat


def _dynamic_magnitude(imu: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """``|acc| − mean|acc|`` and whether it is more than rounding noise."""
  mag = np.linalg.norm(imu[..., :3], axis=-1)
  mean = mag.mean(1, keepdims=True)
  dyn = mag - mean
  return dyn, dyn.std(1) > 1e-9 * np.maximum(np.abs(mean[:, 0]), 1e-9)


def _noise(x: np.ndarray) -> np.ndarray:
  """Robust white-noise std: ``median|Δ²x| / (0.6745·√6)``, mean over axes."""
  d2 = np.diff(x, n=2, axis=1)
  return (np.median(np.abs(d2), axis=1) * _NOISE_SCALE).mean(-1)
