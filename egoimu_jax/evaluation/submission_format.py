"""The submission format: reading ``.csv`` / ``.parquet`` / ``.npz`` files.

A submission has one row per test window (``evaluation/submission.py``
checks the rows against the split and scores them):

* ``window_id`` (required): ``"{clip_id}/{t0_ms:08d}"``, as exported;
* ``pred``: the predicted class, an index into the classes or a class name
  (where class names are numbers, "1", "2", text is always a name);
* ``prob_<class>``: one column per class, probabilities summing to 1.

``.npz`` files hold arrays ``window_id``, ``pred`` and/or ``probs``
``[n, K]`` (and optionally ``classes``); a mapping of the same arrays works
from Python. A file that cannot be read as such is refused with a
``SubmissionError``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import Any, List, Mapping, Optional, Union

import numpy as np

from egoimu_jax import errors

PROB_PREFIX = "prob_"
_COLUMNS = ("window_id", "pred")  # besides PROB_PREFIX + class
FORMATS = (".csv", ".parquet", ".npz")


class SubmissionError(errors.UserError, ValueError):
  """A submission or its split cannot be scored (a user mistake)."""


@dataclasses.dataclass
class Submission:
  """A model's outputs as read, before they are checked."""
  window_id: np.ndarray                  # str [n]
  pred: Optional[np.ndarray] = None      # [n] indices or class names
  probs: Optional[np.ndarray] = None     # float [n, K]
  classes: Optional[List[str]] = None    # the probs' column order, if given
  source: str = "<arrays>"
  format: str = "arrays"
  sha256: str = ""


def read_submission(predictions: Union[str, Mapping[str, Any]]) -> Submission:
  """Reads a ``.csv`` / ``.parquet`` / ``.npz`` file or a mapping of arrays."""
  if not isinstance(predictions, str):
    return _from_arrays(predictions, "<arrays>", "arrays")
  path = predictions
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no such file")
  ext = os.path.splitext(path)[1].lower()
  if ext not in FORMATS:
    raise SubmissionError(f"{path}: unknown submission format {ext!r}; use "
                          f"one of {', '.join(FORMATS)}")
  if ext == ".npz":
    try:
      with np.load(path, allow_pickle=False) as z:
        sub = _from_arrays({k: z[k] for k in z.files}, path, "npz")
    except SubmissionError:
      raise
    except ValueError as e:   # object arrays need pickle: refuse them
      raise SubmissionError(f"{path}: {e}; store window_id as a string "
                            "array, not objects") from None
  else:
    sub = _from_table(path, ext[1:])
  sub.sha256 = _file_sha256(path)
  return sub


def _from_arrays(arrays: Mapping[str, Any], source: str, fmt: str) -> Submission:
  keys = set(arrays.keys())
  if "window_id" not in keys:
    raise SubmissionError(f"{source}: no window_id (has {sorted(keys)})")
  if not keys & {"pred", "probs"}:
    raise SubmissionError(f"{source}: needs pred and/or probs (has "
                          f"{sorted(keys)})")
  window_id = np.asarray(arrays["window_id"])
  if window_id.dtype.kind == "S":
    window_id = np.char.decode(window_id, "utf-8")
  classes = None
  if "classes" in keys:
    classes = [str(c) for c in np.asarray(arrays["classes"]).astype(str)]
  pred = np.asarray(arrays["pred"]) if "pred" in keys else None
  for name, array, ndim in (("window_id", window_id, 1), ("pred", pred, 1)):
    if array is not None and array.ndim != ndim:
      raise SubmissionError(f"{source}: {name} has shape {array.shape}; "
                            "expected one value per window, shape (n,)")
  return Submission(
      window_id.astype(str), pred,
      np.asarray(arrays["probs"]) if "probs" in keys else None,
      classes, source, fmt)


def _from_table(path: str, fmt: str) -> Submission:
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  try:
    if fmt == "csv":
      from pyarrow import csv as pa_csv  # pylint: disable=g-import-not-at-top
      table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(
          column_types={"window_id": pa.string(), "pred": pa.string()}))
    else:
      import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
      table = pq.read_table(path)
  except (pa.ArrowInvalid, OSError) as e:
    raise SubmissionError(f"{path}: cannot read as {fmt} ({e})") from None
  names = table.column_names
  other = [n for n in names if n not in _COLUMNS and
           not n.startswith(PROB_PREFIX)]
  if other:  # e.g. "Pred": names are case-sensitive, and nothing is ignored
    hints = "".join(errors.did_you_mean(n.lower(), _COLUMNS) for n in other
                    if n.lower() in _COLUMNS or n.lower().startswith(
                        PROB_PREFIX))
    raise SubmissionError(
        f"{path}: unknown column(s) {other} (columns are window_id, pred "
        f"and {PROB_PREFIX}<class>, case-sensitive){hints}")
  if "window_id" not in names:
    raise SubmissionError(f"{path}: no window_id column (columns: {names})")
  prob_cols = [n for n in names if n.startswith(PROB_PREFIX)]
  if "pred" not in names and not prob_cols:
    raise SubmissionError(f"{path}: needs a pred column and/or "
                          f"{PROB_PREFIX}<class> columns (columns: {names})")
  col = lambda n: table.column(n).to_numpy(zero_copy_only=False)
  window_id = col("window_id")
  if any(w is None for w in window_id):
    raise SubmissionError(f"{path}: empty window_id in "
                          f"{sum(w is None for w in window_id)} row(s)")
  probs = (np.stack([_numbers(col(n), n, path) for n in prob_cols], 1)
           if prob_cols else None)
  pred = None
  if "pred" in names:
    pred = col("pred")
    if any(p is None for p in pred):
      raise SubmissionError(f"{path}: empty pred in "
                            f"{sum(p is None for p in pred)} row(s)")
    pred = pred.astype(str)
  return Submission(window_id.astype(str), pred, probs,
                    [n[len(PROB_PREFIX):] for n in prob_cols] or None,
                    path, fmt)


def _numbers(column: np.ndarray, name: str, path: str) -> np.ndarray:
  """A probability column as float64; SubmissionError naming the first
  value that is no number."""
  try:
    return np.asarray(column, np.float64)
  except (TypeError, ValueError):
    for row, value in enumerate(column):
      try:
        float(value)
      except (TypeError, ValueError):
        raise SubmissionError(
            f"{path}: column {name} holds {value!r} in data row {row + 1}; "
            "probabilities must be numbers") from None
    raise


def _file_sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()
