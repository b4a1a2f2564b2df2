"""Short-time Fourier transform of IMU windows: ``[..., L, C] -> [..., T, F, C]``.

Shape rules (``config.data.spectrogram``): frames of ``n_fft`` samples every
``hop`` samples, exactly ``time_bins`` of them. The window is reflect-padded
symmetrically by ``n_fft + hop * (time_bins - 1) - L`` samples so the frames
are centred on it. The first ``freq_bins`` rfft bins are kept.

Defaults, for L = 1000 samples at 200 Hz: n_fft = 256 (bins 0.78 Hz apart;
bins 0..127 cover 0-99.2 Hz, the Nyquist bin is dropped), hop = 6 (30 ms),
time_bins = 160: 1210 padded samples, 105 each side, frame centres from
0.115 s to 4.885 s. The benchmark plan's n_fft = 254 (README, Experiments)
gives the same 128 bins
without dropping one, but 254 = 2 * 127 makes the FFT ~2x slower.

Other window lengths (e.g. 250 samples: 5 s at a native 50 Hz): ``hop=0``
derives the hop from the window, ``ceil((L - n_fft) / (time_bins - 1))``
(1 when ``n_fft >= L``), so that the frames span it; a geometry that still
does not fit is refused in one line (``check``) when the pipeline opens.

The numpy op runs in the grain pipeline (CPU); ``stft_jax`` is the same
computation for use on the accelerator. Output is float32;
``log=True`` gives ``log(|X| + eps)``.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np
import scipy.fft

from egoimu_jax import errors


class SpectrogramConfigError(errors.UserError, ValueError):
  """``config.data.spectrogram`` does not fit the dataset's windows."""


def resolve_hop(length: int, n_fft: int, hop: int, time_bins: int) -> int:
  """``hop``, or for ``hop=0`` the one whose frames span the window."""
  if hop:
    return int(hop)
  if length <= n_fft or time_bins < 2:
    return 1
  return -(-(length - n_fft) // (time_bins - 1))


def _geometry(length: int, n_fft: int, hop: int, time_bins: int) -> Tuple[int, int]:
  total = n_fft + hop * (time_bins - 1)
  pad = total - length
  if pad < 0:
    raise ValueError(f"{time_bins} frames of {n_fft} every {hop} span {total} "
                     f"samples, fewer than the window's {length}; raise hop or "
                     "time_bins")
  left = pad // 2
  if max(left, pad - left) >= length:
    raise ValueError(f"padding {pad} is too large for a {length}-sample window")
  return left, pad - left


def _hann(n_fft: int) -> np.ndarray:
  # Periodic Hann, as in scipy.signal.get_window("hann", n).
  return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def output_shape(length: int, channels: int, n_fft: int, hop: int,
                 time_bins: int, freq_bins: int) -> Tuple[int, int, int]:
  _geometry(length, n_fft, hop, time_bins)
  if freq_bins > n_fft // 2 + 1:
    raise ValueError(f"freq_bins={freq_bins} exceeds n_fft // 2 + 1 = {n_fft // 2 + 1}")
  return time_bins, freq_bins, channels


def stft(x: np.ndarray, *, n_fft: int = 256, hop: int = 6, time_bins: int = 160,
         freq_bins: int = 128, log: bool = True, eps: float = 1e-6) -> np.ndarray:
  """Magnitude (or log-magnitude) STFT of ``x`` [..., L, C], vectorised.

  Returns float32 [..., time_bins, freq_bins, C].
  """
  x = np.asarray(x, np.float32)
  *batch, length, channels = x.shape
  output_shape(length, channels, n_fft, hop, time_bins, freq_bins)
  left, right = _geometry(length, n_fft, hop, time_bins)
  # Channels first, so every frame is a contiguous run of one channel.
  xc = np.swapaxes(x, -1, -2)                                # [..., C, L]
  xp = np.pad(xc, [(0, 0)] * (len(batch) + 1) + [(left, right)], mode="reflect")
  frames = np.lib.stride_tricks.sliding_window_view(xp, n_fft, axis=-1)
  frames = frames[..., :hop * (time_bins - 1) + 1:hop, :] * _hann(n_fft)
  spec = scipy.fft.rfft(frames, axis=-1)[..., :freq_bins]    # [..., C, T, F]
  out = np.abs(spec)
  if log:
    out += np.float32(eps)
    np.log(out, out=out)
  return np.ascontiguousarray(np.moveaxis(out, -3, -1), dtype=np.float32)


def stft_jax(x, *, n_fft: int = 256, hop: int = 6, time_bins: int = 160,
             freq_bins: int = 128, log: bool = True, eps: float = 1e-6):
  """The same op in jax.numpy (jit-able), for on-device spectrograms."""
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  *batch, length, channels = x.shape
  output_shape(length, channels, n_fft, hop, time_bins, freq_bins)
  left, right = _geometry(length, n_fft, hop, time_bins)
  xp = jnp.pad(x.astype(jnp.float32),
               [(0, 0)] * len(batch) + [(left, right), (0, 0)], mode="reflect")
  idx = np.arange(time_bins)[:, None] * hop + np.arange(n_fft)[None, :]
  frames = jnp.take(xp, idx, axis=-2)           # [..., T, n_fft, C]
  frames = frames * _hann(n_fft)[:, None]
  spec = jnp.fft.rfft(frames, axis=-2)[..., :freq_bins, :]  # [..., T, F, C]
  mag = jnp.abs(spec)
  return jnp.log(mag + eps) if log else mag


def check(length: int, spec_cfg) -> None:
  """Raises SpectrogramConfigError if ``spec_cfg`` does not fit windows of
  ``length`` samples, naming the fields to change."""
  n_fft, time_bins = int(spec_cfg.n_fft), int(spec_cfg.time_bins)
  given = int(spec_cfg.hop)
  hop = resolve_hop(length, n_fft, given, time_bins)
  try:
    output_shape(length, 6, n_fft, hop, time_bins, int(spec_cfg.freq_bins))
  except ValueError as e:
    fix = "data.spectrogram.hop=0 (derived from the window) or " if given \
        else ""
    raise SpectrogramConfigError(
        f"config.data.spectrogram (n_fft={n_fft}, hop={hop}"
        f"{'' if given else ' derived'}, time_bins={time_bins}) does not fit "
        f"{length}-sample windows: {e}; set {fix}a smaller n_fft (freq_bins "
        "<= n_fft // 2 + 1, and the model's spec_time/spec_freq to match)"
    ) from None


def from_config(x: np.ndarray, spec_cfg) -> np.ndarray:
  """``stft`` with ``config.data.spectrogram`` (``hop=0``: derived)."""
  hop = resolve_hop(x.shape[-2], int(spec_cfg.n_fft), int(spec_cfg.hop),
                    int(spec_cfg.time_bins))
  return stft(x, n_fft=int(spec_cfg.n_fft), hop=hop,
              time_bins=int(spec_cfg.time_bins),
              freq_bins=int(spec_cfg.freq_bins), log=bool(spec_cfg.log))
