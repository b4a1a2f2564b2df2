import csv
import io
import json
import os

import numpy as np
import pytest
from sklearn import metrics as skm

from egoimu_jax.evaluation import results
from egoimu_jax.report import aggregate
from egoimu_jax.report import build
from egoimu_jax.report import comparisons
from egoimu_jax.report import table_model
from egoimu_jax.report import tables

CLASSES = ["working", "break", "not_on_person"]
WORKERS = [f"w{i:02d}" for i in range(12)]
FOLDS = 3


def _fold_workers(fold):
  return WORKERS[fold::FOLDS]


def _f1(y, p):
  """macro-F1 over the fixed vocabulary (evaluation.metrics' convention)."""
  return skm.f1_score(y, p, labels=range(len(CLASSES)), average="macro",
                      zero_division=1.0)


def _write_run(root, name, protocol, fold, skill, rng, scale=None,
               drop_class=None, label=None, keep=None, shift=True):
  """A run on fold ``fold``'s test workers; ``label`` reuses another run's
  windows (the same data) and ``keep`` scores only part of them."""
  test = _fold_workers(fold)
  n_per = 40
  worker = np.repeat(test, n_per)
  if label is None:
    label = rng.integers(0, 3, len(worker))
    if drop_class is not None:
      label[label == drop_class] = 0
  # Person shift: later workers are harder for every model that did not
  # see them in training (``shift``), so their cross-within gap is larger.
  p = np.array([skill - 0.04 * WORKERS.index(w) * shift for w in worker])
  wrong = (label + rng.integers(1, 3, len(label))) % 3
  pred = np.where(rng.random(len(label)) < p, label, wrong)
  if drop_class is not None:     # class absent from labels and predictions
    pred[pred == drop_class] = 2
  probs = np.full((len(label), 3), 0.1)
  probs[np.arange(len(label)), pred] = 0.8
  # Record index encodes the worker, so the fake reader below can give each
  # worker its own noise level.
  index = np.array([1000 * WORKERS.index(w) for w in worker]) + np.arange(len(label))
  if keep is not None:
    worker, label, pred, probs, index = (a[keep] for a in (
        worker, label, pred, probs, index))
  split = {"protocol": protocol, "fold": fold, "seed": 0, "scale": scale,
           "test_workers": list(test),
           "train_workers": [w for w in WORKERS if w not in test][: (scale or 8)]}
  workdir = os.path.join(root, f"{name}_{protocol}_{scale}_{fold}")
  results.write(workdir, config={"protocol": {"scale": scale}}, split=split,
                model=name.split("-")[0], name=name, classes=CLASSES,
                predictions={"test": results.Predictions(
                    index=index, window_id=[f"c/{i}" for i in index],
                    worker_id=worker, label=label, pred=pred, probs=probs)})
  return label, pred


@pytest.fixture(scope="module")
def fake_runs(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("runs"))
  rng = np.random.default_rng(0)
  truth = {}
  for name, skill in (("good", 0.95), ("bad", 0.75)):
    for fold in range(FOLDS):
      # The within-person run tests every other window of the same people.
      drop = 1 if (name, fold) == ("bad", 2) else None
      label, pred = truth[(name, "l20wo", fold)] = _write_run(
          root, name, "l20wo", fold, skill, rng, drop_class=drop)
      keep = np.arange(len(label)) % 2 == 0
      truth[(name, "within", fold)] = _write_run(
          root, name, "within", fold, skill + 0.04, rng, label=label,
          keep=keep, shift=False, drop_class=drop) + (keep,)
    for scale in (4, 8):
      for fold in range(FOLDS):
        _write_run(root, name, "worker_scaling", fold, skill - 0.1 + 0.01 * scale,
                   rng, scale=scale)
  return root, truth


def _imu_reader(indices):
  """Raw windows whose noise grows with the worker's position (= difficulty)."""
  indices = np.asarray(indices)
  rng = np.random.default_rng(int(indices.sum()))
  sigma = 0.05 * (1 + indices // 1000)
  imu = rng.normal(0.0, 1.0, (len(indices), 200, 6)) * sigma[:, None, None]
  imu[..., 2] += 9.81
  return imu


def test_report_tables_numbers_and_figures(fake_runs, tmp_path):
  root, truth = fake_runs
  out = str(tmp_path / "report")
  rep = build.build_report([os.path.join(root, "*")], out, n_boot=200,
                           imu_reader=_imu_reader, reference="good")
  assert rep.runs == 2 * 2 * FOLDS + 2 * 2 * FOLDS
  main = rep.tables["main"]
  cols = main.columns
  row = {r[0]: r for r in main.rows}["good"]
  expected = [_f1(*truth[("good", "l20wo", f)]) for f in range(FOLDS)]
  cell = row[cols.index("l20wo macro-F1")]
  assert cell.mean == pytest.approx(np.mean(expected))
  assert cell.std == pytest.approx(np.std(expected, ddof=1))
  assert cell.n == FOLDS
  # The gap is on the windows both runs scored: the within-person ones.
  within, matched_cross = [], []
  for f in range(FOLDS):
    y, p, keep = truth[("good", "within", f)]
    within.append(_f1(y, p))
    yc, pc = truth[("good", "l20wo", f)]
    matched_cross.append(_f1(yc[keep], pc[keep]))
  gap = row[cols.index("gap within−l20wo")]
  assert gap.paired
  assert gap.value == pytest.approx(np.mean(within) - np.mean(matched_cross))
  g = dict(zip(rep.tables["gap"].columns, rep.tables["gap"].rows[1]))
  assert g["model"] == "good" and g["matched windows"] == FOLDS * 4 * 40 // 2
  assert g["gap [95% CI]"].low <= gap.value <= g["gap [95% CI]"].high
  # The CSV carries the same numbers as the Markdown.
  csv_rows = list(csv.DictReader(io.StringIO(main.to_csv())))
  good = [r for r in csv_rows if r["model"] == "good"][0]
  assert float(good["l20wo macro-F1_mean"]) == pytest.approx(np.mean(expected))
  assert f"{np.mean(expected):.3f} ± " in main.to_markdown()

  per_class = {(r[0], r[1]): r for r in rep.tables["per_class"].rows}
  bad_break = per_class[("bad", "l20wo")][3]      # "break" column
  assert bad_break.n == FOLDS - 1                 # absent in fold 2: not a 0

  # Each other model is compared with the reference once per protocol.
  sig = rep.tables["significance"]
  assert "Reference: good, chosen with --reference" in sig.note
  assert [r[:2] for r in sig.rows] == [["within", "bad"], ["l20wo", "bad"]]
  l20 = dict(zip(sig.columns, sig.rows[1]))
  delta = l20["Δ macro-F1 [95% CI]"]
  assert delta.low <= delta.value <= delta.high
  assert delta.value < -0.1 and l20["p (bootstrap)"] < 0.05
  assert not delta.flag    # 12 test workers resampled (4 per fold, 3 folds)

  ci = {(r[0], r[1]): r[2] for r in rep.tables["ci"].rows}
  assert ci[("good", "l20wo")].value == pytest.approx(np.mean(expected))
  assert ci[("good", "l20wo")].low < ci[("good", "l20wo")].high

  scaling = rep.tables["scaling"]
  assert [(r[0], r[2]) for r in scaling.rows][:2] == [("bad", "4"), ("bad", "8")]

  hard = rep.tables["hard_workers"]
  # Difficulty (cross − within on matched windows) follows the person shift.
  assert hard.rows[0][hard.columns.index("worker")] in WORKERS[-6:]
  corr = rep.tables["hard_case_correlations"]
  top = dict(zip(corr.columns, corr.rows[0]))
  assert top["statistic"] in ("acc_noise", "gyro_noise", "gravity_spread_deg")
  assert top["rho"] < -0.7
  for name in ("per_worker_f1", "confusion_good_l20wo", "scaling", "hard_cases"):
    for ext in ("png", "pdf"):
      path = os.path.join(out, "figures", f"{name}.{ext}")
      assert os.path.getsize(path) > 5000, path
  for name in rep.tables:
    assert os.path.exists(os.path.join(out, "tables", f"{name}.csv"))
  text = open(os.path.join(out, "report.md")).read()
  assert "figures/per_worker_f1.png" in text
  # Every figure has a caption, printed under it.
  assert "\n*Figure 1: Per-worker macro-F1 of each model" in text
  assert text.count("\n*Figure ") == text.count("![")
  assert len(list(csv.DictReader(open(os.path.join(out, "runs.csv"))))) == rep.runs


def test_hard_cases_auto_without_data_is_a_note(fake_runs, tmp_path):
  root, _ = fake_runs
  rep = build.build_report([os.path.join(root, "good_*")], str(tmp_path),
                           n_boot=50)
  assert "hard_workers" in rep.tables
  assert "hard_case_correlations" not in rep.tables
  assert any("processed" in n for n in rep.notes)
  with pytest.raises(FileNotFoundError, match="processed"):
    build.build_report([os.path.join(root, "good_*")], str(tmp_path),
                       n_boot=50, hard_cases="on")


def test_duplicate_runs_are_rejected(fake_runs, tmp_path):
  root, _ = fake_runs
  src = os.path.join(root, "good_l20wo_None_0")
  dup = tmp_path / "copy"
  dup.mkdir()
  for f in ("results.json", "predictions.npz"):
    (dup / f).write_bytes(open(os.path.join(src, f), "rb").read())
  with pytest.raises(ValueError, match="two runs of good / l20wo / fold 0"):
    aggregate.load_runs([src, str(dup)])


def test_table_formatting():
  t = table_model.Table("t", ["a", "b", "c"],
                   [["x", table_model.MeanStd(0.5, 0.1, 3), None],
                    ["y|z", None, 1e-5]])
  md = t.to_markdown()
  assert "0.500 ± 0.100" in md and "y\\|z" in md and "1e-05" in md
  rows = list(csv.reader(io.StringIO(t.to_csv())))
  assert rows[0] == ["a", "b_mean", "b_std", "b_n", "c"]
  assert rows[2][1:4] == ["", "", ""]


def test_runs_of_different_metric_versions_are_not_mixed(fake_runs, tmp_path):
  root, _ = fake_runs
  src = os.path.join(root, "good_l20wo_None_1")
  old = tmp_path / "old_run"
  old.mkdir()
  res = json.loads(open(os.path.join(src, "results.json")).read())
  res["metrics_version"] = 0
  res["name"] = "old"
  (old / "results.json").write_text(json.dumps(res))
  with pytest.raises(ValueError, match="metrics versions"):
    aggregate.load_runs([os.path.join(root, "good_l20wo_None_0"), str(old)])


def test_runs_scored_on_different_test_windows_are_not_paired(tmp_path):
  rng = np.random.default_rng(1)
  root = str(tmp_path / "runs")
  for name in ("imu_model", "video_model"):
    for fold in range(2):
      _write_run(root, name, "l20wo", fold, 0.9, rng)
  # The video model was scored only on windows with stored frames.
  for fold in range(2):
    for name, served, sha in (("video_model", 40, "aaaa"),
                              ("imu_model", 100, "bbbb")):
      path = os.path.join(root, f"{name}_l20wo_None_{fold}",
                          results.RESULTS_FILE)
      res = json.load(open(path))
      res.setdefault("extra", {})["coverage"] = {
          "test": {"served": served, "total": 100, "sha256": sha}}
      json.dump(res, open(path, "w"))
  groups = aggregate.group(aggregate.load_runs([os.path.join(root, "*")]))
  sig = comparisons.significance_table(groups, reference="imu_model",
                                      n_boot=50)
  assert not sig.rows
  assert "_model (l20wo: different test windows)" in sig.note
  assert "video_model (l20wo: 40%)" in tables.main_table(groups).note
