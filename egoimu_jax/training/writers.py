"""Metric writers: TensorBoard (tensorboardX) plus JSON lines.

The method names and signatures follow ``clu.metric_writers.MetricWriter``
(whose package imports TensorFlow; see architecture.md "Decisions"), so code
written against clu's writers works here. Only process 0 writes; elsewhere
:func:`create` returns a writer that drops everything.

``<workdir>/metrics.jsonl`` holds one object per call: ``{"step": s,
"time": unix_s, "kind": "scalars", "values": {name: value}}``. A run that
resumes from the checkpoint of step ``s`` passes ``purge_step=s + 1`` (0 for
a restart from scratch): the records of the steps it will replay are cut from
``metrics.jsonl`` and TensorBoard is told to hide them (tensorboardX's
``purge_step``), so each step appears once.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from typing import Any, Iterator, Mapping, Optional

import jax
import numpy as np

METRICS_FILE = "metrics.jsonl"


class JsonlTensorBoardWriter:
  """Writes scalars, texts, histograms and hparams to both sinks."""

  def __init__(self, logdir: str, purge_step: Optional[int] = None):
    with without_torch():  # Imported here: only process 0 needs it.
      import tensorboardX  # pylint: disable=g-import-not-at-top
    os.makedirs(logdir, exist_ok=True)
    path = os.path.join(logdir, METRICS_FILE)
    tb_dir = os.path.join(logdir, "tensorboard")
    if purge_step is not None:
      if not os.path.exists(path) and not os.path.isdir(tb_dir):
        purge_step = None  # Nothing written before.
      elif os.path.exists(path):
        truncate_jsonl(path, purge_step)
    self._tb = tensorboardX.SummaryWriter(logdir=tb_dir, purge_step=purge_step)
    self._jsonl = open(path, "a")

  def _line(self, step: Optional[int], kind: str, values: Mapping[str, Any]):
    record = {"step": None if step is None else int(step), "time": time.time(),
              "kind": kind, "values": _plain(values)}
    self._jsonl.write(json.dumps(record) + "\n")

  def write_summaries(self, step: int, values: Mapping[str, Any],
                      metadata: Optional[Mapping[str, Any]] = None):
    del metadata
    self.write_scalars(step, {k: v for k, v in values.items()
                              if np.ndim(v) == 0})

  def write_scalars(self, step: int, scalars: Mapping[str, Any]):
    for k, v in scalars.items():
      self._tb.add_scalar(k, float(v), int(step))
    self._line(step, "scalars", scalars)

  def write_texts(self, step: int, texts: Mapping[str, str]):
    for k, v in texts.items():
      self._tb.add_text(k, str(v), int(step))
    self._line(step, "texts", texts)

  def write_histograms(self, step: int, arrays: Mapping[str, Any],
                       num_buckets: Optional[Mapping[str, int]] = None):
    for k, v in arrays.items():
      bins = (num_buckets or {}).get(k, "tensorflow")
      self._tb.add_histogram(k, np.asarray(v), int(step), bins=bins)

  def write_images(self, step: int, images: Mapping[str, Any]):
    for k, v in images.items():
      self._tb.add_images(k, np.asarray(v), int(step), dataformats="NHWC")

  def write_hparams(self, hparams: Mapping[str, Any]):
    self._tb.add_text("hparams", json.dumps(_plain(hparams), indent=1), 0)
    self._line(None, "hparams", hparams)

  def flush(self):
    self._tb.flush()
    self._jsonl.flush()

  def close(self):
    self.flush()
    self._tb.close()
    self._jsonl.close()


@contextlib.contextmanager
def without_torch() -> Iterator[None]:
  """tensorboardX imports torch when it is installed (to accept its
  tensors), which costs a training process 2 s and hundreds of MB; training
  never uses torch, so the import is made to fail while tensorboardX loads.
  A process that imported torch already keeps it."""
  if "torch" in sys.modules:
    yield
    return
  sys.modules["torch"] = None  # `import torch` raises ImportError
  try:
    yield
  finally:
    del sys.modules["torch"]


class NullWriter:
  """The writer of processes other than 0."""

  def __getattr__(self, name):
    if name.startswith("write_") or name in ("flush", "close"):
      return lambda *a, **k: None
    raise AttributeError(name)


def create(logdir: str, just_logging: Optional[bool] = None,
           purge_step: Optional[int] = None):
  """A writer for ``logdir``; a :class:`NullWriter` on processes but 0.

  ``purge_step``: drop what an earlier attempt logged at steps
  ``>= purge_step`` (see the module docstring).
  """
  if just_logging is None:
    just_logging = jax.process_index() != 0
  if just_logging:
    return NullWriter()
  return JsonlTensorBoardWriter(logdir, purge_step)


def truncate_jsonl(path: str, purge_step: int) -> None:
  """Keeps the records of steps ``< purge_step`` (hparams, of step None, only
  if ``purge_step > 0``); drops a line cut short by a kill."""
  kept = []
  with open(path, encoding="utf-8") as f:
    for line in f:
      try:
        step = json.loads(line)["step"]
      except (ValueError, KeyError, TypeError):
        continue
      if (0 if step is None else step) < purge_step:
        kept.append(line if line.endswith("\n") else line + "\n")
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "w", encoding="utf-8") as f:
    f.writelines(kept)
  os.replace(tmp, path)


def read_jsonl(logdir: str, kind: str = "scalars") -> dict:
  """``{step: values}`` of ``kind``, the last record per step winning."""
  out = {}
  with open(os.path.join(logdir, METRICS_FILE)) as f:
    for line in f:
      rec = json.loads(line)
      if rec["kind"] == kind:
        out.setdefault(rec["step"], {}).update(rec["values"])
  return out


def _plain(x: Any) -> Any:
  """JSON types; non-finite floats as strings ("nan"), as JSON has none."""
  if isinstance(x, (np.ndarray, np.generic, jax.Array)):
    x = np.asarray(x)
    x = x.item() if x.ndim == 0 else x.tolist()
  if isinstance(x, Mapping):
    return {str(k): _plain(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_plain(v) for v in x]
  if isinstance(x, float) and not np.isfinite(x):
    return str(x)
  return x if x is None or isinstance(x, (str, int, float, bool)) else str(x)


def brief(metrics: Mapping[str, Any], key: Optional[str]) -> str:
  """``"<key> 0.1234, accuracy 0.5678, loss 0.9"``: the figures a log line
  shows (those of ``key``, accuracy and loss that ``metrics`` has)."""
  keys = [k for k in dict.fromkeys((key, "accuracy", "loss"))
          if k and k in metrics]
  return ", ".join(f"{k} {float(metrics[k]):.4f}" for k in keys)
