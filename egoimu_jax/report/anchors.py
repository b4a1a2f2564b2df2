"""Published results next to ours (the ``anchors`` table).

A dataset may declare published results on its people in ``dataset.json``'s
``about.anchors`` (``datasets/base.PublicDataset.anchors``: source, what,
protocol, preset, metric, low, high). For each anchor whose protocol and
preset some runs share (``config.protocol.name`` / ``.preset``), the table
lists the published figure, then each of our models on those runs: the
metric as mean ± std over seeds, with the window and training stride it
was run at. The anchors are read from the runs' ``config.data.raw_dir``; a
raw directory that cannot be read (another machine) gives no anchors.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

from egoimu_jax import errors
from egoimu_jax.input_pipeline.raw import dataset_json
from egoimu_jax.report import aggregate
from egoimu_jax.report import table_model

COLUMNS = ["source", "what", "split", "metric", "value"]


def _config(run: aggregate.Run) -> Mapping[str, Any]:
  return run.results.get("config") or {}


def declared(runs: Sequence[aggregate.Run]) -> List[Mapping[str, Any]]:
  """The anchors of the raw datasets the runs read (each once)."""
  out: List[Mapping[str, Any]] = []
  for raw_dir in sorted({str((_config(r).get("data") or {}).get("raw_dir")
                              or "") for r in runs} - {""}):
    try:
      about = dataset_json.read(raw_dir).about
    except (errors.UserError, OSError, ValueError):
      continue
    for anchor in (about or {}).get("anchors", []) if isinstance(
        about, dict) else []:
      if isinstance(anchor, dict) and anchor not in out:
        out.append(anchor)
  return out


def _matches(run: aggregate.Run, anchor: Mapping[str, Any]) -> bool:
  proto = _config(run).get("protocol") or {}
  return (run.protocol == anchor.get("protocol") and not run.variant and
          str(proto.get("preset", "")) == str(anchor.get("preset", "")))


def _setting(rs: Sequence[aggregate.Run]) -> str:
  """The windows our runs used: length and training stride."""
  cfg = _config(rs[0])
  window = (cfg.get("data") or {}).get("imu", {}).get("window_seconds")
  stride = (cfg.get("input") or {}).get("train_stride_seconds") or 0
  text = f"our runs, {window:g} s windows" if window else "our runs"
  if stride:
    text += f", training windows every {stride:g} s"
  return text + f" ({len(rs)} seed{'s' if len(rs) > 1 else ''})"


def _published(anchor: Mapping[str, Any]) -> str:
  low, high = float(anchor["low"]), float(anchor["high"])
  return f"{low:.2f}" if low == high else f"{low:.2f}–{high:.2f}"


def anchors_table(runs: Sequence[aggregate.Run]) -> Optional[table_model.Table]:
  """Published anchors and our runs on their split; None without any."""
  by_split: Dict[tuple, List[Mapping[str, Any]]] = {}
  for anchor in declared(runs):
    key = (anchor.get("protocol"), anchor.get("preset", ""),
           str(anchor.get("metric", "accuracy")))
    by_split.setdefault(key, []).append(anchor)
  rows: List[List[table_model.Cell]] = []
  for (protocol, preset, metric), published in by_split.items():
    ours = [r for r in runs if _matches(r, published[0])]
    if not ours:
      continue
    split = f"{protocol}:{preset}" if preset else str(protocol)
    rows += [[str(a.get("source", "")), str(a.get("what", "")), split, metric,
              _published(a)] for a in published]
    by_name: Dict[str, List[aggregate.Run]] = {}
    for r in ours:
      by_name.setdefault(r.name, []).append(r)
    for name, rs in sorted(by_name.items()):
      rows.append([name, _setting(rs), split, metric, table_model.mean_std(
          [float(r.test[metric]) for r in rs if r.test.get(metric) is not None])])
  if not rows:
    return None
  note = ("Published figures on the same split (the dataset's dataset.json "
          "about.anchors), then our models on it: the metric on the test "
          "people as mean ± std over seeds. How the published runs differ "
          "is in their 'what'; ours validate on some of the training "
          "people (each run's split.json), so train on fewer.")
  return table_model.Table("Published anchors", COLUMNS, rows, note)
