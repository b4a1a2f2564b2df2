"""Writes a ``PublicDataset`` in the raw layout (docs/data_layout.md).

Per person one tar ``shards/<worker_id>.tar`` holding each recording as
``<clip_id>.imu.npy`` (float32 ``[n, 6]``) and ``<clip_id>.json`` (ids and
``imu_rate_hz``: the compact variant, a quarter of the JSONL's bytes);
``index.csv`` points at the members, ``segments.csv`` holds the runs of
equal labels (unlabelled samples and classes outside the chosen set are in
no segment), ``labels.json`` the class set, ``workers.csv`` the people's
metadata and ``dataset.json`` the units, the native rate, the provenance
and any published anchors. The tables are
written into a sibling directory renamed onto ``out`` at the end, so an
interrupted run leaves no half dataset behind.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tarfile
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from egoimu_jax.datasets import base
from egoimu_jax.input_pipeline.raw import dataset_json
from egoimu_jax.input_pipeline.raw import tables

SHARDS = "shards"


def label_runs(labels: np.ndarray) -> List[Tuple[int, int, int]]:
  """``(first sample, end sample (exclusive), label)`` of each run of equal
  labels, runs of -1 (unlabelled) left out."""
  labels = np.asarray(labels)
  if labels.size == 0:
    return []
  change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
  starts = np.concatenate([[0], change])
  ends = np.concatenate([change, [labels.size]])
  return [(int(a), int(b), int(labels[a]))
          for a, b in zip(starts, ends) if labels[a] >= 0]


def _seconds(sample: int, rate_hz: float) -> str:
  return repr(round(sample / rate_hz, 6))


def _member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
  info = tarfile.TarInfo(name)
  info.size, info.mtime, info.mode = len(data), 0, 0o644
  tar.addfile(info, io.BytesIO(data))


def _npy(array: np.ndarray) -> bytes:
  buf = io.BytesIO()
  np.lib.format.write_array(buf, array, allow_pickle=False)
  return buf.getvalue()


def _check(rec: base.Recording, classes: Sequence[str],
           rate_hz: float) -> None:
  if rec.imu.ndim != 2 or rec.imu.shape[1] != 6 or \
      rec.labels.shape != (rec.imu.shape[0],):
    raise base.DatasetError(
        f"{rec.clip_id}: IMU {rec.imu.shape} and labels {rec.labels.shape} "
        "must be [n, 6] and [n]")
  if rec.labels.size and not (-1 <= rec.labels.min() and
                              rec.labels.max() < len(classes)):
    raise base.DatasetError(f"{rec.clip_id}: labels outside -1..{len(classes) - 1}")
  if rate_hz and rec.rate_hz != rate_hz:
    raise base.DatasetError(f"{rec.clip_id}: recorded at {rec.rate_hz} Hz, "
                            f"but the dataset declares rate_hz {rate_hz}")


def declaration(dataset: base.PublicDataset, class_set: str) -> Dict[str, Any]:
  """``dataset.json``: units, the native rate (where declared) and the
  provenance, with the published anchors under ``about.anchors``."""
  about = {**dataset.about(), "classes": class_set}
  if dataset.anchors:
    about["anchors"] = [dict(a) for a in dataset.anchors]
  rate = {"rate_hz": dataset.rate_hz} if dataset.rate_hz else {}
  return {**dataset.units, **rate, "about": about}


def _write_csv(path: str, header: Sequence[str], rows: Sequence[Sequence[Any]]):
  with open(path, "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)


def _fresh(out: str) -> None:
  """Refuses an ``out`` that holds anything."""
  if os.path.isdir(out) and not os.listdir(out):
    return
  if os.path.exists(out):
    raise base.DatasetError(f"{out}: already exists and is not an empty "
                            "directory; remove it or choose another --out")


def write(out: str, dataset: base.PublicDataset, class_set: str,
          subjects: Sequence[str]) -> Dict[str, Any]:
  """Writes ``subjects``' recordings under ``out``; returns the counts."""
  classes = dataset.class_sets[class_set]
  out = os.path.abspath(out)
  _fresh(out)
  tmp = f"{out}.partial-{os.getpid()}"
  shutil.rmtree(tmp, ignore_errors=True)
  os.makedirs(os.path.join(tmp, SHARDS))
  people = dataset.people()
  index, segments = [], []
  per_class = np.zeros(len(classes), np.int64)
  samples = 0
  try:
    for subject in subjects:
      worker = people[subject]["worker_id"]
      tar_name = f"{SHARDS}/{worker}.tar"
      with tarfile.open(os.path.join(tmp, tar_name), "w") as tar:
        for rec in dataset.recordings(subject, classes):
          _check(rec, classes, dataset.rate_hz)
          meta = {"clip_id": rec.clip_id, "worker_id": rec.worker_id,
                  "imu_rate_hz": rec.rate_hz}
          _member(tar, f"{rec.clip_id}.imu.npy", _npy(rec.imu.astype(np.float32)))
          _member(tar, f"{rec.clip_id}.json", json.dumps(meta).encode())
          index.append((rec.clip_id, rec.worker_id, "",
                        f"{tar_name}#{rec.clip_id}.imu.npy", rec.extra))
          segments += [(rec.clip_id, _seconds(a, rec.rate_hz),
                        _seconds(b, rec.rate_hz), classes[k])
                       for a, b, k in label_runs(rec.labels)]
          per_class += np.bincount(rec.labels[rec.labels >= 0],
                                   minlength=len(classes))
          samples += rec.labels.size
    extra_cols = list(dict.fromkeys(k for *_, e in index for k in e))
    _write_csv(os.path.join(tmp, tables.INDEX),
               ["clip_id", "worker_id", "video_path", "imu_path", *extra_cols],
               [(*r[:4], *(r[4].get(k, "") for k in extra_cols)) for r in index])
    _write_csv(os.path.join(tmp, tables.SEGMENTS),
               ["clip_id", "start_s", "end_s", "label"], segments)
    rows = [people[s] for s in subjects]
    cols = list(dict.fromkeys(k for r in rows for k in r if k != "worker_id"))
    _write_csv(os.path.join(tmp, tables.WORKERS), ["worker_id", *cols],
               [(r["worker_id"], *(r.get(k, "") for k in cols)) for r in rows])
    with open(os.path.join(tmp, tables.LABELS), "w", encoding="utf-8") as f:
      json.dump({"classes": list(classes)}, f, indent=1)
    with open(os.path.join(tmp, dataset_json.FILE), "w", encoding="utf-8") as f:
      json.dump(declaration(dataset, class_set), f, indent=1)
    if os.path.isdir(out):
      os.rmdir(out)   # empty (checked above)
    os.replace(tmp, out)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  return {"out": out, "workers": len(subjects), "clips": len(index),
          "segments": len(segments), "samples": samples,
          "labelled_samples": int(per_class.sum()),
          "samples_per_class": dict(zip(classes, per_class.tolist()))}
