"""The hyperparameter search: equal budgets, selection on validation only."""

import json
import os

import pytest

import launch
from launch.sweeps import hpsearch


def load(arg=""):
  return launch.load_sweep("launch/sweeps/hpsearch.py" + (":" + arg if arg
                                                         else ""))[1]


def test_every_model_gets_the_same_trials_on_the_same_folds():
  jobs = load("trials=4,patience=3")
  models = ("classical_rf", "deepconvlstm", "attend_discriminate")
  assert len(jobs) == len(models) * 4 * 5
  for model in models:
    mine = [j for j in jobs if j.tags["search_model"] == model]
    assert {(j.tags["trial"], j.tags["fold"]) for j in mine} == {
        (k, f) for k in range(4) for f in range(5)}
    points = {json.dumps({k: j.overrides[k] for k in hpsearch.SPACES[model]},
                         sort_keys=True) for j in mine}
    assert len(points) == 4  # distinct points of the model's grid
  dcl = next(j for j in jobs if j.tags["search_model"] == "deepconvlstm")
  assert dcl.overrides["early_stopping.patience"] == 3
  assert dcl.workdir == "deepconvlstm-trial0/l20wo/fold0"
  rf = next(j for j in jobs if j.tags["search_model"] == "classical_rf")
  assert "early_stopping.patience" not in rf.overrides  # not a trainer run
  assert load("trials=4,patience=3") == jobs            # seeded: stable
  assert hpsearch.trials("deepconvlstm", 4, 1) != hpsearch.trials(
      "deepconvlstm", 4, 0)
  with pytest.raises(ValueError, match="grid has only"):
    hpsearch.trials("moment", 100)


def _write(root, workdir, val, test, lr):
  path = os.path.join(root, workdir)
  os.makedirs(path)
  run = {"config": {"optim": {"lr": lr, "weight_decay": 0.0},
                    "input": {"batch_size": 64}},
         "metrics": {"val": {"macro_f1": val}, "test": {"macro_f1": test}}}
  with open(os.path.join(path, "results.json"), "w", encoding="utf-8") as f:
    json.dump(run, f)


def test_selection_uses_validation_people_never_test(tmp_path):
  root = str(tmp_path)
  # Trial 0: best on validation; trial 1: best on test, worse on val.
  for fold in (0, 1):
    _write(root, f"deepconvlstm-trial0/l20wo/fold{fold}", 0.8, 0.5, 1e-3)
    _write(root, f"deepconvlstm-trial1/l20wo/fold{fold}", 0.6, 0.9, 3e-3)
  # Trial 2 would win on validation but misses fold 1: it cannot compete.
  _write(root, "deepconvlstm-trial2/l20wo/fold0", 0.99, 0.99, 3e-4)
  _write(root, "deepconvlstm-trial0/l20wo/fold0-seed1", 0.7, 0.5, 1e-3)
  _write(root, "deepconvlstm-trial1/l20wo/fold0-seed1", 0.6, 0.9, 3e-3)
  _write(root, "deepconvlstm-trial1/l20wo/fold1-seed1", 0.6, 0.9, 3e-3)
  _write(root, "deepconvlstm-trial0/l20wo/fold1-seed1", 0.7, 0.5, 1e-3)
  chosen = hpsearch.select(root)["deepconvlstm"]
  assert chosen["trial"] == 0 and chosen["hparams"]["optim.lr"] == 1e-3
  assert chosen["val_macro_f1"] == pytest.approx(0.75)
  assert chosen["test_macro_f1"] == pytest.approx(0.5)
  assert (chosen["trials_complete"], chosen["trials_seen"]) == (2, 3)
  assert (chosen["folds"], chosen["seeds"]) == ([0, 1], [0, 1])
  hpsearch.main([f"--root={root}"])
  with open(tmp_path / hpsearch.SELECTION_FILE, encoding="utf-8") as f:
    assert json.load(f)["deepconvlstm"]["trial"] == 0
