"""Bad raw input must be refused, repaired with a record, or quarantined.

Every dataset here is written by hand (no defect injector): values that
overflow float32, ids in two Unicode normal forms, paths leaving the root,
stray segments and duplicate workers, repairs listed in repairs.csv,
misleading reasons, and clip files edited in place.
"""

import csv
import json
import os
import unicodedata

import numpy as np
import pytest

import raw_testlib as lib
from egoimu_jax import config_lib
from egoimu_jax.input_pipeline import prepare
from egoimu_jax.input_pipeline.prepare import plan as prepare_plan
from egoimu_jax.input_pipeline.raw import fingerprint
from egoimu_jax.input_pipeline.raw import imu_resample
from egoimu_jax.input_pipeline.raw import ingest
from egoimu_jax.input_pipeline.raw import index_csv
from egoimu_jax.input_pipeline.store import manifest as manifest_lib
from egoimu_jax.input_pipeline.synthetic import video as synthetic_video

NFC = unicodedata.normalize("NFC", "Jos\u00e9")
NFD = unicodedata.normalize("NFD", NFC)


def _clip(clip_id, worker_id, seconds=11.0, rate=50.0, seed=0, **kw):
  t, v = lib.still_imu(seconds, rate, seed=seed)
  return dict(clip_id=clip_id, worker_id=worker_id, t_us=t, values=v,
              segments=[(0, seconds, "working")], **kw)


def _config(**kw):
  cfg = config_lib.data_config()
  cfg.prepare.num_processes = 1
  cfg.prepare.num_shards = 2
  cfg.update(kw)
  return cfg


def _rewrite_imu(root, clip_id, edit):
  """Applies ``edit(list of JSONL lines) -> lines`` to a clip's IMU file."""
  path = os.path.join(root, "imu", f"{clip_id}.jsonl")
  with open(path, "rb") as f:
    lines = f.read().split(b"\n")[:-1]
  with open(path, "wb") as f:
    f.write(b"\n".join(edit(lines)) + b"\n")
  return path


def _set_acc(line: bytes, value: str) -> bytes:
  obj = json.loads(line)
  return (f'{{"t_us": {obj["t_us"]}, "acc": [{value}, {obj["acc"][1]}, '
          f'{obj["acc"][2]}], "gyro": {json.dumps(obj["gyro"])}}}').encode()


# ------------------------------------------------------------ float32 overflow
def test_values_beyond_float32_or_any_sensor_never_reach_the_windows(tmp_path):
  root = lib.write_dataset(str(tmp_path / "ds"), [
      _clip("few", "w1"), _clip("gyro", "w1", seed=1),
      _clip("many", "w2", seed=2)])

  def few(lines):
    for i in (40, 41, 300):
      lines[i] = _set_acc(lines[i], "1e39")  # finite in float64, inf in float32
    return lines

  def gyro(lines):
    obj = json.loads(lines[100])
    obj["gyro"][2] = 1e30
    lines[100] = json.dumps(obj).encode()
    return lines

  few_path = _rewrite_imu(root, "few", few)
  _rewrite_imu(root, "gyro", gyro)
  _rewrite_imu(root, "many", lambda ls: [
      _set_acc(l, "-1e30") if i % 4 == 0 else l for i, l in enumerate(ls)])
  res = lib.ingest_all(root)
  for clip in ("few", "gyro"):
    r = res[clip]
    assert isinstance(r, ingest.ClipWindows), r
    assert np.isfinite(r.imu).all() and np.abs(r.imu).max() < 100, clip
  assert res["few"].notes["dropped_impossible_values"] == 3
  assert res["gyro"].notes["dropped_impossible_values"] == 1
  assert any(few_path in w and "line 41" in w and "impossible" in w
             for w in res["few"].warnings), res["few"].warnings
  many = res["many"]
  assert isinstance(many, ingest.Quarantined)
  assert many.reason.startswith(many.path) and "many.jsonl" in many.path
  assert "impossible" in many.reason and "line 1" in many.reason


def test_clean_checks_magnitudes_whatever_the_declared_units():
  t, v = lib.still_imu(4.0, 100.0)
  v[10, 0] = 1e39
  v[20, 4] = -1e30
  for check_units in (True, False):
    c = imu_resample.clean(t, v, np.arange(1, t.size + 1),
                           check_units=check_units)
    assert c.notes == {"dropped_impossible_values": 2}
    assert np.isfinite(c.values.astype(np.float32)).all()
    assert "line 11" in c.warnings[0]
  out, _ = imu_resample.resample(c.t_us, c.values, c.t_us[:50], max_gap_us=1e5)
  assert np.isfinite(out).all()


# ----------------------------------------------------------- Unicode worker ids
def test_worker_ids_are_nfc_normalised_and_variants_warned(tmp_path):
  assert NFC != NFD
  root = lib.write_dataset(str(tmp_path / "ds"), [
      _clip("a", NFC), _clip("b", NFD, seed=1), _clip("c", " " + NFC, seed=2),
      _clip("d", "jos\u00e9", seed=3), _clip(NFD + "_c1", "w9", seed=4)],
      workers=[dict(worker_id=NFD, site="lab")])
  # The segment of the NFD clip id is written in NFC: still the same clip.
  path = os.path.join(root, "segments.csv")
  text = open(path, encoding="utf-8").read()
  with open(path, "w", encoding="utf-8") as f:
    f.write(text.replace(NFD + "_c1", NFC + "_c1"))
  cfg = _config()
  ds = index_csv.IndexCsvSource.open(root, cfg)
  assert [r.worker_id for r in ds.rows] == [NFC, NFC, NFC, "jos\u00e9", "w9"]
  assert ds.rows[4].clip_id == NFC + "_c1"
  assert ds.segments(NFC + "_c1")[0].size == 1
  assert sorted(ds.workers) == sorted([NFC, "jos\u00e9", "w9"])
  assert ds.workers[NFC] == {"site": "lab"}
  text = "\n".join(ds.warnings)
  assert "NFC" in text and ascii(NFD) in text and "index.csv" in text
  assert "surrounding spaces" in text
  assert "differ only in case" in text and ascii("jos\u00e9") in text
  assert ds.warning_counts["worker_id_spellings"] >= 3
  assert ds.warning_counts["worker_id_case"] == 1
  plan = prepare_plan.make_plan(ds, root, cfg)
  assert plan.workers == tuple(sorted([NFC, "jos\u00e9", "w9"]))
  out = prepare.prepare(cfg, root, str(tmp_path / "p"))
  m = manifest_lib.load(out)
  assert sorted(m["worker_clips"][NFC]) == ["a", "b", "c"]
  assert m["dataset_warning_counts"]["worker_id_case"] == 1
  assert any("differ only in case" in w for w in m["dataset_warnings"])


def test_clip_ids_equal_after_normalisation_are_duplicates(tmp_path):
  root = lib.write_dataset(str(tmp_path / "ds"), [
      _clip(NFC, "w1"), _clip(NFD, "w2", seed=1)])
  with pytest.raises(ingest.IngestError,
                     match=r"index.csv: clip_id .* on lines 2 and 3.*NFC"):
    index_csv.IndexCsvSource.open(root, _config())


# ----------------------------------------------------------- paths outside root
def _outside_dataset(tmp_path):
  root = lib.write_dataset(str(tmp_path / "data" / "ds"),
                           [_clip("in", "w1"), _clip("out", "w2", seed=1)])
  outside = tmp_path / "outside"
  outside.mkdir()
  os.replace(os.path.join(root, "imu", "out.jsonl"), outside / "x.jsonl")
  index = os.path.join(root, "index.csv")
  text = open(index).read().replace("imu/out.jsonl", "../../outside/x.jsonl")
  with open(index, "w") as f:
    f.write(text)
  return root, str(outside / "x.jsonl")


def test_paths_outside_the_root_are_refused_unless_allowed(tmp_path):
  root, outside = _outside_dataset(tmp_path)
  with pytest.raises(ingest.IngestError,
                     match=r"index.csv: line 3: .*'../../outside/x.jsonl' "
                     r"leaves the dataset root.*allow_paths_outside_root"):
    index_csv.IndexCsvSource.open(root, _config())
  cfg = _config(allow_paths_outside_root=True)
  res = lib.ingest_all(root, cfg)
  assert isinstance(res["out"], ingest.ClipWindows)
  # Absolute paths stay allowed, as documented.
  index = os.path.join(root, "index.csv")
  text = open(index).read().replace("../../outside/x.jsonl", outside)
  with open(index, "w") as f:
    f.write(text)
  assert isinstance(lib.ingest_all(root)["out"], ingest.ClipWindows)


@pytest.mark.parametrize("path", ["imu/../../x.jsonl", "..",
                                  "shards/../../s.tar#k.imu.npy"])
def test_every_way_out_of_the_root_is_caught(tmp_path, path):
  root = lib.write_dataset(str(tmp_path / "ds"), [_clip("a", "w1")])
  index = os.path.join(root, "index.csv")
  text = open(index).read().replace("imu/a.jsonl", path)
  with open(index, "w") as f:
    f.write(text)
  with pytest.raises(ingest.IngestError, match="leaves the dataset root"):
    index_csv.IndexCsvSource.open(root, _config())
  # "imu/../imu/a.jsonl" stays inside: fine.
  with open(index, "w") as f:
    f.write(text.replace(path, "imu/../imu/a.jsonl"))
  index_csv.IndexCsvSource.open(root, _config())


# ------------------------------------------------ stray segments, workers twice
def test_segments_of_unknown_clips_are_counted_warnings(tmp_path):
  root = lib.write_dataset(str(tmp_path / "ds"), [_clip("a", "w1"),
                                                  _clip("b", "w1", seed=1)])
  with open(os.path.join(root, "segments.csv"), "a") as f:
    f.write("gone,0,5,working\ngone,5,9,break\nA,0,5,working\n")
  cfg = _config()
  ds = index_csv.IndexCsvSource.open(root, cfg)
  assert ds.warning_counts["segments_unknown_clip"] == 3
  text = "\n".join(ds.warnings)
  assert "segments.csv: 3 row(s) for 2 clip id(s) not in index.csv" in text
  assert "'gone' (line 4)" in text and "'A' (line 6; index.csv has 'a')" in text
  m = manifest_lib.load(prepare.prepare(cfg, root, str(tmp_path / "p")))
  assert m["dataset_warning_counts"]["segments_unknown_clip"] == 3


def test_workers_listed_twice(tmp_path):
  root = lib.write_dataset(
      str(tmp_path / "same"), [_clip("a", "w1")],
      workers=[dict(worker_id="w1", site="lab"),
               dict(worker_id="w1", site="lab")])
  ds = index_csv.IndexCsvSource.open(root, _config())
  assert ds.workers["w1"] == {"site": "lab"}
  assert ds.warning_counts["workers_duplicate"] == 1
  assert any("workers.csv: worker 'w1' listed twice (lines 2 and 3)" in w
             for w in ds.warnings), ds.warnings
  root = lib.write_dataset(
      str(tmp_path / "differ"), [_clip("a", "w1")],
      workers=[dict(worker_id="w1", site="lab"), dict(worker_id="w2", site="x"),
               dict(worker_id="w1", site="home")])
  with pytest.raises(ingest.IngestError,
                     match=r"workers.csv: worker 'w1' on lines 2 and 4 with "
                     r"different values"):
    index_csv.IndexCsvSource.open(root, _config())
  root = lib.write_dataset(
      str(tmp_path / "nfd"), [_clip("a", NFC)],
      workers=[dict(worker_id=NFC, site="lab"), dict(worker_id=NFD, site="x")])
  with pytest.raises(ingest.IngestError, match=r"workers.csv: worker .* on "
                     r"lines 2 and 3 with different values.*NFC"):
    index_csv.IndexCsvSource.open(root, _config())


# ------------------------------------------------------------------ repairs.csv
def test_repairs_are_listed_with_file_and_line(tmp_path):
  root = lib.write_dataset(str(tmp_path / "ds"), [
      _clip("a", "w1", seconds=16.0), _clip("b", "w2", seconds=16.0, seed=1)])

  def damage(lines):
    lines[9] = lines[9][:20]          # corrupt line 10
    lines.insert(100, lines[99])      # line 101 repeats line 100's timestamp
    return lines

  path_a = _rewrite_imu(root, "a", damage)
  # Clip b: 6 repeated timestamps, more than the cap of 4.
  _rewrite_imu(root, "b", lambda ls: sum(
      ([l, l] if 50 <= i < 56 else [l] for i, l in enumerate(ls)), []))
  cfg = _config(max_repairs_per_clip=4)
  res = lib.ingest_all(root, cfg)
  # Dropping line 10 leaves a 40 ms gap at 50 Hz, interpolated over.
  assert [(r.line, r.kind) for r in res["a"].repairs] == [
      (10, "dropped_corrupt_lines"), (11, "interpolated_gaps"),
      (101, "dropped_duplicate_timestamps")]
  assert all(r.path == path_a for r in res["a"].repairs)
  out = prepare.prepare(cfg, root, str(tmp_path / "p"))
  m = manifest_lib.load(out)
  assert m["repairs"] == manifest_lib.REPAIRS_FILE
  with open(os.path.join(out, manifest_lib.REPAIRS_FILE), newline="") as f:
    rows = list(csv.DictReader(f))
  assert rows == manifest_lib.read_repairs(out)
  a = [r for r in rows if r["clip_id"] == "a"]
  assert [(r["line"], r["kind"]) for r in a] == [
      ("10", "dropped_corrupt_lines"), ("11", "interpolated_gaps"),
      ("101", "dropped_duplicate_timestamps")]
  assert a[0]["path"] == path_a and "invalid JSON" in a[0]["detail"]
  b = [r for r in rows if r["clip_id"] == "b"]
  assert len(b) == 5 and b[-1]["line"] == "" and b[-1]["kind"] == "not_listed"
  assert "2 more" in b[-1]["detail"]
  assert "max_repairs_per_clip=4" in b[-1]["detail"]
  assert [r["line"] for r in b[:4]] == ["52", "54", "56", "58"]
  assert m["repaired_defects"] == {"dropped_corrupt_lines": 1,
                                   "dropped_duplicate_timestamps": 7,
                                   "interpolated_gaps": 1}


# ------------------------------------------------------------ misleading reasons
def test_nanosecond_timestamps_are_named_as_such(tmp_path):
  t, v = lib.still_imu(12.0, 200.0)
  v[:, 3:] += 3.0 * np.sin(np.arange(t.size) / 40.0)[:, None]  # a lively gyro
  root = lib.write_dataset(str(tmp_path / "ds"), [dict(
      clip_id="ns", worker_id="w1", t_us=t * 1000, values=v,
      segments=[(0, 12, "working")])])
  res = lib.ingest_all(root)["ns"]
  assert isinstance(res, ingest.Quarantined)
  assert "nanoseconds" in res.reason and "200 Hz" in res.reason, res.reason
  assert "deg/s" not in res.reason
  with pytest.raises(ValueError, match="milliseconds"):
    imu_resample.clean(t // 1000, v)


def test_short_mp4_is_reported_against_the_mp4(tmp_path):
  n = 30  # 3 s of 10 fps video for 16 s of IMU
  video = synthetic_video.encode(np.zeros((n, 16, 16, 3), np.uint8),
                                 np.arange(n) / 10.0, 10.0)
  root = lib.write_dataset(str(tmp_path / "ds"), [
      _clip("a", "w1", seconds=16.0, video=video)])
  res = lib.ingest_all(root)["a"]
  assert isinstance(res, ingest.Quarantined)
  assert res.path.endswith("a.mp4") and res.reason.startswith(res.path)
  assert "3 dropped as video_short" in res.reason
  assert "MP4 covers 3.0 s" in res.reason, res.reason


def test_clock_offset_beyond_the_data(tmp_path):
  root = lib.write_dataset(str(tmp_path / "ds"), [
      _clip("a", "w1", imu_t0=60_000_000)])
  res = lib.ingest_all(root)["a"]
  assert isinstance(res, ingest.Quarantined)
  assert res.path == os.path.join(root, "index.csv")
  assert res.reason.startswith(res.path)
  assert "imu_t0_us=60000000 is after the last IMU sample" in res.reason
  assert "a.jsonl" in res.reason
  assert "-" not in res.reason.split("a.jsonl")[-1], res.reason


# ------------------------------------------------------------- edited in place
def _touch_later(path, seconds=10):
  st = os.stat(path)
  os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 10**9))


def test_verify_modes_see_clip_files_edited_in_place(tmp_path):
  root = lib.write_dataset(str(tmp_path / "ds"), [_clip("a", "w1"),
                                                  _clip("b", "w1", seed=1)])
  imu = os.path.join(root, "imu", "a.jsonl")

  def fingerprints():
    return {mode: index_csv.IndexCsvSource.open(root, _config(verify=mode)).fingerprint()
            for mode in ("", "stat", "hash")}

  before = fingerprints()
  assert len(set(before.values())) == 3
  _touch_later(imu)  # same bytes, newer mtime
  after = fingerprints()
  assert after[""] == before[""] and after["hash"] == before["hash"]
  assert after["stat"] != before["stat"]
  # Same size and mtime, other bytes: only the content hash sees it.
  st = os.stat(imu)
  data = bytearray(open(imu, "rb").read())
  data[30] = ord("7") if data[30] != ord("7") else ord("8")
  with open(imu, "wb") as f:
    f.write(bytes(data))
  os.utime(imu, ns=(st.st_atime_ns, st.st_mtime_ns))
  edited = fingerprints()
  assert edited[""] == after[""] and edited["stat"] == after["stat"]
  assert edited["hash"] != after["hash"]
  os.remove(imu)
  assert index_csv.IndexCsvSource.open(root, _config(verify="stat")).fingerprint() \
      != edited["stat"]
  with pytest.raises(ValueError, match="data.verify"):
    index_csv.IndexCsvSource.open(root, _config(verify="md5"))


def test_verify_reprepares_an_edited_clip(tmp_path):
  root = lib.write_dataset(str(tmp_path / "ds"), [_clip("a", "w1"),
                                                  _clip("b", "w1", seed=1)])
  cfg = _config(verify="stat", cache_dir=str(tmp_path / "cache"), raw_dir=root)
  first = prepare.ensure(cfg)
  _rewrite_imu(root, "a", lambda ls: ls[:260])  # 5.2 s left: one window
  second = prepare.ensure(cfg)
  assert second != first
  assert manifest_lib.load(second)["counts"]["per_worker"]["w1"] == 3


def test_hash_mode_reads_unchanged_local_files_once(tmp_path, monkeypatch):
  root = lib.write_dataset(str(tmp_path / "ds"), [_clip("a", "w1")])
  cfg = _config(verify="hash")
  first = index_csv.IndexCsvSource.open(root, cfg).fingerprint()
  read = []
  real = fingerprint._content_hash  # pylint: disable=protected-access
  monkeypatch.setattr(fingerprint, "_content_hash",
                      lambda p: read.append(p) or real(p))
  assert index_csv.IndexCsvSource.open(root, cfg).fingerprint() == first
  assert read == []  # ensure() then prepare(): the data is hashed once
  _touch_later(os.path.join(root, "imu", "a.jsonl"))
  assert index_csv.IndexCsvSource.open(root, cfg).fingerprint() == first
  assert len(read) == 1
