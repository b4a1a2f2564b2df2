"""Probes that score frozen features with scikit-learn classifiers.

Two protocols:

* :func:`linear_probe`: standardised features, multinomial logistic
  regression, C picked by validation macro-F1 (or stratified k-fold CV on the
  training set when there is no validation set), refit on the training set.
* :func:`comodo_svm_probe`: the protocol of COMODO (Chen et al., 2025,
  ``comodo/utils/svm_util.py``) so numbers are comparable with theirs:
  L2-normalise each feature vector, fit a StandardScaler on *all* training
  features, draw at most 10k stratified training samples
  (``train_test_split(..., random_state=0, stratify=y)``), then grid-search an
  RBF SVC (``gamma="scale"``, ``probability=True``) over
  C in {1e-4, ..., 1e4} with 5-fold CV (accuracy, their default scoring) and
  predict the arg-max of ``predict_proba``. Like theirs, tiny training sets
  (< 50 samples or < 5 per class on average) skip the search and use C = 1e5.

Both take numpy arrays and return a :class:`ProbeResult` with predictions,
class probabilities over ``range(num_classes)`` and the chosen
hyperparameters.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from typing import Any, Dict, Optional, Sequence

import numpy as np
from sklearn import linear_model
from sklearn import model_selection
from sklearn import preprocessing
from sklearn import svm

from egoimu_jax.evaluation import metrics as metrics_lib

COMODO_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4)
LINEAR_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


@dataclasses.dataclass
class ProbeResult:
  pred: np.ndarray                 # int32 [n_test]
  probs: np.ndarray                # float32 [n_test, num_classes]
  params: Dict[str, Any]           # chosen hyperparameters and selection scores


def linear_probe(train_x: np.ndarray, train_y: np.ndarray,
                 test_x: np.ndarray, *, num_classes: int,
                 val_x: Optional[np.ndarray] = None,
                 val_y: Optional[np.ndarray] = None,
                 c_grid: Sequence[float] = LINEAR_C_GRID, cv_folds: int = 5,
                 max_iter: int = 2000, class_weight: Optional[str] = "balanced",
                 seed: int = 0) -> ProbeResult:
  """Logistic-regression probe with C chosen on validation macro-F1."""
  train_x, train_y = _check_xy(train_x, train_y, "train", num_classes)
  test_x = _check_x(test_x, train_x.shape[1], "test")
  scaler = preprocessing.StandardScaler().fit(train_x)
  xs, ts = scaler.transform(train_x), scaler.transform(test_x)

  def make(c):
    return linear_model.LogisticRegression(
        C=c, max_iter=max_iter, class_weight=class_weight, random_state=seed)

  scores = {}
  if val_x is not None:
    val_x, val_y = _check_xy(val_x, val_y, "val", num_classes)
    vs = scaler.transform(_check_x(val_x, train_x.shape[1], "val"))
    for c in c_grid:
      pred = make(c).fit(xs, train_y).predict(vs)
      scores[c] = _macro_f1(val_y, pred, num_classes)
    selection = "val_macro_f1"
  else:
    folds = min(cv_folds, int(np.bincount(train_y).max()))
    if folds < 2:
      raise ValueError("linear_probe without val needs >= 2 samples of a class")
    cv = model_selection.StratifiedKFold(folds, shuffle=True, random_state=seed)
    for c in c_grid:
      pred = model_selection.cross_val_predict(make(c), xs, train_y, cv=cv)
      scores[c] = _macro_f1(train_y, pred, num_classes)
    selection = f"cv{folds}_macro_f1"
  best_c = max(c_grid, key=lambda c: (scores[c], -c))   # ties: stronger regularisation
  clf = make(best_c).fit(xs, train_y)
  probs = _full_probs(clf.predict_proba(ts), clf.classes_, num_classes)
  return ProbeResult(
      pred=probs.argmax(1).astype(np.int32), probs=probs,
      params={"C": float(best_c), "selection": selection,
              "scores": {str(c): s for c, s in scores.items()}})


def comodo_svm_probe(train_x: np.ndarray, train_y: np.ndarray,
                     test_x: np.ndarray, *, num_classes: int,
                     max_samples: int = 10_000,
                     c_grid: Sequence[float] = COMODO_C_GRID, cv_folds: int = 5,
                     n_jobs: Optional[int] = None,
                     class_weight: Optional[str] = None, seed: int = 0
                     ) -> ProbeResult:
  """COMODO's RBF-SVM protocol (see module docstring). ``val`` is not used.
  ``class_weight``: the SVC's (COMODO's own protocol: None)."""
  train_x, train_y = _check_xy(train_x, train_y, "train", num_classes)
  test_x = _check_x(test_x, train_x.shape[1], "test")
  train_x, test_x = _l2_normalise(train_x), _l2_normalise(test_x)
  scaler = preprocessing.StandardScaler().fit(train_x)
  xs, ts = scaler.transform(train_x), scaler.transform(test_x)
  n_labels = len(np.unique(train_y))
  params: Dict[str, Any] = {"n_train": int(len(train_y))}
  if len(train_y) // n_labels < 5 or len(train_y) < 50:
    clf = _svc(seed, C=1e5, class_weight=class_weight)
    with _svc_warnings():
      clf.fit(xs, train_y)
    params.update(C=1e5, selection="none (too few samples)")
  else:
    ys = train_y
    if len(train_y) > max_samples:
      xs, _, ys, _ = model_selection.train_test_split(
          xs, train_y, train_size=max_samples, random_state=seed, stratify=train_y)
    search = model_selection.GridSearchCV(
        _svc(seed, class_weight=class_weight), {"C": list(c_grid)},
        cv=cv_folds, n_jobs=n_jobs)
    with _svc_warnings():
      search.fit(xs, ys)
    clf = search.best_estimator_
    params.update(
        C=float(search.best_params_["C"]), selection=f"cv{cv_folds}_accuracy",
        n_fit=int(len(ys)),
        scores={str(c): float(s) for c, s in
                zip(c_grid, search.cv_results_["mean_test_score"])})
  probs = _full_probs(clf.predict_proba(ts), clf.classes_, num_classes)
  return ProbeResult(pred=probs.argmax(1).astype(np.int32), probs=probs,
                     params=params)


def _svc(seed: int, **kwargs) -> svm.SVC:
  """COMODO's SVC: RBF, gamma="scale", libsvm's internal Platt probabilities.

  scikit-learn 1.9 deprecates ``probability=True`` (removal planned for 1.11)
  in favour of ``CalibratedClassifierCV``, which calibrates one-vs-rest
  scores instead of libsvm's pairwise coupling and so gives slightly
  different probabilities and arg-max predictions. We keep the original to
  stay comparable with published COMODO numbers while the pinned version has it.
  """
  return svm.SVC(gamma="scale", probability=True, random_state=seed, **kwargs)


@contextlib.contextmanager
def _svc_warnings():
  """Silences only the ``probability`` deprecation (see ``_svc``)."""
  with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message=".*`probability` parameter was deprecated.*",
        category=FutureWarning)
    yield


def _l2_normalise(x: np.ndarray) -> np.ndarray:
  norm = np.linalg.norm(x, axis=1, keepdims=True)
  return x / np.maximum(norm, 1e-12)   # as torch.nn.functional.normalize


def _full_probs(probs: np.ndarray, seen: np.ndarray,
                num_classes: int) -> np.ndarray:
  """Scatters probabilities over the classes seen in training into ``[n, K]``."""
  out = np.zeros((probs.shape[0], num_classes), np.float32)
  out[:, np.asarray(seen, np.int64)] = probs
  return out


def _macro_f1(y, pred, num_classes):
  return float(metrics_lib.macro_f1(metrics_lib.confusion_matrix(y, pred, num_classes)))


def _check_x(x, dim, name):
  x = np.asarray(x, np.float64)
  if x.ndim != 2 or x.shape[1] != dim:
    raise ValueError(f"{name} features must be [n, {dim}], got {x.shape}")
  if not np.all(np.isfinite(x)):
    raise ValueError(f"{name} features contain NaN or inf")
  return x


def _check_xy(x, y, name, num_classes):
  x = np.asarray(x, np.float64)
  if x.ndim != 2:
    raise ValueError(f"{name} features must be [n, d], got {x.shape}")
  x = _check_x(x, x.shape[1], name)
  y = np.asarray(y)
  if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
    raise ValueError(f"{name} labels must be integer [{x.shape[0]}], got "
                     f"{y.dtype} {y.shape}")
  if y.size and (y.min() < 0 or y.max() >= num_classes):
    raise ValueError(f"{name} labels must lie in [0, {num_classes})")
  if len(np.unique(y)) < 2:
    raise ValueError(f"{name} labels have a single class; a probe needs two")
  return x, y.astype(np.int64)


def selection(params) -> dict:
  """``results.json``'s selection of a probe's model (``ProbeResult.params``):
  its hyperparameters by the probe's rule (validation macro-F1, or
  cross-validation on the training windows), or none."""
  rule = (params or {}).get("selection")
  if not rule:
    return {"rule": "none: fixed hyperparameters", "on": "none"}
  on = "val" if rule.startswith("val") else "train" if rule.startswith("cv") else "none"
  return {"rule": f"hyperparameters by {rule}", "on": on,
          "chosen": {k: v for k, v in params.items() if k in ("C",)}}
