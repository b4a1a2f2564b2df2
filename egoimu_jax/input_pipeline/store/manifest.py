"""``manifest.json`` and ``quarantine.csv`` of a processed dataset.

The manifest is written last by ``prepare``'s finalize step, so its presence
marks a complete processed dataset. Its keys (Contract 1):

  schema_version; fingerprint (of raw data + prepare config + schema);
  raw_fingerprint; config_hash; prepare_config (what the hash covers);
  classes; rate_hz; rate_source (where the rate comes from: "config",
    "dataset.json" or "measured: <clip>", ``prepare/native_rate.py``);
  window_seconds; window_length;
  num_rows (index rows) = num_clips (used) + num_quarantined; num_records;
  workers (every index row's worker, sorted: Contract 3's ``worker`` and the
    record table's ``worker`` index it); clip_ids (one per index row: the
    record table's ``clip`` indexes it);
  counts {per_worker, per_label} (windows);
  worker_clips {worker: [used clip ids]} (workers with at least one used clip);
  clip_labels {clip: its windows' majority state} (used clips with windows);
  clip_windows {clip: [[t0_first_us, step_us, count, label_index], ...]}
    (each used clip's windows as runs, ``input_pipeline/timelines.py``);
  clip_sessions {clip: session_id} (used clips with a session in index.csv);
  state_fractions {worker: {state: fraction}} and state_fractions_source
    ("workers.csv" columns ``frac_<state>``, else "labels": window shares);
  native_rates_hz {whole Hz: clips}; dropped_windows {reason: windows};
  repaired_defects {defect: count}; repairs ("repairs.csv");
  dataset_warnings [message] and dataset_warning_counts {kind: count}: what
    was suspicious but usable in the raw tables (ids spelled two ways or
    differing only in case, segments of clips not in the index, a worker
    listed twice alike, paths outside the root when allowed);
  frames {stored, num_records, fps, frames_per_window, size, ...};
  shards {windows: [{path, num_records, num_bytes}], frames: [...]};
  records ("records.npz", see ``record_table``); quarantine; tfds.

``quarantine.csv`` has one row per index row not used:
``clip_id, worker_id, path, reason`` (the reason names the file).

``repairs.csv`` has one row per repaired defect of a used clip (dropped
corrupt lines and rows, repeated timestamps, interpolated and split gaps),
at most ``data.max_repairs_per_clip`` per clip plus a ``not_listed`` row
saying how many more: ``clip_id, worker_id, path, line, kind, detail``
(``line`` is 1-based, empty for binary arrays; ``kind`` is the
``repaired_defects`` key that counts it).
"""

from __future__ import annotations

import csv
import json
import os
import socket
import uuid
from typing import Iterable, Mapping, Sequence

from egoimu_jax.input_pipeline.store import records

MANIFEST_FILE = "manifest.json"
QUARANTINE_FILE = "quarantine.csv"
QUARANTINE_COLUMNS = ("clip_id", "worker_id", "path", "reason")
REPAIRS_FILE = "repairs.csv"
REPAIRS_COLUMNS = ("clip_id", "worker_id", "path", "line", "kind", "detail")


def dumps(obj) -> str:
  """Canonical JSON: identical inputs give identical bytes."""
  return json.dumps(obj, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def temp_name(path: str) -> str:
  """A temp file name next to ``path``, unique across hosts and processes
  (several hosts may write the same file on a shared file system)."""
  return f"{path}.tmp-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def write_json_atomic(path: str, obj) -> None:
  tmp = temp_name(path)
  with open(tmp, "w", encoding="utf-8") as f:
    f.write(dumps(obj))
  os.replace(tmp, path)


def is_complete(processed_dir: str) -> bool:
  return os.path.exists(os.path.join(processed_dir, MANIFEST_FILE))


def load(processed_dir: str) -> dict:
  """Reads and checks the manifest of a processed dataset."""
  path = os.path.join(processed_dir, MANIFEST_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(
        f"{path} not found: {processed_dir!r} is not a complete processed "
        "dataset (run `python -m egoimu_jax.input_pipeline.prepare`, and its "
        "finalize step after a multi-host prepare)")
  with open(path, encoding="utf-8") as f:
    manifest = json.load(f)
  version = manifest.get("schema_version")
  if version != records.SCHEMA_VERSION:
    raise ValueError(
        f"{path}: schema_version {version}, this code reads "
        f"{records.SCHEMA_VERSION}; re-run prepare")
  return manifest


def _write_csv(path: str, columns: Sequence[str],
               rows: Iterable[Sequence]) -> None:
  tmp = temp_name(path)
  with open(tmp, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
  os.replace(tmp, path)


def _read_csv(path: str) -> list[dict]:
  with open(path, newline="", encoding="utf-8") as f:
    return list(csv.DictReader(f))


def write_quarantine(path: str, rows: Iterable[Sequence[str]]) -> None:
  _write_csv(path, QUARANTINE_COLUMNS, rows)


def read_quarantine(processed_dir: str) -> list[dict]:
  return _read_csv(os.path.join(processed_dir, QUARANTINE_FILE))


def write_repairs(path: str, rows: Iterable[Sequence]) -> None:
  _write_csv(path, REPAIRS_COLUMNS, rows)


def read_repairs(processed_dir: str) -> list[dict]:
  """Rows of repairs.csv (empty for datasets prepared before it existed)."""
  path = os.path.join(processed_dir, REPAIRS_FILE)
  return _read_csv(path) if os.path.exists(path) else []


def shard_paths(processed_dir: str, manifest: Mapping,
                shard_set: str = "windows") -> list[str]:
  return [os.path.join(processed_dir, s["path"])
          for s in manifest["shards"][shard_set]]
