"""The transductive control (issue 22, item 8): pretraining on the training
workers only is the primary row, on all workers the secondary; the report
shows all − train, and the distillation table tells the two apart."""

import os

import numpy as np
import pytest
from sklearn import metrics as skm

from egoimu_jax.evaluation import results
from egoimu_jax.report import aggregate
from egoimu_jax.report import build
from egoimu_jax.report import distillation
from egoimu_jax.report import transductive

CLASSES = ["sit", "walk", "carry"]
WORKERS = [f"p{i:02d}" for i in range(12)]
PRETRAINED = {"name": "finetune", "pretrained": "/runs/pretrain"}
SCRATCH = {"name": "finetune", "pretrained": "", "from_scratch": True}


def _write(root, name, protocol, fold, skill, rng, task=None, model="enc"):
  """One run on fold ``fold`` (6 test workers); returns its macro-F1."""
  workers = WORKERS[6 * fold:6 * fold + 6]
  worker = np.repeat(workers, 20)
  label = np.random.default_rng(fold).integers(0, 3, len(worker))  # one dataset
  wrong = (label + rng.integers(1, 3, len(label))) % 3
  pred = np.where(rng.random(len(label)) < skill, label, wrong)
  probs = np.full((len(label), 3), 0.1)
  probs[np.arange(len(label)), pred] = 0.8
  index = np.arange(len(label))
  slug = "".join(ch if ch.isalnum() else "_" for ch in name)
  results.write(
      os.path.join(root, f"{slug}_{protocol}_{fold}"),
      config={"task": task or {"name": "supervised"}},
      split={"protocol": protocol, "fold": fold, "seed": 0,
             "test_workers": list(workers),
             "train_workers": [w for w in WORKERS if w not in workers]},
      model=model, name=name, classes=CLASSES,
      predictions={"test": results.Predictions(
          index=index, window_id=[f"c/{i}" for i in index], worker_id=worker,
          label=label, pred=pred, probs=probs)})
  return skm.f1_score(label, pred, labels=range(len(CLASSES)), average="macro",
                      zero_division=1.0)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """EVI-MAE-like runs (pretrained and scratch, from both pretrainings) and
  distillation runs (COMODO from both, the supervised baseline once)."""
  root = str(tmp_path_factory.mktemp("transductive"))
  rng = np.random.default_rng(0)
  f1 = {}
  for fold in range(2):
    for protocol in ("within", "l20wo"):
      for name, task, skill in (
          ("evimae imu (pretrained)", PRETRAINED, 0.9),
          ("evimae-pretrain_train imu (pretrained)", PRETRAINED, 0.65),
          ("evimae imu (scratch)", SCRATCH, 0.6),
          ("evimae-pretrain_train imu (scratch)", SCRATCH, 0.6),
          ("moment/comodo/svm", PRETRAINED, 0.85),
          ("moment/comodo-pretrain_train/svm", PRETRAINED, 0.7),
          ("moment/supervised/finetune", SCRATCH, 0.6)):
        f1[name, protocol, fold] = _write(root, name, protocol, fold, skill,
                                          rng, task=task)
  return root, f1


def test_all_minus_train_pairs_pretrained_runs_only(runs, tmp_path):
  root, f1 = runs
  groups = aggregate.group(aggregate.load_runs([os.path.join(root, "*")]))
  assert [(a[0], b[0], a[1]) for a, b in transductive.pairs(groups)] == [
      ("evimae-pretrain_train imu (pretrained)", "evimae imu (pretrained)",
       "within"),
      ("evimae-pretrain_train imu (pretrained)", "evimae imu (pretrained)",
       "l20wo"),
      ("moment/comodo-pretrain_train/svm", "moment/comodo/svm", "within"),
      ("moment/comodo-pretrain_train/svm", "moment/comodo/svm", "l20wo")]
  table = transductive.transductive_table(groups, n_boot=50)
  row = dict(zip(table.columns, table.rows[1]))      # evimae, l20wo
  assert row["run"] == "evimae imu (pretrained)"
  delta = row["Δ macro-F1 [95% CI]"]
  assert delta.value == pytest.approx(np.mean(
      [f1["evimae imu (pretrained)", "l20wo", k] -
       f1["evimae-pretrain_train imu (pretrained)", "l20wo", k]
       for k in range(2)]))
  assert delta.value > 0.1 and delta.low <= delta.value <= delta.high
  assert row["train macro-F1"].mean < row["all macro-F1"].mean
  j = table.columns.index("p (bootstrap)")
  assert table.columns[j + 1] == "q (bootstrap)"
  assert "training workers only" in table.note
  rep = build.build_report([os.path.join(root, "*")], str(tmp_path / "rep"),
                           n_boot=20, hard_cases="off")
  assert "transductive" in rep.tables
  assert "Transductive control" in (tmp_path / "rep" / "report.md").read_text()
  # Without the train runs there is nothing to pair.
  alone = {k: v for k, v in groups.items() if "pretrain_train" not in k[0]}
  assert transductive.transductive_table(alone) is None


def test_distillation_table_tells_the_populations_apart(runs):
  root, f1 = runs
  groups = aggregate.group(aggregate.load_runs([os.path.join(root, "*")]))
  table = distillation.distillation_table(groups, n_boot=50)
  cols = table.columns
  got = [(r[cols.index("method")], r[cols.index("pretrained on")])
         for r in table.rows]
  assert got == [("supervised", "–"), ("comodo", "train"), ("comodo", "all")]
  by = {r[cols.index("pretrained on")]: dict(zip(cols, r))
        for r in table.rows}
  # Both COMODO rows are compared with the one supervised baseline.
  for population, name in (("train", "moment/comodo-pretrain_train/svm"),
                           ("all", "moment/comodo/svm")):
    delta = by[population]["Δ cross vs supervised [95% CI]"]
    assert delta.value == pytest.approx(np.mean(
        [f1[name, "l20wo", k] - f1["moment/supervised/finetune", "l20wo", k]
         for k in range(2)]))
    assert by[population]["p (fold t)"] is not None
  for p in ("p (worker bootstrap)", "p (fold t)", "p (Wilcoxon, folds)"):
    assert cols[cols.index(p) + 1] == "q" + p[1:]
  assert by["–"]["q (worker bootstrap)"] is None   # the baseline itself
