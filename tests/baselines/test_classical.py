"""End to end: tiny synthetic dataset -> prepare -> split -> features -> fit ->
results.json -> report (with hard-case statistics read from the shards)."""

import glob
import json
import os

import numpy as np
import pytest
from sklearn import metrics as skm

from configs import classical as classical_config
from egoimu_jax import jobs
from egoimu_jax.baselines import classical as classical_lib
from egoimu_jax.evaluation import results
from egoimu_jax.input_pipeline.store import processed
from egoimu_jax.report import build

pytestmark = pytest.mark.slow


def _config(cache_dir, arg, protocol="l20wo"):
  config = classical_config.get_config(arg)
  config.data.cache_dir = cache_dir
  config.data.prepare.num_processes = 1
  config.protocol.name = protocol
  return config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("classical")
  cache = str(root / "cache")
  out = {}
  plan = [("tiny", "l20wo", f) for f in range(3)]    # 3 folds: every worker tested
  plan += [("tiny,estimator=logreg", "l20wo", 0), ("tiny", "within", 0)]
  for arg, protocol, fold in plan:
    name = arg.replace(",", "_").replace("=", "-")
    workdir = str(root / f"{name}_{protocol}_{fold}")
    config = _config(cache, arg, protocol)
    config.protocol.fold = fold
    out[(arg, protocol, fold)] = (workdir, jobs.JOBS.get("classical")(config, workdir))
  return root, cache, out


def test_results_follow_the_contract(runs):
  _, cache, out = runs
  workdir, res = out[("tiny", "l20wo", 0)]
  on_disk = results.read(workdir)
  assert on_disk["model"] == "classical_rf" and on_disk["protocol"] == "l20wo"
  split = json.load(open(os.path.join(workdir, "split.json")))
  assert on_disk["split"] == split
  ds = processed.ProcessedDataset.open(res["extra"]["processed_dir"])
  assert on_disk["classes"] == list(ds.classes)
  pred = results.read_predictions(workdir)
  np.testing.assert_array_equal(np.sort(pred.index), ds.split_indices(split, "test"))
  assert set(pred.worker_id) <= set(split["test_workers"])
  truth = ds.read(pred.index, fields=("label", "window_id"))
  np.testing.assert_array_equal(pred.label, truth["label"])
  np.testing.assert_array_equal(pred.window_id, truth["window_id"])
  m = on_disk["metrics"]["test"]
  assert m["macro_f1"] == pytest.approx(
      skm.f1_score(pred.label, pred.pred,
                   labels=range(len(on_disk["classes"])), average="macro",
                   zero_division=1.0))
  assert 0.0 <= m["macro_f1"] <= 1.0 and "val" in on_disk["metrics"]
  assert on_disk["selection"]["on"] in ("none", "val")
  logreg = results.read(out[("tiny,estimator=logreg", "l20wo", 0)][0])
  assert logreg["selection"]["on"] == "val" and "C" in logreg["selection"]["chosen"]
  assert on_disk["extra"]["n_features"] > 100
  # One feature cache per dataset, shared by all runs.
  assert len(glob.glob(os.path.join(cache, "features", "*.npy"))) == 1


def test_logreg_picks_c_on_val(runs):
  _, _, out = runs
  _, res = out[("tiny,estimator=logreg", "l20wo", 0)]
  params = res["extra"]["params"]
  assert params["selection"] == "val_macro_f1" and params["C"] in (0.01, 1.0)


def test_rerun_reuses_split_and_rejects_a_different_fold(runs):
  root, cache, out = runs
  workdir, first = out[("tiny", "l20wo", 0)]
  again = jobs.JOBS.get("classical")(_config(cache, "tiny"), workdir)
  assert again["metrics"]["test"] == first["metrics"]["test"]   # seeded, same split
  config = _config(cache, "tiny")
  config.protocol.fold = 1
  with pytest.raises(ValueError, match="fold"):
    jobs.JOBS.get("classical")(config, workdir)


def test_report_over_classical_runs_reads_imu_from_shards(runs, tmp_path):
  root, _, _ = runs
  rep = build.build_report([str(root / "tiny*")], str(tmp_path), n_boot=50,
                           hard_cases="on")
  names = {r[0] for r in rep.tables["main"].rows}
  assert names == {"classical_rf", "classical_logreg"}
  # Difficulty needs each person seen and unseen: within fold 0's people,
  # with IMU statistics read from the shards; too few for correlations.
  hard = rep.tables["hard_workers"]
  assert "motion_energy" in hard.columns
  within = results.read(str(root / "tiny_within_0"))["split"]["test_workers"]
  assert {r[hard.columns.index("worker")] for r in hard.rows} == set(within)
  assert "hard_case_correlations" not in rep.tables
  assert any("too few people for rank correlations" in n for n in rep.notes)
  assert os.path.exists(os.path.join(str(tmp_path), "figures",
                                     "confusion_classical_rf_l20wo.png"))
  sig = rep.tables["significance"]
  assert {r[1] for r in sig.rows} == {"classical_logreg"}
  assert "Reference: classical_rf" in sig.note


def test_frozen_teacher_embeddings_with_the_comodo_svm(runs, tmp_path):
  """Video baseline at scale: stored window embeddings + COMODO's SVM probe;
  windows without an embedding are left out and the coverage is recorded."""
  from egoimu_jax.input_pipeline.store import embeddings  # pylint: disable=g-import-not-at-top
  _, cache, out = runs
  workdir, _ = out[("tiny", "l20wo", 0)]
  processed_dir = results.read(workdir)["extra"]["processed_dir"]
  ds = processed.ProcessedDataset.open(processed_dir)
  rng = np.random.default_rng(0)
  # A teacher whose embedding is informative about the label; every fifth
  # window has none (e.g. its video was undecodable).
  keep = np.flatnonzero(np.arange(len(ds)) % 5 != 0)
  labels = ds.table.label[keep]
  vectors = rng.normal(0, 1, (len(keep), 16)).astype(np.float32)
  vectors[np.arange(len(keep)), labels] += 3.0
  with embeddings.EmbeddingWriter(processed_dir, "fake_teacher", dim=16) as w:
    w.add_indices(keep, vectors)
  config = _config(cache, "tiny,estimator=svm_comodo")
  config.classical.features = "teacher:fake_teacher"
  res = jobs.JOBS.get("classical")(config, str(tmp_path / "svm"))
  assert res["model"] == "fake_teacher_svm_comodo"
  cov = res["extra"]["coverage"]["test"]
  assert 0 < cov["served"] < cov["total"]
  assert res["metrics"]["test"]["n"] == cov["served"]
  assert res["metrics"]["test"]["macro_f1"] > 0.8
  bad = _config(cache, "tiny")
  bad.classical.features = "video"
  with pytest.raises(ValueError, match="features"):
    jobs.JOBS.get("classical")(bad, str(tmp_path / "bad"))


def test_video_teacher_probe_extracts_its_embeddings_on_first_use(tmp_path):
  """``teacher=<model>``: the set is extracted into the processed dataset by
  the first job that needs it, then reused."""
  config = _config(str(tmp_path / "cache"),
                   "tiny,estimator=svm_comodo,teacher=videomae")
  first = jobs.JOBS.get("classical")(config, str(tmp_path / "a"))
  assert first["model"] == "videomae_tiny_svm_comodo"
  cov = first["extra"]["coverage"]["test"]
  assert cov["served"] == cov["total"] > 0   # raw MP4s decoded where needed
  processed_dir = first["extra"]["processed_dir"]
  manifest = os.path.join(processed_dir, "egoimu", "teacher_videomae_tiny")
  assert os.path.isdir(manifest)
  again = jobs.JOBS.get("classical")(config, str(tmp_path / "b"))
  assert again["metrics"]["test"] == first["metrics"]["test"]


def test_class_weight_policy_reaches_the_forest(runs, monkeypatch, tmp_path):
  """``config.class_weights`` sets the forest's weighting and is recorded."""
  _, cache, out = runs
  assert results.read(out[("tiny", "l20wo", 0)][0])["extra"][
      "class_weights"] == "balanced"
  seen = []
  real = classical_lib.ensemble.RandomForestClassifier

  def recording(**kwargs):
    seen.append(kwargs["class_weight"])
    return real(**kwargs)

  monkeypatch.setattr(classical_lib.ensemble, "RandomForestClassifier",
                      recording)
  for policy in ("balanced", "none"):
    config = _config(cache, "tiny")
    config.class_weights = policy
    res = jobs.JOBS.get("classical")(config, str(tmp_path / policy))
    assert res["extra"]["class_weights"] == policy
  assert seen == ["balanced_subsample", None]
