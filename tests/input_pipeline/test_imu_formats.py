"""IMU readers keyed by file suffix: lookup, compression, and a new format
added as one reader plus one registry entry."""

import csv
import gzip
import io
import os

import numpy as np
import pytest

import raw_testlib as lib
from egoimu_jax.input_pipeline.raw import imu_formats
from egoimu_jax.input_pipeline.raw import imu_jsonl
from egoimu_jax.input_pipeline.raw import ingest


def test_format_by_suffix_and_compression():
  assert imu_formats.format_of("a/B.JSONL") == ".jsonl"
  assert imu_formats.format_of("x.imu.jsonl.gz") == ".jsonl"
  assert imu_formats.format_of("shard.tar#k.imu.npy") == ".npy"
  with pytest.raises(ValueError, match=r"x\.csv.*\.jsonl, \.ndjson, \.npy"):
    imu_formats.format_of("x.csv")


def test_gzip_is_undone_for_every_format_and_bad_gzip_is_named():
  t, v = lib.still_imu(2.0, 100.0)
  data = gzip.compress(imu_jsonl.dumps(t, v))
  stream = imu_formats.read(data, imu_formats.ImuSource("c.jsonl.gz"))
  np.testing.assert_array_equal(stream.t_us, t)
  np.testing.assert_allclose(stream.values, v, atol=1e-6)
  buf = io.BytesIO()
  np.save(buf, v.astype(np.float32))
  npy = imu_formats.read(gzip.compress(buf.getvalue()), imu_formats.ImuSource(
      "c.imu.npy.gz", meta={"imu_rate_hz": 100.0}))
  np.testing.assert_array_equal(npy.t_us, t)
  with pytest.raises(ValueError, match="bad gzip"):
    imu_formats.read(b"not gzip", imu_formats.ImuSource("c.jsonl.gz"))
  # gzip bytes under a name without .gz: said so (not "can't decode utf-8").
  with pytest.raises(ValueError, match=r"the file is gzip-compressed \(name "
                     r"it \.gz\), but its name says \.jsonl"):
    imu_formats.read(data, imu_formats.ImuSource("c.jsonl"))


def _read_csv(data: bytes, source):
  """A per-clip CSV reader (t_us, ax, ay, az, gx, gy, gz), as a user adds."""
  rows = np.loadtxt(io.StringIO(data.decode()), delimiter=",", skiprows=1)
  return imu_formats.ImuStream(rows[:, 0].astype(np.int64), rows[:, 1:], None)


def test_a_new_format_is_one_reader_and_one_entry(tmp_path, monkeypatch):
  t, v = lib.still_imu(12.0, 200.0)
  clip = dict(worker_id="w0", t_us=t, values=v, segments=[(0.0, 12.0, "working")])
  root = lib.write_dataset(str(tmp_path), [dict(clip, clip_id="a"),
                                           dict(clip, clip_id="b")])
  with open(os.path.join(root, "imu", "b.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["t_us", "ax", "ay", "az", "gx", "gy", "gz"])
    w.writerows([[int(ti), *vi] for ti, vi in zip(t, v)])
  index = open(os.path.join(root, "index.csv")).read()
  with open(os.path.join(root, "index.csv"), "w") as f:
    f.write(index.replace("imu/b.jsonl", "imu/b.csv"))

  before = lib.ingest_all(root)
  assert isinstance(before["b"], ingest.Quarantined)
  assert "unknown IMU file type" in before["b"].reason

  monkeypatch.setitem(imu_formats.READERS._entries, ".csv", _read_csv)  # pylint: disable=protected-access
  after = lib.ingest_all(root)
  a, b = after["a"], after["b"]
  assert isinstance(b, ingest.ClipWindows), getattr(b, "reason", "")
  np.testing.assert_allclose(b.imu, a.imu, atol=1e-5)
  np.testing.assert_array_equal(b.t0_us, a.t0_us)
