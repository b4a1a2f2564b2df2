"""Benchmark tables over grouped runs: within- vs cross-person
performance and the gap, the worst-served workers, per-class F1 and
worker-bootstrap intervals (``table_model`` is the table type; paired
comparisons are in ``comparisons``, scaling in ``scaling_tables``)."""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from egoimu_jax.evaluation import metrics as metrics_lib
from egoimu_jax.evaluation import stats as stats_lib
from egoimu_jax.input_pipeline import protocols
from egoimu_jax.report import aggregate
from egoimu_jax.report import matched
from egoimu_jax.report import table_model

METRIC_LABELS = {"macro_f1": "macro-F1", "accuracy": "accuracy",
                 "per_worker_f1_std": "worker-F1 std",
                 "per_worker_f1_mean": "worker-F1 mean",
                 "worker_f1_p10": "worker-F1 p10",
                 "worker_f1_min": "worker-F1 min"}


# A class with fewer test windows than this in a fold flags the row: its
# F1 (and so macro-F1) rests on a handful of windows, or on none.
MIN_CLASS_SUPPORT = 10


def main_table(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
               metrics: Sequence[str] = ("macro_f1", "accuracy",
                                         "per_worker_f1_std",
                                         "worker_f1_p10"),
               gaps: Optional[Mapping[Tuple[str, str], matched.Gap]] = None,
               min_class_support: int = MIN_CLASS_SUPPORT
               ) -> table_model.Table:
  """Model × protocol × metric (mean ± std over folds) and the gap.

  ``groups``: models only (``aggregate.models_only``); scaling protocols are
  left to ``scaling_table``. Seeds of a fold are averaged first; with
  several seeds a column gives their spread. The gap (``gaps``, from
  ``matched``) is within- minus cross-person macro-F1 on the windows both
  scored. A macro-F1 whose runs predict one class for every test window is
  flagged ``constant``; one with a class under ``min_class_support`` test
  windows in a fold ``low_support``.
  """
  runs = [r for rs in groups.values() for r in rs if r.scale is None]
  constant = aggregate.constant_runs(runs)
  collapsed = {(r.name, r.protocol) for r, _ in constant}
  thin = {(r.name, r.protocol) for r in runs
          if min(list(r.test.get("support", {}).values()) or
                 [min_class_support]) < min_class_support}
  protos = [p for p in aggregate.protocols(runs)
            if not protocols.is_scaling(p)]
  order = aggregate.protocol_order()
  gap_protos = sorted({p for _, p in (gaps or {})},
                      key=lambda p: order.index(p) if p in order else len(order))
  seeded = any(aggregate.seed_spread(rs) is not None for rs in groups.values())
  columns = ["model"] + [f"{p} {METRIC_LABELS.get(m, m)}"
                         for p in protos for m in metrics]
  columns += [f"{p} seed std" for p in protos] if seeded else []
  columns += [f"gap within−{p}" for p in gap_protos]
  rows = []
  for name in aggregate.names(runs):
    row: List[table_model.Cell] = [name]
    for p in protos:
      rs = groups.get((name, p, None), [])
      for m in metrics:
        _, vals = aggregate.fold_means(rs, m)
        flag = ("constant" if m == "macro_f1" and (name, p) in collapsed else
                "low_support" if m == "macro_f1" and (name, p) in thin else "")
        row.append(table_model.mean_std(vals, flag) if vals else None)
    if seeded:
      row += [aggregate.seed_spread(groups.get((name, p, None), []))
              for p in protos]
    for p in gap_protos:
      g = (gaps or {}).get((name, p))
      row.append(None if g is None else table_model.ValueSE(
          g.value, g.se, True, n=g.folds))
    rows.append(row)
  note = ("Mean ± sample std over folds (n folds in CSV; a single fold shows "
          "its value alone); macro-F1 over the dataset's whole vocabulary "
          "(a class absent from a test set and never predicted scores 1, "
          "predicted anyway 0). Gap: within-person minus cross-person "
          "macro-F1 on the same test windows (those both runs scored, "
          "matched by window id; see the gap table) ± standard error over "
          "folds (†: paired window for window). "
          "Worker-F1 std: spread of per-worker macro-F1 across test workers; "
          "worker-F1 p10: its 10th percentile within each fold.")
  if seeded:
    note += (" Seeds of a fold are averaged; seed std: the across-seed std "
             "of macro-F1, mean over folds.")
  if thin:
    note += (f" {table_model.FLAGS['low_support'][0]} A class has fewer "
             f"than {min_class_support} test windows in a fold: "
             + ", ".join(f"{n} ({p})" for n, p in sorted(thin)) + ".")
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


def matched_gaps(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
                 n_boot: int = 1000, seed: int = 0
                 ) -> Tuple[Dict[Tuple[str, str], matched.Gap],
                            Dict[Tuple[str, str], List[matched.MatchedFold]]]:
  """``{(name, cross protocol): gap}`` on matched windows, for every model
  with within-person and cross-person runs that kept predictions, and the
  matched folds behind each."""
  gaps, folds = {}, {}
  for cross in protocols.cross_person_protocols():
    for name, fs in matched.group_pairs(groups, cross).items():
      gaps[(name, cross)] = matched.gap(fs, n_boot=n_boot, seed=seed)
      folds[(name, cross)] = fs
  return gaps, folds


def gap_table(gaps: Mapping[Tuple[str, str], matched.Gap],
              folds: Mapping[Tuple[str, str], List[matched.MatchedFold]]
              ) -> table_model.Table:
  """The matched gap with its interval and what it was computed on."""
  rows = []
  for (name, cross), g in sorted(gaps.items()):
    rows.append([name, cross, g.within, g.cross,
                 table_model.Interval(g.value, g.low, g.high, signed=True,
                                      flag=table_model.few_workers(g.workers)),
                 g.se if g.folds > 1 else None, g.folds, g.workers, g.windows,
                 " ".join(f.digest for f in folds[(name, cross)])])
  return table_model.Table(
      "Generalisation gap on matched windows",
      ["model", "cross protocol", "within macro-F1", "cross macro-F1",
       "gap [95% CI]", "gap se (folds)", "folds", "test workers",
       "matched windows", "windows (sha256 per fold)"], rows,
      "Both arms scored on the same windows (the within-person run's test "
      "windows, which the cross-person run of the same fold also scored), "
      "macro-F1 over the fixed vocabulary; gap: mean over folds of within − "
      "cross; interval: paired bootstrap over test workers (one resample for "
      "both arms).")


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
    worst_worker = min(f1, key=lambda w: (f1[w], w))
    support = sum(int(r.per_worker.get(worst_worker, {}).get("n", 0))
                  for r in groups[key])
    rows.append([key[0], key[1], len(values), float(values.mean()),
                 table_model.Interval(
                     worst["worker_f1_p10"], ci.low, ci.high,
                     flag=table_model.few_workers(len(values))),
                 worst["worker_f1_min"], worst_worker, support,
                 worst["share_workers_below"], int((values < threshold).sum())])
  return table_model.Table(
      "Worst-served workers",
      ["model", "protocol", "test workers", "worker-F1 mean",
       "worker-F1 p10 [95% CI]", "worker-F1 min", "worst worker",
       "worst worker windows",
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
    runs = groups[(name, proto, None)]
    for c in classes:
      vals = [r.test["per_class_f1"].get(c) for r in runs]
      vals = [v for v in vals if v is not None]
      row.append(table_model.mean_std(vals) if vals else None)
    row += [sum(int(r.test.get("support", {}).get(c, 0)) for r in runs)
            for c in classes]
    rows.append(row)
  return table_model.Table(
      "Per-class F1", ["model", "protocol"] + classes +
      [f"n {c}" for c in classes], rows,
      "Mean ± std over folds; a fold without true windows of a class does not "
      "count for that class. n: test windows of the class, summed over "
      "folds (seeds of a fold count once each).")


def ci_table(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
             n_boot: int = 2000, seed: int = 0) -> table_model.Table:
  """Macro-F1 with a 95% CI from resampling test workers."""
  rows = []
  for key in sorted((k for k in groups if k[2] is None), key=key_order):
    rs = groups[key]
    folds, confusions = aggregate.seeded_confusions(rs)
    ci = stats_lib.worker_bootstrap(confusions, n_boot=n_boot, seed=seed)
    workers = {w for r in rs for w in r.per_worker}
    rows.append([key[0], key[1],
                 table_model.Interval(
                     ci.estimate, ci.low, ci.high,
                     flag=table_model.few_workers(len(workers))),
                 len(folds), len(workers), max(len(c) for c in confusions)])
  seeded = any(row[-1] > 1 for row in rows)
  if not seeded:
    rows = [row[:-1] for row in rows]
  return table_model.Table(
      "Macro-F1 with worker-bootstrap 95% CI",
      ["model", "protocol", "macro-F1 [95% CI]", "folds", "test workers"]
      + (["seeds per fold"] if seeded else []), rows,
      f"Mean over folds of pooled macro-F1 (a fold's seeds averaged); "
      f"percentile interval from {n_boot} resamples of test workers (not "
      "windows) and, where a fold has several seeds, of its seeds too "
      "(two levels: the interval includes retraining variance).")


def key_order(key: aggregate.GroupKey):
  name, proto, scale = key
  known = aggregate.protocol_order()
  order = known.index(proto) if proto in known else len(known)
  return (name, order, proto, -np.inf if scale is None else scale)


