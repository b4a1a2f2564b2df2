"""Sweep workdirs -> points (via the report aggregation) -> fits; and the
notebook runs top to bottom over them."""

import json
import os

import numpy as np
import pytest

from egoimu_jax.input_pipeline import splits
from launch.sweep import REPO_ROOT
from scaling import points as scaling_points
from scaling import power_law as pl

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
  assert (out / "scaling_fits.png").stat().st_size > 1000
  result, _ = namespace["fits"]["m", "worker_scaling"]
  assert result.law.c == pytest.approx(0.2, abs=0.05)
