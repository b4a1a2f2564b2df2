"""The distill_evaluate plan: distillation first (shared, or per fold), then
each fold's evaluations of the distilled student and its baselines, with
the run names the RQ3 report reads."""

import importlib.util
import pathlib

import pytest

from egoimu_jax.experiments import distill_evaluate as de
from egoimu_jax.report import distillation

CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"


def get_config(name, arg="tiny"):
  spec = importlib.util.spec_from_file_location(f"{name}_config",
                                                CONFIGS / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def test_comodo_plan_with_baselines():
  config = get_config("comodo", "tiny,student=mantis,weights=/ckpt/m")
  config.experiment.update(folds=(0, 2), ways=("svm", "linear", "finetune"))
  stages = de.plan(config, "/w")
  distill = stages[0]
  assert distill.name == "distill" and distill.config.job == "train"
  c = distill.config
  assert (c.task.name, c.task.objective, c.protocol.name) == (
      "distill", "comodo", "pretrain")
  assert c.input.teacher == "timesformer_tiny" and "experiment" not in c
  evals = {s.name: s.config for s in stages[1:]}
  # 2 folds x 2 protocols x (3 ways + frozen + supervised).
  assert len(evals) == 20
  svm = evals["within/fold2/comodo-svm"]
  assert (svm.job, svm.task.pretrained, svm.name) == (
      "feature_probe", "/w/distill", "mantis/comodo/svm")
  assert svm.input.teacher == "" and svm.protocol.fold == 2
  linear = evals["l20wo/fold0/comodo-linear"]
  assert linear.optim.freeze == de.FREEZE_ENCODER
  assert linear.optim.lr == config.finetune.optim.lr  # the eval recipe
  assert linear.total_steps == config.finetune.total_steps
  frozen = evals["l20wo/fold0/frozen-svm"]
  assert (frozen.task.pretrained, frozen.task.pretrained_format) == (
      "/ckpt/m", "mantis")
  supervised = evals["l20wo/fold0/supervised-finetune"]
  assert supervised.job == "train" and supervised.optim.get("freeze", "") == ""
  for name, cfg in evals.items():
    assert distillation.parse_name(cfg.name) is not None, name


def test_imu2clip_plan_per_fold_distillation():
  config = get_config("imu2clip", "tiny,pretrain_on=train")
  config.experiment.update(folds=(1,), baselines=False)
  stages = de.plan(config, "/w")
  assert [s.name for s in stages] == [
      "distill/fold1", "l20wo/fold1/imu2clip-svm", "within/fold1/imu2clip-svm"]
  assert stages[0].config.protocol.fold == 1
  assert stages[0].config.input.teacher == "clip_vision_tiny"
  assert stages[1].config.task.pretrained == "/w/distill/fold1"
  # Distilled on the training workers only: the name says so (issue 22).
  assert stages[1].config.name == "imu2clip/imu2clip-pretrain_train/svm"
  config.experiment.baselines = True
  names = {s.config.name for s in de.plan(config, "/w")[1:]}
  assert names == {"imu2clip/imu2clip-pretrain_train/svm",
                   "imu2clip/frozen/svm", "imu2clip/supervised/finetune"}
  config.experiment.ways = ("zero_shot",)
  with pytest.raises(ValueError, match="zero_shot"):
    de.plan(config, "/w")


def test_run_names():
  assert distillation.parse_name("moment/comodo/svm") == (
      "moment", "comodo", "svm")
  assert distillation.parse_name("moment") is None
  assert distillation.parse_name("moment/dann/svm") is None
