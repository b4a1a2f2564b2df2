r"""The ``extract_embeddings`` job: a frozen video teacher's vector per window.

  python -m egoimu_jax.main --config=configs/teacher_embeddings.py \
      --workdir=runs/teacher --config.data.processed_dir=/data/pilot_processed
  # host i of n (same workdir), then one merge:
  ... --config.teacher.shard_index=$I --config.teacher.shard_count=$N
  ... --config.teacher.finalize_only=True

For every window of the processed dataset (``prepare.ensure(config.data)``)
the teacher (``teachers/model.py``) embeds ``teacher.num_frames`` frames read
from the frame shards or decoded from the raw MP4s on the fly
(``teachers/frame_source.py``; nothing but the vector is stored), and the
vectors become the teacher shard set ``teacher_<name>`` keyed by window id
(``input_pipeline/store/embeddings.py``), read by ``input.teacher``.

* Resumable: chunks of whole clips are written atomically as they finish
  (``teachers/parts.py``); a killed run, rerun with the same workdir, skips
  them and gives bitwise the same vectors.
* Host split: chunk ``k`` runs on host ``k % shard_count``; under
  ``jax.distributed`` (``shard_count`` 0) every process takes its share and
  process 0 merges after a barrier. Each host batches over its own devices.
* Accounting: a window gets a vector or a row in ``teacher_missing.csv``
  with its reason (missing / undecodable video, ...); the set's
  ``teacher_manifest.json`` records the model, the weights' checksums, the
  pooling, the projection, the frame source and the counts
  (``teachers/merge.py``). Its copy in the workdir marks the job done
  (``DONE_FILE``, the launcher's ``done_file``); no ``results.json``.
"""

from __future__ import annotations

import collections
import fcntl
import json
import os
import time
from typing import Any, Dict, Optional

from absl import logging
import jax
import ml_collections
import numpy as np

from egoimu_jax.input_pipeline import fs
from egoimu_jax.input_pipeline import prepare
from egoimu_jax.input_pipeline.prepare import plan as prepare_plan
from egoimu_jax.input_pipeline.prepare import run as prepare_run
from egoimu_jax.input_pipeline.store import embeddings
from egoimu_jax.input_pipeline.store import processed
from egoimu_jax.input_pipeline.store import tfds_format
from egoimu_jax.teachers import frame_source as frame_source_lib
from egoimu_jax.teachers import merge
from egoimu_jax.teachers import model as model_lib
from egoimu_jax.teachers import parts
from egoimu_jax.training import progress as progress_lib

DONE_FILE = embeddings.MANIFEST_FILE


def raw_root(config: ml_collections.ConfigDict, processed_dir: str) -> str:
  """Where the raw MP4s are: ``teacher.raw_dir``, ``data.raw_dir``, the
  synthetic pilot (no ``data.processed_dir``), or the root prepare recorded
  ("" for a source that cannot be reopened)."""
  if config.teacher.raw_dir:
    return config.teacher.raw_dir
  if config.data.raw_dir:
    return config.data.raw_dir
  if not config.data.processed_dir:
    return prepare_run.resolve_raw_root(config.data,
                                        fs.default_cache_dir(config.data))
  try:
    return prepare_plan.load(processed_dir).raw_root
  except FileNotFoundError:
    return ""


def host_shard(cfg) -> tuple[int, int, bool]:
  """(shard_index, shard_count, from JAX processes)."""
  count = int(cfg.shard_count)
  if count == 0:
    return jax.process_index(), jax.process_count(), jax.process_count() > 1
  index = int(cfg.shard_index)
  if not 0 <= index < count:
    raise ValueError(f"teacher.shard_index={index} must be in [0, "
                     f"shard_count={count})")
  return index, count, False


def finished(workdir: str, processed_dir: str, name: str,
             config_hash: str) -> Optional[dict]:
  """The manifest of this extraction if it is complete, else None."""
  path = os.path.join(workdir, DONE_FILE)
  if not os.path.exists(path):
    return None
  with open(path, encoding="utf-8") as f:
    mine = json.load(f)
  stored = embeddings.read_manifest(processed_dir, name)
  if (mine.get("config_hash") == config_hash and stored is not None and
      stored.get("config_hash") == config_hash):
    return mine
  return None


def _plan(cfg, dataset, source, teacher, bounds, chash) -> dict:
  weights = dict(teacher.weights)
  return {
      "name": cfg.name,
      "config_hash": chash,
      "fingerprint": dataset.fingerprint,
      "num_records": len(dataset),
      "bounds": bounds.tolist(),
      "chunk_windows": int(cfg.chunk_windows),
      "model": parts.plain(teacher.model_config),
      "dtype": str(cfg.dtype),
      "weights": weights,
      "weights_checksum": weights["params_sha256"],
      "pooling": cfg.pooling,
      "feature_dim": teacher.feature_dim,
      "dim": teacher.dim,
      "projection": ({"dim": teacher.dim, "seed": int(cfg.projection_seed),
                      "file": parts.PROJECTION_FILE}
                     if teacher.projection is not None else None),
      "projection_sha256": parts.sha256_array(teacher.projection),
      "frames": {
          "source": source.mode,
          "num_frames": len(source.index),
          "frame_index": source.index.tolist(),
          "size": source.size,
          "fps": source.fps,
          "frames_per_window": source.frames_per_window,
          "mean": [float(x) for x in cfg.frame_mean],
          "std": [float(x) for x in cfg.frame_std],
          "raw_root": source.raw_root,
      },
      "batch_size": teacher.batch_size,
      "teacher_config": parts.identity(cfg),
  }


def embed_chunk(teacher: model_lib.Teacher, frames: np.ndarray) -> np.ndarray:
  """Vectors [n, dim] of a chunk's frames [n, T, S, S, 3] (uint8), in
  batches of ``teacher.batch_size`` cut from the chunk's start (the last
  padded with zeros), so a window's vector depends only on its chunk."""
  b = teacher.batch_size
  outputs = []
  for start in range(0, len(frames), b):
    batch = teacher.normalise(frames[start:start + b])
    if len(batch) < b:
      batch = np.concatenate(
          [batch, np.zeros((b - len(batch),) + batch.shape[1:], batch.dtype)])
    outputs.append(teacher.embed(batch))  # dispatched; runs while we go on
  vectors = np.concatenate([np.asarray(jax.device_get(o)) for o in outputs])
  return vectors[:len(frames)]


def _part(indices: np.ndarray, frames: frame_source_lib.Frames,
          vectors: np.ndarray) -> parts.Part:
  return parts.Part(
      record_index=indices, source=frames.source,
      vectors=vectors[frames.ok],
      missing_kind=np.asarray([m.kind for m in frames.missing], str),
      missing_path=np.asarray([m.path for m in frames.missing], str),
      missing_reason=np.asarray([m.reason for m in frames.missing], str))


def extract_chunks(cfg, workdir: str, source: frame_source_lib.FrameSource,
                   teacher: model_lib.Teacher, bounds: np.ndarray,
                   chunks: list[int]) -> Dict[str, float]:
  """Embeds ``chunks`` (in order) and writes their parts; returns timings."""
  n = len(bounds) - 1
  size = lambda k: int(bounds[k + 1] - bounds[k])  # noqa: E731
  todo = [k for k in chunks if not parts.is_done(workdir, k, n)]
  total = sum(size(k) for k in chunks)
  done = total - sum(size(k) for k in todo)
  logging.info("teacher %r: %d of %d chunks here (%d windows), %d to do",
               cfg.name, len(chunks), n, total, len(todo))
  progress = progress_lib.Progress(total, done)
  queue = collections.deque()
  ahead = max(int(cfg.prefetch_chunks), 0) + 1
  timings = collections.Counter()
  last_log = time.monotonic()
  t_start = time.monotonic()
  for i, k in enumerate(todo):
    while len(queue) < ahead and i + len(queue) < len(todo):
      nxt = todo[i + len(queue)]
      queue.append(source.submit(np.arange(bounds[nxt], bounds[nxt + 1])))
    t0 = time.monotonic()
    frames = queue.popleft().result()
    t1 = time.monotonic()
    vectors = embed_chunk(teacher, frames.frames)
    t2 = time.monotonic()
    parts.write_part(workdir, k, n, _part(
        np.arange(bounds[k], bounds[k + 1]), frames, vectors))
    timings["wait_frames_s"] += t1 - t0
    timings["model_s"] += t2 - t1
    timings["windows"] += size(k)
    done += size(k)
    now = time.monotonic()
    if now - last_log >= float(cfg.log_every_s) or i == len(todo) - 1:
      figures = progress.report(done)
      logging.info(
          "teacher %r: %d/%d windows (%.0f%%), %.1f windows/s, ETA %s; "
          "waiting for frames %.0f%% of the time", cfg.name, done, total,
          100 * done / max(total, 1), figures["steps_per_sec"],
          progress_lib.format_duration(figures["eta_s"]),
          100 * timings["wait_frames_s"] / max(now - t_start, 1e-9))
      last_log = now
  timings["elapsed_s"] = time.monotonic() - t_start
  return dict(timings)


def _barrier(name: str) -> None:
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  multihost_utils.sync_global_devices(name)


def run(config: ml_collections.ConfigDict, workdir: str) -> Dict[str, Any]:
  """Extracts (or finishes extracting) ``config.teacher``'s set; returns the
  teacher manifest once merged, else this host's progress."""
  cfg = config.teacher
  tfds_format.teacher_config(cfg.name)  # checks the name
  os.makedirs(workdir, exist_ok=True)
  processed_dir = prepare.ensure(config.data)
  dataset = processed.ProcessedDataset.open(processed_dir)
  chash = parts.config_hash(cfg, dataset.fingerprint)
  done = finished(workdir, processed_dir, cfg.name, chash)
  if done is not None:
    logging.info("teacher %r is complete in %s; nothing to do", cfg.name,
                 processed_dir)
    return done
  shard_index, shard_count, jax_split = host_shard(cfg)

  if cfg.finalize_only:
    plan = parts.load_plan(workdir)
    if plan is None:
      raise FileNotFoundError(f"{parts.parts_dir(workdir)}: no extraction "
                              "started in this workdir; nothing to finalize")
    parts.check_plan(plan, {"config_hash": chash}, ("config_hash",), workdir)
    if not jax_split:
      return merge.finalize(dataset, workdir, plan)
    summary = (merge.finalize(dataset, workdir, plan) if shard_index == 0
               else {"name": cfg.name, "shard_index": shard_index})
    _barrier("teacher_finalized")
    return summary

  parts.check_plan(parts.load_plan(workdir), {"config_hash": chash},
                   ("config_hash",), workdir)
  with frame_source_lib.FrameSource(
      dataset, cfg.source, int(cfg.num_frames), int(cfg.frame_size),
      raw_root=raw_root(config, processed_dir),
      threads=int(cfg.decode_threads),
      layout=config.data.layout) as source:
    teacher = model_lib.Teacher(cfg, source.frames_shape)
    if cfg.projection_dim:
      teacher.set_projection(parts.projection(
          workdir, teacher.feature_dim, int(cfg.projection_dim),
          int(cfg.projection_seed), model_lib.projection_matrix))
    bounds = parts.chunk_bounds(dataset.table.clip, int(cfg.chunk_windows))
    plan = parts.save_or_check_plan(
        workdir, _plan(cfg, dataset, source, teacher, bounds, chash))
    n = len(bounds) - 1
    mine = [k for k in range(n) if k % shard_count == shard_index]
    timings = extract_chunks(cfg, workdir, source, teacher, bounds, mine)

  if jax_split:
    _barrier("teacher_chunks_done")
  summary: Dict[str, Any] = {"name": cfg.name, "shard_index": shard_index,
                             "shard_count": shard_count, "timings": timings}
  all_done = all(parts.is_done(workdir, k, n) for k in range(n))
  if shard_index == 0 and all_done:
    summary = {**merge.finalize(dataset, workdir, plan), "timings": timings}
  elif shard_index == 0:
    logging.info("teacher %r: this host's chunks are done; other hosts' are "
                 "not. When they are, run with teacher.finalize_only=True",
                 cfg.name)
  if jax_split:
    _barrier("teacher_finalized")
  return summary


def ensure(config: ml_collections.ConfigDict) -> str:
  """The name of ``config.teacher``'s set in ``config.data``'s processed
  dataset, extracted first if it is missing or was made with other settings.

  For jobs that read a teacher set (``input.teacher``, the classical job's
  ``features="teacher:<name>"``): a sweep needs no separate extraction job,
  and jobs started together extract once (a file lock; the others wait and
  then find it complete). The extraction's workdir is
  ``<processed_dir>/teacher_runs/<name>-<config hash>``; single process.
  """
  cfg = config.teacher
  processed_dir = prepare.ensure(config.data)
  dataset = processed.ProcessedDataset.open(processed_dir)
  chash = parts.config_hash(cfg, dataset.fingerprint)
  stored = embeddings.read_manifest(processed_dir, cfg.name)
  if stored is not None and stored.get("config_hash") == chash:
    return cfg.name
  workdir = os.path.join(processed_dir, "teacher_runs",
                         f"{cfg.name}-{chash[:16]}")
  os.makedirs(workdir, exist_ok=True)
  with open(workdir + ".lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    stored = embeddings.read_manifest(processed_dir, cfg.name)
    if stored is None or stored.get("config_hash") != chash:
      logging.info("teacher %r: not extracted for these settings; extracting "
                   "into %s", cfg.name, workdir)
      local = ml_collections.ConfigDict(config.to_dict())
      local.data.processed_dir = processed_dir
      local.teacher.update(shard_index=0, shard_count=1, finalize_only=False)
      run(local, workdir)
  return cfg.name
