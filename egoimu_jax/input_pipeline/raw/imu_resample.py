"""Validate an IMU stream, infer its native rate and resample it.

``clean`` checks and repairs the raw rows (units, order, duplicates);
``infer_rate_hz`` reads the native rate from the timestamps (it is never
assumed); ``resample`` evaluates the stream at arbitrary target times with
piecewise-cubic Hermite interpolation, filling gaps up to ``max_gap_us`` and
marking targets inside larger gaps invalid. Errors are ``ValueError`` with
the problem; the caller adds the file name.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Tuple

import numpy as np
from scipy import ndimage

from egoimu_jax.input_pipeline.raw import imu_clock
from egoimu_jax.input_pipeline.raw import imu_units

GRAVITY = imu_units.GRAVITY
ACC_UNITS = {"m/s2": 1.0, "g": GRAVITY}
GYRO_UNITS = {"rad/s": 1.0, "deg/s": np.pi / 180.0}
# Sample intervals longer than this multiple of the median count as gaps.
_GAP_FACTOR = 1.5
# Magnitudes no body-worn sensor reports (m/s², rad/s): ~10,000 g and
# ~570,000 deg/s, far beyond any full scale (±400 g, ±4000 deg/s) and far
# below float32's limit (3.4e38). A value beyond them (1e30; 1e39, which
# float32 stores as inf) is a defect, never data, whatever check_units says.
ACC_MAX_ABS = 1e5
GYRO_MAX_ABS = 1e4
# Native rates an IMU can have. Outside them the timestamps are not µs.
RATE_RANGE_HZ = (5.0, 20_000.0)
_CLOCK_UNITS = (("nanoseconds", 1e3), ("milliseconds", 1e-3),
                ("seconds", 1e-6))
_CHANNELS = ("acc x", "acc y", "acc z", "gyro x", "gyro y", "gyro z")

# (source line or None, kind, what): one repaired defect. ``kind`` is the
# key under which it is counted in ``notes``; ``what`` names the row when
# there are no lines (binary arrays).
RepairEntry = Tuple[Optional[int], str, str]


@dataclasses.dataclass
class CleanImu:
  t_us: np.ndarray       # int64 [n], strictly increasing, clip time
  values: np.ndarray     # float64 [n, 6]: acc m/s², gyro rad/s
  rate_hz: float         # native rate inferred from the timestamps
  notes: Dict[str, int]  # repaired defects, counted
  warnings: List[str]    # what was repaired, with line numbers
  line: Optional[np.ndarray] = None  # int64 [n] source line of each row
  row: Optional[np.ndarray] = None   # int64 [n] source row (0-based)
  repairs: List[RepairEntry] = dataclasses.field(default_factory=list)

  def where(self, i: int) -> Tuple[Optional[int], str]:
    """(line or None, "line N" / "row N") of cleaned row ``i``."""
    if self.line is not None:
      return int(self.line[i]), f"line {int(self.line[i])}"
    row = int(self.row[i]) if self.row is not None else i
    return None, f"row {row}"


def infer_rate_hz(t_us: np.ndarray) -> float:
  """Native rate from the median sample interval (robust to gaps/jitter)."""
  t_us = np.asarray(t_us)
  if t_us.size < 2:
    raise ValueError(f"need at least 2 samples to infer the rate, got {t_us.size}")
  dt = np.median(np.diff(t_us))
  if dt <= 0:
    raise ValueError("cannot infer the sample rate: median interval is 0")
  return 1e6 / float(dt)


def _line_name(line: Optional[np.ndarray], row: np.ndarray, i: int) -> str:
  return f"line {int(line[i])}" if line is not None else f"row {int(row[i])}"


def clock_hint(rate_hz: float) -> str:
  """" — t_us looks like <unit>, ..." if another clock unit fits, else ""."""
  lo, hi = RATE_RANGE_HZ
  for unit, factor in _CLOCK_UNITS:
    if lo <= rate_hz * factor <= hi and not lo <= rate_hz <= hi:
      return (f" — t_us looks like {unit}, not microseconds (that would make "
              f"the rate {rate_hz * factor:.4g} Hz); write t_us in µs")
  return ""


def check_clock(t_us: np.ndarray) -> float:
  """The native rate; ValueError if no IMU samples at that rate (clock unit)."""
  rate = infer_rate_hz(t_us)
  lo, hi = RATE_RANGE_HZ
  if not lo <= rate <= hi:
    raise ValueError(
        f"inferred native rate {rate:.4g} Hz (median interval "
        f"{1e6 / rate:.4g} µs) is outside the {lo:g}-{hi:g} Hz of any IMU"
        + (clock_hint(rate) or "; are the timestamps in µs?"))
  return rate


def _describe_value(values: np.ndarray, i: int, unit_scale: np.ndarray) -> str:
  """"acc x = 1e+39 m/s²": the first offending channel of row i."""
  v = values[i] * unit_scale
  limit = np.repeat([ACC_MAX_ABS, GYRO_MAX_ABS], 3)
  bad = ~np.isfinite(v) | (np.abs(v) > limit)
  c = int(np.flatnonzero(bad)[0]) if bad.any() else 0
  unit = "m/s²" if c < 3 else "rad/s"
  return f"{_CHANNELS[c]} = {v[c]:.3g} {unit}"


def clean(t_us: np.ndarray,
          values: np.ndarray,
          line: Optional[np.ndarray] = None,
          *,
          acc_unit: str = "m/s2",
          gyro_unit: str = "rad/s",
          check_units: bool = True,
          max_bad_fraction: float = 0.01,
          max_listed: int = 100) -> CleanImu:
  """Validates raw rows and converts them to m/s² and rad/s.

  Args:
    t_us: int64 [n] timestamps in µs (clip time).
    values: [n, 6] acc xyz, gyro xyz in the declared units.
    line: 1-based source line of each row, for messages (None: row index).
    acc_unit: declared accelerometer unit, "m/s2" or "g".
    gyro_unit: declared gyroscope unit, "rad/s" or "deg/s".
    check_units: reject data whose magnitudes do not fit the units.
    max_bad_fraction: rows with NaN/inf or physically impossible values
      (beyond ACC_MAX_ABS / GYRO_MAX_ABS) are dropped up to this fraction;
      more is an error.
    max_listed: repairs listed (per kind) in ``CleanImu.repairs``.

  Returns:
    The cleaned stream. Rows repeating the previous timestamp are dropped
    (first kept) and counted; rows with non-finite or impossible values are
    dropped and counted. Every drop is listed in ``repairs``.

  Raises:
    ValueError: no or too few rows, too many bad rows, timestamps going
      backwards, a rate no IMU has (timestamps not in µs), or values
      implausible for the units (acc in g, gyro in deg/s).
  """
  t_us = np.asarray(t_us, np.int64)
  values = np.asarray(values, np.float64)
  if values.ndim != 2 or values.shape[1] != 6 or values.shape[0] != t_us.shape[0]:
    raise ValueError(f"expected [n, 6] values for {t_us.shape[0]} timestamps, "
                     f"got shape {values.shape}")
  if acc_unit not in ACC_UNITS or gyro_unit not in GYRO_UNITS:
    raise ValueError(f"unknown units acc={acc_unit!r} gyro={gyro_unit!r}; "
                     f"known: {list(ACC_UNITS)}, {list(GYRO_UNITS)}")
  scale = np.repeat([ACC_UNITS[acc_unit], GYRO_UNITS[gyro_unit]], 3)
  notes: Dict[str, int] = {}
  warnings: List[str] = []
  repairs: List[RepairEntry] = []
  row = np.arange(t_us.size)

  def listed(kind: str, idx: np.ndarray, what) -> None:
    for i in idx[:max_listed]:
      where = _line_name(line, row, i)
      repairs.append((int(line[i]) if line is not None else None, kind,
                      what(i) if line is not None else f"{where}: {what(i)}"))

  # Finiteness and magnitude in float64 *and* after the float32 cast.
  si = values * scale
  nonfinite = ~np.isfinite(values).all(axis=1)
  with np.errstate(over="ignore", invalid="ignore"):
    impossible = ~nonfinite & (
        ~np.isfinite(si.astype(np.float32)).all(axis=1)
        | (np.abs(si[:, :3]) > ACC_MAX_ABS).any(axis=1)
        | (np.abs(si[:, 3:]) > GYRO_MAX_ABS).any(axis=1))
  bad = nonfinite | impossible
  if bad.any():
    first = int(np.flatnonzero(bad)[0])
    if bad.sum() > max_bad_fraction * t_us.size:
      raise ValueError(
          f"{int(bad.sum())} of {t_us.size} rows have NaN/inf or physically "
          f"impossible values, above data.imu.max_bad_line_fraction="
          f"{max_bad_fraction}: first at {_line_name(line, row, first)} "
          f"({_describe_value(values, first, scale)}; no sensor reads beyond "
          f"|acc| {ACC_MAX_ABS:.0e} m/s² or |gyro| {GYRO_MAX_ABS:.0e} rad/s — "
          "raw counts or wrong units?)")
    for kind, mask, what in (
        ("dropped_nonfinite_rows", nonfinite, "NaN/inf values"),
        ("dropped_impossible_values", impossible,
         "physically impossible values")):
      idx = np.flatnonzero(mask)
      if not idx.size:
        continue
      notes[kind] = int(idx.size)
      warnings.append(
          f"dropped {idx.size} row(s) with {what}, first at "
          f"{_line_name(line, row, idx[0])} "
          f"({_describe_value(values, idx[0], scale)})")
      listed(kind, idx, lambda i: f"{_describe_value(values, i, scale)}; "
             "row dropped")
    keep = ~bad
    t_us, values, row = t_us[keep], values[keep], row[keep]
    line = line[keep] if line is not None else None
  if t_us.size < 2:
    raise ValueError(f"only {t_us.size} valid IMU sample(s)")
  dt = np.diff(t_us)
  back = np.flatnonzero(dt < 0)
  if back.size:
    i = back[0] + 1
    clock = imu_clock.backwards(int(t_us[i - 1]), int(t_us[i]),
                                float(np.median(dt[dt > 0])) if (
                                    dt > 0).any() else 0.0)
    raise ValueError(
        f"timestamps go backwards at {_line_name(line, row, i)} (t_us "
        f"{t_us[i]} after {t_us[i - 1]}; {back.size} place(s) in all)"
        + (f": {clock}" if clock else ""))
  dup = np.flatnonzero(dt == 0) + 1
  if dup.size:
    notes["dropped_duplicate_timestamps"] = int(dup.size)
    warnings.append(f"dropped {dup.size} row(s) repeating the previous "
                    f"timestamp, first at {_line_name(line, row, dup[0])} "
                    f"(t_us {t_us[dup[0]]})")
    listed("dropped_duplicate_timestamps", dup,
           lambda i: f"t_us {t_us[i]} repeats the previous row's; row dropped")
    keep = np.ones(t_us.size, bool)
    keep[dup] = False
    t_us, values, row = t_us[keep], values[keep], row[keep]
    line = line[keep] if line is not None else None
    if t_us.size < 2:
      raise ValueError("fewer than 2 distinct timestamps")
  rate = check_clock(t_us)  # before units: a wrong clock fakes unit errors
  values = values * scale
  if check_units:
    imu_units.check_unit_plausibility(values, t_us)
  repairs.sort(key=lambda r: (r[0] is None, r[0] or 0))
  return CleanImu(t_us, values, rate, notes, warnings,
                  line=None if line is None else np.asarray(line, np.int64),
                  row=row, repairs=repairs)


def gap_indices(t_us: np.ndarray, max_gap_us: float,
                rate_hz: Optional[float] = None
                ) -> Tuple[np.ndarray, np.ndarray]:
  """Samples that end an interpolated gap, and those that end a split gap."""
  dt = np.diff(t_us)
  med = 1e6 / rate_hz if rate_hz else np.median(dt)
  long = dt > _GAP_FACTOR * med
  split = dt > max_gap_us
  return np.flatnonzero(long & ~split) + 1, np.flatnonzero(split) + 1


def gap_stats(t_us: np.ndarray, max_gap_us: float,
              rate_hz: Optional[float] = None) -> Dict[str, int]:
  """Counts intervals that are interpolated over vs. split at."""
  interpolated, split = gap_indices(t_us, max_gap_us, rate_hz)
  return {"interpolated_gaps": int(interpolated.size),
          "split_gaps": int(split.size)}


def longest_gap_us(t_us: np.ndarray, max_gap_us: float) -> float:
  """Longest sample interval that is still interpolated over."""
  dt = np.diff(t_us)
  dt = dt[dt <= max_gap_us]
  return float(dt.max()) if dt.size else 0.0


def _antialias(t_us, values, rate_hz, target_hz, breaks):
  """Low-pass below the target Nyquist before downsampling."""
  # Imported here: scipy.signal costs every process that loads a config
  # (configs import the synthetic generator, which imports this) 0.6 s.
  from scipy import signal  # pylint: disable=g-import-not-at-top
  numtaps = int(round(8 * rate_hz / target_hz)) | 1
  taps = signal.firwin(numtaps, 0.45 * target_hz, fs=rate_hz)
  out = np.empty_like(values)
  bounds = np.concatenate([[0], breaks + 1, [len(t_us)]])
  for a, b in zip(bounds[:-1], bounds[1:]):
    out[a:b] = ndimage.convolve1d(values[a:b], taps, axis=0, mode="nearest")
  return out


def resample(t_us: np.ndarray,
             values: np.ndarray,
             target_us: np.ndarray,
             *,
             max_gap_us: float,
             rate_hz: Optional[float] = None,
             target_hz: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray]:
  """Evaluates the stream at ``target_us`` (any shape).

  Piecewise-cubic Hermite interpolation with three-point derivative
  estimates (second-order accurate on uneven grids, so timestamp jitter costs
  nothing). Sample intervals up to ``max_gap_us`` are interpolated over;
  targets inside a longer interval are invalid, except within
  ``max_gap_us / 2`` of its ends (and of the stream's ends), where the edge
  value is held. When the native rate exceeds the target rate by more than
  10 %, the stream is low-pass filtered first (anti-aliasing).

  Returns:
    (values float32 [*target.shape, 6], valid bool [*target.shape]).
  """
  t = np.asarray(t_us, np.int64)
  y = np.asarray(values, np.float64)
  n = t.size
  dt = np.diff(t).astype(np.float64)
  breaks = np.flatnonzero(dt > max_gap_us)
  if rate_hz and target_hz and rate_hz > 1.1 * target_hz:
    y = _antialias(t, y, rate_hz, target_hz, breaks)
  # Three-point derivatives; one-sided at stream ends and around breaks.
  d = np.diff(y, axis=0) / dt[:, None]
  m = np.empty_like(y)
  h0, h1 = dt[:-1, None], dt[1:, None]
  m[1:-1] = (d[:-1] * h1 + d[1:] * h0) / (h0 + h1)
  m[0], m[-1] = d[0], d[-1]
  if breaks.size:
    # Sample b ends a segment, sample b + 1 starts the next one.
    d_pad = np.concatenate([np.zeros((1, 6)), d, np.zeros((1, 6))])
    d_pad[1 + breaks] = 0.0  # never differentiate across a break
    m[breaks] = d_pad[breaks]          # backward difference (0 if isolated)
    m[breaks + 1] = d_pad[breaks + 2]  # forward difference (0 if isolated)

  x = np.asarray(target_us, np.int64).ravel()
  i = np.clip(np.searchsorted(t, x, side="right") - 1, 0, n - 2)
  t_i, t_j = t[i], t[i + 1]
  h = (t_j - t_i).astype(np.float64)
  s = np.clip((x - t_i) / h, 0.0, 1.0)
  tol = max_gap_us / 2
  in_break = h > max_gap_us
  # Inside a break (or beyond the stream's ends): hold the nearer edge value
  # if it is within tol, else invalid.
  near_left = (x - t_i) <= tol
  near_right = (t_j - x) <= tol
  s = np.where(in_break, np.where(near_left, 0.0, 1.0), s)
  valid = ~in_break | near_left | near_right
  valid &= (x >= t[0] - tol) & (x <= t[-1] + tol)
  s2, s3 = s * s, s * s * s
  h00 = (2 * s3 - 3 * s2 + 1)[:, None]
  h10 = (s3 - 2 * s2 + s)[:, None]
  h01 = (-2 * s3 + 3 * s2)[:, None]
  h11 = (s3 - s2)[:, None]
  hh = np.where(in_break, 0.0, h)[:, None]  # held values: no slope term
  out = h00 * y[i] + h10 * hh * m[i] + h01 * y[i + 1] + h11 * hh * m[i + 1]
  shape = np.shape(target_us)
  return (out.astype(np.float32).reshape(*shape, 6), valid.reshape(shape))
