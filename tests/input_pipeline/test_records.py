"""Window record schema: tfds encoding, fast proto decoding, shard I/O."""

import pickle

import numpy as np
import pytest

from egoimu_jax.input_pipeline.store import record_table
from egoimu_jax.input_pipeline.store import records
from egoimu_jax.input_pipeline.store import shard_io

CLASSES = ("working", "break", "not_on_person")


def _example(i, length=20):
  rng = np.random.default_rng(i)
  return {"window_id": records.window_id(f"clip{i}", i * 5_000_000),
          "worker_id": f"w{i % 3}", "clip_id": f"clip{i}",
          "t0_us": i * 5_000_000, "label": i % 3,
          "purity": np.float32(0.5 + i / 100),
          "imu": rng.normal(size=(length, 6)).astype(np.float32)}


def test_window_id_format():
  assert records.window_id("c/1", 65_432_999) == "c/1/00065432"


def test_fast_decode_matches_tfds_decode():
  features = records.window_features(CLASSES, 20)
  examples = [_example(i) for i in range(5)]
  serialized = [records.encode(features, e) for e in examples]
  imu = records.decode_tensor_batch(serialized, "imu", np.float32, (20, 6))
  np.testing.assert_array_equal(imu, np.stack([e["imu"] for e in examples]))
  assert records.decode_text_batch(serialized, "window_id") == [
      e["window_id"] for e in examples]
  for s, e in zip(serialized, examples):
    decoded = features.deserialize_example_np(s)
    np.testing.assert_array_equal(decoded["imu"], e["imu"])
    assert decoded["label"] == e["label"] and decoded["t0_us"] == e["t0_us"]
    assert decoded["clip_id"] == e["clip_id"].encode()


def test_encode_is_deterministic_and_validates():
  features = records.window_features(CLASSES, 20)
  assert records.encode(features, _example(1)) == records.encode(
      features, _example(1))
  bad = _example(1)
  bad["imu"] = bad["imu"][:10]
  with pytest.raises(ValueError, match="Shape"):
    records.encode(features, bad)


def test_decode_rejects_wrong_size():
  features = records.window_features(CLASSES, 20)
  serialized = [records.encode(features, _example(0))]
  with pytest.raises(ValueError, match="expected"):
    records.decode_tensor_batch(serialized, "imu", np.float32, (21, 6))


def test_shard_reader_batched_reads(tmp_path):
  paths = []
  for s in range(2):
    writer = shard_io.ShardWriter(str(tmp_path / f"s{s}"))
    for i in range(10):
      writer.write(f"{s}:{i}".encode())
    writer.close()
    paths.append(str(tmp_path / f"s{s}"))
  assert not list(tmp_path.glob("*.tmp*"))
  reader = pickle.loads(pickle.dumps(shard_io.ShardReader(paths)))
  shards = np.array([1, 0, 1, 1, 0, 1])
  offsets = np.array([3, 9, 4, 4, 0, 5])  # duplicates and a run
  assert reader.read(shards, offsets) == [
      f"{s}:{o}".encode() for s, o in zip(shards, offsets)]
  assert reader.read(np.array([0, 0, 0]), np.array([2, 3, 4])) == [
      b"0:2", b"0:3", b"0:4"]


def test_aborted_writer_leaves_no_shard(tmp_path):
  writer = shard_io.ShardWriter(str(tmp_path / "s"))
  writer.write(b"x")
  writer.abort()
  assert not list(tmp_path.iterdir())


def test_npz_bytes_are_deterministic(tmp_path):
  arrays = {"a": np.arange(5), "b": np.ones(3, np.float32)}
  record_table.save_npz(str(tmp_path / "1.npz"), arrays)
  record_table.save_npz(str(tmp_path / "2.npz"), dict(reversed(arrays.items())))
  assert (tmp_path / "1.npz").read_bytes() == (tmp_path / "2.npz").read_bytes()
  with np.load(tmp_path / "1.npz") as npz:
    np.testing.assert_array_equal(npz["a"], arrays["a"])
