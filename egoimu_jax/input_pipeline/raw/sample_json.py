"""The numbers a WebDataset sample's ``<key>.json`` gives ingest, checked.

``imu_t_us`` (one timestamp per IMU row), ``imu_rate_hz`` and ``imu_t0_us``
are read as numbers; ``null``, text, booleans, NaN or values beyond any
clock raise ``ValueError`` naming the key, so the clip is quarantined with
a reason instead of a TypeError stopping prepare. Other keys pass through.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping

import numpy as np

from egoimu_jax.input_pipeline.raw import imu_resample

# |µs| beyond this (~146,000 years) is no clock (as ingest.MAX_CLOCK_US).
_MAX_ABS_US = 2**62


def _is_number(x: Any) -> bool:
  return isinstance(x, (int, float)) and not isinstance(x, bool)


def _describe(x: Any) -> str:
  return "null" if x is None else f"{type(x).__name__} {x!r}"[:80]


def number(meta: Mapping[str, Any], key: str, *, positive: bool = False,
           limit: float = math.inf) -> float:
  """``meta[key]`` as a finite float (> 0 if ``positive``, |x| <= limit)."""
  x = meta[key]
  if not _is_number(x) or not math.isfinite(x):
    raise ValueError(f"the sample's json {key!r} is {_describe(x)}: expected "
                     "a finite number")
  if positive and x <= 0 or abs(x) > limit:
    raise ValueError(f"the sample's json {key!r} is {x!r}: expected "
                     + ("a number > 0" if positive else f"|x| <= {limit:.3g}"))
  return float(x)


def timestamps(meta: Mapping[str, Any], key: str) -> np.ndarray:
  """``meta[key]`` as int64 µs: a list of finite numbers within any clock."""
  x = meta[key]
  if not isinstance(x, list):
    raise ValueError(f"the sample's json {key!r} is {_describe(x)}: expected "
                     "a list of timestamps (µs)")
  bad = next((i for i, v in enumerate(x) if not _is_number(v)), None)
  if bad is None:
    arr = np.asarray(x, np.float64) if x else np.zeros(0)
    finite = np.isfinite(arr) & (np.abs(arr) <= _MAX_ABS_US)
    if finite.all():
      if all(isinstance(v, int) for v in x):
        return np.asarray(x, np.int64)
      return np.round(arr).astype(np.int64)
    bad = int(np.flatnonzero(~finite)[0])
  raise ValueError(f"the sample's json {key!r}[{bad}] is "
                   f"{_describe(x[bad])}: expected a finite number of µs")


def check(meta: Mapping[str, Any]) -> Dict[str, Any]:
  """A copy of ``meta`` whose ingest keys are checked and converted."""
  out = dict(meta)
  if "imu_t_us" in out:
    out["imu_t_us"] = timestamps(out, "imu_t_us")
  if "imu_rate_hz" in out:
    rate = number(out, "imu_rate_hz", positive=True)
    lo, hi = imu_resample.RATE_RANGE_HZ
    if not lo <= rate <= hi:
      raise ValueError(f"the sample's json 'imu_rate_hz' is {rate:g}: outside "
                       f"the {lo:g}-{hi:g} Hz of any IMU")
    out["imu_rate_hz"] = rate
  if out.get("imu_t0_us") is not None:
    out["imu_t0_us"] = int(number(out, "imu_t0_us", limit=_MAX_ABS_US))
  return out
