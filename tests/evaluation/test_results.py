import json

import ml_collections
import numpy as np
import pytest
from sklearn import metrics as skm

from egoimu_jax.evaluation import results

CLASSES = ["working", "break", "not_on_person"]


def _predictions(rng, n=60, workers=("w1", "w2", "w3")):
  label = rng.integers(0, 3, n)
  probs = rng.dirichlet(np.ones(3), n)
  return results.Predictions.from_probs(
      index=np.arange(n) + 1000, window_id=[f"c{i}/{i:08d}" for i in range(n)],
      worker_id=np.array(workers)[np.arange(n) % len(workers)], label=label,
      probs=probs)


def test_write_then_read_round_trip(tmp_path):
  rng = np.random.default_rng(0)
  config = ml_collections.ConfigDict({"model": {"name": "x", "sizes": (1, 2)}})
  split = {"protocol": "l20wo", "fold": 2, "test_workers": ["w1", "w2", "w3"]}
  test = _predictions(rng)
  out = results.write(str(tmp_path), config=config, split=split, model="rf",
                      classes=CLASSES, name="classical_rf",
                      predictions={"test": test, "val": _predictions(rng, 30)},
                      extra={"C": np.float32(1.0)})
  on_disk = json.loads((tmp_path / "results.json").read_text())
  assert on_disk["protocol"] == "l20wo" and on_disk["fold"] == 2
  assert on_disk["config"]["model"]["sizes"] == [1, 2]
  assert on_disk["name"] == "classical_rf" and on_disk["model"] == "rf"
  m = on_disk["metrics"]["test"]
  assert m["macro_f1"] == pytest.approx(
      skm.f1_score(test.label, test.pred, average="macro"))
  assert set(m["per_class_f1"]) == set(CLASSES)
  assert m["n_workers"] == 3
  per_worker_f1 = [v["macro_f1"] for v in on_disk["per_worker"]["test"].values()]
  assert m["per_worker_f1_std"] == pytest.approx(np.std(per_worker_f1, ddof=1))
  assert "val" in on_disk["metrics"]
  back = results.read(str(tmp_path))
  assert back["metrics"] == out["metrics"]
  pred = results.read_predictions(str(tmp_path), back)
  np.testing.assert_array_equal(pred.index, test.index)
  np.testing.assert_array_equal(pred.window_id, test.window_id)
  np.testing.assert_allclose(pred.probs, test.probs)


def test_evaluate_nll_and_per_worker():
  label = np.array([0, 1, 1, 2])
  probs = np.array([[1.0, 0, 0], [0.5, 0.5, 0], [0, 1.0, 0], [0, 0, 1.0]])
  m, pw = results.evaluate(label, probs.argmax(1), ["a", "a", "b", "b"],
                           CLASSES, probs)
  assert m["nll"] == pytest.approx(np.log(2) / 4)
  assert pw["b"]["macro_f1"] == 1.0 and pw["a"]["n"] == 2


def test_predictions_validation():
  with pytest.raises(ValueError, match="duplicate"):
    results.Predictions(index=[1, 1], window_id=["a", "b"], worker_id=["w", "w"],
                        label=[0, 1], pred=[0, 1], probs=np.eye(2))
  with pytest.raises(ValueError, match="probs has shape"):
    results.Predictions(index=[1, 2], window_id=["a", "b"], worker_id=["w", "w"],
                        label=[0, 1], pred=[0, 1], probs=np.ones(2))


def test_read_errors_name_the_file(tmp_path):
  with pytest.raises(FileNotFoundError, match="results.json"):
    results.read(str(tmp_path))
  (tmp_path / "results.json").write_text("{bad")
  with pytest.raises(ValueError, match="not valid JSON"):
    results.read(str(tmp_path))
  (tmp_path / "results.json").write_text('{"model": "m"}')
  with pytest.raises(ValueError, match="missing fields"):
    results.read(str(tmp_path))


def test_remote_workdir_through_fsspec():
  from egoimu_jax.report import aggregate
  rng = np.random.default_rng(1)
  for fold in range(2):
    results.write(f"memory://egoimu_test_runs/m_{fold}", config={},
                  split={"protocol": "l20wo", "fold": fold}, model="m",
                  classes=CLASSES, predictions={"test": _predictions(rng)})
  runs = aggregate.load_runs(["memory://egoimu_test_runs/*"])
  assert sorted(r.fold for r in runs) == [0, 1]
  assert results.read_predictions(runs[0].workdir).index.shape == (60,)


def test_selection_is_recorded_and_never_the_test_split(tmp_path):
  rng = np.random.default_rng(5)
  common = dict(config={}, split={"protocol": "l20wo", "fold": 0},
                model="m", classes=CLASSES)
  res = results.write(str(tmp_path / "a"), predictions={"test": _predictions(rng)},
                      selection={"rule": "best val macro_f1", "on": "val"},
                      **common)
  assert json.loads((tmp_path / "a" / "results.json").read_text())[
      "selection"] == {"rule": "best val macro_f1", "on": "val"}
  assert res["selection"]["on"] == "val"
  with pytest.raises(ValueError, match="test split"):
    results.assemble(predictions={"test": _predictions(rng)},
                     selection={"rule": "best test F1", "on": "test"}, **common)
