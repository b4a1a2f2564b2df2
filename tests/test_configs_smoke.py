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

from config_testlib import load_config_module
from config_testlib import shrink_for_smoke_run
from egoimu_jax import config_lib
from egoimu_jax import durations
from egoimu_jax import errors
from egoimu_jax import jobs
from egoimu_jax import models
from egoimu_jax.evaluation import results
from egoimu_jax.input_pipeline.store import embeddings
from egoimu_jax.training import optim

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / "configs"
CONFIGS = sorted(p for p in CONFIG_DIR.glob("*.py")
                 if not p.name.startswith("_"))
# (config, recipe) for every named recipe a config file lists (``RECIPES``;
# "ours" is the config itself, run above).
RECIPES = [(p, name) for p in CONFIGS
           for name in getattr(load_config_module(p), "RECIPES", {})]


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



def _stages(config):
  """The configs that train: the run's, or each stage's (pretrain_finetune)."""
  if config.get("job", "train") != "pretrain_finetune":
    return [config]
  return [config_lib.merged(config, config[name])
          for name in ("pretrain", "finetune")]


@pytest.mark.parametrize("path, recipe", RECIPES,
                         ids=[f"{p.stem}:{r}" for p, r in RECIPES])
def test_recipe_builds(path, recipe):
  """Each paper recipe, full and tiny: named, its model builds and its
  learning-rate schedule resolves (cheap; the loop runs below)."""
  module = load_config_module(path)
  for arg in (f"recipe={recipe}", f"tiny,recipe={recipe}"):
    config = module.get_config(arg)
    assert config.recipe == recipe and config.name.endswith(f"-{recipe}")
    for stage in _stages(config):
      classifier = stage.task.name in ("supervised", "finetune")
      models.build(dict(stage.model, **({"num_classes": 3} if classifier
                                        else {})))
      kw = dict(batch_size=stage.input.batch_size, steps_per_epoch=10)
      total = durations.resolve(stage, "total", **kw)
      lr = optim.schedule(
          stage.optim, total,
          durations.resolve(stage, "warmup", default=0, total_steps=total,
                            **kw),
          durations.resolve(stage, "lr_decay_every", default=0, **kw))
      assert np.isfinite(float(lr(total // 2))) and float(lr(total // 2)) > 0


def test_unknown_recipe_is_one_line():
  module = load_config_module(CONFIG_DIR / "attend_discriminate.py")
  with pytest.raises(errors.ArgError,
                     match="unknown recipe 'author' .known: ours, authors, "
                     "plain.; did you mean 'authors'"):
    module.get_config("recipe=author")


# The recipes that bring a mechanism of their own into the loop (1 s windows
# at 50 Hz with overlapping training windows and Xavier init; step decay):
# trained tiny, 2 steps.
RUN_TINY = ["deepconvlstm:dl_for_har", "attend_discriminate:authors"]


@pytest.mark.parametrize("name", RUN_TINY)
def test_recipe_runs_tiny(name, tiny_cache, tmp_path):
  stem, recipe = name.split(":")
  assert (CONFIG_DIR / f"{stem}.py", recipe) in RECIPES
  config = load_config_module(CONFIG_DIR / f"{stem}.py").get_config(
      f"tiny,recipe={recipe}")
  config.data.cache_dir = tiny_cache
  shrink_for_smoke_run(config)
  summary = jobs.JOBS.get("train")(config, str(tmp_path))
  assert summary["extra"]["recipe"] == recipe
  assert math.isfinite(summary["metrics"]["test"]["macro_f1"])
