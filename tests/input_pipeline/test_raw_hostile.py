"""Hand-made hostile clips (issue 23, round 2): each is quarantined naming
its file, never a traceback, a hang or a silently wrong value.

Tar samples with complex or text arrays and json with null or text where a
number belongs, links inside tars and tars reached through a symlink
leaving the root, clip files that data.verify cannot stat or read, and
deg/s gyros turning about gravity. A storage that cannot be reached is
no bad clip: it stops the run (``storage_errors``), never a quarantine.
"""

import csv
import io
import json
import os
import tarfile

import fsspec
import fsspec.implementations.memory
import numpy as np
import pytest

import raw_testlib as lib
from egoimu_jax import config_lib
from egoimu_jax import errors
from egoimu_jax.input_pipeline import fs
from egoimu_jax.input_pipeline.raw import index_csv
from egoimu_jax.input_pipeline.raw import ingest
from egoimu_jax.input_pipeline.raw import storage_errors
from egoimu_jax.input_pipeline.raw import webdataset


def _npy(arr) -> bytes:
  buf = io.BytesIO()
  np.save(buf, arr)
  return buf.getvalue()


def _tar_dataset(root, samples, *, tar_name="shards/s.tar", links=()):
  """A WebDataset-variant dataset: ``samples`` = [(key, imu array, json)].

  ``links``: (member name, target, kind "sym" | "hard") members added.
  """
  os.makedirs(os.path.join(root, os.path.dirname(tar_name)), exist_ok=True)
  members = []
  for key, arr, meta in samples:
    members.append((f"{key}.imu.npy", _npy(arr)))
    if meta is not None:
      members.append((f"{key}.json", meta if isinstance(meta, bytes)
                      else json.dumps(meta).encode()))
  webdataset.write_tar(os.path.join(root, tar_name), members)
  if links:
    with tarfile.open(os.path.join(root, tar_name), "a") as tar:
      for name, target, kind in links:
        info = tarfile.TarInfo(name)
        info.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
        info.linkname = target
        tar.addfile(info)
  keys = [s[0] for s in samples] + [
      webdataset.split_key(n)[0] for n, _, _ in links]
  cols = config_lib.data_config().columns
  with open(os.path.join(root, "index.csv"), "w", newline="") as f:
    wr = csv.writer(f)
    wr.writerow([cols["clip_id"], cols["worker_id"], cols["video"],
                 cols["imu"]])
    for key in keys:
      wr.writerow([key, "w1", "", f"{tar_name}#{key}.imu.npy"])
  with open(os.path.join(root, "segments.csv"), "w", newline="") as f:
    wr = csv.writer(f)
    wr.writerow([cols["clip_id"], cols["segment_start"],
                 cols["segment_end"], cols["segment_label"]])
    for key in keys:
      wr.writerow([key, 0, 11, "working"])
  with open(os.path.join(root, "labels.json"), "w") as f:
    json.dump({"classes": ["working", "idle"]}, f)
  return root


def _imu(seconds=11.0, rate=50.0):
  _, v = lib.still_imu(seconds, rate)
  return v


def _quarantined(res, clip_id, *patterns):
  q = res[clip_id]
  assert isinstance(q, ingest.Quarantined), (clip_id, q)
  for p in patterns:
    assert p in q.reason, (clip_id, q.reason)
  return q


# ----------------------------------------------------------- array dtypes
def test_arrays_that_are_not_real_numbers_are_quarantined(tmp_path):
  v = _imu()
  rate = {"imu_rate_hz": 50.0}
  root = _tar_dataset(str(tmp_path / "ds"), [
      ("ok", v, rate), ("cplx", v + 1j * v, rate),
      ("flags", v > 0, rate), ("text", v.astype(str), rate)])
  res = lib.ingest_all(root)
  assert isinstance(res["ok"], ingest.ClipWindows)
  q = _quarantined(res, "cplx", "complex", "imaginary part")
  assert q.path.endswith("s.tar#cplx.imu.npy")
  _quarantined(res, "flags", "bool")
  _quarantined(res, "text", "text")


def test_an_npy_header_claiming_more_than_the_file_holds(tmp_path):
  data = _npy(_imu())
  header = io.BytesIO()
  np.lib.format.write_array_header_1_0(
      header, {"descr": "<f8", "fortran_order": False, "shape": (10**11, 6)})
  bogus = header.getvalue() + data[128:]
  root = _tar_dataset(str(tmp_path / "ds"), [("big", _imu(), None)])
  members = [("big.imu.npy", bogus), ("big.json", b'{"imu_rate_hz": 50}')]
  webdataset.write_tar(os.path.join(root, "shards/s.tar"), members)
  _quarantined(lib.ingest_all(root), "big", "header claims shape")


# ------------------------------------------------------ sample json values
@pytest.mark.parametrize("meta, says", [
    ({"imu_rate_hz": None}, "'imu_rate_hz' is null"),
    ({"imu_rate_hz": "50"}, "'imu_rate_hz' is str '50'"),
    ({"imu_rate_hz": 0}, "> 0"),
    ({"imu_rate_hz": 1e-300}, "outside"),
    (b'{"imu_rate_hz": NaN}', "finite"),
    ({"imu_rate_hz": 50.0, "imu_t0_us": "soon"}, "'imu_t0_us' is str"),
    ({"imu_rate_hz": 50.0, "imu_t0_us": [1]}, "'imu_t0_us' is list"),
    ({"imu_t_us": None}, "'imu_t_us' is null"),
    ({"imu_t_us": [0, 20000, None] + [0] * 547}, "'imu_t_us'[2] is null"),
    ({"imu_t_us": ["0"] * 550}, "'imu_t_us'[0] is str"),
    ({"imu_t_us": [10**30] * 550}, "'imu_t_us'[0]"),
])
def test_malformed_json_values_quarantine_the_clip(tmp_path, meta, says):
  root = _tar_dataset(str(tmp_path / "ds"), [
      ("ok", _imu(), {"imu_rate_hz": 50.0}), ("bad", _imu(), meta)])
  res = lib.ingest_all(root)
  assert isinstance(res["ok"], ingest.ClipWindows)
  q = _quarantined(res, "bad", says)
  assert q.path.endswith("s.tar#bad.json")


# ------------------------------------------------------------ links and root
def test_link_members_inside_a_tar_are_named_and_never_followed(tmp_path):
  root = _tar_dataset(str(tmp_path / "ds"), [
      ("ok", _imu(), {"imu_rate_hz": 50.0})], links=[
          ("sym.imu.npy", "../../../etc/passwd", "sym"),
          ("hard.imu.npy", "ok.imu.npy", "hard")])
  res = lib.ingest_all(root)
  assert isinstance(res["ok"], ingest.ClipWindows)
  _quarantined(res, "sym", "a symlink to '../../../etc/passwd'", "not followed")
  _quarantined(res, "hard", "a hard link to 'ok.imu.npy'")


def test_a_tar_reached_through_a_symlink_leaving_the_root(tmp_path):
  outside = tmp_path / "outside"
  root = _tar_dataset(str(outside), [("a", _imu(), {"imu_rate_hz": 50.0})])
  ds = _tar_dataset(str(tmp_path / "ds"), [
      ("a", _imu(), {"imu_rate_hz": 50.0})])
  os.remove(os.path.join(ds, "shards", "s.tar"))
  os.symlink(os.path.join(root, "shards", "s.tar"),
             os.path.join(ds, "shards", "s.tar"))
  _quarantined(lib.ingest_all(ds), "a", "leads outside the dataset root")
  cfg = config_lib.data_config()
  cfg.allow_paths_outside_root = True
  assert isinstance(lib.ingest_all(ds, cfg)["a"], ingest.ClipWindows)


def test_a_tar_that_is_a_fifo_is_quarantined_not_read(tmp_path):
  ds = _tar_dataset(str(tmp_path / "ds"), [
      ("a", _imu(), {"imu_rate_hz": 50.0})])
  tar = os.path.join(ds, "shards", "s.tar")
  os.remove(tar)
  os.mkfifo(tar)  # reading it would block prepare forever
  _quarantined(lib.ingest_all(ds), "a", "a FIFO")


# --------------------------------------------------- data.verify=stat|hash
@pytest.mark.parametrize("verify", ["stat", "hash"])
def test_verify_records_clip_files_it_cannot_read(tmp_path, verify):
  root = lib.write_dataset(str(tmp_path / "ds"), [
      dict(clip_id=c, worker_id="w1", t_us=lib.still_imu(11, 50)[0],
           values=lib.still_imu(11, 50)[1], segments=[(0, 11, "working")])
      for c in ("ok", "dir", "loop", "fifo")])
  imu = os.path.join(root, "imu")
  os.remove(os.path.join(imu, "dir.jsonl"))
  os.mkdir(os.path.join(imu, "dir.jsonl"))
  os.remove(os.path.join(imu, "loop.jsonl"))
  os.symlink("loop.jsonl", os.path.join(imu, "loop.jsonl"))
  os.remove(os.path.join(imu, "fifo.jsonl"))
  os.mkfifo(os.path.join(imu, "fifo.jsonl"))
  cfg = config_lib.data_config()
  cfg.verify = verify
  src = index_csv.IndexCsvSource.open(root, cfg)
  before = src.fingerprint()  # aborted (dir, loop) or hung (fifo) before
  res = lib.ingest_all(root, cfg)
  assert isinstance(res["ok"], ingest.ClipWindows)
  _quarantined(res, "dir", "a directory")
  _quarantined(res, "loop", "cannot read")
  _quarantined(res, "fifo", "a FIFO")
  # Fixing a clip changes the fingerprint: the prepared set is not reused.
  os.rmdir(os.path.join(imu, "dir.jsonl"))
  os.symlink("../imu/ok.jsonl", os.path.join(imu, "dir.jsonl"))
  assert index_csv.IndexCsvSource.open(root, cfg).fingerprint() != before


def test_verify_hash_records_a_file_it_may_not_read(tmp_path, monkeypatch):
  from egoimu_jax.input_pipeline.raw import fingerprint
  root = lib.write_dataset(str(tmp_path / "ds"), [
      dict(clip_id="a", worker_id="w1", t_us=lib.still_imu(11, 50)[0],
           values=lib.still_imu(11, 50)[1], segments=[(0, 11, "working")])])
  path = os.path.join(root, "imu", "a.jsonl")
  real_access = os.access
  # chmod 000 does not stop root (the tests may run as root): os.access
  # says what a normal user's process would see.
  monkeypatch.setattr(fingerprint.os, "access",
                      lambda p, m: p != path and real_access(p, m))
  assert fingerprint.files_digest([path], "hash") != (
      fingerprint.files_digest([path + ".x"], "hash"))
  assert fingerprint._content_hash(path).startswith("unreadable")


# ------------------------------------------------- deg/s about gravity (yaw)
def _yawing(t_s, rate_rad_s, turns=()):
  """Upright sensor turning about gravity: the accelerometer sees nothing.

  ``rate_rad_s``: a slow sway's amplitude; ``turns``: (start s, length s,
  rate rad/s) quick turns on top.
  """
  rng = np.random.default_rng(0)
  out = rng.normal(0, 0.003, (t_s.size, 6))  # a MEMS gyro's noise, rad/s
  out[:, :3] = rng.normal(0, 0.02, (t_s.size, 3))
  out[:, 2] += 9.81
  out[:, 5] += rate_rad_s * np.sin(2 * np.pi * 0.3 * t_s)
  for start, length, rate in turns:
    out[(t_s >= start) & (t_s < start + length), 5] += rate
  return out


@pytest.mark.parametrize("sway, turns", [
    (0.4, ()),                      # walking about: half the clip > 8 "rad/s"
    (0.05, [(10.0, 0.4, 1.6)]),     # still, one quick 90 deg/s turn
])
def test_deg_per_s_gyro_turning_about_gravity_is_caught(sway, turns):
  from egoimu_jax.input_pipeline.raw import imu_resample
  t = np.round(np.arange(0, 20, 1 / 100) * 1e6).astype(np.int64)
  y = _yawing(t / 1e6, sway, turns)
  deg = y * np.repeat([1.0, 180 / np.pi], 3)
  assert np.quantile(np.abs(deg[:, 3:]), 0.99) < 35.0  # the p99 bound misses
  imu_resample.clean(t, y)  # rad/s passes
  with pytest.raises(ValueError, match="gyro looks like deg/s"):
    imu_resample.clean(t, deg)
  c = imu_resample.clean(t, deg, gyro_unit="deg/s")
  np.testing.assert_allclose(c.values, y, rtol=1e-12)


def test_a_gyro_spike_is_no_unit_error():
  """One glitched sample beyond 2000 deg/s is a spike, not deg/s."""
  from egoimu_jax.input_pipeline.raw import imu_resample
  t = np.round(np.arange(0, 20, 1 / 100) * 1e6).astype(np.int64)
  y = _yawing(t / 1e6, 0.3)
  y[1000:1005, 5] = 300.0  # 50 ms at 17,000 deg/s about gravity
  imu_resample.clean(t, y)


# ------------------------------------------------------ bad segment rows
def test_bad_segment_rows_quarantine_only_their_clip(tmp_path):
  from egoimu_jax.input_pipeline import prepare
  clips = []
  for i, segs in enumerate([
      [(0, 11, "working")],
      [(0, 5, "working"), (5, 11, "Working")],    # a label not in labels.json
      [(0, "five", "working")],                   # text for a time
      [(0, 5, "working"), (5, "", "working")]]):  # an empty cell
    t, v = lib.still_imu(11, 50, seed=i)
    clips.append(dict(clip_id=f"c{i}", worker_id=f"w{i % 2}", t_us=t,
                      values=v, segments=segs))
  root = lib.write_dataset(str(tmp_path / "ds"), clips,
                           classes=["working", "idle"])
  cfg = config_lib.data_config()
  cfg.prepare.num_processes = 1
  cfg.prepare.num_shards = 1
  out = prepare.prepare(cfg, root, str(tmp_path / "p"))
  with open(os.path.join(out, "quarantine.csv")) as f:
    reasons = {r["clip_id"]: r["reason"] for r in csv.DictReader(f)}
  assert set(reasons) == {"c1", "c2", "c3"}
  assert "segments.csv: clip c1: line 4: label 'Working'" in reasons["c1"]
  assert "'five'" in reasons["c2"] and "start/end must be seconds" in reasons["c2"]
  assert "line 7" in reasons["c3"]


# ------------------------------------------ unreachable storage (fsspec URL)
class _FlakyFS(fsspec.implementations.memory.MemoryFileSystem):
  """memory:// whose reads of names containing a key of ``faults`` fail
  with its exception: at open (``info`` too) or, for "mid:" keys, after
  the first 512 bytes read."""
  protocol = "flaky"
  store, pseudo_dirs = {}, [""]
  faults = {}

  def _fault(self, path, mid):
    for key, error in self.faults.items():
      if key.startswith("mid:") == mid and key.removeprefix("mid:") in path:
        raise error

  def info(self, path, **kwargs):
    self._fault(path, mid=False)
    return super().info(path, **kwargs)

  def _open(self, path, mode="rb", **kwargs):
    self._fault(path, mid=False)
    f = super()._open(path, mode, **kwargs)
    if "r" not in mode:
      return f
    fault, data = self._fault, f.read()

    class Breaking(io.BytesIO):
      def read(self, n=-1):
        if self.tell() + (len(data) if n is None or n < 0 else n) > 512:
          fault(path, mid=True)
        return super().read(n)

    return Breaking(data)


@pytest.fixture
def flaky(tmp_path, monkeypatch):
  """``upload(local_root) -> url``, on the flaky:// file system."""
  fsspec.register_implementation("flaky", _FlakyFS, clobber=True)
  monkeypatch.setattr(_FlakyFS, "store", {})
  monkeypatch.setattr(_FlakyFS, "faults", {})

  def upload(root):
    url = "flaky://bucket/ds"
    for d, _, files in os.walk(root):
      for name in files:
        rel = os.path.relpath(os.path.join(d, name), root)
        with open(os.path.join(d, name), "rb") as f, fs.open_file(
            f"{url}/{rel}", "wb") as g:
          g.write(f.read())
    return url

  return upload


def _jsonl_clips(n=2):
  clips = []
  for i in range(n):
    t, v = lib.still_imu(11, 50, seed=i)
    clips.append(dict(clip_id=f"c{i}", worker_id=f"w{i}", t_us=t, values=v,
                      segments=[(0, 11, "working")]))
  return clips


def _http_503():
  gcsfs_retry = pytest.importorskip("gcsfs.retry")
  return gcsfs_retry.HttpError({"code": 503, "message": "Backend Error"})


_TRANSIENT = {
    "connection": lambda: ConnectionResetError(104, "Connection reset by peer"),
    "timeout": lambda: TimeoutError("read timed out"),
    "oserror": lambda: OSError("Network is unreachable"),
    "http503": _http_503,
}


@pytest.mark.parametrize("fault", sorted(_TRANSIENT))
def test_a_network_error_reading_a_clip_stops_the_run(tmp_path, flaky, fault):
  url = flaky(lib.write_dataset(str(tmp_path / "ds"), _jsonl_clips(),
                                classes=["working", "idle"]))
  _FlakyFS.faults["imu/c1.jsonl"] = _TRANSIENT[fault]()
  with pytest.raises(storage_errors.StorageUnreachable) as e:
    lib.ingest_all(url)
  message = errors.one_line(e.value)
  assert message.startswith(f"{url}/imu/c1.jsonl: could not be read")
  assert "not found" not in message


def test_a_network_error_inside_a_tar_stops_the_run(tmp_path, flaky):
  url = flaky(_tar_dataset(str(tmp_path / "ds"), [
      (f"k{i}", _imu(), {"imu_t0_us": 0}) for i in range(3)]))
  _FlakyFS.faults["mid:shards/s.tar"] = ConnectionResetError(
      104, "Connection reset by peer")
  with pytest.raises(storage_errors.StorageUnreachable, match="s.tar"):
    lib.ingest_all(url)
  _FlakyFS.faults.clear()  # a corrupt tar is the data's: quarantined
  with fs.open_file(f"{url}/shards/s.tar", "wb") as f:
    f.write(b"\0" * 100 + b"not a tar" * 500)
  res = lib.ingest_all(url)
  assert all(isinstance(r, ingest.Quarantined) for r in res.values())


def test_an_unreachable_dataset_file_is_not_reported_missing(tmp_path, flaky):
  url = flaky(lib.write_dataset(str(tmp_path / "ds"), _jsonl_clips(),
                                classes=["working", "idle"]))
  _FlakyFS.faults["labels.json"] = TimeoutError("timed out")
  with pytest.raises(storage_errors.StorageUnreachable,
                     match=r"labels\.json: could not be read"):
    index_csv.IndexCsvSource.open(url, config_lib.data_config())


def test_a_missing_or_forbidden_remote_clip_is_still_quarantined(tmp_path,
                                                                  flaky):
  url = flaky(lib.write_dataset(str(tmp_path / "ds"), _jsonl_clips(3),
                                classes=["working", "idle"]))
  _FlakyFS.faults["imu/c1.jsonl"] = FileNotFoundError("imu/c1.jsonl")
  _FlakyFS.faults["imu/c2.jsonl"] = PermissionError(13, "Forbidden")
  res = lib.ingest_all(url)
  assert isinstance(res["c0"], ingest.ClipWindows)
  _quarantined(res, "c1", "file not found")
  _quarantined(res, "c2", "Forbidden")


def test_prepare_with_an_unreachable_clip_leaves_no_complete_set(tmp_path,
                                                                 flaky):
  from egoimu_jax.input_pipeline import prepare
  from egoimu_jax.input_pipeline.store import manifest
  url = flaky(lib.write_dataset(str(tmp_path / "ds"), _jsonl_clips(),
                                classes=["working", "idle"]))
  _FlakyFS.faults["imu/c0.jsonl"] = ConnectionError("connection refused")
  cfg = config_lib.data_config()
  cfg.prepare.num_processes = 1
  cfg.prepare.num_shards = 1
  out = str(tmp_path / "p")
  with pytest.raises(storage_errors.StorageUnreachable):
    prepare.prepare(cfg, url, out)
  assert not manifest.is_complete(out)
  _FlakyFS.faults.clear()  # reachable again: the rerun uses every clip
  prepare.prepare(cfg, url, out)
  with open(os.path.join(out, "quarantine.csv")) as f:
    assert not list(csv.DictReader(f))


# ------------------------------------------------- clocks named, not "gap"
def _clock_said(tmp_path, t_us, seconds=11):
  """What ingest says of a one-clip dataset: (used?, text without paths)."""
  _, v = lib.still_imu(len(t_us) / 50, 50)
  root = lib.write_dataset(str(tmp_path / "ds"), [dict(
      clip_id="c", worker_id="w", t_us=np.asarray(t_us), values=v,
      segments=[(0, seconds, "working")])], classes=["working", "idle"])
  res = lib.ingest_all(root)["c"]
  used = isinstance(res, ingest.ClipWindows)
  said = " ".join(res.warnings) if used else res.reason
  return used, said.replace(root, "<root>")


def test_rows_in_milliseconds_among_microseconds_are_named(tmp_path):
  # 5 s written in ms (lines 1..250), then 11 s in µs.
  ms = np.arange(250) * 20
  us = (5000 + np.arange(550) * 20) * 1000
  _, said = _clock_said(tmp_path, np.concatenate([ms, us]), seconds=16)
  assert "t_us looks like milliseconds in lines 1..250" in said, said


def test_a_switch_to_milliseconds_is_named(tmp_path):
  us = np.arange(550) * 20_000
  ms = 11_000 + np.arange(250) * 20  # the clock goes on, in ms
  used, said = _clock_said(tmp_path, np.concatenate([us, ms]))
  assert not used and "line 551" in said and "milliseconds" in said, said


def test_a_clock_restart_is_named(tmp_path):
  t = np.arange(550) * 20_000
  used, said = _clock_said(tmp_path, np.concatenate([t, t[:300]]))
  assert not used and "line 551" in said and "clock restarts" in said, said


def test_an_uptime_clock_without_offset_is_named(tmp_path):
  # 11 s recorded 25 min after the device booted; no imu_t0_us in the index.
  used, said = _clock_said(tmp_path, 1_500_000_000 + np.arange(550) * 20_000)
  assert not used, said
  for part in ("starts 1500 s after clip time 0", "uptime", "imu_t0_us"):
    assert part in said, said
