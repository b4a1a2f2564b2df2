"""The one class-weighting policy of every model, deep and classical.

``config.class_weights`` (set in ``config_lib.base``, so every config has
it; default ``"balanced"`` at every scale):

* ``"balanced"``: each training window counts ``n / (K * n_c)`` for its
  class ``c`` (scikit-learn's ``"balanced"``), counted on the split's
  training windows, so rare states count for macro-F1 as they do in
  evaluation. The supervised and fine-tune tasks weight the cross-entropy
  with it; scikit-learn models (forest, logistic regression, SVM probes) get
  ``class_weight="balanced"`` (the forest ``"balanced_subsample"``: the same
  weights counted on each tree's bootstrap sample);
* ``"none"``: unweighted, every model.

Runs record the policy in ``results.json`` (``extra.class_weights``).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from egoimu_jax import errors

POLICIES = ("balanced", "none")


class ClassWeightsError(errors.UserError, ValueError):
  """``config.class_weights`` is not a known policy."""


def policy(config) -> str:
  """The run's policy, checked (``config.class_weights``)."""
  if "class_weights" in config.get("task", {}):
    raise ClassWeightsError(
        "config.task.class_weights moved to config.class_weights (one "
        "policy for every model)")
  kind = str(config.get("class_weights", "balanced"))
  if kind not in POLICIES:
    raise ClassWeightsError(f"config.class_weights must be one of {POLICIES}, "
                            f"got {kind!r}")
  return kind


def weights(train_labels: np.ndarray, num_classes: int,
            kind: str) -> Optional[np.ndarray]:
  """Per-class loss weights ``[K]`` (float32), or None when unweighted.

  Classes without training windows get weight 0 (they cannot be learned).
  """
  if kind == "none":
    return None
  counts = np.bincount(np.asarray(train_labels, np.int64),
                       minlength=num_classes).astype(np.float64)
  out = np.where(counts > 0, counts.sum() / (num_classes *
                                             np.maximum(counts, 1)), 0.0)
  return out.astype(np.float32)


def sklearn(kind: str, *, forest: bool = False) -> Optional[str]:
  """scikit-learn's ``class_weight`` argument for the policy."""
  if kind == "none":
    return None
  return "balanced_subsample" if forest else "balanced"
