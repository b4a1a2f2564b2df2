"""data.imu.rate_hz=0: prepare keeps the dataset's native rate."""

import json
import os

import pytest

from egoimu_jax import config_lib
from egoimu_jax.input_pipeline import prepare
from egoimu_jax.input_pipeline.prepare import native_rate
from egoimu_jax.input_pipeline.raw import dataset_json
from egoimu_jax.input_pipeline.raw import ingest
from egoimu_jax.input_pipeline.store import manifest as manifest_lib
from egoimu_jax.input_pipeline.synthetic import defaults

import raw_testlib


def _dataset(root, rate=50.0, seconds=12.0, declared=None):
  clips = []
  for w in range(2):
    t, v = raw_testlib.still_imu(seconds, rate, seed=w)
    clips.append(dict(clip_id=f"c{w}", worker_id=f"w{w}", t_us=t, values=v,
                      segments=[(0.0, seconds, defaults.PILOT_CLASSES[0])]))
  raw_testlib.write_dataset(str(root), clips)
  if declared is not None:
    with open(os.path.join(root, "dataset.json"), "w") as f:
      json.dump({"rate_hz": declared}, f)
  return str(root)


def _prepare(root, out, rate_hz, window_seconds=5.0):
  cfg = config_lib.data_config()
  cfg.imu.update(rate_hz=rate_hz, window_seconds=window_seconds)
  cfg.prepare.update(num_shards=1, num_processes=1)
  prepare.prepare(cfg, root, str(out))
  return manifest_lib.load(str(out))


def test_native_rate_measured_from_the_timestamps(tmp_path):
  root = _dataset(tmp_path / "raw")
  m = _prepare(root, tmp_path / "out", 0.0)
  assert m["rate_hz"] == 50.0 and m["window_length"] == 250
  assert m["rate_source"] == "measured: c0"
  m = _prepare(root, tmp_path / "out128", 0.0, window_seconds=2.56)
  assert m["window_length"] == 128
  # The default still resamples to 200 Hz, and says so.
  m = _prepare(root, tmp_path / "out200", 200.0)
  assert (m["rate_hz"], m["window_length"], m["rate_source"]) == (
      200.0, 1000, "config")


def test_declared_rate_wins_and_is_validated(tmp_path):
  root = _dataset(tmp_path / "raw", declared=50)
  m = _prepare(root, tmp_path / "out", 0.0)
  assert (m["rate_hz"], m["rate_source"]) == (50.0, "dataset.json")
  with open(os.path.join(root, "dataset.json"), "w") as f:
    json.dump({"rate_hz": "fast"}, f)
  with pytest.raises(ingest.IngestError, match="dataset.json: rate_hz"):
    dataset_json.read(root)


def test_unmeasurable_rate_is_one_line():
  class NoClip:
    root = "raw"
    rows = [0]
    declared_rate_hz = 0.0

    def ingest(self, rows, cfg, store_frames):
      yield ingest.Quarantined("c", "w", "c.jsonl", "c.jsonl: broken")

  cfg = config_lib.data_config()
  cfg.imu.rate_hz = 0.0
  with pytest.raises(native_rate.NativeRateError, match="declare rate_hz"):
    native_rate.resolve(NoClip(), cfg)
  cfg.imu.rate_hz = -1.0
  with pytest.raises(native_rate.NativeRateError, match="negative"):
    native_rate.resolve(NoClip(), cfg)

