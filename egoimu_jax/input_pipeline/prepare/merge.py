"""Merges finished shards' summaries into the processed dataset's metadata.

Writes ``records.npz``, ``quarantine.csv``, ``repairs.csv``, tfds'
``dataset_info.json`` /
``features.json`` per shard set, and ``manifest.json`` last (its presence
marks completion). Reads only ``parts/``, so any host can run it once every
host's shards are done. The outputs depend only on the shards' contents, so
one single-host run and any (shard_index, shard_count) split give identical
bytes.
"""

from __future__ import annotations

import collections
import glob
import hashlib
import os

import numpy as np

from egoimu_jax.input_pipeline import timelines
from egoimu_jax.input_pipeline.prepare import plan as prepare_plan
from egoimu_jax.input_pipeline.prepare import shard as prepare_shard
from egoimu_jax.input_pipeline.store import manifest as manifest_lib
from egoimu_jax.input_pipeline.store import record_table
from egoimu_jax.input_pipeline.store import records
from egoimu_jax.input_pipeline.store import tfds_format


def state_fractions(plan: prepare_plan.Plan, workers: list[str],
                    label: np.ndarray, worker: np.ndarray) -> tuple[dict, str]:
  """Per-worker state fractions: workers.csv's ``frac_<state>`` (or
  ``<state>_fraction``) columns when every worker has all of them, else the
  fraction of each worker's windows per label."""
  meta = plan.worker_metadata
  for pattern in ("frac_{}", "{}_fraction"):
    keys = [pattern.format(c) for c in plan.classes]
    try:
      return {w: {c: float(meta[w][k]) for c, k in zip(plan.classes, keys)}
              for w in workers}, "workers.csv"
    except (KeyError, TypeError, ValueError):
      continue
  index = {w: i for i, w in enumerate(plan.workers)}
  counts = np.zeros((len(plan.workers), len(plan.classes)), np.int64)
  np.add.at(counts, (worker, label), 1)
  out = {}
  for w in workers:
    row = counts[index[w]]
    total = max(int(row.sum()), 1)
    out[w] = {c: round(int(n) / total, 6) for c, n in zip(plan.classes, row)}
  return out, "labels"


def finalize(out_dir: str) -> dict:
  """Builds the manifest from all shards' parts; returns it."""
  plan = prepare_plan.load(out_dir)
  n = plan.num_shards
  summaries = [prepare_shard.load_summary(out_dir, k, n) for k in range(n)]
  missing = [k for k, s in enumerate(summaries) if s is None]
  if missing:
    raise RuntimeError(
        f"{out_dir}: {len(missing)} of {n} shards are not finished "
        f"(e.g. {missing[:10]}); run prepare for them before finalize")

  # Per-record table, in shard order.
  columns = collections.defaultdict(list)
  for k, summary in enumerate(summaries):
    with np.load(prepare_shard.part_paths(out_dir, k, n)[1]) as part:
      count = len(part["worker"])
      if count != summary["num_records"]:
        raise RuntimeError(f"{out_dir}: shard {k} part holds {count} records, "
                           f"its summary says {summary['num_records']}")
      for name in prepare_shard.PART_COLUMNS:
        columns[name].append(part[name])
    columns["shard"].append(np.full(count, k))
    columns["offset"].append(np.arange(count))
  table = record_table.RecordTable(
      {name: np.concatenate(columns[name]).astype(dtype)
       for name, dtype in record_table.COLUMNS.items()},
      plan.workers, plan.clip_ids)

  # Accounting identity: every index row is used or quarantined, once.
  used = [r for s in summaries for r in s["used_rows"]]
  quarantined = sorted((q for s in summaries for q in s["quarantine"]),
                       key=lambda q: q[0])
  seen = sorted(used + [q[0] for q in quarantined])
  if seen != list(range(plan.num_rows)):
    raise RuntimeError(
        f"{out_dir}: accounting identity broken: {len(used)} used + "
        f"{len(quarantined)} quarantined rows for {plan.num_rows} index rows")

  label_counts = np.bincount(table.label, minlength=len(plan.classes))
  worker_counts = np.bincount(table.worker, minlength=len(plan.workers))
  worker_clips = collections.defaultdict(list)
  for row in sorted(used):
    worker_clips[plan.row_workers[row]].append(plan.clip_ids[row])
  active = sorted(worker_clips)
  fractions, fractions_source = state_fractions(plan, active, table.label,
                                                table.worker)
  # Each used clip's majority state (ties: the first class): stratifies the
  # within-person clip split.
  per_clip = np.zeros((len(plan.clip_ids), len(plan.classes)), np.int64)
  np.add.at(per_clip, (table.clip, table.label), 1)
  clip_labels = {plan.clip_ids[r]: plan.classes[int(per_clip[r].argmax())]
                 for r in sorted(used) if per_clip[r].any()}
  # Each clip's windows (t0, label) as runs: within-person time blocks.
  clip_windows = timelines.encode(table.clip, table.t0_us, table.label,
                                  plan.clip_ids)
  clip_sessions = {plan.clip_ids[r]: plan.row_sessions[r]
                   for r in sorted(used)
                   if plan.row_sessions and plan.row_sessions[r]}

  def merged(key):
    total = collections.Counter()
    for s in summaries:
      total.update(s[key])
    return dict(sorted(total.items()))

  shards = {}
  with_frames = any(len(s["files"]) > 1 for s in summaries)
  cfg = plan.prepare_config
  length = int(round(cfg["imu"]["window_seconds"] * cfg["imu"]["rate_hz"]))
  sets = [(tfds_format.WINDOWS, 0,
           records.window_features(plan.classes, length))]
  if with_frames:
    video = cfg["video"]
    sets.append((tfds_format.FRAMES, 1, records.frames_features(
        video["frames_per_window"], video["size"])))
  for name, position, features in sets:
    files = [s["files"][position] for s in summaries]
    shards[name] = files
    tfds_format.write_dataset_info(
        out_dir, name, features, [f["num_records"] for f in files],
        sum(f["num_bytes"] for f in files),
        description=f"egoimu_jax {name} records (schema "
                    f"{records.SCHEMA_VERSION}), config {plan.config_hash}")

  for name in shards:  # Temp files of killed writers.
    for stale in glob.glob(os.path.join(
        tfds_format.shard_set_dir(out_dir, name), "*.tmp*")):
      os.remove(stale)
  table.save(out_dir)
  manifest_lib.write_quarantine(
      os.path.join(out_dir, manifest_lib.QUARANTINE_FILE),
      [q[1:] for q in quarantined])
  # Stable sort: index row order, each clip's repairs by line.
  repairs = sorted((r for s in summaries for r in s.get("repairs", ())),
                   key=lambda r: r[0])
  manifest_lib.write_repairs(
      os.path.join(out_dir, manifest_lib.REPAIRS_FILE),
      [r[1:] for r in repairs])
  fingerprint = hashlib.sha256(
      f"{records.SCHEMA_VERSION}:{plan.raw_fingerprint}:{plan.config_hash}"
      .encode()).hexdigest()[:24]
  manifest = {
      "schema_version": records.SCHEMA_VERSION,
      "fingerprint": fingerprint,
      "raw_fingerprint": plan.raw_fingerprint,
      "config_hash": plan.config_hash,
      "prepare_config": cfg,
      "classes": list(plan.classes),
      "rate_hz": cfg["imu"]["rate_hz"],
      "rate_source": plan.rate_source,
      "window_seconds": cfg["imu"]["window_seconds"],
      "window_length": length,
      "num_rows": plan.num_rows,
      "num_clips": len(used),
      "num_quarantined": len(quarantined),
      "num_records": len(table),
      "workers": list(plan.workers),
      "clip_ids": list(plan.clip_ids),
      "counts": {
          "per_worker": {w: int(c) for w, c in zip(plan.workers, worker_counts)},
          "per_label": {c: int(k) for c, k in zip(plan.classes, label_counts)},
      },
      "worker_clips": {w: worker_clips[w] for w in active},
      "clip_labels": clip_labels,
      "clip_windows": clip_windows,
      "clip_sessions": clip_sessions,
      "state_fractions": fractions,
      "state_fractions_source": fractions_source,
      "native_rates_hz": merged("native_rates_hz"),
      "dropped_windows": merged("dropped_windows"),
      "repaired_defects": merged("repaired_defects"),
      "repairs": manifest_lib.REPAIRS_FILE,
      "dataset_warnings": list(plan.dataset_warnings),
      "dataset_warning_counts": dict(sorted(
          plan.dataset_warning_counts.items())),
      "frames": {
          "stored": with_frames,
          "num_records": int((table.frames_offset >= 0).sum()),
          **cfg["video"],
      },
      "shards": shards,
      "records": record_table.RECORDS_FILE,
      "quarantine": manifest_lib.QUARANTINE_FILE,
      "tfds": {"name": f"{tfds_format.DATASET_NAME}/{tfds_format.WINDOWS}",
               "split": tfds_format.SPLIT, "data_dir": "."},
  }
  manifest_lib.write_json_atomic(
      os.path.join(out_dir, manifest_lib.MANIFEST_FILE), manifest)
  return manifest
