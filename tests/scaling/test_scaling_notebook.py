"""Sweep workdirs -> points (via the report aggregation) -> fits; and the
notebook runs top to bottom over them."""

import json
import os

import numpy as np
import pytest

from egoimu_jax.input_pipeline import splits
from egoimu_jax.report import aggregate
from egoimu_jax.report import build
from egoimu_jax.report import scaling_points
from egoimu_jax.report import scaling_tables
from egoimu_jax.scaling import power_law as pl
from launch.sweep import REPO_ROOT

LAWS = {"data_scaling": pl.PowerLaw(a=2.0, b=0.5, c=0.15),
        "worker_scaling": pl.PowerLaw(a=0.5, b=0.6, c=0.2)}
SCALES = {"data_scaling": (0.05, 0.1, 0.25, 0.5, 1.0),
          "worker_scaling": (0.125, 0.25, 0.5, 1.0)}
NOTEBOOK = os.path.join(REPO_ROOT, "scaling", "scaling_fits.ipynb")


def write_sweep(root, folds=3, noise=0.002):
  """Contract-5 results of a scaling sweep whose F1 follows LAWS."""
  pop = splits.Population.from_lists(
      {f"w{i:02d}": [f"w{i:02d}c{j:02d}" for j in range(30)] for i in range(40)},
      {f"w{i:02d}": 0.1 + 0.3 * (i % 7) / 7 for i in range(40)})
  rng = np.random.default_rng(0)
  for protocol, scales in SCALES.items():
    for scale in scales:
      for fold in range(folds):
        split = splits.make_split(dict(name=protocol, fold=fold, scale=scale), pop)
        field = "train_clips" if protocol == "data_scaling" else "train_workers"
        f1 = float(LAWS[protocol].f1(len(split[field])) + rng.normal(0, noise))
        workdir = root / "m" / protocol / f"s{scale}" / f"fold{fold}"
        workdir.mkdir(parents=True)
        results = {
            "schema": 1, "config": {"protocol": {"scale": scale}}, "split": split,
            "model": "m", "name": "m", "protocol": protocol, "fold": fold,
            "classes": ["working", "break", "not_on_person"],
            "metrics": {"test": {"macro_f1": f1, "accuracy": f1}},
            "per_worker": {"test": {w: {"macro_f1": f1, "n": 10}
                                    for w in split["test_workers"]}},
            "predictions": "predictions.npz"}
        (workdir / "results.json").write_text(json.dumps(results))
  return root


def test_points_use_actual_training_sizes(tmp_path):
  found = scaling_points.load([str(write_sweep(tmp_path) / "**" / "results.json")])
  assert sorted(found) == [("m", "data_scaling"), ("m", "worker_scaling")]
  data = found["m", "data_scaling"].by_size()
  assert data["n"].tolist() == [36, 72, 180, 360, 720] and set(data["count"]) == {3}
  assert found["m", "worker_scaling"].by_size()["n"].tolist() == [3, 6, 12, 24]
  f = pl.fit(found["m", "data_scaling"])
  assert f.law.b == pytest.approx(0.5, rel=0.2)
  assert f.law.c == pytest.approx(0.15, abs=0.03)


def test_notebook_is_clean_and_runs_headless(tmp_path, monkeypatch):
  with open(NOTEBOOK) as f:
    nb = json.load(f)
  assert nb["nbformat"] == 4
  code = [c for c in nb["cells"] if c["cell_type"] == "code"]
  assert code and all(c["outputs"] == [] and c["execution_count"] is None for c in code)
  root = write_sweep(tmp_path / "sweep")
  out = tmp_path / "fits"
  monkeypatch.setenv("EGOIMU_SWEEP_ROOT", str(root))
  monkeypatch.setenv("EGOIMU_N_BOOT", "20")
  monkeypatch.setenv("EGOIMU_FITS_OUT", str(out))
  monkeypatch.chdir(os.path.join(REPO_ROOT, "scaling"))   # as Jupyter would
  namespace = {}
  for cell in code:
    exec(compile("".join(cell["source"]), NOTEBOOK, "exec"), namespace)  # pylint: disable=exec-used
  text = (out / "fits.md").read_text()
  assert "### m — data scaling" in text and "### m — worker scaling" in text
  assert "| 500,000 |" in text and "| 1,000 |" in text
  # The held-out check sits next to each fit: data scaling has 4 sizes to
  # fit besides 720 clips, worker scaling 3 besides 24 workers.
  assert "predicting clips = 720 (3 runs)" in text
  assert "predicting workers = 24 (3 runs)" in text
  check = namespace["checks"]["m", "data_scaling"]
  assert abs(check.error) < 0.02 and check.resamples > 0
  assert (out / "scaling_fits.png").stat().st_size > 1000
  result, _ = namespace["fits"]["m", "worker_scaling"]
  assert result.law.c == pytest.approx(0.2, abs=0.05)


def test_report_scaling_fits_table_holds_the_check(tmp_path):
  root = write_sweep(tmp_path)
  runs = aggregate.load_runs([str(root / "**" / "results.json")])
  table = scaling_tables.scaling_fit_table(runs, n_boot=40)
  rows = {(r[0], r[1]): dict(zip(table.columns, r)) for r in table.rows}
  data = rows["m", "data_scaling"]
  assert data["sizes"] == 5 and data["folds"] == 3 and data["held-out n"] == 720
  assert data["observed F1"] == pytest.approx(
      np.mean([r.test["macro_f1"] for r in runs
               if r.protocol == "data_scaling" and r.scale == 1.0]))
  err = data["error (pred − obs) [95% CI]"]
  assert abs(err.value) < 0.02 and err.low <= err.value <= err.high
  assert data["relative error"] == pytest.approx(
      err.value / (1 - data["observed F1"]))
  assert data["c (error floor) [95% CI]"].value == pytest.approx(0.15, abs=0.05)
  assert "error (pred − obs) [95% CI]_low" in table.to_csv().splitlines()[0]
  # Three sizes fit the law but leave none to hold out: said in the row.
  few = [r for r in runs if r.protocol == "worker_scaling" and r.scale != 0.125]
  row = dict(zip(table.columns, scaling_tables.scaling_fit_table(few, n_boot=20).rows[0]))
  assert row["R²"] is not None and row["predicted F1 [95% CI]"] is None
  assert "no check" in row["note"] and ">= 4 sizes" in row["note"]
  # The report over scaling runs alone holds the fits (and no comparisons).
  rep = build.build_report([str(root / "**" / "results.json")],
                           str(tmp_path / "report"), n_boot=20,
                           hard_cases="off")
  assert len(rep.tables["scaling_fits"].rows) == 2
  assert not rep.tables["significance"].rows
  text = (tmp_path / "report" / "report.md").read_text()
  assert "| m | data_scaling | 5 | 3 |" in text
