"""The report's cross-person section on fake runs with known gains."""

import os

import numpy as np

from egoimu_jax.evaluation import results
from egoimu_jax.report import aggregate
from egoimu_jax.report import cross_person

CLASSES = ["a", "b", "c"]
WORKERS = [f"w{i:02d}" for i in range(12)]


def _write(root, name, protocol, fold, skill, seed, hard_bonus=0.0):
  test = WORKERS[fold::3]
  worker = np.repeat(test, 30)
  rng = np.random.default_rng(seed)
  label = rng.integers(0, 3, len(worker))
  # The last test worker of each fold is the hardest; hard_bonus helps it.
  p = np.where(worker == test[-1], skill - 0.4 + hard_bonus, skill)
  pred = np.where(rng.random(len(label)) < p, label, (label + 1) % 3)
  probs = np.eye(3)[pred] * 0.7 + 0.1
  index = np.arange(len(label)) + 1000 * fold
  results.write(
      os.path.join(root, f"{name.replace(' / ', '_')}_{protocol}_{fold}"),
      config={}, split={"protocol": protocol, "fold": fold,
                        "test_workers": list(test)},
      model="m", name=name, classes=CLASSES,
      predictions={"test": results.Predictions(
          index=index, window_id=[str(i) for i in index], worker_id=worker,
          label=label, pred=pred, probs=probs)})


def test_gains_spread_and_calibration_curve(tmp_path):
  root = str(tmp_path)
  for fold in range(3):
    # Same seed for a fold: same labels, so every difference is the method's.
    _write(root, "m", "l20wo", fold, 0.7, fold)
    _write(root, "m+groupdro", "l20wo", fold, 0.7, fold, hard_bonus=0.3)
    _write(root, "m / adabn", "l20wo", fold, 0.8, fold)
    _write(root, "m", "within", fold, 0.95, fold)
    for name, skill in (("m / calib_k0", 0.6), ("m / calib_head_k1", 0.7),
                        ("m / calib_head_k2", 0.8)):
      _write(root, name, "l20wo", fold, skill, 10 + fold)
  groups = aggregate.group(aggregate.load_runs([f"{root}/*"]))
  tables, figs = cross_person.section(groups, str(tmp_path / "fig"),
                                      n_boot=300)
  gains = {r[1]: dict(zip(tables["cross_person_gains"].columns, r))
           for r in tables["cross_person_gains"].rows}
  assert set(gains) == {"groupdro", "adabn"}   # calibration runs are not
  # GroupDRO lifts only the hardest people: the minimum moves, a lot.
  assert gains["groupdro"]["Δ min"] > 0.15
  assert gains["groupdro"]["gain (CI)"].value > 0
  assert gains["adabn"]["gain (CI)"].low > 0          # everyone better
  assert gains["adabn"]["folds"] == 3
  # Each p column has its Benjamini-Hochberg q beside it (issue 22).
  cols = tables["cross_person_gains"].columns
  for p in ("bootstrap p", "fold t p", "Wilcoxon p", "worker sign-flip p"):
    assert cols[cols.index(p) + 1] == p[:-1] + "q"
  assert all(g["bootstrap q"] >= g["bootstrap p"] for g in gains.values())
  curve = tables["calibration_curve"]
  rows = [dict(zip(curve.columns, r)) for r in curve.rows]
  assert [r["minutes"] for r in rows] == ["0", "1", "2"]
  assert rows[0]["gain over k=0 (CI)"] is None
  assert 0 < rows[1]["gap closed"] < rows[2]["gap closed"] < 1
  np.testing.assert_allclose(rows[2]["within ceiling"], np.mean(
      [r.test["macro_f1"] for r in groups[("m", "within", None)]]))
  assert any(f.endswith("calibration_curve.png") for f in figs)
