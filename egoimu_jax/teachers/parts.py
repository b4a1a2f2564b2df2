"""Chunks of an extraction and their part files: resumption and host split.

The processed dataset's records, in record order, are cut at clip
boundaries into chunks of at least ``teacher.chunk_windows`` windows (a clip
is never split, so its MP4 is decoded once). The cut depends only on the
record table, so every host computes the same chunks; chunk ``k`` runs on
host ``k % shard_count``.

A finished chunk is one file ``<workdir>/teacher_parts/chunk-k-of-n.npz``
(record indices, where each window's frames came from, the vectors, the
windows without one and why), written under a temp name and renamed: a part
that exists is complete, and a rerun skips it. Batches are cut inside a
chunk, so a chunk's vectors do not depend on which chunks ran before, on
which host, or how often the run was interrupted.

``plan.json`` (and ``projection.npy``) say what the parts mean: the config
hash, the weights' checksum, the chunks. A rerun into the same workdir with
other settings or other weights is refused instead of mixing vectors.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import uuid
from typing import Mapping, Optional, Sequence

import ml_collections
import numpy as np

from egoimu_jax.input_pipeline.store import manifest as manifest_lib
from egoimu_jax.input_pipeline.store import record_table
from egoimu_jax.teachers import config as config_lib

PARTS_DIR = "teacher_parts"
PLAN_FILE = "plan.json"
PROJECTION_FILE = "projection.npy"
# Plan keys a rerun must agree on.
# The batch size is checked too: it follows the local device count, and
# batch composition can change a vector's last bits.
CHECKED = ("config_hash", "fingerprint", "num_records", "bounds",
           "weights_checksum", "projection_sha256", "batch_size")


def parts_dir(workdir: str) -> str:
  return os.path.join(workdir, PARTS_DIR)


def plain(value):
  """A ConfigDict / mapping / sequence as JSON-ready dicts and lists."""
  if isinstance(value, ml_collections.ConfigDict):
    value = value.to_dict()
  if isinstance(value, Mapping):
    return {str(k): plain(v) for k, v in sorted(value.items())}
  if isinstance(value, (list, tuple)):
    return [plain(v) for v in value]
  return value


def identity(teacher_cfg) -> dict:
  """The ``config.teacher`` fields that decide the vectors."""
  return {k: plain(v) for k, v in sorted(teacher_cfg.items())
          if k not in config_lib.OPERATIONAL}


def config_hash(teacher_cfg, fingerprint: str) -> str:
  blob = json.dumps([identity(teacher_cfg), fingerprint], sort_keys=True)
  return hashlib.sha256(blob.encode()).hexdigest()[:24]


def chunk_bounds(clip: np.ndarray, chunk_windows: int) -> np.ndarray:
  """int64 [num_chunks + 1]: chunk ``k`` is records ``[b[k], b[k + 1])``.

  Cuts at clip changes once a chunk holds ``chunk_windows`` windows.
  """
  if chunk_windows < 1:
    raise ValueError(f"teacher.chunk_windows={chunk_windows} must be >= 1")
  clip = np.asarray(clip)
  bounds = [0]
  for start in (np.flatnonzero(np.diff(clip)) + 1).tolist():
    if start - bounds[-1] >= chunk_windows:
      bounds.append(start)
  if len(clip) > bounds[-1]:
    bounds.append(len(clip))
  return np.asarray(bounds, np.int64)


def part_path(workdir: str, chunk: int, num_chunks: int) -> str:
  return os.path.join(parts_dir(workdir),
                      f"chunk-{chunk:05d}-of-{num_chunks:05d}.npz")


def is_done(workdir: str, chunk: int, num_chunks: int) -> bool:
  return os.path.exists(part_path(workdir, chunk, num_chunks))


def load_plan(workdir: str) -> Optional[dict]:
  path = os.path.join(parts_dir(workdir), PLAN_FILE)
  if not os.path.exists(path):
    return None
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def check_plan(found: Optional[Mapping], plan: Mapping, keys: Sequence[str],
               workdir: str) -> None:
  """Raises if ``workdir``'s parts were made under another plan."""
  if found is None:
    return
  for key in keys:
    if found.get(key) != plan.get(key):
      raise ValueError(
          f"{parts_dir(workdir)} holds chunks of another extraction ({key} "
          "differs: config, weights, dataset or device count changed); use "
          "a new workdir or delete that directory")


def save_or_check_plan(workdir: str, plan: Mapping) -> dict:
  """Writes ``plan.json``, or checks the one there; returns the plan on disk
  (the first host's, when hosts start together)."""
  os.makedirs(parts_dir(workdir), exist_ok=True)
  found = load_plan(workdir)
  check_plan(found, plan, CHECKED, workdir)
  if found is None:
    manifest_lib.write_json_atomic(os.path.join(parts_dir(workdir), PLAN_FILE),
                                   plain(plan))
    found = load_plan(workdir)
    check_plan(found, plan, CHECKED, workdir)
  return found


def projection(workdir: str, dim: int, out_dim: int, seed: int,
               make) -> np.ndarray:
  """The run's projection matrix: ``make(dim, out_dim, seed)`` the first
  time, then read back from ``projection.npy`` (resumed and other hosts'
  runs use the same bytes whatever their linear algebra library)."""
  path = os.path.join(parts_dir(workdir), PROJECTION_FILE)
  os.makedirs(parts_dir(workdir), exist_ok=True)
  if not os.path.exists(path):
    tmp = f"{path}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}.npy"
    np.save(tmp, make(dim, out_dim, seed))
    os.replace(tmp, path)
  matrix = np.load(path)
  if matrix.shape != (dim, out_dim) or matrix.dtype != np.float32:
    raise ValueError(f"{path}: shape {matrix.shape} {matrix.dtype}, expected "
                     f"({dim}, {out_dim}) float32; delete {parts_dir(workdir)}")
  return matrix


def sha256_array(array: Optional[np.ndarray]) -> str:
  if array is None:
    return ""
  return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


@dataclasses.dataclass
class Part:
  """One finished chunk."""
  record_index: np.ndarray    # int64 [n]
  source: np.ndarray          # int8 [n] (frame_source STORED / RAW / NONE)
  vectors: np.ndarray         # float32 [windows with source != NONE, dim]
  missing_kind: np.ndarray    # str [n - ok], in record order
  missing_path: np.ndarray
  missing_reason: np.ndarray

  @property
  def ok(self) -> np.ndarray:
    return self.source >= 0


def write_part(workdir: str, chunk: int, num_chunks: int, part: Part) -> None:
  """Writes a chunk atomically (temp file + rename)."""
  os.makedirs(parts_dir(workdir), exist_ok=True)
  record_table.save_npz(part_path(workdir, chunk, num_chunks), {
      "record_index": np.asarray(part.record_index, np.int64),
      "source": np.asarray(part.source, np.int8),
      "vectors": np.asarray(part.vectors, np.float32),
      "missing_kind": np.asarray(part.missing_kind, str),
      "missing_path": np.asarray(part.missing_path, str),
      "missing_reason": np.asarray(part.missing_reason, str)})


def read_part(workdir: str, chunk: int, plan: Mapping) -> Part:
  """Reads and checks chunk ``chunk`` against the plan."""
  bounds = plan["bounds"]
  path = part_path(workdir, chunk, len(bounds) - 1)
  with np.load(path, allow_pickle=False) as npz:
    part = Part(**{f.name: npz[f.name] for f in dataclasses.fields(Part)})
  expected = np.arange(bounds[chunk], bounds[chunk + 1])
  ok = int(part.ok.sum())
  if (not np.array_equal(part.record_index, expected) or
      part.vectors.shape != (ok, plan["dim"]) or
      len(part.missing_kind) != len(expected) - ok):
    raise ValueError(f"{path}: does not hold chunk {chunk} of the plan "
                     f"(records, vectors or missing rows differ); delete it "
                     "and rerun")
  return part
