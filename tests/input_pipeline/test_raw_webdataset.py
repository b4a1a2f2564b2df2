"""WebDataset tar helpers: keys, member references, streaming reads, errors."""

import pytest

from egoimu_jax.input_pipeline.raw import webdataset


def test_keys_and_member_refs():
  assert webdataset.split_key("a/w01_c03.imu.npy") == ("a/w01_c03", "imu.npy")
  assert webdataset.split_key("w01_c03.mp4") == ("w01_c03", "mp4")
  assert webdataset.split_member_ref("shards/x.tar#k.mp4") == ("shards/x.tar", "k.mp4")
  assert webdataset.split_member_ref("gs://b/x.tar#d/k.json") == ("gs://b/x.tar", "d/k.json")
  assert webdataset.split_member_ref("clips/a#b.jsonl") is None
  assert webdataset.split_member_ref("clips/a.jsonl") is None


def test_write_then_read_samples_and_members(tmp_path):
  path = str(tmp_path / "s.tar")
  members = [("a.mp4", b"1"), ("a.imu.npy", b"22"), ("a.json", b"{}"),
             ("b.mp4", b"333"), ("b.json", b"[]")]
  webdataset.write_tar(path, members)
  first = (tmp_path / "s.tar").read_bytes()
  webdataset.write_tar(path, members)
  assert (tmp_path / "s.tar").read_bytes() == first  # deterministic bytes
  samples = list(webdataset.iter_samples(path))
  assert [k for k, _ in samples] == ["a", "b"]
  assert samples[0][1] == {"mp4": b"1", "imu.npy": b"22", "json": b"{}"}
  assert webdataset.read_members(path, ["b.json", "a.mp4", "zzz"]) == {
      "b.json": b"[]", "a.mp4": b"1"}


def test_truncated_tar_names_the_file(tmp_path):
  path = tmp_path / "t.tar"
  webdataset.write_tar(str(path), [("a.mp4", b"x" * 5000), ("b.mp4", b"y")])
  path.write_bytes(path.read_bytes()[:3000])
  with pytest.raises(ValueError, match=r"t.tar: unreadable tar"):
    webdataset.read_members(str(path), ["b.mp4"])
