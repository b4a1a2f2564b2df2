"""Paired comparisons: the reference model every other is compared with
(the reference policy), and the paired tables against it and of pretrained
vs from-scratch fine-tuning. Every p-value column of these tables has a
Benjamini-Hochberg q column beside it, over the table's rows
(``with_q_values``)."""

from __future__ import annotations

from typing import List, Mapping, Optional, Tuple, Union

import numpy as np

from egoimu_jax import errors
from egoimu_jax.evaluation import stats as stats_lib
from egoimu_jax.input_pipeline import protocols
from egoimu_jax.report import aggregate
from egoimu_jax.report import table_model
from egoimu_jax.report import tables

REFERENCE_MODEL = "classical_rf"   # the IMU random-forest floor


def choose_reference(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
                     requested: str = "") -> Tuple[str, str]:
  """The model every other is compared with, and why it was chosen.

  ``requested`` (``report --reference``) if given; else the random-forest
  baseline (runs of model ``classical_rf``) if present; else the model with
  the best mean cross-person macro-F1 on the *validation* people (never on
  test: a reference picked on the test split would favour whichever model
  got lucky there); ``("", why)`` if the runs record no validation scores,
  or every run is a scaling run. Callers pass models only
  (``aggregate.comparable``: no variants, no collapsed runs).
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
  cross = [r for r in plain if r.protocol in protocols.cross_person_protocols()]
  pool, what = (cross, "cross-person") if cross else (plain, "")
  val = lambda r: (r.results.get("metrics", {}).get("val") or {}).get("macro_f1")
  scores = {n: float(np.mean([val(r) for r in pool if r.name == n]))
            for n in aggregate.names(pool)
            if all(val(r) is not None for r in pool if r.name == n)}
  if not scores:
    return "", (f"no {REFERENCE_MODEL} runs and no validation scores to "
                "choose a reference by (never the test split); pass "
                "--reference")
  best = max(sorted(scores), key=lambda n: scores[n])
  return best, (f"best mean {what + ' ' if what else ''}validation macro-F1 "
                f"({scores[best]:.3f}); no {REFERENCE_MODEL} runs")


PAIRED_COLUMNS = ["folds", "Δ macro-F1 [95% CI]", "p (bootstrap)",
                   "p (t, folds)", "p (Wilcoxon, folds)", "Δ worker-F1",
                   "p (sign-flip)"]
PAIRED_NOTE = (
    "Δ macro-F1: mean over folds of pooled macro-F1, with a paired "
    "worker-bootstrap 95% CI and p-value (primary; every resample draws the "
    "same people for both, and a fold's seeds where it has several). Fold tests: paired t-test and exact Wilcoxon over "
    "folds (two or more folds; with 5 folds Wilcoxon cannot go below "
    "p = 0.0625). Sign-flip: permutation test on per-worker macro-F1 "
    "differences. q: Benjamini-Hochberg q-value of the p beside it, over "
    "the table's rows (the false discovery rate at which the row is "
    "significant).")


def q_column(column: str) -> Optional[str]:
  """The q column of p-value column ``column`` (``p (bootstrap)`` ->
  ``q (bootstrap)``, ``fold t p`` -> ``fold t q``), None for other columns."""
  if column.startswith("p ("):
    return "q" + column[1:]
  if column.endswith(" p"):
    return column[:-1] + "q"
  return None


def with_q_values(columns: List[str], rows: List[List[table_model.Cell]]
                  ) -> Tuple[List[str], List[List[table_model.Cell]]]:
  """``(columns, rows)`` with a q column after each p-value column
  (``q_column``): its Benjamini-Hochberg q-values over ``rows`` (empty where
  p is)."""
  out_cols: List[str] = []
  out_rows: List[List[table_model.Cell]] = [[] for _ in rows]
  for j, col in enumerate(columns):
    out_cols.append(col)
    for out, row in zip(out_rows, rows):
      out.append(row[j])
    if q_column(col):
      out_cols.append(q_column(col))
      q = stats_lib.q_values([row[j] for row in rows])
      for out, value in zip(out_rows, q):
        out.append(None if np.isnan(value) else float(value))
  return out_cols, out_rows


def significance_table(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
                       reference: str = "", n_boot: int = 2000,
                       seed: int = 0) -> table_model.Table:
  """Each model against one reference, paired per fold, per protocol.

  One row per (protocol, model other than the reference) where the
  reference has runs on the same folds and test workers; ``reference`` as in
  :func:`choose_reference`.
  """
  ref, why = choose_reference(groups, reference)
  if not ref:
    return table_model.Table("Paired comparisons",
                             with_q_values(["protocol", "model"] +
                                           PAIRED_COLUMNS, [])[0],
                             [], f"No comparisons: {why}.")
  rows, skipped, absent = [], [], []
  for proto in aggregate.protocols([r for rs in groups.values() for r in rs]):
    if protocols.is_scaling(proto):
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
  note = (f"Reference: {ref}, {why}. Δ = model − reference. " + PAIRED_NOTE)
  if absent:
    note += f" No {ref} runs on {', '.join(absent)}: no comparisons there."
  if skipped:
    note += (" Not comparable with the reference (different folds, test "
             "workers or test windows): " + ", ".join(skipped) + ".")
  return table_model.Table(f"Paired comparisons with the reference ({ref})",
                           *with_q_values(["protocol", "model"] +
                                          PAIRED_COLUMNS, rows), note)


def init_table(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
               n_boot: int = 2000, seed: int = 0) -> Optional[table_model.Table]:
  """Pretrained vs from-scratch fine-tuning of the same model, paired per
  fold (``aggregate.init_pairs``); None when no run has both."""
  pairs = [(a, b) for a, b in aggregate.init_pairs(groups) if a[2] is None]
  if not pairs:
    return None
  rows, skipped = [], []
  for pre, scr in sorted(pairs, key=lambda ab: tables.key_order(ab[0])):
    row = paired_row(groups[pre], groups[scr], n_boot, seed)
    if isinstance(row, str):
      skipped.append(f"{pre[0]} ({pre[1]}{row})")
    else:
      rows.append([pre[1], pre[0], scr[0]] + row)
  note = "Δ = pretrained − scratch. " + PAIRED_NOTE
  if skipped:
    note += " Not comparable: " + ", ".join(skipped) + "."
  return table_model.Table(
      "Pretrained vs from scratch (paired)",
      *with_q_values(["protocol", "pretrained", "scratch"] + PAIRED_COLUMNS,
                     rows), note)


def paired_row(ra: List[aggregate.Run], rb: List[aggregate.Run], n_boot: int,
                seed: int) -> Union[str, List[table_model.Cell]]:
  """The paired cells of A vs B on their shared folds, or why there are none
  (a suffix for the "not comparable" note)."""
  folds = sorted({r.fold for r in ra} & {r.fold for r in rb})
  ra = [r for r in ra if r.fold in folds]
  rb = [r for r in rb if r.fold in folds]
  # Every run of a fold (its seeds) against every run of the other's.
  pairs = [(x, y) for x in ra for y in rb if x.fold == y.fold]
  if not folds or any(set(x.per_worker) != set(y.per_worker)
                      for x, y in pairs):
    return ""
  if any(x.test_windows != y.test_windows for x, y in pairs
         if x.test_windows and y.test_windows):
    # e.g. a video model scored only on windows with stored frames.
    return ": different test windows"
  _, fa = aggregate.fold_means(ra, "macro_f1")
  _, fb = aggregate.fold_means(rb, "macro_f1")
  fold = stats_lib.paired_fold_tests(fa, fb) if len(folds) > 1 else {}
  boot = stats_lib.paired_worker_bootstrap(
      aggregate.seeded_confusions(ra)[1], aggregate.seeded_confusions(rb)[1],
      n_boot=n_boot, seed=seed)
  wa, wb = aggregate.worker_f1(ra), aggregate.worker_f1(rb)
  flip = stats_lib.sign_flip_test([wa[w] - wb[w] for w in sorted(wa)],
                                  seed=seed)
  return [len(folds),
          table_model.Interval(boot.difference.estimate, boot.difference.low,
                               boot.difference.high,
                               flag=table_model.few_workers(len(wa)),
                               signed=True),
          boot.p_value, fold.get("t_p_value"), fold.get("wilcoxon_p_value"),
          flip["mean_difference"], flip["p_value"]]
