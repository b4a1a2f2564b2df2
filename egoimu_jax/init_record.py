"""Where a run's weights started: the ``init`` record of ``results.json``.

``record(config)`` reads a run's resolved config and says, for its model and
(when it reads a teacher's embeddings) its frozen teacher, where the weights
came from:

* ``pretrained``: converted released weights (``format``: the
  ``models.IMPORTERS`` entry, ``path``, ``fingerprint``: sha256 of the
  checkpoint's file list and sizes);
* ``checkpoint``: a run of ours (``path``; ``from``: that run's own record,
  read from its ``results.json`` / ``pretrain_results.json``, e.g. a
  distillation that itself started from MOMENT's weights or from random);
* ``random``: a model with released weights (``RELEASED``) started from its
  random initialisation;
* ``scratch``: a model without released weights, trained from its
  initialisation as its paper does (DeepConvLSTM, CrossHAR, a probe head).

``random`` at the top is True when any part is random (directly or through
``from``): the report marks such rows (``report/table_model.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Dict, Mapping, Optional

import fsspec

# config.model.name -> the importer (models.IMPORTERS) of its released weights.
RELEASED = {"clip_vision": "clip", "mantis": "mantis", "moment": "moment",
            "slowfast": "slowfast", "timesformer": "timesformer",
            "videomae": "videomae"}
# What a run of ours leaves next to its checkpoints: its config and record.
RUN_FILES = ("results.json", "pretrain_results.json")
_MAX_DEPTH = 4   # runs of ours followed back through ``from``


def record(config: Mapping[str, Any], depth: int = 0) -> Dict[str, Any]:
  """``{"random": bool, "model": part, "teacher": part}`` of a resolved
  config (a plain dict); a part is left out where the run has none."""
  out: Dict[str, Any] = {}
  model = config.get("model") or {}
  task = config.get("task") or {}
  if model.get("name"):
    out["model"] = _part(model["name"], task.get("pretrained"),
                         task.get("pretrained_format"), depth)
  if _reads_teacher(config):
    teacher = config.get("teacher") or {}
    out["teacher"] = _part((teacher.get("model") or {}).get("name", ""),
                           teacher.get("weights"),
                           teacher.get("weights_format"), depth)
  out["random"] = any(p["random"] for p in out.values())
  return out


def fingerprint(path: str) -> Optional[str]:
  """sha256 of the sorted (relative path, size) of every file under
  ``path`` (or of the file itself); None where it cannot be listed."""
  try:
    fs, root = fsspec.core.url_to_fs(path)
    if fs.isfile(root):
      entries = [(os.path.basename(root), fs.size(root))]
    else:
      found = fs.find(root, detail=True)
      entries = sorted((os.path.relpath(p, root), int(info["size"]))
                       for p, info in found.items())
  except (OSError, ValueError):
    return None
  if not entries:
    return None
  return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


def _part(name: str, path: Any, fmt: Any, depth: int) -> Dict[str, Any]:
  path, fmt = str(path or ""), str(fmt or "")
  if path and fmt:
    return {"name": name, "source": "pretrained", "format": fmt,
            "path": _absolute(path), "fingerprint": fingerprint(path),
            "random": False}
  if path:
    parent = _run_record(path, depth)
    return {"name": name, "source": "checkpoint", "path": _absolute(path),
            "from": parent, "random": bool(parent and parent["random"])}
  released = name in RELEASED
  return {"name": name, "source": "random" if released else "scratch",
          "random": released}


def _reads_teacher(config: Mapping[str, Any]) -> bool:
  """Whether the run reads a teacher's embeddings (a probe or distillation
  input, or the classical job's ``teacher:<name>`` features)."""
  features = str((config.get("classical") or {}).get("features", ""))
  return bool((config.get("input") or {}).get("teacher") or
              features.startswith("teacher:"))


def _run_record(path: str, depth: int) -> Optional[Dict[str, Any]]:
  """The record of the run of ours whose checkpoint ``path`` names (a
  workdir, its ``checkpoints/``, a step or a step's ``state``)."""
  if depth >= _MAX_DEPTH or "://" in path:
    return None
  folder = os.path.abspath(path)
  while True:
    for name in RUN_FILES:
      file = os.path.join(folder, name)
      if os.path.isfile(file):
        try:
          with open(file, encoding="utf-8") as f:
            run = json.load(f)
        except (OSError, ValueError):
          return None
        return run.get("init") or record(run.get("config") or {}, depth + 1)
    # Up from checkpoints/<step>/state to the workdir, no further.
    base = os.path.basename(folder)
    if not (base in ("checkpoints", "state") or base.isdigit()):
      return None
    folder = os.path.dirname(folder)


def _absolute(path: str) -> str:
  return path if "://" in path else os.path.abspath(path)
