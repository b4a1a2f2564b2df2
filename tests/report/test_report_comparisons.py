"""Report tables a reader can use: comparisons with one reference and
pretrained vs scratch, no spread from one fold, intervals from few workers
and constant predictions flagged."""

import csv
import io
import json
import os

import numpy as np
import pytest
from sklearn import metrics as skm

from egoimu_jax import errors
from egoimu_jax.evaluation import results
from egoimu_jax.evaluation import stats
from egoimu_jax.report import aggregate
from egoimu_jax.report import build
from egoimu_jax.report import comparisons
from egoimu_jax.report import tables

CLASSES = ["sit", "walk", "carry"]
WORKERS = [f"p{i:02d}" for i in range(12)]


def _write(root, name, protocol, fold, skill, rng, *, workers=None, model=None,
           task=None, variant=None, constant=None, labels=None, val=None):
  """One run on fold ``fold`` (6 test workers each); returns its macro-F1.

  ``constant``: the class predicted for every window; ``labels``: the class
  of every window (default: random, the same for every run of the fold:
  one dataset); ``val``: also write validation predictions at this skill.
  """
  workers = workers or WORKERS[6 * fold:6 * fold + 6]
  worker = np.repeat(workers, 20)
  label = np.random.default_rng(fold).integers(0, 3, len(worker))
  if labels is not None:
    label[:] = labels
  wrong = (label + rng.integers(1, 3, len(label))) % 3
  pred = np.where(rng.random(len(label)) < skill, label, wrong)
  if constant is not None:
    pred[:] = constant
  probs = np.full((len(label), 3), 0.1)
  probs[np.arange(len(label)), pred] = 0.8
  index = np.arange(len(label))
  split = {"protocol": protocol, "fold": fold, "seed": 0,
           "test_workers": list(workers),
           "train_workers": [w for w in WORKERS if w not in workers]}
  slug = "".join(ch if ch.isalnum() else "_" for ch in name)
  predictions = {"test": results.Predictions(
      index=index, window_id=[f"c/{i}" for i in index], worker_id=worker,
      label=label, pred=pred, probs=probs)}
  if val is not None:
    v_pred = np.where(rng.random(len(label)) < val, label, wrong)
    predictions["val"] = results.Predictions.from_probs(
        index, [f"v/{i}" for i in index], worker, label, np.eye(3)[v_pred])
  results.write(
      os.path.join(root, f"{slug}_{protocol}_{fold}"),
      config={"task": task or {"name": "supervised"}}, split=split,
      model=model or name, name=name, classes=CLASSES,
      extra={"variant": variant} if variant else None,
      predictions=predictions)
  return _f1(label, pred)


def _f1(y, p):
  """macro-F1 over the fixed vocabulary (evaluation.metrics' convention)."""
  return skm.f1_score(y, p, labels=range(len(CLASSES)), average="macro",
                      zero_division=1.0)


def _groups(root, pattern="*"):
  return aggregate.group(aggregate.load_runs([os.path.join(root, pattern)]))


@pytest.fixture(scope="module")
def four_models(tmp_path_factory):
  """classical_rf and three others on two folds of l20wo and within."""
  root = str(tmp_path_factory.mktemp("four"))
  rng = np.random.default_rng(0)
  f1 = {}
  for name, skill, val in (("classical_rf", 0.8, 0.8), ("a", 0.6, 0.9),
                           ("b", 0.7, 0.7), ("c", 0.95, 0.5)):
    for protocol in ("within", "l20wo"):
      for fold in range(2):
        f1[name, protocol, fold] = _write(root, name, protocol, fold, skill,
                                          rng, val=val)
  return root, f1


def test_each_model_is_compared_with_the_reference_only(four_models):
  root, f1 = four_models
  groups = _groups(root)
  sig = comparisons.significance_table(groups, n_boot=100)
  assert sig.columns[:2] == ["protocol", "model"]
  for proto in ("within", "l20wo"):     # models − 1 rows per protocol
    assert [r[1] for r in sig.rows if r[0] == proto] == ["a", "b", "c"]
  assert "classical_rf" in sig.title
  assert "Reference: classical_rf, the random-forest baseline" in sig.note
  row = dict(zip(sig.columns, sig.rows[-1]))           # c vs classical_rf, l20wo
  delta = row["Δ macro-F1 [95% CI]"]
  assert delta.value == pytest.approx(
      np.mean([f1["c", "l20wo", k] - f1["classical_rf", "l20wo", k]
               for k in range(2)]))
  assert delta.low <= delta.value <= delta.high and row["folds"] == 2
  assert row["p (t, folds)"] is not None
  _assert_q_columns(sig)

  chosen = comparisons.significance_table(groups, reference="b", n_boot=20)
  assert [r[1] for r in chosen.rows if r[0] == "l20wo"] == ["a", "c", "classical_rf"]
  assert "Reference: b, chosen with --reference" in chosen.note
  with pytest.raises(errors.UserError, match="did you mean 'b'"):
    comparisons.significance_table(groups, reference="bb")

  # No random forest: the best on validation people is the reference (a,
  # although c is best on test); never chosen on test.
  others = {k: v for k, v in groups.items() if k[0] != "classical_rf"}
  name, why = comparisons.choose_reference(others)
  assert name == "a" and f1["c", "l20wo", 0] > f1["a", "l20wo", 0]
  assert why.startswith("best mean cross-person validation macro-F1 (0.")
  # Without validation scores there is no reference rather than a test pick.
  for rs in others.values():
    for r in rs:
      r.results["metrics"].pop("val", None)
  name, why = comparisons.choose_reference(others)
  assert name == "" and "never the test split" in why


def _assert_q_columns(table):
  """A q column right after every p column: BH over the table's rows."""
  ps = [c for c in table.columns if c.startswith("p (")]
  assert len(ps) == 4
  for p in ps:
    j = table.columns.index(p)
    assert table.columns[j + 1] == "q" + p[1:]
    p_col = [r[j] for r in table.rows]
    q_col = [r[j + 1] for r in table.rows]
    expected = stats.q_values(p_col)
    for q, e, pv in zip(q_col, expected, p_col):
      assert (q is None) == (pv is None)
      if q is not None:
        assert q == pytest.approx(e) and q >= pv - 1e-12
  assert "Benjamini-Hochberg" in table.note


def test_one_fold_shows_no_spread(tmp_path):
  rng = np.random.default_rng(1)
  for name in ("x", "y"):
    for protocol in ("within", "l20wo"):
      for fold in range(2):
        _write(str(tmp_path), name, protocol, fold, 0.8, rng)
  main = lambda g: tables.main_table(g, gaps=tables.matched_gaps(g, 50)[0])
  one = main(_groups(str(tmp_path), "*_0"))
  two = main(_groups(str(tmp_path)))
  row = lambda t: t.to_markdown().splitlines()[4]      # the first model, "x"
  assert row(one).startswith("| x | 0.") and "±" not in row(one)
  assert row(two).count("±") == len(two.columns) - 1   # every metric and the gap
  gap = one.rows[0][-1]
  assert gap.n == 1 and gap.paired and f"{gap.value:+.3f} †" in row(one)
  one_csv = list(csv.DictReader(io.StringIO(one.to_csv())))[0]
  assert one_csv["l20wo macro-F1_std"] == "" and one_csv["l20wo macro-F1_n"] == "1"
  assert one_csv["gap within−l20wo_se"] == ""
  two_csv = list(csv.DictReader(io.StringIO(two.to_csv())))[0]
  assert float(two_csv["l20wo macro-F1_std"]) > 0


def test_intervals_from_fewer_than_ten_workers_are_flagged(four_models, tmp_path):
  root, _ = four_models
  few = tables.ci_table(_groups(root, "*_0"), n_boot=50)     # 6 test workers
  many = tables.ci_table(_groups(root), n_boot=50)           # 12 over 2 folds
  assert {r[2].flag for r in few.rows} == {"few_workers"}
  assert {r[2].flag for r in many.rows} == {""}
  assert "‡" in few.to_markdown() and "‡" not in many.to_markdown()
  assert "fewer than 10 test workers" in few.to_markdown()
  header = few.to_csv().splitlines()[0]
  assert header.endswith("macro-F1 [95% CI]_flag,folds,test workers")
  rep = build.build_report([os.path.join(root, "*_0")], str(tmp_path / "rep"),
                           n_boot=30, hard_cases="off")
  text = (tmp_path / "rep" / "report.md").read_text()
  assert "\n‡ interval from fewer than 10 test workers" in text
  sig = rep.tables["significance"]
  assert {r[3].flag for r in sig.rows} == {"few_workers"}
  worst = rep.tables["worst_workers"]
  assert {r[4].flag for r in worst.rows} == {"few_workers"}


def test_constant_predictions_are_flagged(tmp_path):
  root = str(tmp_path)
  rng = np.random.default_rng(2)
  for fold in range(2):
    _write(root, "model", "l20wo", fold, 0.8, rng)
    _write(root, "model / dark", "l20wo", fold, 0.8, rng,
           constant=2 if fold == 1 else None)
  groups = _groups(root)
  runs = [r for rs in groups.values() for r in rs]
  constant = aggregate.constant_runs(runs)
  assert [(r.name, r.fold, c) for r, c in constant] == [("model / dark", 1, "carry")]
  main = tables.main_table(groups)
  flags = {r[0]: r[1].flag for r in main.rows}
  assert flags == {"model": "", "model / dark": "constant"}
  md = main.to_markdown()
  assert "model / dark (l20wo fold 1: 'carry')" in md
  assert "± 0." in md.splitlines()[5] and md.splitlines()[5].count("§") == 1
  csv_rows = {r["model"]: r for r in csv.DictReader(io.StringIO(main.to_csv()))}
  assert csv_rows["model / dark"]["l20wo macro-F1_flag"] == "constant"
  # Runs without a stored confusion matrix fall back to predictions.npz.
  dark = [r for r in runs if r.name == "model / dark" and r.fold == 1][0]
  path = os.path.join(dark.workdir, results.RESULTS_FILE)
  res = json.load(open(path))
  del res["metrics"]["test"]["confusion"]
  json.dump(res, open(path, "w"))
  again = aggregate.load_runs([dark.workdir])[0]
  assert [c for r, c in aggregate.constant_runs([again])] == ["carry"]
  # One class predicted where the test windows hold only that class is no
  # collapse: not flagged.
  _write(root, "one_class", "l20wo", 0, 1.0, rng, constant=0, labels=0)
  one = aggregate.load_runs([os.path.join(root, "one_class_l20wo_0")])
  assert one[0].test["macro_f1"] == 1.0 and not aggregate.constant_runs(one)


def test_pretrained_vs_scratch_pairs(tmp_path):
  root = str(tmp_path)
  rng = np.random.default_rng(3)
  f1 = {}
  pretrained = {"name": "finetune", "pretrained": "/runs/pretrain"}
  scratch = {"name": "finetune", "pretrained": ""}
  for fold in range(2):
    for init, task, skill in (("pretrained", pretrained, 0.9),
                              ("scratch", scratch, 0.6)):
      f1[init, fold] = _write(root, f"enc imu ({init})", "l20wo", fold, skill,
                              rng, model="enc", task=task)
      _write(root, f"enc imu ({init}) / noisy", "l20wo", fold, skill - 0.1,
             rng, model="enc", task=task, variant="noisy")
    _write(root, "classical_rf", "l20wo", fold, 0.8, rng)
    # Pretrained with no scratch partner: not paired.
    _write(root, "enc video (pretrained)", "l20wo", fold, 0.7, rng,
           model="enc", task=pretrained)
  groups = _groups(root)
  assert [(a[0], b[0]) for a, b in aggregate.init_pairs(groups)] == [
      ("enc imu (pretrained)", "enc imu (scratch)"),
      ("enc imu (pretrained) / noisy", "enc imu (scratch) / noisy")]
  table = comparisons.init_table(groups, n_boot=50)
  assert [r[:3] for r in table.rows] == [
      ["l20wo", "enc imu (pretrained)", "enc imu (scratch)"],
      ["l20wo", "enc imu (pretrained) / noisy", "enc imu (scratch) / noisy"]]
  delta = dict(zip(table.columns, table.rows[0]))["Δ macro-F1 [95% CI]"]
  assert delta.value == pytest.approx(
      np.mean([f1["pretrained", k] - f1["scratch", k] for k in range(2)]))
  assert delta.value > 0.1
  _assert_q_columns(table)
  rep = build.build_report([os.path.join(root, "*")], str(tmp_path / "rep"),
                           n_boot=20, hard_cases="off")
  assert "pretrained_vs_scratch" in rep.tables
  sig = rep.tables["significance"]
  # Test-time variants are not models: no significance rows of their own,
  # but a robustness row against their clean run.
  assert [r[1] for r in sig.rows] == ["enc imu (pretrained)",
                                      "enc imu (scratch)",
                                      "enc video (pretrained)"]
  robust = {(r[0], r[1]): dict(zip(rep.tables["robustness"].columns, r))
            for r in rep.tables["robustness"].rows}
  noisy = robust[("enc imu (pretrained)", "noisy")]
  assert noisy["runs"] == 2 and noisy["Δ (variant − clean)"].value < 0
  assert comparisons.init_table(_groups(root, "classical*"), n_boot=10) is None
