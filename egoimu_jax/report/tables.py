"""Benchmark tables from grouped runs, rendered as Markdown and CSV.

Cells are plain values or :class:`MeanStd` / :class:`ValueSE` /
:class:`Interval` estimates; Markdown prints ``0.712 ± 0.031`` (or
``0.712 [0.690, 0.735]``), CSV expands each estimate into numeric columns
(``<col>_mean``, ``<col>_std``, ``<col>_n`` ...) so spreadsheets and plots
never parse strings. A spread over folds is shown only with two or more
folds (one fold: the value alone, and an empty std in CSV).

An estimate may carry a ``flag`` (a key of :data:`FLAGS`): Markdown appends
its mark and a footnote under the table, CSV adds a ``<col>_flag`` column.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from egoimu_jax import errors
from egoimu_jax.evaluation import metrics as metrics_lib
from egoimu_jax.evaluation import stats as stats_lib
from egoimu_jax.report import aggregate
from egoimu_jax.report import scaling_points
from egoimu_jax.scaling import power_law

METRIC_LABELS = {"macro_f1": "macro-F1", "accuracy": "accuracy",
                 "per_worker_f1_std": "worker-F1 std",
                 "per_worker_f1_mean": "worker-F1 mean",
                 "worker_f1_p10": "worker-F1 p10",
                 "worker_f1_min": "worker-F1 min"}

# flag -> (Markdown mark, footnote).
FLAGS = {
    "few_workers": ("‡", f"interval from fewer than "
                         f"{stats_lib.MIN_CI_WORKERS} test workers: a "
                         "bootstrap over so few people is unreliable (too "
                         "narrow, often stuck at a bound)."),
    "constant": ("§", "predicts one class for every test window in at least "
                      "one fold (see the note)."),
}


@dataclasses.dataclass(frozen=True)
class MeanStd:
  mean: float
  std: float
  n: int
  flag: str = ""

  def csv_values(self) -> List[Any]:
    return [self.mean, self.std if self.n > 1 else None, self.n]


@dataclasses.dataclass(frozen=True)
class ValueSE:
  value: float
  se: float
  paired: bool
  n: Optional[int] = None    # folds behind the SE; < 2: no SE is shown
  flag: str = ""

  def csv_values(self) -> List[Any]:
    return [self.value, None if (self.n or 2) < 2 else self.se, self.paired]


@dataclasses.dataclass(frozen=True)
class Interval:
  value: float
  low: float
  high: float
  flag: str = ""
  signed: bool = False       # a difference: printed with its sign

  def csv_values(self) -> List[Any]:
    return [self.value, self.low, self.high]


Cell = Union[None, str, int, float, MeanStd, ValueSE, Interval]
_ESTIMATES = (MeanStd, ValueSE, Interval)
_CSV_SUFFIXES = {MeanStd: ("_mean", "_std", "_n"),
                 ValueSE: ("", "_se", "_paired"),
                 Interval: ("", "_low", "_high")}


@dataclasses.dataclass
class Table:
  """A titled table; ``note`` (and a footnote per flag used) is printed
  under it in Markdown."""
  title: str
  columns: List[str]
  rows: List[List[Cell]]
  note: str = ""

  def flags(self) -> List[str]:
    used = {c.flag for row in self.rows for c in row
            if isinstance(c, _ESTIMATES) and c.flag}
    return [f for f in FLAGS if f in used]

  def to_markdown(self, digits: int = 3) -> str:
    fmt = lambda c: _format(c, digits)
    lines = [f"### {self.title}", "",
             "| " + " | ".join(self.columns) + " |",
             "|" + "|".join(" --- " for _ in self.columns) + "|"]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in self.rows]
    if self.note:
      lines += ["", self.note]
    for flag in self.flags():
      lines += ["", f"{FLAGS[flag][0]} {FLAGS[flag][1]}"]
    return "\n".join(lines) + "\n"

  def to_csv(self) -> str:
    kinds = [_column_kind(self.rows, j) for j in range(len(self.columns))]
    flagged = [any(isinstance(row[j], _ESTIMATES) and row[j].flag
                   for row in self.rows) for j in range(len(self.columns))]
    header: List[str] = []
    for col, kind, flag in zip(self.columns, kinds, flagged):
      header += ([col + s for s in _CSV_SUFFIXES[kind]] if kind else [col])
      header += [f"{col}_flag"] if flag else []
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in self.rows:
      out: List[Any] = []
      for c, kind, flag in zip(row, kinds, flagged):
        if kind:
          values = (c.csv_values() if isinstance(c, _ESTIMATES) else
                    [c, None, None])   # a value without a spread or interval
          out += [_csv_value(v) for v in values]
        else:
          out.append(_csv_value(c))
        if flag:
          out.append(c.flag if isinstance(c, _ESTIMATES) else "")
      writer.writerow(out)
    return buf.getvalue()

  @classmethod
  def from_dicts(cls, title: str, rows: Sequence[Mapping[str, Any]],
                 note: str = "") -> "Table":
    columns: List[str] = []
    for r in rows:
      columns += [k for k in r if k not in columns]
    return cls(title, columns, [[r.get(c) for c in columns] for r in rows], note)


def mean_std(values: Sequence[float], flag: str = "") -> MeanStd:
  return MeanStd(**metrics_lib.mean_std(values), flag=flag)


def main_table(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
               metrics: Sequence[str] = ("macro_f1", "accuracy",
                                         "per_worker_f1_std",
                                         "worker_f1_p10")) -> Table:
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
        flag = ("constant" if m == "macro_f1" and (name, p) in collapsed
                else "")
        row.append(mean_std(vals, flag) if vals else None)
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
    note += (f" {FLAGS['constant'][0]} One class for every test window: " +
             ", ".join(f"{r.name} ({r.protocol} fold {r.fold}: {c!r})"
                       for r, c in sorted(constant, key=lambda rc: (
                           rc[0].name, rc[0].protocol, rc[0].fold))) + ".")
  return Table("Within- vs cross-person performance", columns, rows, note)


def gap(within: List[aggregate.Run], cross: List[aggregate.Run]) -> Optional[ValueSE]:
  if not within or not cross:
    return None
  paired = ([r.fold for r in within] == [r.fold for r in cross] and
            all(set(a.test_workers) == set(b.test_workers)
                for a, b in zip(within, cross)))
  g = metrics_lib.generalisation_gap([r.test["macro_f1"] for r in within],
                                     [r.test["macro_f1"] for r in cross],
                                     paired=paired)
  return ValueSE(g["gap"], g["se"], paired, n=min(len(within), len(cross)))


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
                 Interval(worst["worker_f1_p10"], ci.low, ci.high,
                          few_workers(len(values))),
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
      row.append(mean_std(vals) if vals else None)
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
    rows.append([key[0], key[1],
                 Interval(ci.estimate, ci.low, ci.high,
                          few_workers(len(workers))),
                 len(rs), len(workers)])
  return Table(
      "Macro-F1 with worker-bootstrap 95% CI",
      ["model", "protocol", "macro-F1 [95% CI]", "folds", "test workers"], rows,
      f"Mean over folds of pooled macro-F1; percentile interval from {n_boot} "
      "resamples of test workers (not windows).")


REFERENCE_MODEL = "classical_rf"   # the IMU random-forest floor


def choose_reference(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
                     requested: str = "") -> Tuple[str, str]:
  """The model every other is compared with, and why it was chosen.

  ``requested`` (``report --reference``) if given; else the random-forest
  baseline (runs of model ``classical_rf``) if present; else the model with
  the best mean cross-person macro-F1 over its runs (test-time variants
  excluded; every protocol if no run is cross-person). ``("", why)`` if
  every run is a scaling run.
  """
  runs = [r for rs in groups.values() for r in rs if r.scale is None]
  names = aggregate.names(runs)
  if not runs:
    return "", "every run is a scaling run"
  if requested:
    if requested not in names:
      raise errors.UserError(
          f"--reference={requested!r}: no such model among the runs (known: "
          f"{', '.join(names)}){errors.did_you_mean(requested, names)}")
    return requested, "chosen with --reference"
  base = sorted({r.name for r in runs
                 if r.model == REFERENCE_MODEL and r.variant is None})
  if base:
    return base[0], f"the random-forest baseline ({REFERENCE_MODEL})"
  plain = [r for r in runs if r.variant is None] or runs
  cross = [r for r in plain if r.protocol in aggregate.CROSS_PERSON]
  pool, what = (cross, "cross-person") if cross else (plain, "")
  scores = {n: float(np.mean([r.test["macro_f1"] for r in pool if r.name == n]))
            for n in aggregate.names(pool)}
  best = max(sorted(scores), key=lambda n: scores[n])
  return best, (f"best mean {what + ' ' if what else ''}macro-F1 "
                f"({scores[best]:.3f}); no {REFERENCE_MODEL} runs")


_PAIRED_COLUMNS = ["folds", "Δ macro-F1 [95% CI]", "p (bootstrap)",
                   "p (t, folds)", "p (Wilcoxon, folds)", "Δ worker-F1",
                   "p (sign-flip)"]
_PAIRED_NOTE = (
    "Δ macro-F1: mean over folds of pooled macro-F1, with a paired "
    "worker-bootstrap 95% CI and p-value (primary; every resample draws the "
    "same people for both). Fold tests: paired t-test and exact Wilcoxon over "
    "folds (two or more folds; with 5 folds Wilcoxon cannot go below "
    "p = 0.0625). Sign-flip: permutation test on per-worker macro-F1 "
    "differences.")


def significance_table(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
                       reference: str = "", n_boot: int = 2000,
                       seed: int = 0) -> Table:
  """Each model against one reference, paired per fold, per protocol.

  One row per (protocol, model other than the reference) where the
  reference has runs on the same folds and test workers; ``reference`` as in
  :func:`choose_reference`.
  """
  ref, why = choose_reference(groups, reference)
  if not ref:
    return Table("Paired comparisons", ["protocol", "model"] + _PAIRED_COLUMNS,
                 [], f"No comparisons: {why}.")
  rows, skipped, absent = [], [], []
  for proto in aggregate.protocols([r for rs in groups.values() for r in rs]):
    if proto in aggregate.SCALING_PROTOCOLS:
      continue
    names = sorted(n for n, p, s in groups if p == proto and s is None)
    if ref not in names:
      absent.append(proto)
      continue
    for name in names:
      if name == ref:
        continue
      row = paired_row(groups[(name, proto, None)], groups[(ref, proto, None)],
                        n_boot, seed)
      if isinstance(row, str):
        skipped.append(f"{name} ({proto}{row})")
      else:
        rows.append([proto, name] + row)
  note = (f"Reference: {ref}, {why}. Δ = model − reference. " + _PAIRED_NOTE)
  if absent:
    note += f" No {ref} runs on {', '.join(absent)}: no comparisons there."
  if skipped:
    note += (" Not comparable with the reference (different folds, test "
             "workers or test windows): " + ", ".join(skipped) + ".")
  return Table(f"Paired comparisons with the reference ({ref})",
               ["protocol", "model"] + _PAIRED_COLUMNS, rows, note)


def init_table(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
               n_boot: int = 2000, seed: int = 0) -> Optional[Table]:
  """Pretrained vs from-scratch fine-tuning of the same model, paired per
  fold (``aggregate.init_pairs``); None when no run has both."""
  pairs = [(a, b) for a, b in aggregate.init_pairs(groups) if a[2] is None]
  if not pairs:
    return None
  rows, skipped = [], []
  for pre, scr in sorted(pairs, key=lambda ab: key_order(ab[0])):
    row = paired_row(groups[pre], groups[scr], n_boot, seed)
    if isinstance(row, str):
      skipped.append(f"{pre[0]} ({pre[1]}{row})")
    else:
      rows.append([pre[1], pre[0], scr[0]] + row)
  note = "Δ = pretrained − scratch. " + _PAIRED_NOTE
  if skipped:
    note += " Not comparable: " + ", ".join(skipped) + "."
  return Table("Pretrained vs from scratch (paired)",
               ["protocol", "pretrained", "scratch"] + _PAIRED_COLUMNS,
               rows, note)


def paired_row(ra: List[aggregate.Run], rb: List[aggregate.Run], n_boot: int,
                seed: int) -> Union[str, List[Cell]]:
  """The paired cells of A vs B on their shared folds, or why there are none
  (a suffix for the "not comparable" note)."""
  folds = sorted({r.fold for r in ra} & {r.fold for r in rb})
  ra = [r for r in ra if r.fold in folds]
  rb = [r for r in rb if r.fold in folds]
  if not folds or any(set(x.per_worker) != set(y.per_worker)
                      for x, y in zip(ra, rb)):
    return ""
  if any(x.test_windows != y.test_windows for x, y in zip(ra, rb)
         if x.test_windows and y.test_windows):
    # e.g. a video model scored only on windows with stored frames.
    return ": different test windows"
  fa = [r.test["macro_f1"] for r in ra]
  fb = [r.test["macro_f1"] for r in rb]
  fold = stats_lib.paired_fold_tests(fa, fb) if len(folds) > 1 else {}
  boot = stats_lib.paired_worker_bootstrap(
      [r.worker_confusions() for r in ra], [r.worker_confusions() for r in rb],
      n_boot=n_boot, seed=seed)
  wa, wb = aggregate.worker_f1(ra), aggregate.worker_f1(rb)
  flip = stats_lib.sign_flip_test([wa[w] - wb[w] for w in sorted(wa)],
                                  seed=seed)
  return [len(folds),
          Interval(boot.difference.estimate, boot.difference.low,
                   boot.difference.high, few_workers(len(wa)), signed=True),
          boot.p_value, fold.get("t_p_value"), fold.get("wilcoxon_p_value"),
          flip["mean_difference"], flip["p_value"]]


def few_workers(n_workers: int) -> str:
  return "few_workers" if n_workers < stats_lib.MIN_CI_WORKERS else ""


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
                 mean_std([r.test["macro_f1"] for r in rs]),
                 mean_std([r.test["accuracy"] for r in rs]),
                 mean_std(n_train)])
  return Table("Scaling", ["model", "protocol", "scale", "macro-F1", "accuracy",
                           "train workers"], rows,
               "scale: protocol.scale (count if > 1, fraction if <= 1, all if < 0).")


def scaling_fit_table(runs: Sequence[aggregate.Run], n_boot: int = 2000,
                      seed: int = 0) -> Optional[Table]:
  """The power law per model and scaling protocol, and whether it predicts.

  Fit: ``1 − F1 = a·n^(−b) + c`` over every run (``scaling.power_law``),
  95% intervals from refits on resampled folds. Held-out check: the law
  refitted without each fold's largest size predicts it; error = predicted
  − observed macro-F1 there, relative error = error / (1 − observed F1).
  """
  try:
    found = scaling_points.from_runs(runs)
  except ValueError as e:
    return Table("Scaling fits", ["note"], [[f"not fitted: {e}"]])
  if not found:
    return None
  rows = []
  for (name, proto), pts in found.items():
    sizes = np.unique(pts.n)
    row: List[Cell] = [name, proto, len(sizes), len(np.unique(pts.fold))]
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
  return Table(
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
                       signed: bool = False) -> Cell:
  if interval is None:
    return float(value)
  return Interval(float(value), *interval, signed=signed)


def key_order(key: aggregate.GroupKey):
  name, proto, scale = key
  order = (aggregate.PROTOCOL_ORDER.index(proto)
           if proto in aggregate.PROTOCOL_ORDER else len(aggregate.PROTOCOL_ORDER))
  return (name, order, proto, -np.inf if scale is None else scale)


def _column_kind(rows, j):
  for row in rows:
    if isinstance(row[j], _ESTIMATES):
      return type(row[j])
  return None


def _format(c: Cell, digits: int) -> str:
  if c is None:
    return "–"
  if isinstance(c, _ESTIMATES):
    mark = f" {FLAGS[c.flag][0]}" if c.flag else ""
    return _format_estimate(c, digits) + mark
  if isinstance(c, bool):
    return str(c)
  if isinstance(c, float):
    return f"{c:.{digits}g}" if 0 < abs(c) < 10 ** -digits else f"{c:.{digits}f}"
  return str(c).replace("|", "\\|")


def _format_estimate(c: Union[MeanStd, ValueSE, Interval], digits: int) -> str:
  if isinstance(c, MeanStd):
    return (f"{c.mean:.{digits}f} ± {c.std:.{digits}f}" if c.n > 1
            else f"{c.mean:.{digits}f}")
  if isinstance(c, ValueSE):
    se = f" ± {c.se:.{digits}f}" if (c.n or 2) > 1 else ""
    return f"{c.value:+.{digits}f}{se}{' †' if c.paired else ''}"
  f = f"{'+' if c.signed else ''}.{digits}f"
  return f"{c.value:{f}} [{c.low:{f}}, {c.high:{f}}]"


def _csv_value(v: Any) -> Any:
  if v is None:
    return ""
  if isinstance(v, float):
    return repr(v)
  return v
