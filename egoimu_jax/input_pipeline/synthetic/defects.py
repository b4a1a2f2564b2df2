"""Defects the synthetic generator can plant, and what ingest must report.

Each kind damages one clip. ``defects.json`` in the dataset root lists every
planted defect with what the pipeline is expected to do:

* ``{"expect": "quarantine", "match": ...}``: the clip is quarantined and the
  reason contains ``match`` (and names ``path``);
* ``{"expect": "note", "note": ..., "match": ...}``: the clip is used, the
  repair is counted in ``ClipWindows.notes[note]`` and a warning containing
  ``match`` names the file;
* ``{"expect": "dropped", "reason": ...}``: windows are dropped for that reason.
"""

from __future__ import annotations

import json
from typing import Dict, List, Optional, Tuple

import numpy as np

from egoimu_jax.input_pipeline.raw.imu_resample import GRAVITY

# kind -> (variants it applies to, needs video, expectation)
KINDS: Dict[str, Tuple[Tuple[str, ...], bool, Dict[str, str]]] = {
    "gap_short": (("jsonl",), False,
                  {"expect": "note", "note": "interpolated_gaps", "match": ""}),
    "gap_long": (("jsonl",), False, {"expect": "dropped", "reason": "gap"}),
    "corrupt_line": (("jsonl",), False,
                     {"expect": "note", "note": "dropped_corrupt_lines",
                      "match": "invalid JSON"}),
    "corrupt_many": (("jsonl",), False,
                     {"expect": "quarantine", "match": "lines are corrupt"}),
    "duplicate_ts": (("jsonl",), False,
                     {"expect": "note", "note": "dropped_duplicate_timestamps",
                      "match": "repeating the previous timestamp"}),
    "nonmonotonic": (("jsonl",), False,
                     {"expect": "quarantine", "match": "timestamps go backwards"}),
    "nan": (("jsonl", "wds"), False,
            {"expect": "note", "note": "dropped_corrupt_lines",
             "match": "non-finite"}),
    "empty_imu": (("jsonl",), False,
                  {"expect": "quarantine", "match": "IMU file is empty"}),
    "missing_imu": (("jsonl", "wds"), False,
                    {"expect": "quarantine", "match": "not found"}),
    "acc_g": (("jsonl", "wds"), False,
              {"expect": "quarantine", "match": "acc looks like it is in g"}),
    "gyro_deg": (("jsonl", "wds"), False,
                 {"expect": "quarantine", "match": "gyro looks like deg/s"}),
    "no_segments": (("jsonl", "wds"), False,
                    {"expect": "quarantine", "match": "no label segments"}),
    "missing_video": (("jsonl", "wds"), True,
                      {"expect": "quarantine", "match": "not found"}),
    "truncated_mp4": (("jsonl", "wds"), True,
                      {"expect": "quarantine", "match": "MP4"}),
    "corrupt_npy": (("wds",), False,
                    {"expect": "quarantine", "match": "unreadable .npy"}),
    "row_count": (("wds",), True,
                  {"expect": "quarantine", "match": "rows must match frames"}),
}


def parse_kinds(spec: str, variant: str, with_video: bool) -> List[str]:
  """``""`` -> none, ``"all"`` -> every kind that applies, else a list."""
  spec = (spec or "").strip()
  if not spec:
    return []
  applicable = [k for k, (variants, video, _) in KINDS.items()
                if variant in variants and (with_video or not video)]
  if spec == "all":
    return applicable
  kinds = [k.strip() for k in spec.split(",") if k.strip()]
  for k in kinds:
    if k not in KINDS:
      raise ValueError(f"unknown synthetic defect {k!r}; known: {list(KINDS)}")
    if k not in applicable:
      raise ValueError(f"defect {k!r} does not apply to variant={variant!r} "
                       f"with_video={with_video}")
  return kinds


def expectation(kind: str, variant: str) -> Dict[str, str]:
  exp = dict(KINDS[kind][2])
  if kind == "nan" and variant == "wds":  # a float array, not a text line
    exp.update(note="dropped_nonfinite_rows", match="NaN/inf")
  return exp


def damage_rows(kind: str, t_us: np.ndarray, values: np.ndarray,
                rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray, dict]:
  """Defects on the samples themselves (before serialisation)."""
  t_s = (t_us - t_us[0]) / 1e6
  if kind == "gap_short":
    cut = (t_s >= 10.0) & (t_s < 10.06)
    return t_us[~cut], values[~cut], {"start_s": 10.0, "end_s": 10.06}
  if kind == "gap_long":
    cut = (t_s >= 12.0) & (t_s < 14.5)
    return t_us[~cut], values[~cut], {"start_s": 12.0, "end_s": 14.5}
  if kind == "acc_g":
    values = values.copy()
    values[:, :3] /= GRAVITY
    return t_us, values, {}
  if kind == "gyro_deg":
    values = values.copy()
    values[:, 3:] *= 180 / np.pi
    return t_us, values, {}
  if kind == "duplicate_ts":
    i = len(t_us) // 3
    idx = np.insert(np.arange(len(t_us)), i, [i - 1, i - 1])
    return t_us[idx], values[idx], {"line": i + 1}
  if kind == "nonmonotonic":
    i = len(t_us) // 2
    idx = np.arange(len(t_us))
    idx[i:i + 20] = np.concatenate([idx[i + 10:i + 20], idx[i:i + 10]])
    return t_us[idx], values[idx], {"line": i + 1}
  return t_us, values, {}


def damage_jsonl(kind: str, data: bytes) -> Tuple[bytes, dict]:
  """Defects on the JSONL text."""
  lines = data.split(b"\n")
  if kind == "corrupt_line":
    i = len(lines) // 4
    lines[i] = lines[i][:len(lines[i]) // 2]
    return b"\n".join(lines), {"line": i + 1}
  if kind == "corrupt_many":
    for i in range(5, len(lines) - 1, 10):
      lines[i] = lines[i][:len(lines[i]) // 2]
    return b"\n".join(lines), {"every": 10}
  if kind == "nan":
    i = len(lines) // 5
    obj = json.loads(lines[i])
    obj["acc"][0] = float("nan")
    lines[i] = json.dumps(obj).encode()  # writes NaN, as Python does
    return b"\n".join(lines), {"line": i + 1}
  if kind == "empty_imu":
    return b"", {}
  return data, {}


def damage_npy(kind: str, values: np.ndarray, rng: np.random.Generator
               ) -> Tuple[Optional[np.ndarray], dict]:
  if kind == "nan":
    values = values.copy()
    values[len(values) // 5, 0] = np.nan
    return values, {"row": len(values) // 5}
  if kind == "row_count":
    return values[:-5], {"removed_rows": 5}
  return values, {}


def damage_mp4(kind: str, data: bytes) -> Tuple[Optional[bytes], dict]:
  if kind == "truncated_mp4":
    return data[:int(len(data) * 0.6)], {"kept_bytes": int(len(data) * 0.6)}
  if kind == "missing_video":
    return None, {}
  return data, {}
