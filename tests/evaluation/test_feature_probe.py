"""The feature_probe job: a trained model's frozen features + the COMODO SVM
(or logistic regression), written as a run report understands."""

import math

import pytest

from configs import deepconvlstm as dcl_config
from egoimu_jax import jobs
from egoimu_jax.evaluation import results

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("estimator", ["svm_comodo", "logreg"])
def test_probe_of_a_trained_checkpoint(tiny_cache, tiny_config_run, tmp_path,
                                       estimator):
  # The configs smoke test's 2-step run of the same config (read only).
  trained = str(tiny_config_run("deepconvlstm").workdir)

  probe = dcl_config.get_config("tiny")
  probe.data.cache_dir = tiny_cache
  probe.job = "feature_probe"
  probe.task.name = "finetune"
  probe.task.pretrained = trained
  probe.probe.estimator = estimator
  res = jobs.JOBS.get("feature_probe")(probe, str(tmp_path / "probe"))
  assert res["name"] == f"deepconvlstm_{estimator}"
  test = res["metrics"]["test"]
  on_disk = results.read(str(tmp_path / "probe"))
  assert on_disk["metrics"]["test"]["n"] == test["n"] > 0
  assert math.isfinite(test["macro_f1"])
  cov = res["extra"]["coverage"]["test"]
  assert cov["served"] == cov["total"] == test["n"]
  # Same split, same test windows as the trained run: report pairs them.
  assert cov == results.read(trained)["extra"]["coverage"]["test"]
