"""The benchmark for other people's models: export a fold's windows, train
outside our stack, score the submission, and report it next to our runs."""

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn import metrics as skm

from egoimu_jax import evaluation
from egoimu_jax.evaluation import metrics
from egoimu_jax.evaluation import results
from egoimu_jax.evaluation import submission
from egoimu_jax.export import split_bundle
from egoimu_jax.export import windows
from egoimu_jax.input_pipeline import protocols
from egoimu_jax.input_pipeline import splits
from egoimu_jax.input_pipeline.store import embeddings
from egoimu_jax.input_pipeline.store import processed
from egoimu_jax.report import build
from egoimu_jax.report import tables

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "docs", "examples", "sklearn_on_export.py")


def _run(args, **kwargs):
  return subprocess.run([sys.executable] + args, cwd=ROOT, capture_output=True,
                        text=True, timeout=300, **kwargs)


@pytest.fixture(scope="module")
def our_run(tiny_config_run):
  """Our random forest on l20wo fold 0 of the tiny synthetic dataset: the
  configs smoke test's run of configs/classical.py:tiny (read only)."""
  run = tiny_config_run("classical")
  res = run.summary
  return str(run.workdir), res, res["extra"]["processed_dir"]


@pytest.fixture(scope="module")
def exported(our_run, tmp_path_factory):
  """Fold 0 exported by the CLI, in chunks of 7 windows."""
  _, _, processed_dir = our_run
  out = str(tmp_path_factory.mktemp("export") / "l20wo_fold0")
  proc = _run(["-m", "egoimu_jax.export", f"--processed_dir={processed_dir}",
               "--protocol=l20wo", "--fold=0", "--num_folds=3", f"--out={out}",
               "--formats=npy,npz,parquet", "--chunk_windows=7"])
  assert proc.returncode == 0, proc.stderr
  assert "l20wo fold 0" in proc.stdout
  return out


# --- Worst-person metrics -----------------------------------------------------


def test_worst_worker_metrics_follow_their_definition():
  f1 = np.array([0.9, 0.55, 0.8, np.nan, 0.7, 0.95, 0.3])
  m = metrics.worst_worker_metrics(f1, threshold=0.7)
  valid = f1[~np.isnan(f1)]
  assert m["worker_f1_p10"] == pytest.approx(np.percentile(valid, 10))
  assert m["worker_f1_min"] == 0.3
  assert m["share_workers_below"] == pytest.approx(2 / 6)   # 0.7 is not below
  assert m["worker_f1_threshold"] == 0.7
  with pytest.raises(ValueError, match="no workers"):
    metrics.worst_worker_metrics([np.nan])
  with pytest.raises(ValueError, match="threshold"):
    metrics.worst_worker_metrics([0.5], threshold=1.5)


def test_results_carry_worst_worker_metrics(tmp_path):
  rng = np.random.default_rng(0)
  n = 90
  label = rng.integers(0, 3, n)
  worker = np.array(["a", "b", "c"])[np.arange(n) % 3]
  # Worker c gets everything wrong, a and b mostly right.
  pred = np.where((worker == "c") | (rng.random(n) < 0.1), (label + 1) % 3,
                  label)
  res = results.write(
      str(tmp_path), config={}, split={"protocol": "l20wo", "fold": 0},
      model="m", classes=["x", "y", "z"],
      predictions={"test": results.Predictions.from_probs(
          np.arange(n), [f"c/{i:08d}" for i in range(n)], worker, label,
          np.eye(3)[pred])}, worker_f1_threshold=0.5)
  m = res["metrics"]["test"]
  per = [res["per_worker"]["test"][w]["macro_f1"] for w in "abc"]
  assert m["worker_f1_min"] == pytest.approx(min(per)) == 0.0
  assert m["worker_f1_p10"] == pytest.approx(np.percentile(per, 10))
  assert m["share_workers_below"] == pytest.approx(1 / 3)
  assert m["worker_f1_threshold"] == 0.5


# --- Export -------------------------------------------------------------------


def test_rows_per_chunk_bounds_windows_and_bytes():
  assert windows.rows_per_chunk(24_000, 4096, 256 << 20) == 4096
  assert windows.rows_per_chunk(24_000, 4096, 240_000) == 10    # bytes bind
  assert windows.rows_per_chunk(10 ** 9, 4096, 1 << 20) == 1     # >= 1 row
  with pytest.raises(windows.ExportError, match=">= 1"):
    windows.rows_per_chunk(10, 0, 100)
  assert list(windows.chunk_bounds(10, 4)) == [(0, 4), (4, 8), (8, 10)]
  assert list(windows.chunk_bounds(0, 4)) == []


def test_export_matches_the_dataset_in_every_format(our_run, exported):
  _, _, processed_dir = our_run
  ds = processed.ProcessedDataset.open(processed_dir)
  info = windows.read_info(exported)
  split = splits.read_split(os.path.join(exported, "split.json"))
  assert split["protocol"] == "l20wo" and split["fold"] == 0
  assert info["classes"] == list(ds.classes)
  assert info["manifest_fingerprint"] == ds.fingerprint
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  for part in splits.PARTS:
    idx = ds.split_indices(split, part)
    entry = info["parts"][part]
    assert entry["n"] == len(idx) and entry["rows_per_chunk"] == 7
    truth = ds.read(idx, fields=windows.META_COLUMNS + ("imu",))
    for fmt in ("npy", "npz", "parquet"):
      one = dict(info, parts={part: dict(entry, files={fmt: entry["files"][fmt]})})
      got = windows.read_columns(exported, part, list(truth), one)
      for name, value in truth.items():
        np.testing.assert_array_equal(got[name], value, err_msg=f"{fmt} {name}")
    pf = pq.ParquetFile(os.path.join(exported, f"{part}.parquet"))
    sizes = [pf.metadata.row_group(i).num_rows
             for i in range(pf.metadata.num_row_groups)]
    assert sizes == [7] * (len(idx) // 7) + ([len(idx) % 7] if len(idx) % 7 else [])
    assert json.loads(pf.schema_arrow.field("imu").metadata[b"shape"]) == [
        ds.window_length, 6]
  # npz members are plain .npy files: np.load reads them without us.
  with np.load(os.path.join(exported, "test.npz")) as z:
    assert set(z.files) == set(windows.META_COLUMNS) | {"imu"}


def test_export_reads_in_chunks_and_adds_teachers(our_run, tmp_path, monkeypatch):
  """Shard reads never exceed the chunk; teacher vectors come with a mask."""
  _, _, processed_dir = our_run
  local = str(tmp_path / "processed")
  shutil.copytree(processed_dir, local)
  ds = processed.ProcessedDataset.open(local)
  keep = np.flatnonzero(np.arange(len(ds)) % 3 != 0)   # every 3rd has none
  vectors = np.random.default_rng(0).normal(size=(len(keep), 5)).astype(np.float32)
  with embeddings.EmbeddingWriter(local, "fake", dim=5) as w:
    w.add_indices(keep, vectors)
  ds = processed.ProcessedDataset.open(local)
  sizes = []
  read_imu = processed.ProcessedDataset.read_imu
  def spy(self, idx):
    sizes.append(len(idx))
    return read_imu(self, idx)
  monkeypatch.setattr(processed.ProcessedDataset, "read_imu", spy)
  split = splits.make_split({"name": "within", "fold": 1, "num_folds": 3},
                            ds.manifest)
  out = str(tmp_path / "export")
  info = windows.export_split(ds, split, out, formats=["npy"], chunk_windows=5)
  assert info["teachers"] == ["fake"] and not info["frames"]
  assert max(sizes) <= 5
  assert sum(sizes) == sum(p["n"] for p in info["parts"].values())
  test = windows.read_columns(out, "test", ["index", "teacher_fake",
                                            "has_teacher_fake"])
  has = test["has_teacher_fake"]
  np.testing.assert_array_equal(has, test["index"] % 3 != 0)
  rows = np.searchsorted(keep, test["index"][has])
  np.testing.assert_array_equal(test["teacher_fake"][has], vectors[rows])
  assert not test["teacher_fake"][~has].any()
  with pytest.raises(windows.ExportError, match="no teacher embeddings"):
    windows.export_split(ds, split, out, teachers="other")
  with pytest.raises(windows.ExportError, match="stores no frames"):
    windows.export_split(ds, split, out, frames="yes")


_MEMORY_SCRIPT = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from egoimu_jax.export import windows

    class Fake:
      # Synthetic windows (IMU + frames) made on demand, nothing held.
      window_length, frames_shape = 1000, (2, 8, 8, 3)

      def read(self, idx, fields=()):
        idx = np.asarray(idx)
        make = {
            "index": lambda: idx, "worker": lambda: idx // 100,
            "window_id": lambda: np.array(
                [f"c{i // 5:06d}/{i % 5 * 5000:08d}" for i in idx]),
            "clip_id": lambda: np.array([f"c{i // 5:06d}" for i in idx]),
            "worker_id": lambda: np.array([f"w{i // 100:04d}" for i in idx]),
            "t0_us": lambda: idx % 5 * 5_000_000, "label": lambda: idx % 3,
            "purity": lambda: np.ones(len(idx), np.float32),
            "imu": lambda: np.repeat(idx.astype(np.float32),
                                     6000).reshape(-1, 1000, 6),
        }
        return {f: make[f]() for f in fields}

      def has_frames(self, idx):
        return np.asarray(idx) % 2 == 0

      def read_frames(self, idx):
        return np.zeros((len(idx),) + self.frames_shape, np.uint8) + 7

    n, out = int(sys.argv[1]), sys.argv[2]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    import pyarrow.parquet  # its import is not the export's memory
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    windows.export_part(Fake(), np.arange(n), "train", out,
                        formats=["npy", "npz", "parquet"], frames=True,
                        teachers=[], chunk_windows=64, chunk_bytes=1 << 30,
                        metadata={})
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    imu = np.load(out + "/train/imu.npy", mmap_mode="r")
    assert imu.shape == (n, 1000, 6) and imu[n - 1, 0, 0] == n - 1
    print(after - before)
""")


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_part(tmp_path):
  """10x the windows (2.9 MB -> 29 MB of IMU per format): same peak RSS."""
  script = tmp_path / "export_fake.py"
  script.write_text(_MEMORY_SCRIPT)
  growth = {}
  for n in (120, 1200):
    out = tmp_path / f"n{n}"
    out.mkdir()
    proc = _run([str(script), str(n), str(out)])
    assert proc.returncode == 0, proc.stderr
    growth[n] = int(proc.stdout.split()[-1]) * 1024   # ru_maxrss is in KiB
    shutil.rmtree(out)
  imu_bytes = 1200 * 1000 * 6 * 4
  assert growth[1200] - growth[120] < 0.2 * imu_bytes, growth


# --- Split bundle -------------------------------------------------------------


def test_split_bundle_is_versioned_checked_and_selectable(our_run, tmp_path):
  _, res, processed_dir = our_run
  ds = processed.ProcessedDataset.open(processed_dir)
  bundle = split_bundle.build(ds.manifest, {"num_folds": 3})   # as our run
  assert bundle["bundle_id"].startswith("egoimu-splits-v1-")
  assert bundle["manifest_fingerprint"] == ds.fingerprint
  counts = split_bundle.summary(bundle)
  assert counts["l20wo"] == counts["within"] == 3
  assert counts["worker_scaling"] == 3 * len(split_bundle.WORKER_SCALES)
  # The fixed protocol's presets name people the synthetic pilot has not
  # (UCI-HAR's s02, ...): recorded as unavailable, with the reason.
  assert set(counts) == set(protocols.names()) - {"fixed"}
  [absent] = bundle["unavailable"]
  assert absent["protocol"] == "fixed" and "not in the dataset" in absent["reason"]
  # 3 clips per worker cannot fill 5 within-person clip groups: the workers
  # are split in time instead (issue 22), and the bundle holds the ranges.
  five = split_bundle.build(ds.manifest)
  assert {u["protocol"] for u in five["unavailable"]} == {"fixed"}
  assert split_bundle.summary(five)["l20wo"] == split_bundle.summary(
      five)["within"] == 5
  assert all(s["time_block_workers"] and s["test_ranges"]
             for s in five["splits"] if s["protocol"] == "within")
  split_bundle.write(str(tmp_path / "five.json"), five)
  split_bundle.check(split_bundle.load(str(tmp_path / "five.json")),
                     ds.manifest)
  path = str(tmp_path / "splits.json.gz")
  split_bundle.write(path, bundle)
  loaded = split_bundle.load(path)
  assert loaded["sha256"] == bundle["sha256"]
  split_bundle.check(loaded, ds.manifest)      # this dataset reproduces it
  # Our classical run's split is the bundle's l20wo fold 0.
  assert split_bundle.select(loaded, "l20wo", 0) == res["split"]
  with pytest.raises(split_bundle.BundleError, match="scale"):
    split_bundle.select(loaded, "worker_scaling", 0)
  ws = split_bundle.select(loaded, "worker_scaling", 0, scale=0.5)
  assert ws["scale"] == 0.5
  with pytest.raises(split_bundle.BundleError, match="folds"):
    split_bundle.select(loaded, "l20wo", 9)
  tampered = dict(bundle, splits=bundle["splits"][1:])
  split_bundle.write(str(tmp_path / "bad.json"), tampered)
  with pytest.raises(split_bundle.BundleError, match="sha256"):
    split_bundle.load(str(tmp_path / "bad.json"))
  # The scales are the scaling sweep's.
  from launch.sweeps import scaling  # pylint: disable=g-import-not-at-top
  assert split_bundle.WORKER_SCALES == scaling.WORKER_FRACTIONS
  assert np.allclose(split_bundle.DATA_SCALES, scaling.CLIP_FRACTIONS)


# --- Evaluate -----------------------------------------------------------------


@pytest.fixture(scope="module")
def outside_model(exported, tmp_path_factory):
  """docs/examples: numpy + scikit-learn on the export, a CSV submission."""
  preds = str(tmp_path_factory.mktemp("outside") / "preds.csv")
  proc = _run([EXAMPLE, f"--export={exported}", f"--out={preds}"],
              env=dict(os.environ, PYTHONPATH=""))
  assert proc.returncode == 0, proc.stderr
  return preds


def test_round_trip_export_outside_model_evaluate_report(
    our_run, exported, outside_model, tmp_path):
  rf_workdir, rf, _ = our_run
  ext_workdir = str(tmp_path / "runs" / "sklearn_logreg")
  res = evaluation.evaluate(outside_model, exported, workdir=ext_workdir,
                            name="sklearn_logreg")
  on_disk = results.read(ext_workdir)
  assert on_disk["metrics"] == res["metrics"]
  assert on_disk["split"] == rf["split"]
  # Same test windows as our run, so report may pair them.
  assert (on_disk["extra"]["coverage"]["test"] ==
          rf["extra"]["coverage"]["test"])
  pred = results.read_predictions(ext_workdir)
  ours = results.read_predictions(rf_workdir)
  np.testing.assert_array_equal(np.sort(pred.index), np.sort(ours.index))
  # The metrics are those of the submitted CSV, recomputed independently.
  import csv  # pylint: disable=g-import-not-at-top
  rows = {r["window_id"]: r for r in csv.DictReader(open(outside_model))}
  classes = on_disk["classes"]
  submitted = np.array([classes.index(rows[w]["pred"]) for w in pred.window_id])
  np.testing.assert_array_equal(pred.pred, submitted)
  truth = dict(zip(ours.window_id, ours.label))
  labels = np.array([truth[w] for w in pred.window_id])
  m = on_disk["metrics"]["test"]
  assert m["macro_f1"] == pytest.approx(skm.f1_score(
      labels, submitted, labels=range(len(classes)), average="macro",
      zero_division=1.0))
  assert "nll" in m and "worker_f1_p10" in m
  assert os.path.exists(os.path.join(ext_workdir, "split.json"))
  with pytest.raises(submission.SubmissionError, match="fold 1 was asked"):
    evaluation.evaluate(outside_model, exported, fold=1)

  rep = build.build_report([rf_workdir, ext_workdir], str(tmp_path / "report"),
                           n_boot=50, hard_cases="off")
  main = rep.tables["main"]
  assert {r[0] for r in main.rows} == {"classical_rf", "sklearn_logreg"}
  assert "l20wo worker-F1 p10" in main.columns
  sig = rep.tables["significance"]
  flags = {r[0]: r[1].flag for r in main.rows}
  # A model that predicts one class everywhere is flagged, and no
  # significance test is run on it.
  assert [r[1] for r in sig.rows] == (
      [] if flags["sklearn_logreg"] == "constant" else ["sklearn_logreg"]), (
          flags, sig.note)
  assert "Reference: classical_rf" in sig.note
  assert "Not comparable" not in sig.note
  worst = {r[0]: dict(zip(rep.tables["worst_workers"].columns, r))
           for r in rep.tables["worst_workers"].rows}
  assert worst["sklearn_logreg"]["worker-F1 min"] == pytest.approx(
      m["worker_f1_min"])
  assert worst["classical_rf"]["test workers"] == len(rf["split"]["test_workers"])
  assert os.path.exists(str(tmp_path / "report" / "figures" / "per_worker_f1.png"))


def test_evaluate_cli_and_the_bundle_path(our_run, outside_model, tmp_path):
  rf_workdir, rf, processed_dir = our_run
  bundle = str(tmp_path / "splits.json")
  split_bundle.write(bundle, split_bundle.build(
      processed.ProcessedDataset.open(processed_dir).manifest, {"num_folds": 3}))
  out = str(tmp_path / "ext")
  proc = _run(["-m", "egoimu_jax.evaluate", f"--predictions={outside_model}",
               f"--split={bundle}", "--protocol=l20wo", "--fold=0",
               f"--processed_dir={processed_dir}", f"--out={out}",
               "--name=cli_model"])
  assert proc.returncode == 0, proc.stderr
  assert "worker" in proc.stdout and "p10" in proc.stdout
  res = results.read(out)
  assert res["name"] == "cli_model"
  assert res["extra"]["coverage"]["test"] == rf["extra"]["coverage"]["test"]
  # A trainer run is never overwritten by a submission.
  with pytest.raises(submission.SubmissionError, match="not an evaluated"):
    evaluation.evaluate(outside_model, bundle, processed_dir=processed_dir,
                        protocol="l20wo", fold=0, workdir=rf_workdir)


def _truth(processed_dir, split):
  ds = processed.ProcessedDataset.open(processed_dir)
  idx = ds.split_indices(split, "test")
  return ds.read(idx, fields=("window_id", "label", "worker_id")), ds.classes


def test_bad_submission_names_missing_duplicate_and_unknown_ids(our_run):
  _, rf, processed_dir = our_run
  truth, _ = _truth(processed_dir, rf["split"])
  ids = truth["window_id"].tolist()
  bad = ids[2:] + [ids[5], "w9999_c000/00000000"]   # 2 missing, 1 dup, 1 unknown
  with pytest.raises(submission.SubmissionError) as e:
    evaluation.evaluate({"window_id": bad, "pred": np.zeros(len(bad), int)},
                        rf["split"], processed_dir=processed_dir)
  msg = str(e.value)
  assert "1 window id(s) appear more than once" in msg and repr(ids[5]) in msg
  assert "1 window id(s) are not test windows of l20wo fold 0" in msg
  assert "'w9999_c000/00000000'" in msg
  assert f"2 of the {len(ids)} test windows are missing" in msg
  assert repr(ids[0]) in msg and repr(ids[1]) in msg


def test_submission_formats_and_value_checks(our_run, tmp_path):
  _, rf, processed_dir = our_run
  truth, classes = _truth(processed_dir, rf["split"])
  n, k = len(truth["label"]), len(classes)
  rng = np.random.default_rng(1)
  probs = rng.dirichlet(np.ones(k), n)
  order = rng.permutation(n)            # any row order is fine
  score = lambda preds: evaluation.evaluate(preds, rf["split"],
                                            processed_dir=processed_dir)
  # .npz with probabilities only: pred = arg-max, NLL reported.
  path = str(tmp_path / "p.npz")
  np.savez(path, window_id=truth["window_id"][order], probs=probs[order],
           classes=np.array(classes))
  m = score(path)["metrics"]["test"]
  assert m["macro_f1"] == pytest.approx(skm.f1_score(
      truth["label"], probs.argmax(1), labels=range(len(classes)),
      average="macro", zero_division=1.0))
  assert m["nll"] == pytest.approx(
      -np.mean(np.log(probs[np.arange(n), truth["label"]])), rel=1e-5)
  # Parquet with class names only: no NLL (no probabilities to score).
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  path = str(tmp_path / "p.parquet")
  names = np.array(classes)[truth["label"]]
  pq.write_table(pa.table({"window_id": truth["window_id"], "pred": names}), path)
  res = score(path)
  assert res["metrics"]["test"]["macro_f1"] == 1.0
  assert "nll" not in res["metrics"]["test"]
  assert res["extra"]["submission"]["probabilities"] is False
  # Probability columns in another order are matched by name.
  swapped = {"window_id": truth["window_id"], "probs": probs[:, ::-1],
             "classes": np.array(classes[::-1])}
  assert score(swapped)["metrics"]["test"]["nll"] == pytest.approx(
      m["nll"], rel=1e-5)
  bad = [
      ({"window_id": truth["window_id"], "probs": probs * 3}, "not a distribution"),
      ({"window_id": truth["window_id"], "pred": np.full(n, k)}, "outside"),
      ({"window_id": truth["window_id"], "pred": np.array(["nap"] * n)},
       "unknown classes"),
      ({"window_id": truth["window_id"], "probs": probs[:, :2]}, "shape"),
      ({"window_id": truth["window_id"]}, "pred and/or probs"),
  ]
  for preds, match in bad:
    with pytest.raises(submission.SubmissionError, match=match):
      score(preds)
  with pytest.raises(submission.SubmissionError, match="processed_dir"):
    evaluation.evaluate({"window_id": [], "pred": []}, rf["split"])


def test_cli_user_errors_are_one_line(our_run, tmp_path):
  _, rf, processed_dir = our_run
  cases = [
      (["-m", "egoimu_jax.export", f"--processed_dir={tmp_path}/none",
        f"--out={tmp_path}/x"], "not a complete processed dataset"),
      (["-m", "egoimu_jax.export", f"--processed_dir={processed_dir}",
        "--protocol=l30wo", f"--out={tmp_path}/x"], "unknown protocol"),
      (["-m", "egoimu_jax.export", f"--processed_dir={processed_dir}",
        "--fold=5", f"--out={tmp_path}/x"], "fold 5 is not in [0, 5)"),
  ]
  truth, _ = _truth(processed_dir, rf["split"])
  csv_path = tmp_path / "dup.csv"
  ids = truth["window_id"].tolist()
  csv_path.write_text("window_id,pred\n" + "".join(
      f"{w},0\n" for w in ids[1:] + [ids[1], "nope/00000000"]))
  split_path = tmp_path / "split.json"
  split_path.write_text(json.dumps(rf["split"]))
  cases.append((["-m", "egoimu_jax.evaluate", f"--predictions={csv_path}",
                 f"--split={split_path}", f"--processed_dir={processed_dir}",
                 f"--out={tmp_path}/ext"], "submission refused"))
  for args, expected in cases:
    proc = _run(args)
    assert proc.returncode == 2, (args, proc.stderr)
    lines = [l for l in proc.stderr.splitlines() if f"{args[1]}: error:" in l]
    assert len(lines) == 1 and expected in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
  assert not os.path.exists(tmp_path / "ext" / "results.json")


def test_worst_workers_table_pools_folds(tmp_path):
  rng = np.random.default_rng(0)
  workers = [f"w{i}" for i in range(10)]
  for fold in range(2):
    test = workers[fold::2]
    worker = np.repeat(test, 20)
    label = rng.integers(0, 3, len(worker))
    skill = np.array([1.0 - 0.08 * workers.index(w) for w in worker])
    pred = np.where(rng.random(len(label)) < skill, label, (label + 1) % 3)
    results.write(str(tmp_path / f"m_{fold}"), config={},
                  split={"protocol": "l20wo", "fold": fold, "test_workers": test},
                  model="m", classes=["a", "b", "c"],
                  predictions={"test": results.Predictions.from_probs(
                      np.arange(len(label)) + 1000 * fold,
                      [f"c{fold}/{i:08d}" for i in range(len(label))], worker,
                      label, np.eye(3)[pred])})
  from egoimu_jax.report import aggregate  # pylint: disable=g-import-not-at-top
  groups = aggregate.group(aggregate.load_runs([str(tmp_path / "m_*")]))
  table = tables.worst_workers_table(groups, threshold=0.6, n_boot=100)
  row = dict(zip(table.columns, table.rows[0]))
  f1 = aggregate.worker_f1(groups[("m", "l20wo", None)])
  values = np.array(list(f1.values()))
  assert row["test workers"] == 10
  assert row["worker-F1 p10 [95% CI]"].value == pytest.approx(
      np.percentile(values, 10))
  assert row["worker-F1 min"] == pytest.approx(values.min())
  assert row["worst worker"] == min(f1, key=f1.get)
  worst_runs = groups[("m", "l20wo", None)]
  assert row["worst worker windows"] == sum(
      r.per_worker[row["worst worker"]]["n"] for r in worst_runs
      if row["worst worker"] in r.per_worker)
  assert row["share below 0.6"] == pytest.approx(np.mean(values < 0.6))
  assert row["workers below 0.6"] == int((values < 0.6).sum())
  assert math.isfinite(row["worker-F1 p10 [95% CI]"].low)
