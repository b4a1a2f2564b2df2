"""Reading the raw layout: tables, vocabulary, columns, errors, work units."""

import os
import re

import numpy as np
import pytest

import raw_testlib as lib
from egoimu_jax import config_lib
from egoimu_jax.input_pipeline.synthetic import defaults
from egoimu_jax.input_pipeline.raw import ingest
from egoimu_jax.input_pipeline.raw import index_csv

HAR = ("walk", "sit", "stand", "stairs", "cycle")


def _har_dataset(root, columns=None, classes=HAR, **kw):
  """A user's own dataset: 5 HAR classes, 50 Hz IMU, no video."""
  clips = []
  for i in range(4):
    t, v = lib.still_imu(11.0, 50.0, seed=i)
    clips.append(dict(clip_id=f"s{i}_r0", worker_id=f"s{i}", t_us=t, values=v,
                      segments=[(0, 5, HAR[i]), (5, 11, HAR[i + 1])]))
  return lib.write_dataset(str(root), clips, classes=classes, columns=columns,
                           **kw)


def test_open_reads_tables_and_own_vocabulary(tmp_path):
  root = _har_dataset(tmp_path / "har", workers=[
      dict(worker_id=f"s{i}", age=20 + i, site="lab") for i in range(3)])
  ds = index_csv.IndexCsvSource.open(root, config_lib.data_config())
  assert ds.classes == HAR and ds.root == root
  assert [r.clip_id for r in ds.rows] == ["s0_r0", "s1_r0", "s2_r0", "s3_r0"]
  assert ds.rows[1] == index_csv.ClipRow(
      1, "s1_r0", "s1", "", "imu/s1_r0.jsonl", {"imu_t0_us": ""})
  assert ds.workers["s2"] == {"age": 22.0, "site": "lab"}
  assert ds.workers["s3"] == {}  # in the index but not in workers.csv
  start, end, label = ds.segments("s1_r0")
  np.testing.assert_array_equal(label, [1, 2])
  np.testing.assert_array_equal(end, [5_000_000, 11_000_000])
  res = lib.ingest_all(root)
  for i in range(4):
    r = res[f"s{i}_r0"]
    assert r.native_rate_hz == pytest.approx(50.0)
    np.testing.assert_array_equal(r.label, [i, i + 1])


def test_vocabulary_precedence(tmp_path):
  cfg = config_lib.data_config()
  root = _har_dataset(tmp_path / "no_labels_json", classes=None)
  with pytest.raises(ingest.IngestError) as e:
    index_csv.IndexCsvSource.open(root, cfg)  # no silent pilot vocabulary
  assert str(e.value).startswith(f"{root}: the dataset states no classes")
  assert "labels.json" in str(e.value) and "config.data.classes" in str(e.value)
  root_pilot = _har_dataset(tmp_path / "pilot_labels",
                            classes=defaults.PILOT_CLASSES)
  with pytest.raises(ingest.IngestError, match=r"segments.csv: line 2: label 'walk' "
                     r"is not in the class vocabulary \['working'"):
    index_csv.IndexCsvSource.open(root_pilot, cfg)
  cfg.classes = HAR
  assert index_csv.IndexCsvSource.open(root, cfg).classes == HAR
  root = _har_dataset(tmp_path / "both")
  cfg.classes = HAR[::-1]
  with pytest.raises(ingest.IngestError, match="labels.json: classes .* differ"):
    index_csv.IndexCsvSource.open(root, cfg)


def test_renamed_columns(tmp_path):
  columns = dict(clip_id="recording", worker_id="subject", imu="imu_file",
                 video="mp4", segment_start="t_begin", segment_end="t_end",
                 segment_label="activity", imu_t0="clock0")
  root = _har_dataset(tmp_path / "renamed", columns=columns)
  cfg = config_lib.data_config()
  with pytest.raises(ingest.IngestError,
                     match=r"index.csv: missing column\(s\) \['clip_id', "
                     r"'worker_id', 'imu_path'\]"):
    index_csv.IndexCsvSource.open(root, cfg)
  cfg.columns.update(columns)
  ds = index_csv.IndexCsvSource.open(root, cfg)
  assert ds.rows[0].worker_id == "s0"
  assert all(isinstance(r, ingest.ClipWindows)
             for r in lib.ingest_all(root, cfg).values())


def test_dataset_level_errors_name_the_file(tmp_path):
  cfg = config_lib.data_config()
  with pytest.raises(ingest.IngestError, match="index.csv: file not found"):
    index_csv.IndexCsvSource.open(str(tmp_path / "nothing"), cfg)
  root = _har_dataset(tmp_path / "noseg")
  os.remove(os.path.join(root, "segments.csv"))
  with pytest.raises(ingest.IngestError, match="segments.csv: file not found"):
    index_csv.IndexCsvSource.open(root, cfg)
  for case, name, mode, text, match in (
      ("dup", "index.csv", "a", "s0_r0,s0,,imu/s0_r0.jsonl,\n",
       "clip_id 's0_r0' on lines 2 and 6"),
      ("badlabels", "labels.json", "w", '{"classes": "walk"}',
       "labels.json: expected a non-empty list")):
    root = _har_dataset(tmp_path / case)
    with open(os.path.join(root, name), mode) as f:
      f.write(text)
    with pytest.raises(ingest.IngestError, match=match):
      index_csv.IndexCsvSource.open(root, cfg)
  # A bad segment row is its clip's problem only (issue 23, round 2).
  root = _har_dataset(tmp_path / "badtime")
  with open(os.path.join(root, "segments.csv"), "a") as f:
    f.write("s0_r0,abc,3,walk\n")
  reason = lib.ingest_all(root, cfg)["s0_r0"].reason
  assert "segments.csv: clip s0_r0: line 10: start/end" in reason


def test_fingerprint_tracks_table_content(tmp_path):
  cfg = config_lib.data_config()
  root = _har_dataset(tmp_path / "fp")
  fp = index_csv.IndexCsvSource.open(root, cfg).fingerprint()
  assert index_csv.IndexCsvSource.open(root, cfg).fingerprint() == fp
  with open(os.path.join(root, "segments.csv"), "a") as f:
    f.write("s3_r0,11,12,walk\n")
  assert index_csv.IndexCsvSource.open(root, cfg).fingerprint() != fp


def test_work_units(tmp_path_factory):
  cfg = config_lib.data_config()
  jsonl = lib.synthetic_root(tmp_path_factory, num_workers=6, clips_per_worker=6,
                             with_video=False, clip_seconds=6.0)
  units = index_csv.IndexCsvSource.open(jsonl, cfg).work_units()
  assert [len(u) for u in units] == [16, 16, 4]
  assert sum(units, []) == list(range(36))
  wds = lib.synthetic_root(tmp_path_factory, num_workers=11, clips_per_worker=6,
                           with_video=False, clip_seconds=6.0, variant="wds",
                           wds_imu="native")
  ds = index_csv.IndexCsvSource.open(wds, cfg)
  units = ds.work_units()
  assert [len(u) for u in units] == [64, 2]  # one unit per tar shard
  assert {ds.rows[r].imu.split("#")[0] for r in units[1]} == {
      "shards/pilot-00001.tar"}


def test_gzipped_jsonl_and_bad_clock_offset(tmp_path):
  import gzip  # pylint: disable=g-import-not-at-top
  root = _har_dataset(tmp_path / "gz")
  plain = lib.ingest_all(root)
  for i in (0, 1):
    path = os.path.join(root, f"imu/s{i}_r0.jsonl")
    with open(path, "rb") as f, open(path + ".gz", "wb") as g:
      g.write(gzip.compress(f.read()) if i == 0 else b"not gzip")
    os.remove(path)
  index = open(os.path.join(root, "index.csv")).read()
  index = index.replace("s0_r0.jsonl", "s0_r0.jsonl.gz").replace(
      "s1_r0.jsonl", "s1_r0.jsonl.gz").replace("imu/s2_r0.jsonl,", "imu/s2_r0.jsonl,x")
  with open(os.path.join(root, "index.csv"), "w") as f:
    f.write(index)
  res = lib.ingest_all(root)
  np.testing.assert_array_equal(res["s0_r0"].imu, plain["s0_r0"].imu)
  assert "s1_r0.jsonl.gz: bad gzip" in res["s1_r0"].reason
  assert "index.csv: clip 's2_r0': imu_t0_us must be an integer" in res["s2_r0"].reason


def test_labels_json_with_a_byte_order_mark_reads_as_the_csvs_do(tmp_path):
  """Editors on Windows write a BOM; the CSVs accept one, so labels.json does."""
  root = _har_dataset(tmp_path / "bom")
  path = os.path.join(root, "labels.json")
  with open(path, "rb") as f:
    text = f.read()
  with open(path, "wb") as f:
    f.write(b"\xef\xbb\xbf" + text)
  ds = index_csv.IndexCsvSource.open(root, config_lib.data_config())
  assert ds.classes == HAR
  with open(path, "wb") as f:
    f.write(b"\xff\xfe{")  # not UTF-8 at all: named as such
  with pytest.raises(ingest.IngestError, match="labels.json: not UTF-8 text"):
    index_csv.IndexCsvSource.open(root, config_lib.data_config())


def test_clip_files_that_are_not_regular_files_or_leave_the_root(tmp_path):
  """A FIFO (which blocked prepare forever), a directory, and a symlink out
  of the root are each quarantined with the reason; the other clips stay."""
  import shutil  # pylint: disable=g-import-not-at-top
  import signal  # pylint: disable=g-import-not-at-top
  root = _har_dataset(tmp_path / "odd")
  imu = {i: os.path.join(root, f"imu/s{i}_r0.jsonl") for i in range(4)}
  outside = tmp_path / "elsewhere.jsonl"
  shutil.copy(imu[2], outside)
  os.remove(imu[1])
  os.mkfifo(imu[1])
  os.remove(imu[2])
  os.symlink(outside, imu[2])
  os.remove(imu[3])
  os.mkdir(imu[3])

  def hung(*_):
    raise TimeoutError("ingest blocked on a clip file")

  old = signal.signal(signal.SIGALRM, hung)
  signal.alarm(60)
  try:
    res = lib.ingest_all(root)
  finally:
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)
  assert not isinstance(res["s0_r0"], ingest.Quarantined)
  reasons = {c: r.reason for c, r in res.items()
             if isinstance(r, ingest.Quarantined)}
  assert set(reasons) == {"s1_r0", "s2_r0", "s3_r0"}, reasons
  assert "not a regular file (a FIFO)" in reasons["s1_r0"]
  assert "a symlink leads outside the dataset root" in reasons["s2_r0"]
  assert str(outside) in reasons["s2_r0"]
  assert "not a regular file (a directory)" in reasons["s3_r0"]
  # Allowed on request, as paths written outside the root are.
  cfg = config_lib.data_config()
  cfg.allow_paths_outside_root = True
  assert not isinstance(lib.ingest_all(root, cfg)["s2_r0"], ingest.Quarantined)


def test_segment_times_in_another_unit_or_out_of_range(tmp_path):
  """Milliseconds in segments.csv labelled every window with the first
  segment's label, silently; inf / 1e30 raised a bare OverflowError."""
  clips = []
  for i in range(3):
    t, v = lib.still_imu(11.0, 50.0, seed=i)
    clips.append(dict(clip_id=f"s{i}_r0", worker_id=f"s{i}", t_us=t, values=v,
                      segments=[(0, 5, HAR[0]), (5, 11, HAR[1])]))
  clips[1]["segments"] = [(0, 5000, HAR[0]), (5000, 11000, HAR[1])]  # ms
  root = lib.write_dataset(str(tmp_path / "ms"), clips, classes=HAR)
  res = lib.ingest_all(root)
  assert not isinstance(res["s0_r0"], ingest.Quarantined)
  reason = res["s1_r0"].reason
  assert "segments.csv" in reason and "segments run to 11000 s" in reason
  assert "milliseconds?" in reason
  for bad in ("inf", "1e30", "nan"):  # that clip only (issue 23, round 2)
    clips[1]["segments"] = [(0, 5, HAR[0]), (5, bad, HAR[1])]
    root = lib.write_dataset(str(tmp_path / bad), clips, classes=HAR)
    res = lib.ingest_all(root)
    assert isinstance(res["s0_r0"], ingest.ClipWindows)
    assert re.search(r"segments.csv: clip s1_r0: line 5: start/end must be "
                     r"seconds \(finite", res["s1_r0"].reason)


def test_an_implausible_clock_is_quarantined_before_arrays_are_sized(tmp_path):
  """One glitched timestamp (t_us = 1e13) or an index clock offset that does
  not match the file's clock made the resampler allocate gigabytes; an
  offset of 1e30 raised OverflowError. Each is one clip's quarantine."""
  import resource  # pylint: disable=g-import-not-at-top
  clips = []
  for i in range(4):
    t, v = lib.still_imu(11.0, 50.0, seed=i)
    clips.append(dict(clip_id=f"s{i}_r0", worker_id=f"s{i}", t_us=t, values=v,
                      segments=[(0, 5, HAR[0]), (5, 11, HAR[1])]))
  t = clips[1]["t_us"].copy()
  t[-1] = 10**13  # the last line's timestamp glitched
  clips[1]["t_us"] = t
  clips[2]["imu_t0"] = -(10**12)  # this clock's zero is 11.6 days off
  clips[3]["imu_t0"] = 10**30
  root = lib.write_dataset(str(tmp_path / "clock"), clips, classes=HAR)
  before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  res = lib.ingest_all(root)
  grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1e3
  assert not isinstance(res["s0_r0"], ingest.Quarantined)
  assert "line 550: t_us jumps by 9.99999e+06 s, in a clip whose samples " \
      "cover 10.98 s" in res["s1_r0"].reason
  assert "the clock offset does not match the file's clock" in res["s2_r0"].reason
  assert "is beyond any clock" in res["s3_r0"].reason
  assert grown_mb < 500, grown_mb
