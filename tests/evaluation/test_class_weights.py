"""The one class-weighting policy: weights, scikit-learn mapping, defaults."""

import pathlib

import numpy as np
import pytest

from config_testlib import load_config_module
from egoimu_jax import config_lib
from egoimu_jax.evaluation import class_weights

CONFIGS = sorted((pathlib.Path(__file__).resolve().parents[2] / "configs"
                  ).glob("*.py"))


def test_weights_and_sklearn_mapping():
  np.testing.assert_allclose(
      class_weights.weights(np.array([0] * 6 + [1] * 2), 3, "balanced"),
      [8 / 18, 8 / 6, 0.0])
  assert class_weights.weights(np.array([0, 1]), 2, "none") is None
  assert class_weights.sklearn("balanced") == "balanced"
  assert class_weights.sklearn("balanced", forest=True) == "balanced_subsample"
  assert class_weights.sklearn("none", forest=True) is None


def test_policy_is_checked():
  config = config_lib.base()
  assert class_weights.policy(config) == "balanced"
  config.class_weights = "inverse"
  with pytest.raises(class_weights.ClassWeightsError, match="one of"):
    class_weights.policy(config)



@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_defaults_to_balanced(path):
  config = load_config_module(path).get_config(None)
  assert config.class_weights == "balanced"
  assert "class_weights" not in config.get("task", {})
