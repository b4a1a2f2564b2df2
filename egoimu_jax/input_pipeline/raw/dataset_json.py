"""``dataset.json``: what a raw dataset declares about itself (its IMU units).

An optional file at the dataset root::

  {"acc_unit": "g", "gyro_unit": "rad/s", "rate_hz": 50,
   "about": {"name": "UCI HAPT", "source": "..."}}

``acc_unit`` / ``gyro_unit`` are the units the clip files are written in
(``imu_resample.ACC_UNITS`` / ``GYRO_UNITS``), so ``prepare`` converts
them without a config override. ``rate_hz`` (optional) is the native IMU
rate: ``data.imu.rate_hz=0`` keeps it (``prepare/native_rate.py``). ``about`` is free provenance, kept as
written; any other key is an error (a misspelt ``acc_units`` would
otherwise be ignored silently).

Precedence (``resolve_units``), per unit: the dataset's declaration; a
config ``data.imu.<unit>`` that is set (not "") and differs from it is an
error naming both; a config value is used where the dataset declares
nothing; with neither, m/s² and rad/s.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, Mapping

from egoimu_jax.input_pipeline import fs
from egoimu_jax.input_pipeline.raw import imu_resample
from egoimu_jax.input_pipeline.raw import storage_errors
from egoimu_jax.input_pipeline.raw.ingest import IngestError

FILE = "dataset.json"
# unit key -> (unit when nobody states one, the known units)
UNITS: Mapping[str, tuple] = {
    "acc_unit": ("m/s2", imu_resample.ACC_UNITS),
    "gyro_unit": ("rad/s", imu_resample.GYRO_UNITS),
}
KNOWN_KEYS = (*UNITS, "rate_hz", "about")


@dataclasses.dataclass(frozen=True)
class Declaration:
  """A dataset's ``dataset.json``, read and checked (empty when absent)."""
  path: str
  units: Dict[str, str]
  about: Any = None
  data: bytes = b""   # the file's bytes, for the fingerprint
  rate_hz: float = 0.0  # the declared native rate; 0: none declared


def read(root: str) -> Declaration:
  """Reads ``<root>/dataset.json``; IngestError naming it if malformed."""
  path = fs.join(root, FILE)
  if not storage_errors.exists(path):
    return Declaration(path, {})
  data = storage_errors.read_bytes(path)
  try:
    obj = json.loads(data.decode("utf-8-sig"))
  except UnicodeDecodeError as e:
    raise IngestError(path, f"not UTF-8 text ({e})") from None
  except ValueError as e:
    raise IngestError(path, f"invalid JSON ({e})") from None
  if not isinstance(obj, dict):
    raise IngestError(path, 'expected a JSON object, e.g. {"acc_unit": "g"}')
  unknown = sorted(set(obj) - set(KNOWN_KEYS))
  if unknown:
    raise IngestError(path, f"unknown key(s) {unknown}; known: "
                      f"{list(KNOWN_KEYS)}")
  units = {}
  for key, (_, known) in UNITS.items():
    if key in obj:
      if obj[key] not in known:
        raise IngestError(path, f"{key} {obj[key]!r} is not one of "
                          f"{list(known)}")
      units[key] = obj[key]
  rate = obj.get("rate_hz", 0)
  if "rate_hz" in obj and (isinstance(rate, bool) or
                           not isinstance(rate, (int, float)) or
                           not imu_resample.RATE_RANGE_HZ[0] <= rate <=
                           imu_resample.RATE_RANGE_HZ[1]):
    raise IngestError(path, f"rate_hz {rate!r} is not a rate in Hz between "
                      f"{imu_resample.RATE_RANGE_HZ[0]:g} and "
                      f"{imu_resample.RATE_RANGE_HZ[1]:g}")
  return Declaration(path, units, obj.get("about"), data, float(rate))


def resolve_units(decl: Declaration, imu_cfg) -> Dict[str, str]:
  """The units ingest converts from: ``{"acc_unit": ..., "gyro_unit": ...}``.

  See the module doc for the precedence; a conflict is an IngestError
  naming the file, its unit and the config field.
  """
  out = {}
  for key, (default, _) in UNITS.items():
    given = (imu_cfg.get(key, "") if imu_cfg is not None else "") or ""
    declared = decl.units.get(key, "")
    if given and declared and given != declared:
      raise IngestError(decl.path, (
          f"the dataset declares {key} {declared!r} but config "
          f"data.imu.{key} is {given!r}; drop the override (the dataset's "
          f"unit is used) or correct {FILE}"))
    out[key] = declared or given or default
  return out
