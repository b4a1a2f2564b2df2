"""What ``prepare`` will write: work units → output shards, and the config hash.

The plan is a pure function of the raw index and the prepare-relevant config,
so every host and every process computes the same one; ``parts/plan.json``
records it so that ``finalize`` (on any host) needs no access to the raw data
and so that a second run into the same directory with a different dataset or
config fails instead of mixing shards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from typing import Mapping, Sequence

import ml_collections

from egoimu_jax import errors
from egoimu_jax.input_pipeline.store import manifest as manifest_lib
from egoimu_jax.input_pipeline.store import records

PARTS_DIR = "parts"
PLAN_FILE = "plan.json"


def _plain(value):
  if isinstance(value, ml_collections.ConfigDict):
    value = value.to_dict()
  if isinstance(value, Mapping):
    return {str(k): _plain(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_plain(v) for v in value]
  return value


def prepare_config(data_config) -> dict:
  """The part of ``config.data`` that changes what ``prepare`` writes."""
  from egoimu_jax.input_pipeline.raw import ingest  # pylint: disable=g-import-not-at-top
  d = data_config
  return _plain({
      "schema_version": records.SCHEMA_VERSION,
      "ingest_version": ingest.INGEST_VERSION,
      "columns": d.columns,
      "classes": d.classes,
      "max_repairs_per_clip": d.get("max_repairs_per_clip",
                                    ingest.DEFAULT_MAX_REPAIRS_PER_CLIP),
      "imu": d.imu,
      "video": d.video,
      "prepare": {k: d.prepare[k] for k in (
          "num_shards", "compression", "frames_compression")},
  })


def config_hash(data_config) -> str:
  blob = json.dumps(prepare_config(data_config), sort_keys=True).encode()
  return hashlib.sha256(blob).hexdigest()[:24]


def window_length(data_config) -> int:
  length = data_config.imu.window_seconds * data_config.imu.rate_hz
  if abs(length - round(length)) > 1e-6:
    raise ValueError(f"data.imu.window_seconds × rate_hz = {length} is not an "
                     "integer number of samples")
  return int(round(length))


def assign_units(unit_sizes: Sequence[int], num_shards: int) -> list[int]:
  """Output shard of each work unit: contiguous runs of about equal rows.

  Unit ``u`` goes to shard ``floor(rows before u × S / total rows)``, so
  shards keep the index order and the assignment depends only on the units.
  """
  total = max(sum(unit_sizes), 1)
  shards, before = [], 0
  for size in unit_sizes:
    shards.append(min(before * num_shards // total, num_shards - 1))
    before += size
  return shards


@dataclasses.dataclass(frozen=True)
class Plan:
  """Everything a shard writer and ``finalize`` need, JSON-serialisable."""
  raw_root: str                       # "" if the source cannot be reopened
  raw_fingerprint: str
  config_hash: str
  prepare_config: dict
  classes: tuple[str, ...]
  workers: tuple[str, ...]            # sorted ids of every index row's worker
  clip_ids: tuple[str, ...]           # per index row
  row_workers: tuple[str, ...]        # per index row
  worker_metadata: dict               # workers.csv rows (may be empty)
  shard_units: tuple[tuple[tuple[int, ...], ...], ...]  # shard -> units -> rows
  # The raw tables' warnings (RawSource.warnings / warning_counts).
  dataset_warnings: tuple[str, ...] = ()
  dataset_warning_counts: dict = dataclasses.field(default_factory=dict)
  # Per index row: its session_id ("" none); () when index.csv has no
  # session column.
  row_sessions: tuple[str, ...] = ()
  # Where imu.rate_hz comes from (prepare/native_rate.py).
  rate_source: str = "config"

  @property
  def num_shards(self) -> int:
    return len(self.shard_units)

  @property
  def num_rows(self) -> int:
    return len(self.clip_ids)

  def to_json(self) -> dict:
    return _plain(dataclasses.asdict(self))

  @classmethod
  def from_json(cls, d: Mapping) -> "Plan":
    return cls(
        raw_root=d["raw_root"], raw_fingerprint=d["raw_fingerprint"],
        config_hash=d["config_hash"], prepare_config=d["prepare_config"],
        classes=tuple(d["classes"]), workers=tuple(d["workers"]),
        clip_ids=tuple(d["clip_ids"]), row_workers=tuple(d["row_workers"]),
        worker_metadata=d["worker_metadata"],
        shard_units=tuple(tuple(tuple(u) for u in s) for s in d["shard_units"]),
        dataset_warnings=tuple(d.get("dataset_warnings", ())),
        dataset_warning_counts=dict(d.get("dataset_warning_counts", {})),
        row_sessions=tuple(d.get("row_sessions", ())),
        rate_source=d.get("rate_source", "config"))


def make_plan(ds, raw_root: str, data_config,
              rate_source: str = "config") -> Plan:
  """Plans a prepare of the opened ``raw.source.RawSource`` ``ds``
  (``data_config`` with its rate resolved, ``native_rate.resolve``)."""
  units = [tuple(int(r) for r in u) for u in ds.work_units()]
  rows = ds.rows
  covered = sorted(r for u in units for r in u)
  if covered != list(range(len(rows))):
    raise ValueError(f"{raw_root}: work units do not cover each of the "
                     f"{len(rows)} index rows exactly once")
  num_shards = max(1, min(int(data_config.prepare.num_shards), len(units)))
  shard_units = [[] for _ in range(num_shards)]
  for unit, shard in zip(units, assign_units([len(u) for u in units],
                                             num_shards)):
    shard_units[shard].append(unit)
  for i, row in enumerate(rows):
    if row.row != i:
      raise ValueError(f"{raw_root}: index row {i} reports row number {row.row}")
  session_column = data_config.columns.get("session_id", "session_id")
  sessions = tuple(str(r.extra.get(session_column) or "").strip()
                   for r in rows)
  warnings = tuple(ds.warnings)
  for w in warnings:
    logging.warning("raw dataset: %s", w)
  return Plan(
      raw_root=raw_root if ds.reopenable else "",
      raw_fingerprint=ds.fingerprint(),
      config_hash=config_hash(data_config),
      prepare_config=prepare_config(data_config),
      classes=tuple(ds.classes),
      workers=tuple(sorted({r.worker_id for r in rows})),
      clip_ids=tuple(r.clip_id for r in rows),
      row_workers=tuple(r.worker_id for r in rows),
      worker_metadata=_plain(ds.workers),
      shard_units=tuple(tuple(s) for s in shard_units),
      dataset_warnings=warnings,
      dataset_warning_counts=dict(ds.warning_counts),
      row_sessions=sessions if any(sessions) else (),
      rate_source=rate_source)


def parts_dir(out_dir: str) -> str:
  return os.path.join(out_dir, PARTS_DIR)


def save_or_check(plan: Plan, out_dir: str) -> None:
  """Writes ``parts/plan.json``, or checks that the one there is this plan."""
  path = os.path.join(parts_dir(out_dir), PLAN_FILE)
  os.makedirs(parts_dir(out_dir), exist_ok=True)
  if os.path.exists(path):
    found = load(out_dir)
    for key in ("raw_fingerprint", "config_hash", "shard_units", "clip_ids"):
      if getattr(found, key) != getattr(plan, key):
        raise ValueError(
            f"{path}: {out_dir} holds a prepare of a different raw dataset or "
            f"config ({key} differs); use an empty output directory")
    return
  manifest_lib.write_json_atomic(path, plan.to_json())


def load(out_dir: str) -> Plan:
  path = os.path.join(parts_dir(out_dir), PLAN_FILE)
  if not os.path.exists(path):
    raise errors.MissingDataError(f"{path} not found: no prepare was started "
                                  f"in {out_dir}")
  with open(path, encoding="utf-8") as f:
    return Plan.from_json(json.load(f))
