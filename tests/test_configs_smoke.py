"""Every config in ``configs/`` runs its real job on a tiny variant.

Configs are discovered by globbing, so a new config is covered the moment it
lands. Each must build with no argument (the full variant) and with
``tiny``, and its tiny run must go end to end: ``train`` jobs for 2 steps,
other jobs (``classical``, ...) as their tiny variant defines. A config that
needs something not yet in the repository fails here with that error.
"""

import json
import math
import pathlib

import ml_collections
import numpy as np
import pytest

from egoimu_jax.evaluation import results
from egoimu_jax.input_pipeline.store import embeddings

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / "configs"
CONFIGS = sorted(p for p in CONFIG_DIR.glob("*.py")
                 if not p.name.startswith("_"))


def test_configs_are_found():
  assert {"deepconvlstm", "attend_discriminate", "classical", "evimae",
          "imu_mae"} <= {p.stem for p in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_runs_tiny(path, tiny_config_run):
  # The run (conftest.shrink_for_smoke_run) is shared with other tests
  # that need a trained run of the same config.
  smoke = tiny_config_run(path.stem)
  full = smoke.module.get_config(None)
  assert isinstance(full, ml_collections.ConfigDict)
  config, workdir, summary = smoke.config, smoke.workdir, smoke.summary
  job = config.get("job", "train")
  assert isinstance(summary, dict)
  if (workdir / results.RESULTS_FILE).exists():
    run = results.read(str(workdir))
    test = run["metrics"]["test"]
    assert math.isfinite(test["macro_f1"]) and test["n"] > 0
    # How the scored model was chosen, never on test (issue 22).
    assert run["selection"]["on"] in ("val", "train", "none"), run["selection"]
    predictions = results.read_predictions(str(workdir), run)
    assert len(predictions.index) == test["n"]
    # Every evaluation variant the config asks for (e.g. degraded video for
    # each video model) ran on the same test windows.
    for name in config.get("eval_variants", {}):
      variant = results.read(str(workdir / "variants" / name))
      assert variant["metrics"]["test"]["n"] == test["n"], name
  elif job == "pretrain_finetune":
    finetuned = list(workdir.glob(f"*/fold*/*/{results.RESULTS_FILE}"))
    assert finetuned, f"{path.name}: no fine-tuning results"
    if config.experiment.missing_modality or config.experiment.degraded_video:
      assert list(workdir.glob(
          f"*/fold*/*/variants/*/{results.RESULTS_FILE}")), "no test variants"
    assert (workdir / "report" / "report.md").exists()
  elif job == "extract_embeddings":
    # The teacher set has a vector for every window of the dataset.
    with open(workdir / embeddings.MANIFEST_FILE, encoding="utf-8") as f:
      manifest = json.load(f)
    counts = manifest["counts"]
    assert counts["records"] > 0 and counts["missing"] == 0, counts
    vectors = embeddings.EmbeddingSet.open(
        manifest["processed_dir"], manifest["name"]).read(
            np.arange(counts["records"]))
    assert vectors.shape == (counts["records"], manifest["dim"])
    assert np.isfinite(vectors).all()
  else:
    # Only non-classifier tasks (e.g. pre-training) may skip results.json.
    assert job == "train" and config.task.name != "supervised", (
        f"{path.name}: job {job!r} wrote no {results.RESULTS_FILE}")
