"""Report tables mark the rows of runs started from random weights although
released ones exist (results.json ``init``)."""

import csv
import io
import os

import numpy as np

from egoimu_jax.evaluation import results
from egoimu_jax.report import aggregate
from egoimu_jax.report import build
from egoimu_jax.report import table_model

CLASSES = ["a", "b", "c"]
WORKERS = [f"w{i}" for i in range(6)]


def _write(root, name, config, fold, rng):
  test = WORKERS[fold::2]
  worker = np.repeat(test, 30)
  label = rng.integers(0, 3, len(worker))
  pred = np.where(rng.random(len(label)) < 0.8, label, (label + 1) % 3)
  results.write(
      os.path.join(root, f"{name}_{fold}"), config=config,
      split={"protocol": "l20wo", "fold": fold, "test_workers": test,
             "train_workers": [w for w in WORKERS if w not in test]},
      model=name, name=name, classes=CLASSES,
      predictions={"test": results.Predictions.from_probs(
          np.arange(len(label)), [f"c/{i}" for i in range(len(label))],
          worker, label, np.eye(3)[pred] * 0.9 + 0.1 / 3)})


def test_report_marks_random_init_rows(tmp_path):
  ckpt = tmp_path / "MOMENT-1-small"
  ckpt.mkdir()
  (ckpt / "model.safetensors").write_bytes(b"\0" * 16)
  pretrained = {"model": {"name": "moment"}, "task": {
      "name": "finetune", "pretrained": str(ckpt),
      "pretrained_format": "moment"}}
  random_init = {"model": {"name": "mantis"}, "task": {"name": "supervised"}}
  rng = np.random.default_rng(0)
  root = str(tmp_path / "runs")
  for fold in range(2):
    _write(root, "moment", pretrained, fold, rng)
    _write(root, "mantis", random_init, fold, rng)
  report = build.build_report([os.path.join(root, "*")], str(tmp_path / "out"),
                              n_boot=20, hard_cases="off")
  mark = table_model.RANDOM_INIT_MARK
  main = (tmp_path / "out" / "tables" / "main.md").read_text()
  assert f"| mantis {mark} |" in main and f"| moment {mark}" not in main
  assert f"{mark} {table_model.RANDOM_INIT_NOTE}" in main
  # Every table of the report carries the mark (here: the CI table too).
  assert f"| mantis {mark} |" in report.tables["ci"].to_markdown()
  rows = list(csv.DictReader(io.StringIO(
      (tmp_path / "out" / "tables" / "main.csv").read_text())))
  assert {r["model"]: r["random_init"] for r in rows} == {
      "mantis": "True", "moment": "False"}
  # A table without a random-init row is unchanged: no column, no footnote.
  clean = table_model.Table("t", ["model", "x"], [["moment", 1.0]],
                            random_init=frozenset({"mantis"}))
  assert mark not in clean.to_markdown()
  assert "random_init" not in clean.to_csv()


def _run(name, config):
  return aggregate.Run(
      workdir="w", name=name, model="moment", protocol="l20wo", fold=0,
      scale=None, classes=CLASSES, test={}, per_worker={}, test_workers=(),
      results={"config": config})   # written before init was recorded


def test_rows_split_into_columns_are_marked():
  """The distillation table splits ``<student>/<method>/<way>`` and shows
  the pretraining population in a column of its own."""
  names = aggregate.random_init_names([
      _run("moment/comodo-pretrain_train/svm", {"model": {"name": "moment"}}),
      _run("moment/frozen/svm", {"model": {"name": "deepconvlstm"}})])
  assert names == {"moment/comodo-pretrain_train/svm", "moment/comodo/svm"}
  table = table_model.Table(
      "rq3", ["student", "method", "way", "pretrained on", "f1"],
      [["moment", "comodo", "svm", "train", 0.5],
       ["moment", "frozen", "svm", "–", 0.4]], random_init=names)
  lines = table.to_markdown().splitlines()
  mark = table_model.RANDOM_INIT_MARK
  assert f"| moment {mark} | comodo | svm |" in lines[4]
  assert mark not in lines[5]
