"""Scaling tables: macro-F1 per training scale, and the power-law fit per
model and scaling protocol with its held-out check."""

from __future__ import annotations

from typing import List, Mapping, Optional, Sequence

import numpy as np

from egoimu_jax.report import aggregate
from egoimu_jax.report import scaling_points
from egoimu_jax.report import table_model
from egoimu_jax.report import tables
from egoimu_jax.scaling import power_law

def scaling_table(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]]
                  ) -> Optional[table_model.Table]:
  """Macro-F1 per training scale for the scaling protocols."""
  keys = sorted((k for k in groups if k[2] is not None), key=tables.key_order)
  if not keys:
    return None
  rows = []
  for key in keys:
    rs = groups[key]
    n_train = [len(r.results.get("split", {}).get("train_workers") or []) for r in rs]
    rows.append([key[0], key[1], f"{key[2]:g}",
                 table_model.mean_std([r.test["macro_f1"] for r in rs]),
                 table_model.mean_std([r.test["accuracy"] for r in rs]),
                 table_model.mean_std(n_train)])
  return table_model.Table(
      "Scaling", ["model", "protocol", "scale", "macro-F1", "accuracy",
                  "train workers"], rows,
      "scale: protocol.scale (count if > 1, fraction if <= 1, all if < 0).")


def scaling_fit_table(runs: Sequence[aggregate.Run], n_boot: int = 2000,
                      seed: int = 0) -> Optional[table_model.Table]:
  """The power law per model and scaling protocol, and whether it predicts.

  Fit: ``1 − F1 = a·n^(−b) + c`` over every run
  (``egoimu_jax.scaling.power_law``),
  95% intervals from refits on resampled folds. Held-out check: the law
  refitted without each fold's largest size predicts it; error = predicted
  − observed macro-F1 there, relative error = error / (1 − observed F1).
  """
  try:
    found = scaling_points.from_runs(runs)
  except ValueError as e:
    return table_model.Table("Scaling fits", ["note"], [[f"not fitted: {e}"]])
  if not found:
    return None
  rows = []
  for (name, proto), pts in found.items():
    sizes = np.unique(pts.n)
    row: List[table_model.Cell] = [name, proto, len(sizes),
                                   len(np.unique(pts.fold))]
    notes = []
    try:
      result = power_law.fit(pts)
    except ValueError as e:
      rows.append(row + [None] * 8 + [f"not fitted: {e}"])
      continue
    try:
      boot = power_law.bootstrap(pts, result, n_boot=n_boot, seed=seed)
      ci = boot.params()
    except ValueError as e:
      ci = {}
      notes.append(f"no fit intervals: {e}")
    law = result.law
    row += [_interval_or_value(law.b, ci.get("b")),
            _interval_or_value(law.c, ci.get("c")), result.r2]
    try:
      check = power_law.holdout_check(pts, n_boot=n_boot, seed=seed)
    except ValueError as e:
      rows.append(row + [None] * 5 + ["; ".join(notes + [f"no check: {e}"])])
      continue
    if check.error_interval is None:
      notes.append("no check interval: a bootstrap over folds needs >= 2 folds")
    if not check.beyond_data:
      notes.append("held-out size not beyond every fitted size")
    held = check.held_out_n
    row += [int(held) if float(held).is_integer() else held,
            _interval_or_value(check.predicted_f1, check.predicted_interval),
            check.observed_f1,
            _interval_or_value(check.error, check.error_interval, signed=True),
            check.relative_error, "; ".join(notes)]
    rows.append(row)
  return table_model.Table(
      "Scaling fits and held-out check",
      ["model", "protocol", "sizes", "folds", "b [95% CI]",
       "c (error floor) [95% CI]", "R²", "held-out n", "predicted F1 [95% CI]",
       "observed F1", "error (pred − obs) [95% CI]", "relative error", "note"],
      rows,
      "Fit of 1 − macro-F1 = a·n^(−b) + c over every run (n: training clips "
      "for data scaling, training workers for worker scaling, as each split "
      "holds them). Held-out check: the law fitted without each fold's "
      "largest size (needs >= 3 other sizes) predicts it; error = predicted − "
      "observed macro-F1 there (mean over folds), relative error = error / "
      "(1 − observed F1). Intervals: 95% percentile bootstrap over folds "
      f"({n_boot} resamples, all sizes of a fold together); with few folds "
      "they are coarse.")


def _interval_or_value(value: float, interval: Optional[tuple],
                       signed: bool = False) -> table_model.Cell:
  if interval is None:
    return float(value)
  return table_model.Interval(float(value), *interval, signed=signed)
