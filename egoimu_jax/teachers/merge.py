"""Finished chunks -> the teacher shard set, its manifest and missing list.

Reads only ``<workdir>/teacher_parts/``, so any host can run it once every
chunk is done (``teacher.finalize_only``). Vectors go into the set in record
order, so one host and any host split write identical sets. Written, in
order, into ``<processed>/egoimu/teacher_<name>/<version>/``: the shards and
index (``EmbeddingWriter``), ``teacher_missing.csv``, the projection matrix
(``projection.npy``, if any), and ``teacher_manifest.json`` last (a set with a manifest is complete); then a
copy of both files into the workdir (the launcher's done file), and the
parts are removed.

Accounting: every record of the processed dataset is in exactly one chunk,
and has a vector or a row in ``teacher_missing.csv`` with its reason.
"""

from __future__ import annotations

import collections
import csv
import os
import shutil

from absl import logging

from egoimu_jax.input_pipeline.store import embeddings
from egoimu_jax.input_pipeline.store import manifest as manifest_lib
from egoimu_jax.input_pipeline.store import processed
from egoimu_jax.teachers import frame_source
from egoimu_jax.teachers import parts

MISSING_COLUMNS = ("window_id", "clip_id", "worker_id", "kind", "path",
                   "reason")


def _write_csv(path: str, rows) -> None:
  tmp = manifest_lib.temp_name(path)
  with open(tmp, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(MISSING_COLUMNS)
    writer.writerows(rows)
  os.replace(tmp, path)


def finalize(dataset: processed.ProcessedDataset, workdir: str,
             plan: dict) -> dict:
  """Merges every chunk of ``plan`` into the set; returns its manifest."""
  bounds = plan["bounds"]
  n = len(bounds) - 1
  pending = [k for k in range(n) if not parts.is_done(workdir, k, n)]
  if pending:
    raise RuntimeError(
        f"{parts.parts_dir(workdir)}: {len(pending)} of {n} chunks are not "
        f"finished (e.g. {pending[:10]}); chunk k runs on host k % "
        "shard_count: run those hosts (same workdir) before finalizing")
  if dataset.fingerprint != plan["fingerprint"] or (
      len(dataset) != plan["num_records"]):
    raise ValueError(f"{parts.parts_dir(workdir)} was extracted from another "
                     f"processed dataset than {dataset.processed_dir}")
  name = plan["name"]
  table = dataset.table
  by_source = collections.Counter()
  by_kind = collections.Counter()
  missing_rows = []
  with embeddings.EmbeddingWriter(dataset.processed_dir, name,
                                  plan["dim"]) as writer:
    for k in range(n):
      part = parts.read_part(workdir, k, plan)
      ok = part.ok
      writer.add_indices(part.record_index[ok], part.vectors)
      by_source.update(frame_source.SOURCE_NAMES[int(s)]
                       for s in part.source[ok])
      lost = part.record_index[~ok]
      wids = table.window_ids(lost)
      for i, idx in enumerate(lost.tolist()):
        kind = str(part.missing_kind[i])
        by_kind[kind] += 1
        missing_rows.append([
            wids[i], table.clip_ids[table.clip[idx]],
            dataset.workers[table.worker[idx]], kind,
            str(part.missing_path[i]), str(part.missing_reason[i])])
  embedded = sum(by_source.values())
  if embedded + len(missing_rows) != len(dataset):
    raise RuntimeError(f"accounting broken: {embedded} vectors + "
                       f"{len(missing_rows)} missing for {len(dataset)} "
                       "records")
  set_dir = embeddings.set_dir(dataset.processed_dir, name)
  _write_csv(os.path.join(set_dir, embeddings.MISSING_FILE), missing_rows)
  if plan["projection"]:  # kept with the set: the vectors are features @ it
    shutil.copyfile(
        os.path.join(parts.parts_dir(workdir), parts.PROJECTION_FILE),
        os.path.join(set_dir, parts.PROJECTION_FILE))
  manifest = {
      **{k: v for k, v in plan.items() if k != "bounds"},
      "processed_dir": os.path.abspath(dataset.processed_dir),
      "num_chunks": n,
      "counts": {
          "records": len(dataset),
          "embedded": embedded,
          "missing": len(missing_rows),
          "by_source": dict(sorted(by_source.items())),
          "missing_by_kind": dict(sorted(by_kind.items())),
      },
      "missing_file": embeddings.MISSING_FILE,
  }
  manifest_lib.write_json_atomic(
      os.path.join(set_dir, embeddings.MANIFEST_FILE), manifest)
  shutil.copyfile(os.path.join(set_dir, embeddings.MISSING_FILE),
                  os.path.join(workdir, embeddings.MISSING_FILE))
  manifest_lib.write_json_atomic(
      os.path.join(workdir, embeddings.MANIFEST_FILE), manifest)
  shutil.rmtree(parts.parts_dir(workdir))
  logging.info("teacher set %r: %d of %d windows embedded (%s), %d missing "
               "(%s) -> %s", name, embedded, len(dataset),
               dict(by_source), len(missing_rows), dict(by_kind), set_dir)
  return manifest
