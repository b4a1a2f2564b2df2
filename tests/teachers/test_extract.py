"""The ``extract_embeddings`` job end to end on a small synthetic dataset."""

import csv
import json
import os
import shutil

import flax
import numpy as np
import pytest

from egoimu_jax import jobs
from egoimu_jax import models
from egoimu_jax.input_pipeline.store import embeddings
from egoimu_jax.input_pipeline.store import processed
from egoimu_jax.input_pipeline.synthetic import video as synthetic_video
from egoimu_jax.teachers import extract
from egoimu_jax.teachers import model as model_lib
from egoimu_jax.teachers import parts

import teacher_testlib as lib


@pytest.fixture(scope="module")
def data(teacher_data):
  return teacher_data()


@pytest.fixture(scope="module")
def reference(data, tmp_path_factory):
  """One uninterrupted single-host run from stored frames."""
  workdir = str(tmp_path_factory.mktemp("reference"))
  manifest = extract.run(lib.config(data, "ref", source="stored"), workdir)
  return manifest, lib.vectors(data, "ref")


def test_job_is_registered():
  assert jobs.JOBS.get("extract_embeddings") is extract.run


def test_raw_mp4s_give_the_stored_frames_vectors(data, reference, tmp_path):
  manifest, stored = reference
  n = manifest["counts"]["records"]
  assert manifest["counts"] == {
      "records": n, "embedded": n, "missing": 0, "by_source": {"stored": n},
      "missing_by_kind": {}}
  raw = extract.run(lib.config(data, "raw", source="raw"), str(tmp_path))
  assert raw["counts"]["by_source"] == {"raw": n}
  assert raw["frames"]["source"] == "raw"
  np.testing.assert_array_equal(lib.vectors(data, "raw"), stored)
  assert np.isfinite(stored).all() and stored.std() > 0
  assert len(np.unique(stored.round(4), axis=0)) == n  # not one constant


def test_dataset_prepared_without_frames_gets_the_same_vectors(
    data, reference, teacher_data, tmp_path):
  frameless = teacher_data(store_frames=False)
  assert not processed.ProcessedDataset.open(frameless.processed).has_frames(
      [0]).any()
  manifest = extract.run(lib.config(frameless, "frameless"),  # source auto
                         str(tmp_path / "work"))
  n = manifest["counts"]["records"]
  assert manifest["counts"]["by_source"] == {"raw": n}
  ids = lambda d: processed.ProcessedDataset.open(d.processed).read(  # noqa: E731
      np.arange(n), ("window_id",))["window_id"]
  np.testing.assert_array_equal(ids(frameless), ids(data))
  np.testing.assert_array_equal(lib.vectors(frameless, "frameless"),
                                reference[1])


def test_killed_run_resumes_with_identical_vectors(data, reference, tmp_path,
                                                   monkeypatch):
  _, expected = reference
  config = lib.config(data, "resumed", source="raw")
  workdir = str(tmp_path)
  real_write = parts.write_part
  written = []

  def dies_after_two(*args):
    if len(written) == 2:
      raise KeyboardInterrupt("killed")
    written.append(args[1])
    real_write(*args)

  monkeypatch.setattr(parts, "write_part", dies_after_two)
  with pytest.raises(KeyboardInterrupt):
    extract.run(config, workdir)
  plan = parts.load_plan(workdir)
  num_chunks = len(plan["bounds"]) - 1
  assert num_chunks > 3
  assert sorted(os.listdir(parts.parts_dir(workdir))) == sorted(
      [parts.PLAN_FILE] + [os.path.basename(parts.part_path(workdir, k,
                                                            num_chunks))
                           for k in written])
  assert not os.path.exists(os.path.join(workdir, extract.DONE_FILE))

  rerun = []
  monkeypatch.setattr(parts, "write_part",
                      lambda *a: (rerun.append(a[1]), real_write(*a)))
  manifest = extract.run(config, workdir)
  assert sorted(rerun) == [k for k in range(num_chunks) if k not in written]
  assert manifest["counts"]["embedded"] == len(expected)
  np.testing.assert_array_equal(lib.vectors(data, "resumed"), expected)
  assert not os.path.exists(parts.parts_dir(workdir))  # merged, removed


def test_two_hosts_then_finalize_equal_one_host(data, reference, tmp_path):
  _, expected = reference
  workdir = str(tmp_path)

  def host(i, **kw):
    return extract.run(lib.config(data, "split", source="stored",
                                  shard_index=i, shard_count=2, **kw), workdir)

  first = host(0)
  assert "counts" not in first  # host 1's chunks are missing: no merge
  with pytest.raises(RuntimeError, match="chunks are not finished"):
    host(0, finalize_only=True)
  second = host(1)
  assert "counts" not in second  # only host 0 merges
  plan = parts.load_plan(workdir)
  num_chunks = len(plan["bounds"]) - 1
  assert all(parts.is_done(workdir, k, num_chunks) for k in range(num_chunks))
  manifest = host(0, finalize_only=True)
  assert manifest["counts"]["embedded"] == len(expected)
  np.testing.assert_array_equal(lib.vectors(data, "split"), expected)
  set_files = lambda name: sorted(  # noqa: E731
      f for f in os.listdir(embeddings.set_dir(data.processed, name))
      if f.startswith("egoimu-full") or f == embeddings.INDEX_FILE)
  for a, b in zip(set_files("ref"), set_files("split"), strict=True):
    assert a == b
    with open(os.path.join(embeddings.set_dir(data.processed, "ref"), a),
              "rb") as fa, open(os.path.join(
                  embeddings.set_dir(data.processed, "split"), b), "rb") as fb:
      assert fa.read() == fb.read(), a


def test_missing_and_corrupt_videos_are_listed(data, reference, tmp_path):
  _, expected = reference
  raw = str(tmp_path / "raw")
  shutil.copytree(data.raw, raw)
  with open(os.path.join(raw, "index.csv"), newline="") as f:
    rows = list(csv.DictReader(f))
  gone, broken, short = rows[0], rows[3], rows[5]
  os.remove(os.path.join(raw, gone["video_path"]))
  with open(os.path.join(raw, broken["video_path"]), "wb") as f:
    f.write(b"this is not an mp4")
  with open(os.path.join(raw, short["video_path"]), "wb") as f:  # 6 s long
    f.write(synthetic_video.encode(np.full((90, 48, 64, 3), 128, np.uint8),
                                   np.arange(90) / 15, 15.0))
  config = lib.config(data, "damaged", source="raw", raw_dir=raw)
  workdir = tmp_path / "work"
  manifest = extract.run(config, str(workdir))

  ds = processed.ProcessedDataset.open(data.processed)
  clip_ids = np.asarray(ds.table.clip_ids)[ds.table.clip]
  kind = np.full(len(ds), "", object)
  kind[clip_ids == gone["clip_id"]] = "missing_video"
  kind[clip_ids == broken["clip_id"]] = "undecodable_video"
  kind[(clip_ids == short["clip_id"]) &
       (ds.table.t0_us + 4_900_000 >= 6_000_000)] = "frames_outside_video"
  lost = kind != ""
  assert len(set(kind[lost])) == 3 and not lost.all()
  counts = manifest["counts"]
  assert counts["missing"] == lost.sum()
  assert counts["embedded"] == (~lost).sum()
  assert counts["missing_by_kind"] == {
      k: int((kind == k).sum()) for k in set(kind[lost])}
  for where in (embeddings.set_dir(data.processed, "damaged"), str(workdir)):
    with open(os.path.join(where, embeddings.MISSING_FILE), newline="") as f:
      listed = list(csv.DictReader(f))
    assert [r["window_id"] for r in listed] == ds.table.window_ids(
        np.flatnonzero(lost))
    assert [r["kind"] for r in listed] == list(kind[lost])
    for r in listed:
      row = next(x for x in rows if x["clip_id"] == r["clip_id"])
      assert r["path"].endswith(row["video_path"])
      assert r["reason"].startswith(r["path"])
      assert r["worker_id"] == row["worker_id"]
  table = embeddings.EmbeddingSet.open(data.processed, "damaged")
  assert (table.positions(np.flatnonzero(lost)) == -1).all()
  with pytest.raises(KeyError, match="have no embedding"):
    table.read_rows(table.positions(np.arange(len(ds))))
  intact = np.flatnonzero(np.isin(
      clip_ids, [gone["clip_id"], broken["clip_id"], short["clip_id"]],
      invert=True))
  np.testing.assert_array_equal(table.read(intact), expected[intact])


def _npz_importer(path):
  with np.load(path) as npz:
    return flax.traverse_util.unflatten_dict(dict(npz), sep="/")


models.IMPORTERS.register("teacher_test_npz")(_npz_importer)


def test_manifest_records_model_weights_and_pooling(data, tmp_path):
  # Weights: the params of the seed-1 random init, saved in a file.
  seed1 = lib.config(data, "seed1", seed=1, pooling="cls", projection_dim=8)
  extract.run(seed1, str(tmp_path / "seed1"))
  teacher = model_lib.Teacher(seed1.teacher, (4, 32, 32, 3))
  path = str(tmp_path / "weights.npz")
  np.savez(path, **{f"params/{k}": np.asarray(v) for k, v in
                    flax.traverse_util.flatten_dict(
                        teacher.variables["params"], sep="/").items()})
  config = lib.config(data, "imported", seed=0, pooling="cls",
                      projection_dim=8, weights=path,
                      weights_format="teacher_test_npz")
  manifest = extract.run(config, str(tmp_path / "work"))
  assert manifest.pop("timings")["windows"] == manifest["counts"]["records"]
  with open(tmp_path / "work" / extract.DONE_FILE) as f:
    assert json.load(f) == manifest
  assert manifest == embeddings.read_manifest(data.processed, "imported")
  assert manifest["model"] == {"name": "timesformer", "variant": "tiny"}
  assert manifest["pooling"] == "cls"
  weights = manifest["weights"]
  assert weights["format"] == "teacher_test_npz"
  assert weights["path"] == path
  assert weights["sha256"] == model_lib.files_sha256(path)
  assert len(weights["sha256"]) == 64
  assert weights["params_sha256"] == teacher.weights["params_sha256"]
  assert manifest["projection"] == {"dim": 8, "seed": 0,
                                    "file": parts.PROJECTION_FILE}
  assert manifest["dim"] == 8 and manifest["feature_dim"] == 32
  matrix = np.load(os.path.join(embeddings.set_dir(data.processed,
                                                   "imported"),
                                parts.PROJECTION_FILE))
  np.testing.assert_array_equal(matrix,
                                model_lib.projection_matrix(32, 8, seed=0))
  assert manifest["projection_sha256"] == parts.sha256_array(matrix)
  assert manifest["frames"]["num_frames"] == 4
  assert manifest["frames"]["frame_index"] == [0, 16, 33, 49]
  # The file's weights were used: the vectors are the seed-1 model's.
  np.testing.assert_array_equal(lib.vectors(data, "imported"),
                                lib.vectors(data, "seed1"))
  with open(path, "ab") as f:
    f.write(b"\0")
  assert model_lib.files_sha256(path) != weights["sha256"]


def test_finished_extraction_is_not_rerun(data, reference, tmp_path,
                                          monkeypatch):
  config = lib.config(data, "again", source="stored")
  first = extract.run(config, str(tmp_path))
  del first["timings"]

  def no_model(*args, **kwargs):
    raise AssertionError("a finished extraction built the model again")

  monkeypatch.setattr(model_lib, "Teacher", no_model)
  assert extract.run(config, str(tmp_path)) == first
  config.teacher.pooling = "features"  # another extraction, same workdir
  with pytest.raises(AssertionError, match="built the model again"):
    extract.run(config, str(tmp_path))


def test_workdir_of_another_extraction_is_refused(data, tmp_path,
                                                  monkeypatch):
  config = lib.config(data, "first", source="stored")
  monkeypatch.setattr(parts, "write_part",
                      lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
  with pytest.raises(KeyboardInterrupt):
    extract.run(config, str(tmp_path))
  config.teacher.pooling = "features"
  with pytest.raises(ValueError, match="holds chunks of another extraction"):
    extract.run(config, str(tmp_path))


@pytest.mark.parametrize("teacher, message", [
    (dict(pooling="max"), "teacher.pooling='max'"),
    (dict(source="disk"), "teacher.source='disk'"),
    (dict(num_frames=51), r"teacher.num_frames=51 must be in \[1, 50\]"),
    (dict(num_frames=8), "takes 4 frames"),
    (dict(frame_size=64, source="raw"), "teacher.frame_size=32"),
    (dict(frame_size=64, source="stored"), "stores frames at 32"),
    (dict(model=dict(name="videomae", variant="tiny"), pooling="cls"),
     "has no CLS token"),
    (dict(weights="/nonexistent/ckpt"), "does not exist"),
    (dict(weights=__file__, weights_format="nope"),
     "'nope' is not a weight importer"),
    (dict(shard_index=2, shard_count=2), r"must be in \[0, shard_count=2\)"),
    (dict(name="bad-name"), "teacher name must be"),
])
def test_config_mistakes_are_clear_errors(data, tmp_path, teacher, message):
  config = lib.config(data, teacher.pop("name", "mistake"), **teacher)
  with pytest.raises((ValueError, FileNotFoundError), match=message):
    extract.run(config, str(tmp_path))


def test_weights_from_a_checkpoint_of_our_own_run(tiny_config_run, tmp_path):
  """configs/timesformer.py:tiny trained for 2 steps (the configs smoke
  test's run); its checkpoint is the teacher (everything but the head), on
  that run's data."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  from egoimu_jax.models import transfer  # pylint: disable=g-import-not-at-top
  trained = tiny_config_run("timesformer")
  train, run_dir = trained.config, str(trained.workdir)
  assert train.total_steps == 2

  data = lib.Data("", "", train.data)
  config = lib.config(data, "from_run", weights=run_dir)
  manifest = extract.run(config, str(tmp_path / "work"))
  assert manifest["counts"]["missing"] == 0
  weights = manifest["weights"]
  assert weights["format"] == "orbax" and weights["step"] == "latest"
  assert weights["state_dir"].endswith(os.path.join("checkpoints", "2",
                                                    "state"))
  assert weights["sha256"] == model_lib.files_sha256(weights["state_dir"])
  saved = transfer.flatten(ocp.PyTreeCheckpointer().restore(
      weights["state_dir"])["params"])
  teacher = model_lib.Teacher(config.teacher, (4, 32, 32, 3))
  loaded = transfer.flatten(teacher.variables["params"])
  body = [p for p in saved if not transfer.is_fresh(p, transfer.HEAD)]
  assert body and sorted(body) == sorted(
      p for p in loaded if not transfer.is_fresh(p, transfer.HEAD))
  for path in body:
    np.testing.assert_array_equal(loaded[path], saved[path])
  assert weights["params_sha256"] == teacher.weights["params_sha256"]
  random = model_lib.Teacher(lib.config(data, "x").teacher, (4, 32, 32, 3))
  assert random.weights["params_sha256"] != weights["params_sha256"]
