"""tensorflow-datasets reads our shard sets without TensorFlow."""

import subprocess
import sys
import textwrap

import pytest

import storage_testlib as lib


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  clips = lib.memory_clips(num_workers=3, clips_per_worker=2,
                           frames_shape=(2, 4, 4, 3))
  config = lib.data_config(num_shards=3, store_frames=True,
                           frames_per_window=2, size=4)
  return lib.prepare_memory(tmp_path_factory.mktemp("p"), clips, config)


def test_tfds_reads_windows_and_frames_without_tensorflow(data):
  """In a fresh interpreter, so no other test's imports count."""
  script = textwrap.dedent(f"""
    import sys
    import numpy as np
    import tensorflow_datasets as tfds
    from egoimu_jax.input_pipeline.store import processed, tfds_format
    out = {str(data)!r}
    ds = processed.ProcessedDataset.open(out)
    src = tfds.data_source("egoimu/windows", data_dir=out, split="full")
    assert len(src) == len(ds), (len(src), len(ds))
    assert ds.manifest["tfds"] == {{"name": "egoimu/windows", "split": "full",
                                   "data_dir": "."}}
    ours = ds.read(np.arange(len(ds)), ("imu", "label", "window_id",
                                         "worker_id", "t0_us"))
    for i in range(len(ds)):
      ex = src[i]
      np.testing.assert_array_equal(ex["imu"], ours["imu"][i])
      assert ex["label"] == ours["label"][i]
      assert ex["window_id"].decode() == ours["window_id"][i]
      assert ex["worker_id"].decode() == ours["worker_id"][i]
      assert ex["t0_us"] == ours["t0_us"][i]
    builder = tfds.builder_from_directory(
        tfds_format.shard_set_dir(out, "windows"))
    assert builder.info.features["label"].names == list(ds.classes)
    assert builder.info.splits["full"].num_examples == len(ds)
    frames = tfds_format.data_source(out, "frames")
    has = np.flatnonzero(ds.table.frames_offset >= 0)
    assert len(frames) == len(has)
    ex = frames[0]
    np.testing.assert_array_equal(
        ex["frames"], ds.read(has[:1], ("frames",))["frames"][0])
    assert "tensorflow" not in sys.modules
    print("ok")
  """)
  result = subprocess.run([sys.executable, "-c", script], capture_output=True,
                          text=True)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip().endswith("ok")


def test_tfds_feeds_grain(data):
  import grain  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline.store import tfds_format  # pylint: disable=g-import-not-at-top
  src = tfds_format.data_source(str(data))
  batches = list(grain.MapDataset.source(src).batch(4))
  assert sum(len(b["label"]) for b in batches) == len(src)
  assert batches[0]["imu"].shape == (4, 100, 6)
