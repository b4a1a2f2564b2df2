"""Pretrained weights in sweeps (launch/weights.py): ``weights.<model>=DIR``
reaches each model's config, and the papers' scale refuses random init."""

import os
import subprocess
import sys

import pytest

import launch
from egoimu_jax import errors
from launch import config_paths
from launch import weights
from launch.sweep import REPO_ROOT


def load(spec):
  return launch.load_sweep(os.path.join("launch/sweeps", spec))[1]


def test_split_takes_the_weights_parts_out():
  rest, w = weights.split("models=moment,weights.moment=/m,class_weights="
                          "balanced,mantis_weights=/old,allow_random_init")
  assert rest == "models=moment,class_weights=balanced"
  assert (w.get("moment"), w.get("mantis"), w.allow_random_init) == (
      "/m", "/old", True)
  assert weights.split(w.arg()) == ("", w)
  with pytest.raises(errors.ArgError, match="did you mean 'moment'"):
    weights.split("weights.momnet=/m")


def test_papers_scale_refuses_random_init_in_one_line():
  with pytest.raises(weights.RandomInitError) as e:
    load("har_models.py:models=deepconvlstm+moment+mantis")
  message = str(e.value)
  assert isinstance(e.value, errors.UserError) and "\n" not in message
  assert "weights.mantis=DIR,weights.moment=DIR" in message
  assert weights.ALLOW in message and "deepconvlstm" not in message
  # Allowed explicitly, or at the tiny and CPU scales.
  assert load("har_models.py:models=moment,allow_random_init=True")
  assert load("har_models.py:models=moment,cpu=True,folds=1")
  assert load("video_models.py:models=slowfast,tiny=True")
  # Given, the directory reaches the jobs; only the missing one is named.
  with pytest.raises(weights.RandomInitError, match="^mantis would"):
    load("har_models.py:models=moment+mantis,weights.moment=/m")


def test_reproduce_names_every_missing_model():
  with pytest.raises(weights.RandomInitError) as e:
    load("reproduce.py:scale=pilot,experiments=A+B,weights.moment=/m")
  assert e.value.models == ("mantis", "slowfast", "timesformer", "videomae")
  jobs = load("reproduce.py:scale=pilot,experiments=B,"
              "weights.timesformer=/t,weights.videomae=/v,weights.slowfast=/s")
  tune = {j.name: j.config for j in jobs if "finetune/l20wo/fold0" in j.name}
  assert tune == {"B/timesformer_finetune/l20wo/fold0":
                  "configs/timesformer.py:weights=/t",
                  "B/videomae_finetune/l20wo/fold0":
                  "configs/videomae.py:weights=/v",
                  "B/slowfast_finetune/l20wo/fold0":
                  "configs/slowfast.py:weights=/s"}
  probe = [j for j in jobs if j.name == "B/slowfast_linear_probe/l20wo/fold0"]
  assert {k: probe[0].overrides[k] for k in (
      "teacher.weights", "teacher.weights_format")} == {
          "teacher.weights": "/s", "teacher.weights_format": "slowfast"}


@pytest.mark.parametrize("model", ["timesformer", "videomae", "slowfast"])
def test_video_configs_fine_tune_the_given_weights(model):
  module = config_paths._module(model)  # pylint: disable=protected-access
  assert module.get_config("tiny").task.name == "supervised"
  task = module.get_config("tiny,weights=/ckpt/x").task
  assert (task.name, task.pretrained, task.pretrained_format) == (
      "finetune", "/ckpt/x", model)


def test_launch_run_prints_the_refusal(tmp_path):
  r = subprocess.run(
      [sys.executable, "-m", "launch.run",
       "--sweep=launch/sweeps/har_models.py:models=mantis",
       f"--root={tmp_path}"], cwd=REPO_ROOT, capture_output=True, text=True)
  assert r.returncode == errors.EXIT_CODE
  assert r.stderr.strip().count("\n") == 0, r.stderr
  assert "weights.mantis=DIR" in r.stderr
