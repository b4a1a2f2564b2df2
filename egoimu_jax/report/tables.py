"""Benchmark tables over grouped runs: within- vs cross-person
performance and the gap, the worst-served workers, per-class F1 and
worker-bootstrap intervals (``table_model`` is the table type; paired
comparisons are in ``comparisons``, scaling in ``scaling_tables``)."""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from egoimu_jax.evaluation import metrics as metrics_lib
from egoimu_jax.evaluation import stats as stats_lib
from egoimu_jax.input_pipeline import protocols
from egoimu_jax.report import aggregate
from egoimu_jax.report import table_model

METRIC_LABELS = {"macro_f1": "macro-F1", "accuracy": "accuracy",
                 "per_worker_f1_std": "worker-F1 std",
                 "per_worker_f1_mean": "worker-F1 mean",
                 "worker_f1_p10": "worker-F1 p10",
                 "worker_f1_min": "worker-F1 min"}


def main_table(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
               metrics: Sequence[str] = ("macro_f1", "accuracy",
                                         "per_worker_f1_std",
                                         "worker_f1_p10")) -> table_model.Table:
  """Model × protocol × metric (mean ± std over folds) and the gap.

  Scaling protocols are left to ``scaling_table``. The gap is within-person
  minus each cross-person protocol's macro-F1; when fold k of both protocols
  tests the same workers it is paired by fold (marked †). A macro-F1 whose
  runs predict one class for every test window is flagged ``constant``.
  """
  runs = [r for rs in groups.values() for r in rs if r.scale is None]
  constant = aggregate.constant_runs(runs)
  collapsed = {(r.name, r.protocol) for r, _ in constant}
  protos = [p for p in aggregate.protocols(runs)
            if not protocols.is_scaling(p)]
  gap_protos = ([p for p in protos if p in protocols.cross_person_protocols()]
                if "within" in protos else [])
  columns = ["model"] + [f"{p} {METRIC_LABELS.get(m, m)}"
                         for p in protos for m in metrics]
  columns += [f"gap within−{p}" for p in gap_protos]
  rows = []
  for name in aggregate.names(runs):
    row: List[table_model.Cell] = [name]
    for p in protos:
      rs = groups.get((name, p, None), [])
      for m in metrics:
        vals = [r.test.get(m) for r in rs if r.test.get(m) is not None]
        flag = ("constant" if m == "macro_f1" and (name, p) in collapsed
                else "")
        row.append(table_model.mean_std(vals, flag) if vals else None)
    for p in gap_protos:
      row.append(gap(groups.get((name, "within", None), []),
                      groups.get((name, p, None), [])))
    rows.append(row)
  note = ("Mean ± sample std over folds (n folds in CSV; a single fold shows "
          "its value alone). Gap: within-person "
          "minus cross-person macro-F1 ± standard error; † paired by fold "
          "(same test workers), otherwise a difference of fold means. "
          "Worker-F1 std: spread of per-worker macro-F1 across test workers; "
          "worker-F1 p10: its 10th percentile within each fold.")
  partial = sorted({f"{r.name} ({r.protocol}: {r.test_coverage:.0%})"
                    for r in runs if r.test_coverage is not None
                    and r.test_coverage < 1.0})
  if partial:
    note += (" Scored on part of the test windows only (e.g. windows with "
             "stored frames): " + ", ".join(partial) + ".")
  unseen: Dict[str, List[int]] = {}  # name -> [unseen-class windows, windows]
  for r in runs:
    if "unseen_class_test_windows" in r.results:
      u = unseen.setdefault(r.name, [0, 0])
      u[0] += r.results["unseen_class_test_windows"]["total"]
      u[1] += r.test.get("n", 0)
  if unseen:
    note += (" Within-person test windows of a class that person has no "
             "training windows of: " + ", ".join(
                 f"{n} {k} of {t} ({k / max(t, 1):.1%})"
                 for n, (k, t) in sorted(unseen.items())) + ".")
  if constant:
    mark = table_model.FLAGS["constant"][0]
    note += (f" {mark} One class for every test window: " +
             ", ".join(f"{r.name} ({r.protocol} fold {r.fold}: {c!r})"
                       for r, c in sorted(constant, key=lambda rc: (
                           rc[0].name, rc[0].protocol, rc[0].fold))) + ".")
  return table_model.Table("Within- vs cross-person performance", columns,
                           rows, note)


def gap(within: List[aggregate.Run], cross: List[aggregate.Run]
        ) -> Optional[table_model.ValueSE]:
  if not within or not cross:
    return None
  paired = ([r.fold for r in within] == [r.fold for r in cross] and
            all(set(a.test_workers) == set(b.test_workers)
                for a, b in zip(within, cross)))
  g = metrics_lib.generalisation_gap([r.test["macro_f1"] for r in within],
                                     [r.test["macro_f1"] for r in cross],
                                     paired=paired)
  return table_model.ValueSE(g["gap"], g["se"], paired,
                             n=min(len(within), len(cross)))


def worst_workers_table(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
                        threshold: float = metrics_lib.WORKER_F1_THRESHOLD,
                        n_boot: int = 2000, seed: int = 0) -> table_model.Table:
  """How the worst-served test people fare, per model and protocol.

  Pooled over a group's folds: every test worker's macro-F1 (the mean over
  the folds that test it), then its 10th percentile (with a worker-bootstrap
  95% CI), minimum, and the share of workers below ``threshold``.
  """
  rows = []
  p10 = lambda x, axis=None: np.percentile(
      x, metrics_lib.WORKER_F1_PERCENTILE, axis=axis)
  for key in sorted((k for k in groups if k[2] is None), key=key_order):
    f1 = aggregate.worker_f1(groups[key])
    if not f1:
      continue
    values = np.array(list(f1.values()))
    worst = metrics_lib.worst_worker_metrics(values, threshold)
    ci = stats_lib.bootstrap_ci(values, p10, n_boot=n_boot, seed=seed)
    rows.append([key[0], key[1], len(values), float(values.mean()),
                 table_model.Interval(
                     worst["worker_f1_p10"], ci.low, ci.high,
                     flag=table_model.few_workers(len(values))),
                 worst["worker_f1_min"], min(f1, key=lambda w: (f1[w], w)),
                 worst["share_workers_below"], int((values < threshold).sum())])
  return table_model.Table(
      "Worst-served workers",
      ["model", "protocol", "test workers", "worker-F1 mean",
       "worker-F1 p10 [95% CI]", "worker-F1 min", "worst worker",
       f"share below {threshold:g}", f"workers below {threshold:g}"], rows,
      "Per-worker macro-F1 pooled over folds (a worker tested in several "
      "folds counts once, with its mean). p10: 10th percentile "
      "(np.percentile, as WILDS), CI from "
      f"{n_boot} resamples of test workers. Share below: fraction of test "
      f"workers whose macro-F1 is under {threshold:g}.")


def per_class_table(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]]
                    ) -> table_model.Table:
  """Per-class F1, mean ± std over the folds in which the class occurs."""
  keys = sorted((k for k in groups if k[2] is None), key=key_order)
  classes: List[str] = []
  for k in keys:
    classes += [c for c in groups[k][0].classes if c not in classes]
  rows = []
  for name, proto, _ in keys:
    row: List[table_model.Cell] = [name, proto]
    for c in classes:
      vals = [r.test["per_class_f1"].get(c) for r in groups[(name, proto, None)]]
      vals = [v for v in vals if v is not None]
      row.append(table_model.mean_std(vals) if vals else None)
    rows.append(row)
  return table_model.Table(
      "Per-class F1", ["model", "protocol"] + classes, rows,
      "Mean ± std over folds; a fold without true windows of a class does not "
      "count for that class.")


def ci_table(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
             n_boot: int = 2000, seed: int = 0) -> table_model.Table:
  """Macro-F1 with a 95% CI from resampling test workers."""
  rows = []
  for key in sorted((k for k in groups if k[2] is None), key=key_order):
    rs = groups[key]
    ci = stats_lib.worker_bootstrap([r.worker_confusions() for r in rs],
                                    n_boot=n_boot, seed=seed)
    workers = {w for r in rs for w in r.per_worker}
    rows.append([key[0], key[1],
                 table_model.Interval(
                     ci.estimate, ci.low, ci.high,
                     flag=table_model.few_workers(len(workers))),
                 len(rs), len(workers)])
  return table_model.Table(
      "Macro-F1 with worker-bootstrap 95% CI",
      ["model", "protocol", "macro-F1 [95% CI]", "folds", "test workers"], rows,
      f"Mean over folds of pooled macro-F1; percentile interval from {n_boot} "
      "resamples of test workers (not windows).")


def key_order(key: aggregate.GroupKey):
  name, proto, scale = key
  known = aggregate.protocol_order()
  order = known.index(proto) if proto in known else len(known)
  return (name, order, proto, -np.inf if scale is None else scale)


