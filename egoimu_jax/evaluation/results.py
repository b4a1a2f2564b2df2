"""A run's results: ``results.json`` + ``predictions.npz`` (Contract 5).

Every job ends with :func:`write`: it turns per-window predictions into the
metrics dict with :func:`evaluate` (the single place where that happens, so
every model's numbers are computed the same way) and writes both files into
the workdir. ``report`` reads runs back with :func:`read`. Models trained
outside this codebase get the same files from ``python -m
egoimu_jax.evaluate`` (``evaluation.submission``).

Layout of ``results.json``::

  {"config": {...}, "split": {...}, "model": str, "name": str,
   "protocol": str, "fold": int, "classes": [...],
   "metrics": {"test": {...}, "val": {...}},
   "per_worker": {"test": {worker_id: {macro_f1, accuracy, n, confusion}}},
   "predictions": "predictions.npz", "extra": {...}, "schema": 1,
   "init": {...}, "metrics_version": 1}

``init`` says where the model's (and a teacher's) weights started:
released pretrained weights (format, path, fingerprint), a run of ours,
random although released weights exist, or scratch (``init_record``).

plus, for a split whose test people also train (within-person), and when
the job passes the training windows' classes, ``"unseen_class_test_windows":
{"total", "share", "per_worker": {worker_id: n}}``: test windows whose class
is absent from that person's training part (no model can learn them from
the person; see ``unseen_class_windows``).

``name`` (defaults to ``model``) labels the run's row in report tables, so two
variants of one model family (``classical_rf``/``classical_logreg``, or an
ablation) stay apart. ``extra`` holds job-specific facts (chosen
hyperparameters, timings). ``predictions.npz`` holds the test windows'
``index``, ``window_id``, ``worker_id``, ``label``, ``pred``, ``probs``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from typing import (Any, Dict, Iterable, List, Mapping, Optional,
                    Sequence, Tuple)

import fsspec
import numpy as np

from egoimu_jax import init_record
from egoimu_jax.evaluation import metrics as metrics_lib

RESULTS_FILE = "results.json"
PREDICTIONS_FILE = "predictions.npz"
# <run>/variants/<name>/: the same run evaluated another way (a test-time
# variant or a per-person adaptation), each a run of its own.
VARIANTS_DIR = "variants"
SCHEMA = 1
_PRED_FIELDS = ("index", "window_id", "worker_id", "label", "pred", "probs")


@dataclasses.dataclass
class Predictions:
  """Per-window outputs of one evaluation set, in any order."""
  index: np.ndarray        # int64 [n], global record index
  window_id: np.ndarray    # str [n]
  worker_id: np.ndarray    # str [n]
  label: np.ndarray        # int32 [n]
  pred: np.ndarray         # int32 [n]
  probs: np.ndarray        # float32 [n, K]

  def __post_init__(self):
    self.index = np.asarray(self.index, np.int64)
    self.window_id = np.asarray(self.window_id).astype(str)
    self.worker_id = np.asarray(self.worker_id).astype(str)
    self.label = np.asarray(self.label, np.int32)
    self.pred = np.asarray(self.pred, np.int32)
    self.probs = np.asarray(self.probs, np.float32)
    n = self.index.shape[0]
    for name in _PRED_FIELDS[:-1]:
      if getattr(self, name).shape != (n,):
        raise ValueError(f"predictions.{name} has shape "
                         f"{getattr(self, name).shape}, expected ({n},)")
    if self.probs.ndim != 2 or self.probs.shape[0] != n:
      raise ValueError(f"predictions.probs has shape {self.probs.shape}, "
                       f"expected ({n}, num_classes)")
    if len(np.unique(self.index)) != n:
      raise ValueError("predictions.index has duplicate windows (padding not "
                       "masked out, or a window evaluated twice)")

  @classmethod
  def from_probs(cls, index, window_id, worker_id, label, probs) -> "Predictions":
    """Predictions as the arg-max of ``probs``."""
    probs = np.asarray(probs, np.float32)
    return cls(index, window_id, worker_id, label, probs.argmax(-1), probs)

  def arrays(self) -> Dict[str, np.ndarray]:
    return {f: getattr(self, f) for f in _PRED_FIELDS}


def evaluate(label: np.ndarray, pred: np.ndarray,
             worker_id: Sequence[str] | np.ndarray, classes: Sequence[str],
             probs: Optional[np.ndarray] = None,
             worker_f1_threshold: float = metrics_lib.WORKER_F1_THRESHOLD
             ) -> Tuple[Dict[str, Any], Dict[str, Dict[str, Any]]]:
  """(labels, preds, worker ids[, probs]) -> (metrics, per_worker).

  ``metrics``: pooled ``macro_f1``, ``accuracy``, ``per_class_f1``,
  ``support``, ``confusion``, ``n``, plus the spread of per-worker macro-F1
  over workers (``per_worker_f1_mean``, ``per_worker_f1_std`` with ddof=1,
  ``n_workers``), the worst-served workers (``worker_f1_p10``,
  ``worker_f1_min``, ``share_workers_below`` ``worker_f1_threshold``; see
  ``metrics.worst_worker_metrics``) and, when ``probs`` is given, the mean
  negative log-likelihood ``nll``. See ``metrics`` for the absent-class
  convention.
  """
  classes = list(classes)
  out = metrics_lib.classification_metrics(label, pred, classes)
  per_worker = metrics_lib.per_worker_metrics(label, pred, worker_id, classes)
  worker_f1 = [w["macro_f1"] for w in per_worker.values()]
  spread = metrics_lib.mean_std(worker_f1)
  out.update(per_worker_f1_mean=spread["mean"], per_worker_f1_std=spread["std"],
             n_workers=spread["n"])
  out.update(metrics_lib.worst_worker_metrics(worker_f1, worker_f1_threshold))
  if probs is not None:
    probs = np.asarray(probs, np.float64)
    if probs.shape != (len(label), len(classes)):
      raise ValueError(f"probs has shape {probs.shape}, expected "
                       f"({len(label)}, {len(classes)})")
    picked = probs[np.arange(len(label)), np.asarray(label)]
    out["nll"] = float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0))))
  return out, per_worker


def seen_classes(table: Any, indices: np.ndarray) -> Dict[str, List[int]]:
  """Worker id -> sorted class indices of its windows among ``indices``.

  ``table`` is a processed dataset's ``RecordTable``; pass the windows a
  model was trained on, as ``train_classes`` of ``assemble`` / ``write``.
  """
  indices = np.asarray(indices, np.int64)
  pairs = np.unique(np.stack([table.worker[indices], table.label[indices]],
                             axis=1), axis=0) if len(indices) else ()
  out: Dict[str, List[int]] = {}
  for w, label in pairs:
    out.setdefault(table.workers[int(w)], []).append(int(label))
  return out


def unseen_class_windows(test: Predictions,
                         train_classes: Mapping[str, Iterable[int]]
                         ) -> Dict[str, Any]:
  """Test windows whose class the same person has no training window of.

  Returns ``{"total", "share", "per_worker": {worker: n}}`` over every test
  worker (zeros included). A within-person split that deals a person's clips
  without regard to their labels can leave a class in the test part only.
  """
  seen = {str(w): set(map(int, c)) for w, c in train_classes.items()}
  per_worker = {}
  for w in sorted(set(test.worker_id.tolist())):
    labels = test.label[test.worker_id == w]
    per_worker[w] = int(sum(int(l) not in seen.get(w, ()) for l in labels))
  total = sum(per_worker.values())
  return {"total": total, "share": total / max(len(test.label), 1),
          "per_worker": per_worker}


def assemble(*, config: Any, split: Mapping[str, Any], model: str,
             classes: Sequence[str], predictions: Mapping[str, Predictions],
             name: str = "", extra: Optional[Mapping[str, Any]] = None,
             with_nll: bool = True,
             worker_f1_threshold: float = metrics_lib.WORKER_F1_THRESHOLD,
             train_classes: Optional[Mapping[str, Iterable[int]]] = None,
             selection: Optional[Mapping[str, Any]] = None
             ) -> Dict[str, Any]:
  """Evaluates ``predictions`` into the results dict, without writing it.

  ``with_nll=False`` when the probabilities are stand-ins (one-hot rows of
  hard labels from a model that gives none): no ``nll`` is reported then.
  ``train_classes`` (``seen_classes`` of the training windows) adds
  ``unseen_class_test_windows`` when the split's test people also train.
  ``selection``: how the scored model was chosen (``{"rule": ..., "on":
  "val" | "train" | ...}``): which checkpoint or hyperparameters, by what,
  on which data; never the test split. Recorded as ``selection``.
  """
  if selection is not None and selection.get("on") == "test":
    raise ValueError("a model selected on the test split cannot be scored on it")
  if "test" not in predictions:
    raise ValueError("results need predictions['test']")
  classes = [str(c) for c in classes]
  metrics, per_worker = {}, {}
  for subset, p in predictions.items():
    if p.probs.shape[1] != len(classes):
      raise ValueError(f"{subset} probs have {p.probs.shape[1]} classes, "
                       f"vocabulary has {len(classes)}")
    metrics[subset], per_worker[subset] = evaluate(
        p.label, p.pred, p.worker_id, classes, p.probs if with_nll else None,
        worker_f1_threshold)
  config_dict = config.to_dict() if hasattr(config, "to_dict") else dict(config)
  out = {
      "schema": SCHEMA,
      "config": _jsonable(config_dict),
      "split": _jsonable(dict(split)),
      "model": model,
      "name": name or model,
      "protocol": split.get("protocol"),
      "fold": split.get("fold"),
      "classes": classes,
      "metrics": metrics,
      "per_worker": per_worker,
      "predictions": PREDICTIONS_FILE,
      "extra": _jsonable(dict(extra or {})),
      "selection": _jsonable(dict(selection or {"rule": "not recorded"})),
      "init": init_record.record(_jsonable(config_dict)),
      "metrics_version": metrics_lib.METRICS_VERSION,
  }
  if train_classes is not None and set(split.get("test_workers", ())) & set(
      split.get("train_workers", ())):
    out["unseen_class_test_windows"] = unseen_class_windows(
        predictions["test"], train_classes)
  return out


def write(workdir: str, *, predictions: Mapping[str, Predictions],
          **fields: Any) -> Dict[str, Any]:
  """Evaluates ``predictions`` (``{"test": ..., "val": ...}``) and writes the run.

  ``predictions["test"]`` is required; its windows go to predictions.npz.
  ``fields`` are ``assemble``'s other arguments (``config`` may be an
  ``ml_collections.ConfigDict`` or a plain dict; see there for ``with_nll``
  and ``train_classes``). Returns the results dict that was written.
  """
  if "test" not in predictions:
    raise ValueError("write() needs predictions['test']")
  results = assemble(predictions=predictions, **fields)
  fs, root = fsspec.core.url_to_fs(workdir)
  fs.makedirs(root, exist_ok=True)
  buf = io.BytesIO()
  np.savez_compressed(buf, **predictions["test"].arrays())
  _write_bytes(fs, _join(root, PREDICTIONS_FILE), buf.getvalue())
  # results.json last: its presence marks a complete run.
  text = json.dumps(results, indent=1, allow_nan=False)
  _write_bytes(fs, _join(root, RESULTS_FILE), text.encode())
  return results


def read(workdir: str) -> Dict[str, Any]:
  """Loads ``<workdir>/results.json`` and checks the fields report relies on."""
  fs, root = fsspec.core.url_to_fs(workdir)
  path = _join(root, RESULTS_FILE)
  if not fs.exists(path):
    raise FileNotFoundError(f"{workdir}: no {RESULTS_FILE} (run unfinished?)")
  with fs.open(path, "rb") as f:
    try:
      results = json.loads(f.read())
    except json.JSONDecodeError as e:
      raise ValueError(f"{path}: not valid JSON ({e})") from None
  missing = [k for k in ("model", "protocol", "fold", "classes", "metrics",
                         "per_worker") if k not in results]
  if missing:
    raise ValueError(f"{path}: missing fields {missing}")
  if "test" not in results["metrics"]:
    raise ValueError(f"{path}: no test metrics")
  results.setdefault("name", results["model"])
  results["workdir"] = workdir
  return results


def read_predictions(workdir: str,
                     results: Optional[Mapping[str, Any]] = None) -> Predictions:
  """Loads the test predictions of a run."""
  fs, root = fsspec.core.url_to_fs(workdir)
  fname = (results or {}).get("predictions") or PREDICTIONS_FILE
  path = _join(root, fname)
  if not fs.exists(path):
    raise FileNotFoundError(f"{workdir}: no {fname}")
  with fs.open(path, "rb") as f:
    data = np.load(io.BytesIO(f.read()), allow_pickle=False)
    missing = [k for k in _PRED_FIELDS if k not in data.files]
    if missing:
      raise ValueError(f"{path}: missing arrays {missing}")
    return Predictions(**{k: data[k] for k in _PRED_FIELDS})


def _write_bytes(fs, path: str, data: bytes) -> None:
  """Writes atomically on local disks (tmp + rename); object stores are atomic."""
  if "file" in np.atleast_1d(fs.protocol):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
      f.write(data)
    os.replace(tmp, path)
  else:
    with fs.open(path, "wb") as f:
      f.write(data)


def _join(root: str, name: str) -> str:
  return root.rstrip("/") + "/" + name


def _jsonable(x: Any) -> Any:
  """Config/split values -> JSON types (tuples to lists, numpy to Python)."""
  if isinstance(x, Mapping):
    return {str(k): _jsonable(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_jsonable(v) for v in x]
  if isinstance(x, np.ndarray):
    return _jsonable(x.tolist())
  if isinstance(x, np.generic):
    return x.item()
  if isinstance(x, float) and not np.isfinite(x):
    return str(x)   # JSON has no NaN/inf; keep the value readable
  if x is None or isinstance(x, (str, int, float, bool)):
    return x
  return str(x)
