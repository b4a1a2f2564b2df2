"""RQ3: does cross-modal distillation help with people never seen?

Reads the runs of ``experiments/distill_evaluate.py``, named
``<student>/<method>/<way>`` (method: ``supervised``, ``frozen``,
``comodo``, ``imu2clip``, a distilled one marked ``-pretrain_train`` when
it distilled on the training workers only (``pretrain_population``); way:
``svm``, ``linear``, ``finetune``), and gives, per student, method,
pretraining population and way: within-person and cross-person macro-F1 (mean
± std over folds; cross with a worker-bootstrap 95% CI), the gap (within
minus cross on matched windows, ± its standard error over folds), and the cross-person difference to the student's supervised
baseline: a paired worker bootstrap (CI and p) and, with two or more folds,
the paired t-test and exact Wilcoxon over folds (``evaluation/stats.py``),
each p with its Benjamini-Hochberg q over the table's rows. The gap is
computed on the windows both protocols scored (``report.matched``). Runs with other
names are not part of this section.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from egoimu_jax import pretrain_population
from egoimu_jax.evaluation import metrics as metrics_lib
from egoimu_jax.evaluation import stats as stats_lib
from egoimu_jax.input_pipeline import protocols
from egoimu_jax.report import aggregate
from egoimu_jax.report import matched
from egoimu_jax.report import comparisons
from egoimu_jax.report import table_model

METHODS = ("supervised", "frozen", "comodo", "imu2clip")
WAYS = ("finetune", "linear", "svm")
BASELINE = ("supervised", "finetune")
DISTILLED = ("comodo", "imu2clip")   # the methods with a pretraining population
WITHIN = "within"

Key = Tuple[str, str, str]  # (student, method, way)


def parse_name(name: str) -> Optional[Key]:
  """``(student, method, way)`` of a distillation run name, else None."""
  parts = name.split("/")
  if len(parts) != 3 or parts[1] not in METHODS or parts[2] not in WAYS:
    return None
  return parts[0], parts[1], parts[2]


def gap(within: Sequence[aggregate.Run], cross: Sequence[aggregate.Run]
        ) -> Optional[table_model.ValueSE]:
  """Within minus cross macro-F1 on the windows both scored; None if no
  fold matches (or a run kept no predictions)."""
  try:
    g = matched.gap(matched.match(within, cross), n_boot=200)
  except FileNotFoundError:
    return None
  return None if g is None else table_model.ValueSE(g.value, g.se, True,
                                                    n=g.folds)


def mean_std(runs: Sequence[aggregate.Run]) -> Optional[table_model.MeanStd]:
  return table_model.MeanStd(**metrics_lib.mean_std(_f1(runs))) if runs else None


def _by_fold(runs: Sequence[aggregate.Run]) -> Dict[int, aggregate.Run]:
  return {r.fold: r for r in runs}


def _f1(runs: Sequence[aggregate.Run]) -> List[float]:
  return [r.test["macro_f1"] for r in sorted(runs, key=lambda r: r.fold)]


def _versus_baseline(runs, baseline, n_boot: int, seed: int):
  """(Interval of the difference, bootstrap p, fold t p, Wilcoxon p) on the
  folds both have; None when they share none."""
  a, b = _by_fold(runs), _by_fold(baseline)
  folds = sorted(set(a) & set(b))
  if not folds:
    return None
  boot = stats_lib.paired_worker_bootstrap(
      [a[f].worker_confusions() for f in folds],
      [b[f].worker_confusions() for f in folds], n_boot=n_boot, seed=seed)
  d = boot.difference
  t = {}
  if len(folds) >= 2:
    t = stats_lib.paired_fold_tests([a[f].test["macro_f1"] for f in folds],
                                    [b[f].test["macro_f1"] for f in folds])
  few = len({w for f in folds for w in a[f].test_workers})
  flag = "few_workers" if few < stats_lib.MIN_CI_WORKERS else ""
  return (table_model.Interval(d.estimate, d.low, d.high, flag=flag,
                               signed=True),
          boot.p_value, t.get("t_p_value"), t.get("wilcoxon_p_value"))


def distillation_table(groups: Mapping[aggregate.GroupKey,
                                       List[aggregate.Run]],
                       n_boot: int = 2000, seed: int = 0
                       ) -> Optional[table_model.Table]:
  """The RQ3 table, or None when no run is a distillation run."""
  # ((student, method, way), population, protocol) -> runs; population
  # "all" for the baselines (they pretrain on nothing; their names carry no
  # mark).
  runs: Dict[Tuple[Key, str, str], List[aggregate.Run]] = {}
  for (name, protocol, scale), rs in groups.items():
    base, population = pretrain_population.split(name)
    key = parse_name(base)
    if key is not None and scale is None:
      runs[(key, population, protocol)] = rs
  if not runs:
    return None
  crosses = [p for p in protocols.cross_person_protocols()
             if any(proto == p for _, _, proto in runs)]
  order = lambda kp: (kp[0][0], METHODS.index(kp[0][1]),  # noqa: E731
                      pretrain_population.POPULATIONS.index(kp[1]),
                      WAYS.index(kp[0][2]))
  rows = []
  for key, population in sorted({k[:2] for k in runs}, key=order):
    within = runs.get((key, population, WITHIN), [])
    for cross in crosses or [None]:
      cr = runs.get((key, population, cross), []) if cross else []
      row = [key[0], key[1], key[2],
             population if key[1] in DISTILLED else "–", cross or "–",
             mean_std(within)]
      if cr:
        ci = stats_lib.worker_bootstrap([r.worker_confusions() for r in cr],
                                        n_boot=n_boot, seed=seed)
        few = len({w for r in cr for w in r.test_workers})
        row += [mean_std(cr),
                table_model.Interval(ci.estimate, ci.low, ci.high,
                                flag="few_workers" if few <
                                stats_lib.MIN_CI_WORKERS else "")]
      else:
        row += [None, None]
      row.append(gap(within, cr) if within and cr else None)
      base = (runs.get(((key[0],) + BASELINE, "all", cross), []) if cross
              else [])
      versus = (_versus_baseline(cr, base, n_boot, seed)
                if cr and base and key[1:] != BASELINE else None)
      row += list(versus) if versus else [None, None, None, None]
      rows.append(row)
  columns = ["student", "method", "way", "pretrained on", "cross protocol",
             "within macro-F1", "cross macro-F1", "cross [95% CI]",
             "gap (within − cross)", "Δ cross vs supervised [95% CI]",
             "p (worker bootstrap)", "p (fold t)", "p (Wilcoxon, folds)"]
  return table_model.Table(
      "RQ3: cross-modal distillation under person shift",
      *comparisons.with_q_values(columns, rows),
      "Macro-F1 mean ± std over folds. Methods: supervised (the student "
      "trained on the labels), frozen (the pretrained student without "
      "distillation), COMODO and IMU2CLIP (distilled on unlabeled windows "
      "of the training workers only, pretrained on train: the primary row, "
      "or of every worker, the test people included: all); "
      "ways: svm (COMODO's RBF-SVM on the frozen student's features), "
      "linear (frozen student + linear head), finetune. Gap: within-person "
      "minus cross-person, † when paired by fold. Δ: cross-person "
      f"macro-F1 minus the supervised student's on the same folds, CI and p "
      f"from {n_boot} paired resamples of test workers; fold tests need two "
      "or more folds. q: Benjamini-Hochberg q-value of the p beside it, over "
      "the table's rows.")
