"""The cross-person section: each gap-closing method against ERM, and the
calibration curve (``launch/sweeps/cross_person.py``, issue 15).

Runs are recognised by name, as the sweep writes them, on cross-person
protocols:

* ``<base>+<method>``: a training-time method (person normalisation, CORAL,
  GroupDRO, VREx, ...) against the ERM run ``<base>``;
* ``<base> / adabn``, ``<base> / tent``: test-time adaptation, variants of
  the ERM run itself;
* ``<base> / calib_k0`` and ``<base> / calib_<mode>_k<k>``: the calibration
  curve, all on the same windows (those after the largest ``k``), with the
  within-person ERM run ``<base>`` as the ceiling.

A method's gain is paired with ERM on the same folds and test windows
(``comparisons.paired_row``: worker-bootstrap CI and p, fold t / Wilcoxon,
per-worker sign flip); the spread columns show whether it helps the
hardest people (10th percentile and minimum of per-worker macro-F1, pooled
over folds) or only the average.
"""

from __future__ import annotations

import re
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from egoimu_jax.evaluation import metrics as metrics_lib
from egoimu_jax.evaluation import stats as stats_lib
from egoimu_jax.input_pipeline import protocols
from egoimu_jax.report import aggregate
from egoimu_jax.report import comparisons
from egoimu_jax.report import figures
from egoimu_jax.report import table_model

Groups = Mapping[aggregate.GroupKey, List[aggregate.Run]]
_TTA = ("adabn", "tent")
_CALIB = re.compile(r"^(?P<base>.+) / calib_(?:(?P<mode>[a-z]+)_)?"
                    r"k(?P<k>[0-9.e+-]+)$")


def _cross(groups: Groups) -> Dict[str, List[aggregate.Run]]:
  """Runs by name on the first unscaled cross-person protocol present."""
  for proto in protocols.cross_person_protocols():
    found = {n: rs for (n, p, s), rs in groups.items() if p == proto and
             s is None}
    if found:
      return found
  return {}


def _methods(runs: Mapping[str, List[aggregate.Run]]
             ) -> List[Tuple[str, str, str]]:
  """``(base, method, name)`` of every method run with its ERM present."""
  out = []
  for name in sorted(runs):
    if " / " in name:
      base, _, method = name.rpartition(" / ")
      if method not in _TTA:
        continue
    elif "+" in name:
      base, _, method = name.partition("+")
    else:
      continue
    if base in runs:
      out.append((base, method, name))
  return out


def _spread(runs: List[aggregate.Run]) -> Dict[str, float]:
  return metrics_lib.worst_worker_metrics(
      list(aggregate.worker_f1(runs).values()))


def _note(runs: List[aggregate.Run]) -> str:
  notes = {r.results.get("extra", {}).get("adaptation", {}).get("note", "")
           for r in runs}
  return "; ".join(sorted(n for n in notes if n))


def gains_table(groups: Groups, n_boot: int = 2000,
                seed: int = 0) -> Optional[table_model.Table]:
  """Each method's macro-F1 gain over ERM and the change of the spread."""
  runs = _cross(groups)
  rows = []
  for base, method, name in _methods(runs):
    erm, m = runs[base], runs[name]
    paired = comparisons.paired_row(m, erm, n_boot, seed)
    if isinstance(paired, str):
      continue   # different workers / windows: not comparable
    s_erm, s_m = _spread(erm), _spread(m)
    rows.append({
        "model": base, "method": method,
        "ERM F1": table_model.mean_std([r.test["macro_f1"] for r in erm]),
        "method F1": table_model.mean_std([r.test["macro_f1"] for r in m]),
        "folds": paired[0], "gain (CI)": paired[1], "bootstrap p": paired[2],
        "fold t p": paired[3], "Wilcoxon p": paired[4],
        "worker sign-flip p": paired[6],
        "ERM p10": s_erm["worker_f1_p10"],
        "Δ p10": s_m["worker_f1_p10"] - s_erm["worker_f1_p10"],
        "ERM min": s_erm["worker_f1_min"],
        "Δ min": s_m["worker_f1_min"] - s_erm["worker_f1_min"],
        "note": _note(m),
    })
  if not rows:
    return None
  table = table_model.Table.from_dicts(
      "Closing the cross-person gap: gain over ERM (macro-F1)", rows,
      "Paired with the ERM run on the same folds and test windows. Gain: "
      "worker-bootstrap CI of the mean-over-folds difference; Δ p10 / Δ min: "
      "change of the 10th percentile / minimum of per-worker macro-F1 (does "
      "the method help the hardest people, or only the average?). q: "
      "Benjamini-Hochberg q-value of the p beside it, over the table's rows.")
  table.columns, table.rows = comparisons.with_q_values(table.columns,
                                                        table.rows)
  return table


def curve(groups: Groups) -> Dict[str, Dict[str, Dict[float, List[
    aggregate.Run]]]]:
  """``{base: {mode: {k: runs}}}``; k = 0 (no fine-tuning) in every mode."""
  out: Dict[str, Dict[str, Dict[float, List[aggregate.Run]]]] = {}
  zero: Dict[str, List[aggregate.Run]] = {}
  for name, rs in _cross(groups).items():
    match = _CALIB.match(name)
    if not match:
      continue
    k = float(match["k"])
    if match["mode"]:
      out.setdefault(match["base"], {}).setdefault(match["mode"], {})[k] = rs
    else:
      zero[match["base"]] = rs
  for base, modes in out.items():
    for points in modes.values():
      if base in zero:
        points[0.0] = zero[base]
  return out


def _ceiling(groups: Groups, base: str) -> Optional[List[aggregate.Run]]:
  return groups.get((base, "within", None))


def calibration_table(groups: Groups, n_boot: int = 2000,
                      seed: int = 0) -> Optional[table_model.Table]:
  """Macro-F1 vs fine-tuning minutes, paired with k = 0, and the ceiling."""
  rows = []
  for base, modes in sorted(curve(groups).items()):
    ceiling = _ceiling(groups, base)
    top = (float(np.mean([r.test["macro_f1"] for r in ceiling]))
           if ceiling else None)
    for mode, points in sorted(modes.items()):
      start = points.get(0.0)
      for k in sorted(points):
        rs = points[k]
        f1 = [r.test["macro_f1"] for r in rs]
        row = {"model": base, "mode": mode, "minutes": f"{k:g}",
               "F1": table_model.mean_std(f1), "gain over k=0 (CI)": None,
               "within ceiling": top, "gap closed": None}
        if start is not None and k > 0:
          boot = stats_lib.paired_worker_bootstrap(
              [r.worker_confusions() for r in rs],
              [r.worker_confusions() for r in start], n_boot=n_boot, seed=seed)
          d = boot.difference
          workers = len(aggregate.worker_f1(rs))
          row["gain over k=0 (CI)"] = table_model.Interval(
              d.estimate, d.low, d.high, signed=True,
              flag=table_model.few_workers(workers))
          base_f1 = float(np.mean([r.test["macro_f1"] for r in start]))
          if top is not None and top > base_f1:
            row["gap closed"] = (float(np.mean(f1)) - base_f1) / (top - base_f1)
        rows.append(row)
  if not rows:
    return None
  return table_model.Table.from_dicts(
      "Calibration curve: cross-person macro-F1 after fine-tuning on a new "
      "person's first k minutes", rows,
      "Every k is scored on the same windows of each test person (those after "
      "the largest k). Gap closed: (F1_k - F1_0) / (within-person F1 - F1_0); "
      "the within-person ceiling is scored on that protocol's own test "
      "windows.")


def calibration_figure(groups: Groups, stem: str) -> List[str]:
  """Macro-F1 vs minutes, one line per (model, mode), ceilings dashed."""
  data = curve(groups)
  if not data:
    return []
  fig = figures.new_figure(3.5, 2.6)
  ax = fig.add_subplot()
  colours = iter(figures.COLORS * 4)
  for base, modes in sorted(data.items()):
    ceiling = _ceiling(groups, base)
    for mode, points in sorted(modes.items()):
      ks = sorted(points)
      mean = [np.mean([r.test["macro_f1"] for r in points[k]]) for k in ks]
      colour = next(colours)
      ax.plot(ks, mean, marker="o", color=colour, label=f"{base} · {mode}")
    if ceiling:
      ax.axhline(np.mean([r.test["macro_f1"] for r in ceiling]),
                 color=colour, linestyle="--", linewidth=1,
                 label=f"{base} · within-person")
  ax.set_xlabel("Labelled minutes from the new person")
  ax.set_ylabel("Cross-person macro-F1")
  ax.legend(frameon=False)
  return figures.save(fig, stem, caption=(
      "Cross-person macro-F1 after fine-tuning on each test person's first "
      "k labelled minutes (mean over folds), per model and mode; dashed: "
      "the within-person ceiling."))


def section(groups: Groups, fig_dir: str, n_boot: int = 2000, seed: int = 0
            ) -> Tuple[Dict[str, table_model.Table], List[str]]:
  """The report's cross-person tables and figure (empty without such runs)."""
  out = {}
  for name, table in (("cross_person_gains",
                       gains_table(groups, n_boot, seed)),
                      ("calibration_curve",
                       calibration_table(groups, n_boot, seed))):
    if table is not None:
      out[name] = table
  figs = calibration_figure(groups, f"{fig_dir}/calibration_curve")
  return out, figs
