"""``data.imu.rate_hz = 0``: windows at the dataset's native IMU rate.

Every window of a processed dataset has one length, so the rate is resolved
once per prepare, for the whole dataset, before the plan:

1. the ``rate_hz`` the dataset declares in its ``dataset.json``;
2. else the rate measured from the timestamps (median interval,
   ``imu_resample.infer_rate_hz``) of the first index rows that ingest,
   rounded to whole Hz (an IMU's nominal rate; clock jitter is not a rate).

Clips recorded at another rate are resampled to it, as with a fixed
``rate_hz``. The resolved rate is the manifest's ``rate_hz`` and
``rate_source`` says where it came from ("config", "dataset.json" or
"measured: <clip>"); the plan's ``prepare_config`` and config hash hold
the resolved rate.
"""

from __future__ import annotations

from typing import Tuple

from egoimu_jax import errors
from egoimu_jax.input_pipeline.raw import ingest as ingest_lib

NATIVE = 0.0
# Rows tried when measuring; each is ingested once at a probe rate.
MAX_PROBE_ROWS = 8
_PROBE_RATE_HZ = 100.0


class NativeRateError(errors.UserError, ValueError):
  """The native rate cannot be found."""


def measure(ds, data_config) -> Tuple[float, str]:
  """(rate in whole Hz, clip id) from the first rows that ingest."""
  probe = data_config.copy_and_resolve_references()
  probe.imu.rate_hz = _PROBE_RATE_HZ
  reasons = []
  for row in range(min(len(ds.rows), MAX_PROBE_ROWS)):
    result = next(iter(ds.ingest([row], probe, lambda clip_id: False)))
    if isinstance(result, ingest_lib.ClipWindows):
      return float(round(result.native_rate_hz)), result.clip_id
    reasons.append(result.reason)
  raise NativeRateError(
      f"{ds.root}: data.imu.rate_hz=0 (the native rate) but none of the first "
      f"{len(reasons)} clips ingests to measure it"
      + (f" ({reasons[0]})" if reasons else "")
      + "; declare rate_hz in dataset.json or set data.imu.rate_hz")


def resolve(ds, data_config) -> Tuple[object, str]:
  """(``data_config`` with a positive ``imu.rate_hz``, where it came from)."""
  rate = float(data_config.imu.rate_hz)
  if rate < 0:
    raise NativeRateError(f"data.imu.rate_hz={rate} is negative (0: the "
                          "dataset's native rate)")
  if rate != NATIVE:
    return data_config, "config"
  declared = float(getattr(ds, "declared_rate_hz", 0.0) or 0.0)
  if declared:
    rate, source = declared, "dataset.json"
  else:
    rate, clip = measure(ds, data_config)
    source = f"measured: {clip}"
  resolved = data_config.copy_and_resolve_references()
  resolved.imu.rate_hz = rate
  return resolved, source
