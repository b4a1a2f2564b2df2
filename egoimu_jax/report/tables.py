"""Benchmark tables from grouped runs, rendered as Markdown and CSV.

Cells are plain values or :class:`MeanStd` / :class:`ValueSE` /
:class:`Interval` estimates; Markdown prints ``0.712 ± 0.031`` (or
``0.712 [0.690, 0.735]``), CSV expands each estimate into numeric columns
(``<col>_mean``, ``<col>_std``, ``<col>_n`` ...) so spreadsheets and plots
never parse strings.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from egoimu_jax.evaluation import metrics as metrics_lib
from egoimu_jax.evaluation import stats as stats_lib
from egoimu_jax.report import aggregate

METRIC_LABELS = {"macro_f1": "macro-F1", "accuracy": "accuracy",
                 "per_worker_f1_std": "worker-F1 std",
                 "per_worker_f1_mean": "worker-F1 mean",
                 "worker_f1_p10": "worker-F1 p10",
                 "worker_f1_min": "worker-F1 min"}


@dataclasses.dataclass(frozen=True)
class MeanStd:
  mean: float
  std: float
  n: int


@dataclasses.dataclass(frozen=True)
class ValueSE:
  value: float
  se: float
  paired: bool


@dataclasses.dataclass(frozen=True)
class Interval:
  value: float
  low: float
  high: float


Cell = Union[None, str, int, float, MeanStd, ValueSE, Interval]


@dataclasses.dataclass
class Table:
  """A titled table; ``note`` is printed under it in Markdown."""
  title: str
  columns: List[str]
  rows: List[List[Cell]]
  note: str = ""

  def to_markdown(self, digits: int = 3) -> str:
    fmt = lambda c: _format(c, digits)
    lines = [f"### {self.title}", "",
             "| " + " | ".join(self.columns) + " |",
             "|" + "|".join(" --- " for _ in self.columns) + "|"]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in self.rows]
    if self.note:
      lines += ["", self.note]
    return "\n".join(lines) + "\n"

  def to_csv(self) -> str:
    header: List[str] = []
    for j, col in enumerate(self.columns):
      kind = _column_kind(self.rows, j)
      if kind is MeanStd:
        header += [f"{col}_mean", f"{col}_std", f"{col}_n"]
      elif kind is ValueSE:
        header += [col, f"{col}_se", f"{col}_paired"]
      elif kind is Interval:
        header += [col, f"{col}_low", f"{col}_high"]
      else:
        header.append(col)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in self.rows:
      out: List[Any] = []
      for j, c in enumerate(row):
        kind = _column_kind(self.rows, j)
        if kind in (MeanStd, ValueSE, Interval):
          out += (["", "", ""] if c is None else
                  [_csv_value(v) for v in dataclasses.astuple(c)])
        else:
          out.append(_csv_value(c))
      writer.writerow(out)
    return buf.getvalue()

  @classmethod
  def from_dicts(cls, title: str, rows: Sequence[Mapping[str, Any]],
                 note: str = "") -> "Table":
    columns: List[str] = []
    for r in rows:
      columns += [k for k in r if k not in columns]
    return cls(title, columns, [[r.get(c) for c in columns] for r in rows], note)


def main_table(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
               metrics: Sequence[str] = ("macro_f1", "accuracy",
                                         "per_worker_f1_std",
                                         "worker_f1_p10")) -> Table:
  """Model × protocol × metric (mean ± std over folds) and the gap.

  Scaling protocols are left to ``scaling_table``. The gap is within-person
  minus each cross-person protocol's macro-F1; when fold k of both protocols
  tests the same workers it is paired by fold (marked †).
  """
  runs = [r for rs in groups.values() for r in rs if r.scale is None]
  protos = [p for p in aggregate.protocols(runs)
            if p not in aggregate.SCALING_PROTOCOLS]
  gap_protos = ([p for p in protos if p in aggregate.CROSS_PERSON]
                if "within" in protos else [])
  columns = ["model"] + [f"{p} {METRIC_LABELS.get(m, m)}"
                         for p in protos for m in metrics]
  columns += [f"gap within−{p}" for p in gap_protos]
  rows = []
  for name in aggregate.names(runs):
    row: List[Cell] = [name]
    for p in protos:
      rs = groups.get((name, p, None), [])
      for m in metrics:
        vals = [r.test.get(m) for r in rs if r.test.get(m) is not None]
        row.append(MeanStd(**metrics_lib.mean_std(vals)) if vals else None)
    for p in gap_protos:
      row.append(_gap(groups.get((name, "within", None), []),
                      groups.get((name, p, None), [])))
    rows.append(row)
  note = ("Mean ± sample std over folds (n folds in CSV). Gap: within-person "
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
  return Table("Within- vs cross-person performance", columns, rows, note)


def _gap(within: List[aggregate.Run], cross: List[aggregate.Run]) -> Optional[ValueSE]:
  if not within or not cross:
    return None
  paired = ([r.fold for r in within] == [r.fold for r in cross] and
            all(set(a.test_workers) == set(b.test_workers)
                for a, b in zip(within, cross)))
  g = metrics_lib.generalisation_gap([r.test["macro_f1"] for r in within],
                                     [r.test["macro_f1"] for r in cross],
                                     paired=paired)
  return ValueSE(g["gap"], g["se"], paired)


def worst_workers_table(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
                        threshold: float = metrics_lib.WORKER_F1_THRESHOLD,
                        n_boot: int = 2000, seed: int = 0) -> Table:
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
                 Interval(worst["worker_f1_p10"], ci.low, ci.high),
                 worst["worker_f1_min"], min(f1, key=lambda w: (f1[w], w)),
                 worst["share_workers_below"], int((values < threshold).sum())])
  return Table(
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
                    ) -> Table:
  """Per-class F1, mean ± std over the folds in which the class occurs."""
  keys = sorted((k for k in groups if k[2] is None), key=key_order)
  classes: List[str] = []
  for k in keys:
    classes += [c for c in groups[k][0].classes if c not in classes]
  rows = []
  for name, proto, _ in keys:
    row: List[Cell] = [name, proto]
    for c in classes:
      vals = [r.test["per_class_f1"].get(c) for r in groups[(name, proto, None)]]
      vals = [v for v in vals if v is not None]
      row.append(MeanStd(**metrics_lib.mean_std(vals)) if vals else None)
    rows.append(row)
  return Table("Per-class F1", ["model", "protocol"] + classes, rows,
               "Mean ± std over folds; a fold without true windows of a class "
               "does not count for that class.")


def ci_table(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
             n_boot: int = 2000, seed: int = 0) -> Table:
  """Macro-F1 with a 95% CI from resampling test workers."""
  rows = []
  for key in sorted((k for k in groups if k[2] is None), key=key_order):
    rs = groups[key]
    ci = stats_lib.worker_bootstrap([r.worker_confusions() for r in rs],
                                    n_boot=n_boot, seed=seed)
    workers = {w for r in rs for w in r.per_worker}
    rows.append([key[0], key[1], Interval(ci.estimate, ci.low, ci.high),
                 len(rs), len(workers)])
  return Table(
      "Macro-F1 with worker-bootstrap 95% CI",
      ["model", "protocol", "macro-F1 [95% CI]", "folds", "test workers"], rows,
      f"Mean over folds of pooled macro-F1; percentile interval from {n_boot} "
      "resamples of test workers (not windows).")


def significance_table(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
                       n_boot: int = 2000, seed: int = 0) -> Table:
  """Pairwise comparisons of models on the same folds of each protocol."""
  rows = []
  skipped = []
  for proto in aggregate.protocols([r for rs in groups.values() for r in rs]):
    if proto in aggregate.SCALING_PROTOCOLS:
      continue
    names = sorted(n for n, p, s in groups if p == proto and s is None)
    for a, b in itertools.combinations(names, 2):
      ra, rb = groups[(a, proto, None)], groups[(b, proto, None)]
      folds = sorted({r.fold for r in ra} & {r.fold for r in rb})
      ra = [r for r in ra if r.fold in folds]
      rb = [r for r in rb if r.fold in folds]
      if not folds or any(set(x.per_worker) != set(y.per_worker)
                          for x, y in zip(ra, rb)):
        skipped.append(f"{a} vs {b} ({proto})")
        continue
      if any(x.test_windows != y.test_windows for x, y in zip(ra, rb)
             if x.test_windows and y.test_windows):
        # e.g. a video model scored only on windows with stored frames.
        skipped.append(f"{a} vs {b} ({proto}: different test windows)")
        continue
      fa = [r.test["macro_f1"] for r in ra]
      fb = [r.test["macro_f1"] for r in rb]
      fold = stats_lib.paired_fold_tests(fa, fb) if len(folds) > 1 else {}
      boot = stats_lib.paired_worker_bootstrap(
          [r.worker_confusions() for r in ra], [r.worker_confusions() for r in rb],
          n_boot=n_boot, seed=seed)
      wa, wb = aggregate.worker_f1(ra), aggregate.worker_f1(rb)
      flip = stats_lib.sign_flip_test([wa[w] - wb[w] for w in sorted(wa)],
                                      seed=seed)
      rows.append([
          proto, a, b, len(folds),
          Interval(boot.difference.estimate, boot.difference.low,
                   boot.difference.high),
          boot.p_value, fold.get("t_p_value"), fold.get("wilcoxon_p_value"),
          flip["mean_difference"], flip["p_value"]])
  note = ("Δ = A − B macro-F1 (mean over folds) with a paired worker-bootstrap "
          "95% CI and p-value (primary). Fold tests: paired t-test and exact "
          "Wilcoxon over folds (with 5 folds Wilcoxon cannot go below "
          "p = 0.0625). Sign-flip: permutation test on per-worker macro-F1 "
          "differences.")
  if skipped:
    note += (" Not comparable (different folds, test workers or test "
             "windows): " + ", ".join(skipped) + ".")
  return Table("Paired comparisons", [
      "protocol", "A", "B", "folds", "Δ macro-F1 [95% CI]", "p (bootstrap)",
      "p (t, folds)", "p (Wilcoxon, folds)", "Δ worker-F1", "p (sign-flip)"],
      rows, note)


def scaling_table(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]]
                  ) -> Optional[Table]:
  """Macro-F1 per training scale for the scaling protocols."""
  keys = sorted((k for k in groups if k[2] is not None), key=key_order)
  if not keys:
    return None
  rows = []
  for key in keys:
    rs = groups[key]
    n_train = [len(r.results.get("split", {}).get("train_workers") or []) for r in rs]
    rows.append([key[0], key[1], f"{key[2]:g}",
                 MeanStd(**metrics_lib.mean_std([r.test["macro_f1"] for r in rs])),
                 MeanStd(**metrics_lib.mean_std([r.test["accuracy"] for r in rs])),
                 MeanStd(**metrics_lib.mean_std(n_train))])
  return Table("Scaling", ["model", "protocol", "scale", "macro-F1", "accuracy",
                           "train workers"], rows,
               "scale: protocol.scale (count if > 1, fraction if <= 1, all if < 0).")


def key_order(key: aggregate.GroupKey):
  name, proto, scale = key
  order = (aggregate.PROTOCOL_ORDER.index(proto)
           if proto in aggregate.PROTOCOL_ORDER else len(aggregate.PROTOCOL_ORDER))
  return (name, order, proto, -np.inf if scale is None else scale)


def _column_kind(rows, j):
  for row in rows:
    if isinstance(row[j], (MeanStd, ValueSE, Interval)):
      return type(row[j])
  return None


def _format(c: Cell, digits: int) -> str:
  if c is None:
    return "–"
  if isinstance(c, MeanStd):
    return f"{c.mean:.{digits}f} ± {c.std:.{digits}f}"
  if isinstance(c, ValueSE):
    return f"{c.value:+.{digits}f} ± {c.se:.{digits}f}{' †' if c.paired else ''}"
  if isinstance(c, Interval):
    return f"{c.value:.{digits}f} [{c.low:.{digits}f}, {c.high:.{digits}f}]"
  if isinstance(c, bool):
    return str(c)
  if isinstance(c, float):
    return f"{c:.{digits}g}" if 0 < abs(c) < 10 ** -digits else f"{c:.{digits}f}"
  return str(c).replace("|", "\\|")


def _csv_value(v: Any) -> Any:
  if v is None:
    return ""
  if isinstance(v, float):
    return repr(v)
  return v
