"""Writes one output shard of ``prepare`` (runs inside a worker process).

A shard is its work units ingested in plan order, each clip's windows in time
order, so its bytes do not depend on how many processes or hosts ran. Memory
holds one clip's windows at a time plus a few numbers per record.

Outputs of shard ``k`` of ``n``:
  * the window shard (and the frames shard when frames are stored), written
    to a temp name and renamed when complete;
  * ``parts/shard-k-of-n.npz``: the shard's per-record arrays;
  * ``parts/shard-k-of-n.json``: its summary (counts, quarantine, repairs,
    dropped windows...), written last: the shard is finished iff it exists
    and the shard files have the sizes it records.
"""

from __future__ import annotations

import collections
import json
import os
from typing import Optional

import numpy as np

from egoimu_jax.input_pipeline.prepare import plan as prepare_plan
from egoimu_jax.input_pipeline.store import manifest as manifest_lib
from egoimu_jax.input_pipeline.store import record_table
from egoimu_jax.input_pipeline.store import records
from egoimu_jax.input_pipeline.store import shard_io
from egoimu_jax.input_pipeline.store import tfds_format

# Per-record arrays a part holds (shard and offset are implied by position).
PART_COLUMNS = ("worker", "clip", "label", "t0_us", "purity", "frames_offset")


def part_paths(out_dir: str, shard: int, num_shards: int) -> tuple[str, str]:
  stem = os.path.join(prepare_plan.parts_dir(out_dir),
                      f"shard-{shard:05d}-of-{num_shards:05d}")
  return stem + ".json", stem + ".npz"


def load_summary(out_dir: str, shard: int, num_shards: int) -> Optional[dict]:
  """The shard's summary if the shard is finished and intact, else None."""
  summary_path, arrays_path = part_paths(out_dir, shard, num_shards)
  if not (os.path.exists(summary_path) and os.path.exists(arrays_path)):
    return None
  with open(summary_path, encoding="utf-8") as f:
    summary = json.load(f)
  for entry in summary["files"]:
    path = os.path.join(out_dir, entry["path"])
    if not os.path.exists(path) or os.path.getsize(path) != entry["num_bytes"]:
      return None
  return summary


def frames_enabled(data_config) -> bool:
  video = data_config.video
  return bool(video.store_frames) and video.frames_fraction > 0


class _Raw:
  """Per-process cache of the opened raw dataset (opening reads the index)."""
  key = None
  dataset = None


def _open_raw(raw_root: str, data_config):
  from egoimu_jax.input_pipeline.raw import source  # pylint: disable=g-import-not-at-top
  key = (raw_root, data_config.get("layout", source.DEFAULT_LAYOUT))
  if _Raw.key != key:
    _Raw.dataset = source.open_source(raw_root, data_config)
    _Raw.key = key
  return _Raw.dataset


def write_shard(plan: prepare_plan.Plan, data_config, out_dir: str,
                shard: int, dataset=None) -> dict:
  """Ingests shard ``shard``'s work units and writes its files.

  ``dataset``: the opened ``raw.source.RawSource`` (e.g. a
  ``memory_dataset.MemoryDataset``); default: opened from ``plan.raw_root``.
  Returns the shard's summary.
  """
  from egoimu_jax.input_pipeline.raw import ingest as ingest_lib  # pylint: disable=g-import-not-at-top
  n = plan.num_shards
  ds = dataset if dataset is not None else _open_raw(plan.raw_root,
                                                     data_config)
  length = prepare_plan.window_length(data_config)
  worker_index = {w: i for i, w in enumerate(plan.workers)}
  num_classes = len(plan.classes)
  with_frames = frames_enabled(data_config)
  store_frames = ingest_lib.frames_selector(data_config)
  video = data_config.video
  frames_shape = (video.frames_per_window, video.size, video.size, 3)

  window_features = records.window_features(plan.classes, length)
  frames_features = records.frames_features(*frames_shape[:2])
  windows_rel = tfds_format.relative_shard_path(tfds_format.WINDOWS, shard, n)
  frames_rel = tfds_format.relative_shard_path(tfds_format.FRAMES, shard, n)
  writer = shard_io.ShardWriter(os.path.join(out_dir, windows_rel),
                                data_config.prepare.compression)
  frames_writer = None
  if with_frames:
    frames_writer = shard_io.ShardWriter(os.path.join(out_dir, frames_rel),
                                         data_config.prepare.frames_compression)

  columns = {k: [] for k in PART_COLUMNS}
  used_rows, quarantine, repairs = [], [], []
  dropped, notes, rates = (collections.Counter() for _ in range(3))
  try:
    for unit in plan.shard_units[shard]:
      rows_of = collections.defaultdict(collections.deque)
      for r in unit:
        rows_of[plan.clip_ids[r]].append(r)
      for item in ds.ingest(list(unit), data_config, store_frames):
        where = f"shard {shard}, clip {item.clip_id!r}"
        if not rows_of.get(item.clip_id):
          raise RuntimeError(f"{where}: ingest returned a clip that is not in "
                             f"the work unit, or returned it twice")
        row = rows_of[item.clip_id].popleft()
        if isinstance(item, ingest_lib.Quarantined):
          quarantine.append([row, item.clip_id, item.worker_id,
                             str(item.path), str(item.reason)])
          continue
        used_rows.append(row)
        imu = np.asarray(item.imu)
        count = imu.shape[0]
        if imu.shape[1:] != (length, records.IMU_CHANNELS):
          raise RuntimeError(f"{where}: imu shape {imu.shape}, expected "
                             f"[n, {length}, {records.IMU_CHANNELS}]")
        if not np.isfinite(np.asarray(imu, np.float32)).all():
          raise RuntimeError(f"{where}: non-finite IMU values (as float32)")
        label = np.asarray(item.label, np.int64)
        if count and (label.min() < 0 or label.max() >= num_classes):
          raise RuntimeError(f"{where}: label outside [0, {num_classes})")
        frames = item.frames if with_frames else None
        if frames is not None and np.shape(frames) != (count, *frames_shape):
          raise RuntimeError(f"{where}: frames shape {np.shape(frames)}, "
                             f"expected {(count, *frames_shape)}")
        frames_offset = np.full(count, -1, np.int64)
        for i in range(count):
          t0 = int(item.t0_us[i])
          wid = records.window_id(item.clip_id, t0)
          writer.write(records.encode(window_features, {
              "window_id": wid, "worker_id": item.worker_id,
              "clip_id": item.clip_id, "t0_us": t0, "label": int(label[i]),
              "purity": np.float32(item.purity[i]),
              "imu": np.asarray(imu[i], np.float32)}))
          if frames is not None:
            frames_offset[i] = frames_writer.num_records
            frames_writer.write(records.encode(frames_features, {
                "window_id": wid, "frames": np.asarray(frames[i], np.uint8)}))
        columns["worker"].append(np.full(count, worker_index[item.worker_id]))
        columns["clip"].append(np.full(count, row))
        columns["label"].append(label)
        columns["t0_us"].append(np.asarray(item.t0_us, np.int64))
        columns["purity"].append(np.asarray(item.purity, np.float32))
        columns["frames_offset"].append(frames_offset)
        repairs.extend(
            [row, item.clip_id, item.worker_id, str(rep.path),
             "" if rep.line is None else int(rep.line), str(rep.kind),
             str(rep.detail)] for rep in getattr(item, "repairs", ()))
        dropped.update({str(k): int(v) for k, v in item.dropped.items()})
        notes.update({str(k): int(v) for k, v in item.notes.items()})
        rates[f"{float(item.native_rate_hz):.0f}"] += 1  # whole Hz
      left = [r for rows in rows_of.values() for r in rows]
      if left:
        raise RuntimeError(f"shard {shard}: ingest returned nothing for index "
                           f"rows {left[:5]} (it must return one result per row)")
  except BaseException:
    writer.abort()
    if frames_writer is not None:
      frames_writer.abort()
    raise

  files = [{"path": windows_rel, "num_bytes": writer.close(),
            "num_records": writer.num_records}]
  if frames_writer is not None:
    files.append({"path": frames_rel, "num_bytes": frames_writer.close(),
                  "num_records": frames_writer.num_records})
  summary_path, arrays_path = part_paths(out_dir, shard, n)
  record_table.save_npz(arrays_path, {
      k: (np.concatenate(v) if v else np.zeros(0)).astype(
          record_table.COLUMNS[k]) for k, v in columns.items()})
  summary = {
      "shard": shard, "num_shards": n, "config_hash": plan.config_hash,
      "raw_fingerprint": plan.raw_fingerprint, "files": files,
      "num_records": writer.num_records, "used_rows": used_rows,
      "quarantine": quarantine, "repairs": repairs,
      "dropped_windows": dict(sorted(dropped.items())),
      "repaired_defects": dict(sorted(notes.items())),
      "native_rates_hz": dict(sorted(rates.items())),
  }
  manifest_lib.write_json_atomic(summary_path, summary)
  return summary
