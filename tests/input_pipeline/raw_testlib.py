"""Helpers for the raw-layout tests: hand-written datasets, cached synthetic ones."""

from __future__ import annotations

import csv
import json
import os
from typing import Dict, Optional, Sequence

import numpy as np

from egoimu_jax import config_lib
from egoimu_jax.input_pipeline.synthetic import defaults
from egoimu_jax.input_pipeline import synthetic
from egoimu_jax.input_pipeline.raw import imu_jsonl
from egoimu_jax.input_pipeline.raw import index_csv


def synthetic_root(tmp_path_factory, **overrides) -> str:
  """A synthetic dataset shared by every test of the session with this config."""
  cache = tmp_path_factory.getbasetemp() / "raw_syn_cache"
  return synthetic.ensure(synthetic.config(**overrides), str(cache))


def ingest_all(root: str, data_cfg=None, store_frames=lambda clip_id: False):
  """clip_id -> ClipWindows | Quarantined, through RawDataset's work units."""
  data_cfg = data_cfg or config_lib.data_config()
  ds = index_csv.IndexCsvSource.open(root, data_cfg)
  out = {}
  for unit in ds.work_units():
    results = list(ds.ingest(unit, data_cfg, store_frames))
    assert len(results) == len(unit)
    for r, res in zip(unit, results):
      assert res.clip_id == ds.rows[r].clip_id
      out[res.clip_id] = res
  assert len(out) == len(ds.rows)  # accounting: one result per index row
  return out


def write_dataset(root: str, clips: Sequence[Dict], *,
                  classes=defaults.PILOT_CLASSES,
                  columns: Optional[Dict[str, str]] = None,
                  workers: Optional[Sequence[Dict]] = None) -> str:
  """Writes a JSONL-variant dataset by hand.

  Each clip: clip_id, worker_id, t_us (int64 [n]), values ([n, 6]),
  segments [(start_s, end_s, label)], optional video (MP4 bytes) and imu_t0.
  ``classes`` go to labels.json (None: no labels.json).
  """
  cols = dict(config_lib.data_config().columns)
  cols.update(columns or {})
  os.makedirs(root, exist_ok=True)
  with open(os.path.join(root, "index.csv"), "w", newline="") as f:
    wr = csv.writer(f)
    wr.writerow([cols["clip_id"], cols["worker_id"], cols["video"], cols["imu"],
                 cols["imu_t0"]])
    for c in clips:
      imu = f"imu/{c['clip_id']}.jsonl"
      os.makedirs(os.path.join(root, "imu"), exist_ok=True)
      with open(os.path.join(root, imu), "wb") as g:
        g.write(imu_jsonl.dumps(c["t_us"], c["values"]))
      video = ""
      if c.get("video") is not None:
        video = f"video/{c['clip_id']}.mp4"
        os.makedirs(os.path.join(root, "video"), exist_ok=True)
        with open(os.path.join(root, video), "wb") as g:
          g.write(c["video"])
      wr.writerow([c["clip_id"], c["worker_id"], video, imu, c.get("imu_t0", "")])
  with open(os.path.join(root, "segments.csv"), "w", newline="") as f:
    wr = csv.writer(f)
    wr.writerow([cols["clip_id"], cols["segment_start"], cols["segment_end"],
                 cols["segment_label"]])
    for c in clips:
      for s, e, label in c["segments"]:
        wr.writerow([c["clip_id"], s, e, label])
  if workers:
    with open(os.path.join(root, "workers.csv"), "w", newline="") as f:
      wr = csv.DictWriter(f, fieldnames=list(workers[0]))
      wr.writeheader()
      wr.writerows(workers)
  if classes is not None:
    with open(os.path.join(root, "labels.json"), "w") as f:
      json.dump({"classes": list(classes)}, f)
  return root


def still_imu(seconds: float, rate: float, seed: int = 0):
  """A plausible IMU stream (gravity, small motion) for hand-written clips."""
  rng = np.random.default_rng(seed)
  t = np.round(np.arange(int(seconds * rate)) * 1e6 / rate).astype(np.int64)
  v = rng.normal(0, 0.2, (t.size, 6))
  v[:, 2] += 9.81
  return t, v
