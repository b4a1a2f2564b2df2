"""Scores a model trained anywhere: window ids + predictions in, a run out.

``evaluate(predictions, split)`` is the benchmark's counterpart of WILDS'
``dataset.eval(y_pred, y_true, metadata)``: the labels and workers of the
split's test windows come from the dataset (or from an export of it), the
submission brings only window ids and predictions, and the result is the
same ``results.json`` + ``predictions.npz`` (Contract 5) our own runs write,
so ``report`` puts an outside model next to ours, with paired tests.

A submission has one row per test window:

* ``window_id`` (required): ``"{clip_id}/{t0_ms:08d}"``, as exported;
* ``pred``: the predicted class, an index into the classes or a class name;
* ``prob_<class>``: one column per class, probabilities summing to 1.

At least one of ``pred`` and the ``prob_*`` columns; with probabilities only,
``pred`` is their arg-max; with ``pred`` only, no NLL is reported. Files:
``.csv`` and ``.parquet`` with those columns, or ``.npz`` with arrays
``window_id``, ``pred`` and/or ``probs`` ``[n, K]`` (and optionally
``classes``, checked against the dataset's order). A mapping of the same
arrays works from Python.

A submission that misses test windows, names one twice, or names windows
that are not test windows of the split is refused with a ``SubmissionError``
that counts each problem and lists a few ids.

Files are read by ``submission_format.py``. The split (``split=``) is an
export directory (``python -m egoimu_jax.export``; self-contained: it holds
the test labels), or a ``split.json`` / split dict / split bundle together
with ``processed_dir``.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from egoimu_jax.evaluation import metrics as metrics_lib
from egoimu_jax.evaluation import results as results_lib
from egoimu_jax.evaluation import submission_format
from egoimu_jax.export import split_bundle
from egoimu_jax.export import windows as export_lib
from egoimu_jax.input_pipeline import protocols
from egoimu_jax.input_pipeline import splits
from egoimu_jax.input_pipeline.store import processed

# Reading and scoring raise it alike; callers catch submission.SubmissionError.
SubmissionError = submission_format.SubmissionError
_SHOW = 5          # ids listed per problem in an error
_SUM_TOLERANCE = 1e-3


@dataclasses.dataclass
class Reference:
  """The test windows a submission is scored against."""
  split: Dict[str, Any]
  classes: List[str]
  index: np.ndarray        # int64 [n], global record index
  window_id: np.ndarray    # str [n]
  worker_id: np.ndarray    # str [n]
  label: np.ndarray        # int32 [n]
  total: int               # windows in the split's test part
  processed_dir: str       # "" when the dataset is not at hand
  manifest_fingerprint: str
  source: str              # for messages: where the split came from

  @property
  def description(self) -> str:
    s = self.split
    scale = (f" scale {s['scale']:g}" if protocols.is_scaling(s["protocol"])
             else "")
    return f"{s['protocol']} fold {s['fold']}{scale}"


# --- The reference: a split's test windows -----------------------------------


def reference_from_dataset(processed_dir: str, split: Mapping[str, Any],
                           source: str = "split") -> Reference:
  """The test windows of ``split`` read from a processed dataset."""
  try:
    ds = processed.ProcessedDataset.open(processed_dir)
  except (ValueError, KeyError) as e:
    raise SubmissionError(f"{processed_dir}: {e}") from None
  split = dict(split)
  split_bundle.population_for(split, ds.manifest, source)
  index = ds.split_indices(split, "test")
  if not len(index):
    raise SubmissionError(f"{source}: {split['protocol']} fold "
                          f"{split['fold']} has no test windows")
  meta = ds.read(index, fields=("window_id", "worker_id", "label"))
  return Reference(split, list(ds.classes), index, meta["window_id"],
                   meta["worker_id"], meta["label"], len(index),
                   os.path.abspath(processed_dir), ds.fingerprint, source)


def reference_from_export(export_dir: str) -> Reference:
  """The test windows of an export (its own metadata holds the labels)."""
  info = export_lib.read_info(export_dir)
  split = splits.read_split(os.path.join(export_dir, info["split_file"]))
  if split["dataset_fingerprint"] != info["dataset_fingerprint"]:
    raise SubmissionError(f"{export_dir}: split.json does not belong to this "
                          "export (dataset fingerprints differ)")
  if "test" not in info["parts"]:
    raise SubmissionError(f"{export_dir}: the export has no test part "
                          f"({split['protocol']} has no test windows)")
  cols = export_lib.read_columns(export_dir, "test",
                                 ("index", "window_id", "worker_id", "label"),
                                 info)
  order = np.argsort(cols["index"], kind="stable")
  processed_dir = info.get("processed_dir") or ""
  return Reference(
      split, list(info["classes"]), np.asarray(cols["index"])[order],
      np.asarray(cols["window_id"]).astype(str)[order],
      np.asarray(cols["worker_id"]).astype(str)[order],
      np.asarray(cols["label"], np.int32)[order], int(info["parts"]["test"]["n"]),
      processed_dir if os.path.exists(processed_dir) else "",
      info["manifest_fingerprint"], export_dir)


def reference(split: Union[str, Mapping[str, Any]], *, processed_dir: str = "",
              protocol: Optional[str] = None, fold: Optional[int] = None,
              scale: Optional[float] = None,
              pretrain_on: Optional[str] = None) -> Reference:
  """Resolves ``split`` (see the module docstring) to its test windows.

  ``protocol`` / ``fold`` (/ ``scale``, ``pretrain_on``) pick a split from a
  bundle; given with a single split, they must match it. With an export
  directory and a ``processed_dir``, the labels are read from the dataset,
  which must be the one exported.
  """
  ref = _reference(split, processed_dir, protocol, fold, scale, pretrain_on)
  for key, wanted in (("protocol", protocol), ("fold", fold)):
    if wanted is not None and ref.split[key] != wanted:
      raise SubmissionError(f"{ref.source} is {ref.description}, but "
                            f"{key} {wanted!r} was asked for")
  return ref


def _reference(split, processed_dir, protocol, fold, scale, pretrain_on):
  source = split if isinstance(split, str) else "split"
  if isinstance(split, str) and os.path.isdir(split):
    if not processed_dir:
      return reference_from_export(split)
    info = export_lib.read_info(split)
    ref = reference_from_dataset(
        processed_dir, splits.read_split(os.path.join(split, info["split_file"])),
        split)
    if ref.manifest_fingerprint != info["manifest_fingerprint"]:
      raise SubmissionError(f"{split} was exported from another dataset than "
                            f"{processed_dir}")
    return ref
  if isinstance(split, str):
    obj = split_bundle.read_json(split)
    if split_bundle.is_bundle(obj):
      if protocol is None or fold is None:
        raise SubmissionError(f"{split} is a split bundle: pick a split with "
                              "--protocol and --fold (and --scale)")
      bundle = split_bundle.load(split)
      obj = split_bundle.select(bundle, protocol, fold, scale, pretrain_on)
      source = f"{split} ({bundle['bundle_id']})"
    else:
      splits.validate_split(obj, source=split)
    split = obj
  if not processed_dir:
    raise SubmissionError(
        f"{source} holds no labels: give the processed dataset "
        "(--processed_dir), or pass an export directory as the split")
  return reference_from_dataset(processed_dir, split, source)


# --- Checking a submission ---------------------------------------------------


def check_ids(sub: submission_format.Submission,
              ref: Reference) -> np.ndarray:
  """Positions in ``sub`` of the reference's test windows, in reference order.

  Raises ``SubmissionError`` listing missing, duplicated and unknown ids.
  """
  ids = sub.window_id
  uniq, counts = np.unique(ids, return_counts=True)
  problems = []
  dup = uniq[counts > 1]
  if len(dup):
    problems.append(f"{len(dup)} window id(s) appear more than once "
                    f"(e.g. {_few(dup)})")
  unknown = np.setdiff1d(uniq, ref.window_id)
  if len(unknown):
    problems.append(f"{len(unknown)} window id(s) are not test windows of "
                    f"{ref.description} (e.g. {_few(unknown)})")
  missing = np.setdiff1d(ref.window_id, uniq)
  if len(missing):
    problems.append(f"{len(missing)} of the {len(ref.window_id)} test windows "
                    f"are missing (e.g. {_few(missing)})")
  if problems:
    raise SubmissionError(
        f"{sub.source}: submission refused: " + "; ".join(problems) +
        f". Submit every test window of {ref.description} exactly once "
        f"({len(ref.window_id)} rows; the ids are the test part's window_id "
        "column of an export).")
  sorter = np.argsort(ids, kind="stable")
  return sorter[np.searchsorted(ids, ref.window_id, sorter=sorter)]


def to_predictions(sub: submission_format.Submission, ref: Reference
                   ) -> tuple[results_lib.Predictions, bool]:
  """(Predictions in reference order, whether probabilities were given)."""
  pos = check_ids(sub, ref)
  k = len(ref.classes)
  probs = None
  if sub.probs is not None:
    if sub.classes is not None and list(sub.classes) != ref.classes:
      if sorted(sub.classes) != sorted(ref.classes):
        raise SubmissionError(
            f"{sub.source}: probability columns are for classes "
            f"{sub.classes}, the dataset has {ref.classes}")
      order = [sub.classes.index(c) for c in ref.classes]
    else:
      order = slice(None)
    probs = np.asarray(sub.probs, np.float64)
    if probs.ndim == 2 and probs.shape[1] == k:
      probs = probs[:, order]   # columns in the dataset's class order
    if probs.ndim != 2 or probs.shape != (len(sub.window_id), k):
      raise SubmissionError(f"{sub.source}: probs have shape {probs.shape}, "
                            f"expected ({len(sub.window_id)}, {k}) for classes "
                            f"{ref.classes}")
    probs = probs[pos]
    bad = ~np.isfinite(probs).all(1) | (probs < 0).any(1)
    sums = probs.sum(1)
    bad |= np.abs(sums - 1.0) > _SUM_TOLERANCE
    if bad.any():
      raise SubmissionError(
          f"{sub.source}: {int(bad.sum())} row(s) of probabilities are not a "
          f"distribution (non-negative, summing to 1; apply a softmax), e.g. "
          f"{_few(ref.window_id[bad])}")
    probs = probs / sums[:, None]
  pred = None
  if sub.pred is not None:
    pred = _class_indices(np.asarray(sub.pred)[pos], ref.classes, sub.source)
  if pred is None:
    pred = probs.argmax(1)
  has_probs = probs is not None
  if probs is None:
    probs = np.eye(k, dtype=np.float32)[pred]   # stand-ins; no NLL reported
  return results_lib.Predictions(ref.index, ref.window_id, ref.worker_id,
                                 ref.label, pred, probs), has_probs


def _class_indices(pred: np.ndarray, classes: Sequence[str],
                   source: str) -> np.ndarray:
  """Predicted classes as indices (given as indices or as class names)."""
  k = len(classes)
  if pred.dtype.kind in "iu":
    values = pred.astype(np.int64)
  elif pred.dtype.kind == "f":
    if not np.all(np.isfinite(pred) & (pred == np.round(pred))):
      raise SubmissionError(f"{source}: pred must be class indices or names, "
                            "got non-integer numbers")
    values = pred.astype(np.int64)
  else:
    text = pred.astype(str)
    # Text that is all digits is indices, unless the classes are numbers
    # themselves ("1", "2", ...): then text is always class names.
    numeric_names = any(c.isdigit() for c in classes)
    if np.all(np.char.isdigit(text)) and not numeric_names:
      values = text.astype(np.int64)
    else:
      lookup = {c: i for i, c in enumerate(classes)}
      unknown = sorted({t for t in text.tolist() if t not in lookup})
      if unknown:
        raise SubmissionError(f"{source}: pred names unknown classes "
                              f"{unknown[:_SHOW]}; classes: {list(classes)}")
      values = np.array([lookup[t] for t in text.tolist()], np.int64)
  out = (values < 0) | (values >= k)
  if out.any():
    raise SubmissionError(f"{source}: {int(out.sum())} pred value(s) outside "
                          f"[0, {k}) (e.g. {values[out][:_SHOW].tolist()}); "
                          f"classes: {list(classes)}")
  return values


# --- The evaluator ------------------------------------------------------------


def evaluate(predictions: Union[str, Mapping[str, Any]],
             split: Union[str, Mapping[str, Any]], *,
             processed_dir: str = "", workdir: str = "", name: str = "external",
             protocol: Optional[str] = None, fold: Optional[int] = None,
             scale: Optional[float] = None, pretrain_on: Optional[str] = None,
             worker_f1_threshold: float = metrics_lib.WORKER_F1_THRESHOLD
             ) -> Dict[str, Any]:
  """Scores a submission on a split's test windows; returns the results dict.

  Args:
    predictions: a submission file (.csv, .parquet, .npz) or a mapping of
      arrays (``window_id`` and ``pred`` and/or ``probs``).
    split: an export directory, a ``split.json`` path, a split bundle path
      (with ``protocol``/``fold``), or a split dict.
    processed_dir: the processed dataset (needed unless ``split`` is an
      export directory).
    workdir: where to write ``results.json`` + ``predictions.npz`` (and
      ``split.json``); empty: write nothing.
    name: the model's row label in ``report``.
    protocol, fold, scale, pretrain_on: pick a split from a bundle.
    worker_f1_threshold: per-worker macro-F1 under which a worker counts as
      badly served (``share_workers_below``).

  Returns:
    The results dict (Contract 5), ``metrics["test"]`` with the averages and
    the worst-served-worker metrics.
  """
  ref = reference(split, processed_dir=processed_dir, protocol=protocol,
                  fold=fold, scale=scale, pretrain_on=pretrain_on)
  sub = submission_format.read_submission(predictions)
  preds, has_probs = to_predictions(sub, ref)
  split_dict = ref.split
  config = {
      "job": "external", "name": name,
      "data": {"processed_dir": ref.processed_dir},
      "protocol": {"name": split_dict["protocol"], "fold": split_dict["fold"],
                   "num_folds": split_dict.get("num_folds"),
                   "seed": split_dict.get("seed"),
                   "scale": split_dict.get("scale")},
  }
  extra = {
      "coverage": {"test": processed.coverage(ref.index, ref.total)},
      "processed_dir": ref.processed_dir,
      "manifest_fingerprint": ref.manifest_fingerprint,
      "split_source": ref.source,
      "submission": {"file": os.path.abspath(sub.source)
                     if sub.format != "arrays" else sub.source,
                     "format": sub.format, "sha256": sub.sha256,
                     "rows": int(len(sub.window_id)),
                     "probabilities": has_probs,
                     "pred_given": sub.pred is not None},
  }
  kwargs = dict(config=config, split=split_dict, model=name, name=name,
                classes=ref.classes, predictions={"test": preds}, extra=extra,
                with_nll=has_probs, worker_f1_threshold=worker_f1_threshold,
                selection={"rule": "by the submitter, outside this stack",
                           "on": "unknown"})
  if not workdir:
    return results_lib.assemble(**kwargs)
  _check_workdir(workdir)
  out = results_lib.write(workdir, **kwargs)
  if "://" not in workdir:
    splits.write_split(os.path.join(workdir, splits.SPLIT_FILE), split_dict)
  return out


def _check_workdir(workdir: str) -> None:
  """Refuses to overwrite a run of our own trainer with a submission."""
  try:
    existing = results_lib.read(workdir)
  except FileNotFoundError:
    return
  except ValueError:
    existing = {}
  if "submission" not in existing.get("extra", {}):
    raise SubmissionError(f"{workdir} holds a run that is not an evaluated "
                          "submission; write the results elsewhere (--out)")


def _few(ids: Sequence[Any]) -> str:
  shown = ", ".join(repr(str(i)) for i in list(ids[:_SHOW]))
  return shown + (", ..." if len(ids) > _SHOW else "")
