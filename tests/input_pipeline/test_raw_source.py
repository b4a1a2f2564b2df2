"""A new raw layout is one ``RawSource`` subclass plus one ``RAW_SOURCES`` line.

The toy layout here shares nothing with ``index_csv`` but the clip files'
IMU readers: one ``clips.json`` lists every clip (worker, one label for the
whole clip, a ``.npy`` IMU file and its rate). ``prepare.ensure`` reaches it
through ``data.layout`` alone.
"""

import hashlib
import json
import os

import numpy as np
import pytest

import raw_testlib as lib
import storage_testlib
from egoimu_jax import config_lib
from egoimu_jax import errors
from egoimu_jax.input_pipeline import fs
from egoimu_jax.input_pipeline import prepare
from egoimu_jax.input_pipeline.prepare import plan as prepare_plan
from egoimu_jax.input_pipeline.raw import ingest
from egoimu_jax.input_pipeline.raw import source
from egoimu_jax.input_pipeline.store import manifest as manifest_lib

CLASSES = ("lift", "carry")


@source.RAW_SOURCES.register("toy_clip_list")
class ClipListSource(source.RawSource):
  """``clips.json``: {"classes": [...], "clips": [{clip, worker, label, imu,
  rate_hz, seconds}]}; each clip one label segment over its whole length."""

  def __init__(self, root, spec, digest):
    self.root = root
    self.classes = tuple(spec["classes"])
    self._clips = spec["clips"]
    self.rows = [source.ClipRow(i, c["clip"], c["worker"], "", c["imu"], {})
                 for i, c in enumerate(self._clips)]
    self.workers = {r.worker_id: {} for r in self.rows}
    self._digest = digest

  @classmethod
  def open(cls, root, data_cfg):
    data = fs.read_bytes(fs.join(root, "clips.json"))
    return cls(root, json.loads(data), hashlib.sha256(data).hexdigest())

  def fingerprint(self):
    return self._digest

  def work_units(self):
    return [[r.row for r in self.rows[i:i + 2]]
            for i in range(0, len(self.rows), 2)]

  def ingest(self, rows, data_cfg, store_frames):
    for i in rows:
      c = self._clips[i]
      yield ingest.ingest_clip(ingest.ClipSource(
          clip_id=c["clip"], worker_id=c["worker"],
          imu_path=fs.join(self.root, c["imu"]),
          meta={"imu_rate_hz": c["rate_hz"]},
          seg_start_us=np.array([0], np.int64),
          seg_end_us=np.array([round(c["seconds"] * 1e6)], np.int64),
          seg_label=np.array([self.classes.index(c["label"])], np.int32),
          segments_path=fs.join(self.root, "clips.json")),
          data_cfg, len(self.classes), store_frames(c["clip"]))


def _toy_dataset(root, seconds=(12.0, 7.0, 16.0, 5.5)):
  """Clips of ``seconds`` (5 s windows: 2, 1, 3, 1) plus one missing file."""
  os.makedirs(os.path.join(root, "imu"))
  clips = []
  for i, s in enumerate(seconds):
    _, values = lib.still_imu(s, 50.0, seed=i)
    path = f"imu/c{i}.npy"
    np.save(os.path.join(root, path), values)
    clips.append(dict(clip=f"c{i}", worker=f"w{i % 2}", label=CLASSES[i % 2],
                      imu=path, rate_hz=50.0, seconds=s))
  clips.append(dict(clip="gone", worker="w0", label="lift",
                    imu="imu/gone.npy", rate_hz=50.0, seconds=10.0))
  with open(os.path.join(root, "clips.json"), "w") as f:
    json.dump({"classes": list(CLASSES), "clips": clips}, f)
  return str(root)


def test_a_registered_toy_source_prepares_through_data_layout(tmp_path):
  root = _toy_dataset(tmp_path / "toy")
  cfg = storage_testlib.data_config(window_seconds=5.0, num_shards=2)
  cfg.update(layout="toy_clip_list", raw_dir=root,
             cache_dir=str(tmp_path / "cache"))
  out = prepare.ensure(cfg)
  m = manifest_lib.load(out)
  assert m["classes"] == list(CLASSES)
  assert m["num_rows"] == 5 and m["num_quarantined"] == 1
  assert m["counts"]["per_worker"] == {"w0": 2 + 3, "w1": 1 + 1}
  assert m["num_records"] == 7
  (quarantined,) = manifest_lib.read_quarantine(out)
  assert quarantined["clip_id"] == "gone"
  assert "gone.npy" in quarantined["reason"]
  assert prepare_plan.load(out).raw_root == root
  # The same source, opened by name, is what ensure fingerprinted.
  assert source.open_source(root, cfg).fingerprint() == m["raw_fingerprint"]


def test_unknown_layout_is_a_user_error_listing_the_known_ones(tmp_path):
  cfg = config_lib.data_config()
  cfg.layout = "parquet"
  with pytest.raises(errors.UserError,
                     match=r"config.data.layout: unknown raw source 'parquet'"
                     r"; known: .*index_csv, memory"):
    source.open_source(str(tmp_path), cfg)


def test_memory_source_is_not_reopened(tmp_path):
  """Its plan records no root, so teachers never try to read its videos."""
  cfg = config_lib.data_config()
  cfg.layout = "memory"
  with pytest.raises(errors.UserError, match="prepare\\(..., dataset=source\\)"):
    source.open_source("memory", cfg)
  out = storage_testlib.prepare_memory(tmp_path / "out",
                                       storage_testlib.memory_clips())
  assert prepare_plan.load(out).raw_root == ""
