"""Classification metrics built on confusion matrices.

Everything is computed from confusion matrices (rows: true class, columns:
predicted class) so that per-fold, per-worker and bootstrap metrics share one
code path and batch over leading axes: a per-worker confusion stack
``[workers, K, K]`` gives every worker's macro-F1 in one vectorised call.

One class set (the convention, tested against scikit-learn):

* Macro-F1 averages over the dataset's vocabulary, all K classes, in every
  evaluation set: a fold, a worker, a bootstrap replicate. A class's F1 is
  ``2 TP / (2 TP + FP + FN)``; a class with no true windows *and* no
  predictions in the set made no error and scores 1, one with no true
  windows but some predictions (false alarms) scores 0. That is
  ``sklearn.metrics.f1_score(y_true, y_pred, labels=range(K),
  average="macro", zero_division=1.0)``.
* Why fixed: averaging over the classes present lets the class set change
  from fold to fold, between protocols and between bootstrap replicates,
  so a difference of two macro-F1s partly measures which classes the test
  windows happened to hold (a within-person test set without a rare class
  against a cross-person one with it). With one set, two scores of the same
  windows differ only by the predictions.
* ``per_class_f1`` still reports NaN (``None`` in JSON) for a class without
  true windows, and ``support`` says how many each class had: the per-class
  tables show F1 where it was measured.
* ``balanced_accuracy``: the mean recall over the classes with true windows
  (``sklearn.metrics.balanced_accuracy_score``); recall has no value for a
  class the set does not hold.

The metrics are therefore finite for any non-empty evaluation set. An empty
set (no windows) has no metric and callers must not ask for one; the
vectorised functions return NaN there so a stacked computation never crashes.

Worst-served people (``worst_worker_metrics``): a wearable works or fails per
person, so next to the averages we report the 10th percentile and the minimum
of per-worker macro-F1 and the share of test workers below a threshold. The
percentile is ``np.percentile(f1, 10)`` (linear interpolation between order
statistics), as WILDS computes its per-user 10th percentile (Koh et al. 2021).
"""

from __future__ import annotations

from typing import Dict, Mapping, Sequence

import numpy as np

# Bump when a metric's definition changes; results.json records it so that
# report never mixes runs evaluated under different conventions.
METRICS_VERSION = 2  # 2: macro-F1 over the fixed vocabulary

# Per-worker macro-F1 below which a person counts as badly served, and the
# percentile of per-worker macro-F1 reported as the "worst-person" figure.
WORKER_F1_THRESHOLD = 0.7
WORKER_F1_PERCENTILE = 10


def confusion_matrix(labels: np.ndarray, preds: np.ndarray,
                     num_classes: int) -> np.ndarray:
  """``[K, K]`` int64 counts; row = true class, column = predicted class."""
  labels, preds = _check_labels(labels, preds, num_classes)
  flat = labels * num_classes + preds
  return np.bincount(flat, minlength=num_classes * num_classes).reshape(
      num_classes, num_classes)


def grouped_confusion(labels: np.ndarray, preds: np.ndarray,
                      groups: np.ndarray, num_groups: int,
                      num_classes: int) -> np.ndarray:
  """``[G, K, K]`` confusion matrices, one per group id in ``[0, G)``."""
  labels, preds = _check_labels(labels, preds, num_classes)
  groups = np.asarray(groups, np.int64)
  if groups.shape != labels.shape:
    raise ValueError(f"groups shape {groups.shape} != labels shape {labels.shape}")
  if groups.size and (groups.min() < 0 or groups.max() >= num_groups):
    raise ValueError(f"group ids must lie in [0, {num_groups})")
  k2 = num_classes * num_classes
  flat = groups * k2 + labels * num_classes + preds
  return np.bincount(flat, minlength=num_groups * k2).reshape(
      num_groups, num_classes, num_classes)


def per_class_f1(confusion: np.ndarray) -> np.ndarray:
  """F1 per class, ``[..., K]``; NaN for classes without true windows."""
  confusion = np.asarray(confusion, np.float64)
  tp = np.diagonal(confusion, axis1=-2, axis2=-1)
  support = confusion.sum(-1)      # TP + FN
  predicted = confusion.sum(-2)    # TP + FP
  denom = support + predicted      # 2TP + FP + FN, > 0 where support > 0
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(support > 0, 2.0 * tp / np.where(denom > 0, denom, 1.0),
                    np.nan)


def macro_f1(confusion: np.ndarray) -> np.ndarray:
  """Mean F1 over all K classes (module docstring: an absent class scores 1
  without predictions, 0 with), ``[...]``; NaN for an empty matrix."""
  confusion = np.asarray(confusion, np.float64)
  tp = np.diagonal(confusion, axis1=-2, axis2=-1)
  denom = confusion.sum(-1) + confusion.sum(-2)    # 2TP + FP + FN
  f1 = np.where(denom > 0, 2.0 * tp / np.where(denom > 0, denom, 1.0), 1.0)
  return np.where(confusion.sum((-2, -1)) > 0, f1.mean(-1), np.nan)


def balanced_accuracy(confusion: np.ndarray) -> np.ndarray:
  """Mean recall over the classes with true windows, ``[...]``; NaN for an
  empty matrix."""
  confusion = np.asarray(confusion, np.float64)
  support = confusion.sum(-1)
  tp = np.diagonal(confusion, axis1=-2, axis2=-1)
  recall = np.where(support > 0, tp / np.where(support > 0, support, 1.0), 0.0)
  present = (support > 0).sum(-1)
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(present > 0, recall.sum(-1) / np.maximum(present, 1),
                    np.nan)


def accuracy(confusion: np.ndarray) -> np.ndarray:
  """Fraction of correct windows, ``[...]``; NaN for an empty matrix."""
  confusion = np.asarray(confusion, np.float64)
  total = confusion.sum((-2, -1))
  correct = np.diagonal(confusion, axis1=-2, axis2=-1).sum(-1)
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(total > 0, correct / np.maximum(total, 1), np.nan)


def classification_metrics(labels: np.ndarray, preds: np.ndarray,
                           classes: Sequence[str]) -> Dict[str, object]:
  """Pooled metrics of one evaluation set, JSON-ready.

  Returns ``macro_f1``, ``accuracy``, ``per_class_f1`` (``{class: float |
  None}``; None = no true windows of the class), ``support``
  (``{class: int}``), ``confusion`` (``[[int]]``) and ``n``.
  """
  classes = list(classes)
  conf = confusion_matrix(labels, preds, len(classes))
  if conf.sum() == 0:
    raise ValueError("cannot compute metrics of an empty evaluation set")
  f1 = per_class_f1(conf)
  return {
      "macro_f1": float(macro_f1(conf)),
      "accuracy": float(accuracy(conf)),
      "per_class_f1": {c: _none_if_nan(v) for c, v in zip(classes, f1)},
      "support": {c: int(s) for c, s in zip(classes, conf.sum(1))},
      "confusion": conf.tolist(),
      "n": int(conf.sum()),
  }


def per_worker_metrics(labels: np.ndarray, preds: np.ndarray,
                       worker_ids: Sequence[str] | np.ndarray,
                       classes: Sequence[str]) -> Dict[str, Dict[str, object]]:
  """``{worker_id: {macro_f1, accuracy, n, confusion}}`` for every worker seen.

  The per-worker confusion matrix is kept so that worker-level bootstraps can
  be computed later from results.json alone.
  """
  worker_ids = np.asarray(worker_ids)
  if worker_ids.shape != np.shape(labels):
    raise ValueError(
        f"worker_ids shape {worker_ids.shape} != labels shape {np.shape(labels)}")
  names, inverse = np.unique(worker_ids, return_inverse=True)
  conf = grouped_confusion(labels, preds, inverse, len(names), len(classes))
  f1 = macro_f1(conf)
  acc = accuracy(conf)
  return {
      str(w): {"macro_f1": float(f1[i]), "accuracy": float(acc[i]),
               "n": int(conf[i].sum()), "confusion": conf[i].tolist()}
      for i, w in enumerate(names)
  }


def worst_worker_metrics(worker_f1: Sequence[float] | np.ndarray,
                         threshold: float = WORKER_F1_THRESHOLD
                         ) -> Dict[str, float]:
  """How the worst-served test workers fare, from per-worker macro-F1.

  Returns ``worker_f1_p10`` (the ``WORKER_F1_PERCENTILE``-th percentile),
  ``worker_f1_min``, ``share_workers_below`` (fraction of workers with
  macro-F1 strictly below ``threshold``) and ``worker_f1_threshold``.
  NaN entries (workers without windows) are ignored.
  """
  f1 = np.asarray(worker_f1, np.float64).ravel()
  f1 = f1[~np.isnan(f1)]
  if f1.size == 0:
    raise ValueError("worst_worker_metrics of no workers")
  if not 0.0 <= threshold <= 1.0:
    raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
  return {
      "worker_f1_p10": float(np.percentile(f1, WORKER_F1_PERCENTILE)),
      "worker_f1_min": float(f1.min()),
      "share_workers_below": float(np.mean(f1 < threshold)),
      "worker_f1_threshold": float(threshold),
  }


def mean_std(values: Sequence[float] | np.ndarray) -> Dict[str, float]:
  """Mean and sample standard deviation (ddof=1) of e.g. per-fold scores.

  With a single value the spread is unknown; we report std = 0.0 (not NaN)
  and ``n`` = 1 so tables stay finite and the reader can see why.
  """
  v = np.asarray(values, np.float64).ravel()
  v = v[~np.isnan(v)]
  if v.size == 0:
    raise ValueError("mean_std of no values")
  std = float(v.std(ddof=1)) if v.size > 1 else 0.0
  return {"mean": float(v.mean()), "std": std, "n": int(v.size)}


def generalisation_gap(within: Sequence[float] | np.ndarray,
                       cross: Sequence[float] | np.ndarray,
                       paired: bool = False) -> Dict[str, float]:
  """Within-person minus cross-person score (e.g. per-fold macro-F1).

  ``paired=True`` when fold k of both protocols tests the same workers (our
  ``within`` split reuses l20wo fold k's test workers): the gap is the mean of
  the per-fold differences and ``se`` the standard error of that mean.
  Otherwise the gap is the difference of the fold means and ``se`` is
  ``sqrt(s_w² / n_w + s_c² / n_c)``. A single fold contributes no spread
  (se terms of 0), as in ``mean_std``.
  """
  if paired:
    w, c = np.asarray(within, np.float64), np.asarray(cross, np.float64)
    if w.shape != c.shape:
      raise ValueError(f"paired gap needs equal fold counts, got {w.shape} and {c.shape}")
    d = mean_std(w - c)
    return {"gap": d["mean"], "se": float(np.sqrt(_var_of_mean(d))),
            "within": float(w.mean()), "cross": float(c.mean()), "paired": True}
  w, c = mean_std(within), mean_std(cross)
  se = np.sqrt(_var_of_mean(w) + _var_of_mean(c))
  return {"gap": w["mean"] - c["mean"], "se": float(se),
          "within": w["mean"], "cross": c["mean"], "paired": False}


def _var_of_mean(s: Mapping[str, float]) -> float:
  return s["std"] ** 2 / s["n"] if s["n"] > 1 else 0.0


def _none_if_nan(x: float) -> float | None:
  return None if np.isnan(x) else float(x)


def _check_labels(labels, preds, num_classes):
  labels = np.asarray(labels)
  preds = np.asarray(preds)
  if labels.shape != preds.shape or labels.ndim != 1:
    raise ValueError(
        f"labels and preds must be 1-D of equal length, got {labels.shape} "
        f"and {preds.shape}")
  for name, a in (("labels", labels), ("preds", preds)):
    if a.size and not np.issubdtype(a.dtype, np.integer):
      raise ValueError(f"{name} must be integer class indices, got {a.dtype}")
    if a.size and (a.min() < 0 or a.max() >= num_classes):
      raise ValueError(
          f"{name} must lie in [0, {num_classes}), got range "
          f"[{a.min()}, {a.max()}]")
  return labels.astype(np.int64), preds.astype(np.int64)
