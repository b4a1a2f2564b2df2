"""Confidence intervals and paired significance tests.

The unit of generalisation in this benchmark is the person, so uncertainty is
estimated by resampling *test workers*, never windows: windows of one worker
are strongly correlated, and a window bootstrap would give intervals that are
far too narrow.

Which test to use when comparing two models evaluated on the same folds:

* ``paired_fold_tests``: paired t-test and Wilcoxon signed-rank over per-fold
  scores. Honest about training variance (each fold retrains), but weak with
  the usual 5 folds: the smallest two-sided exact Wilcoxon p-value with n = 5
  is 2 / 2^5 = 0.0625, so it can never reach 0.05; and the t-test assumes
  independent folds although training sets overlap (Nadeau & Bengio, 2003).
  Report them, do not rely on them alone.
* ``paired_worker_bootstrap``: resample test workers (the same resample for
  both models) and recompute the headline statistic, the mean over folds of
  pooled macro-F1, for each. Gives a CI and a two-sided bootstrap p-value for
  the difference. This is the primary comparison when folds are few.
* ``sign_flip_test``: permutation test on per-worker F1 differences
  (exact for n <= 16 workers, Monte Carlo otherwise). Makes no distributional
  assumption; it tests the mean per-worker F1, a slightly different estimand.

A table of many comparisons reports, next to each p-value, its
Benjamini-Hochberg q-value over the table's rows (``q_values``): the
smallest false discovery rate at which that row would be called significant.

Worker-level methods condition on the trained models: they capture the
variation from *which people* are tested, not from re-training, unless a
fold has several trained seeds. Then a fold is given as the list of its
seeds' confusions and the bootstrap has two levels: each replicate draws
the fold's seeds with replacement (independently per fold and per model:
seeds of different runs are different trainings), then the test workers, and
scores the fold as the mean over the drawn seeds; with one seed, or seeds
that predict alike, it is the one-level bootstrap. Within-person folds share
workers; there a worker's windows from all folds form one cluster (one draw
takes the worker in every fold at once).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
from scipy import stats as sp_stats

from egoimu_jax.evaluation import metrics as metrics_lib

# Fewest test workers behind a worker-bootstrap interval that reports trust:
# with fewer, a resample repeats the same few people and the percentile
# interval is too narrow or degenerate (e.g. [0.8, 1.0] from 4 workers).
MIN_CI_WORKERS = 10

# {worker_id: [K, K] confusion} for one fold.
FoldConfusions = Mapping[str, np.ndarray]
# One fold of a bootstrap: its confusions, or one per trained seed.
SeededFold = Union[FoldConfusions, Sequence[FoldConfusions]]

_METRICS: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "macro_f1": metrics_lib.macro_f1,
    "accuracy": metrics_lib.accuracy,
}


@dataclasses.dataclass(frozen=True)
class Interval:
  """A point estimate with a percentile bootstrap interval."""
  estimate: float
  low: float
  high: float
  n_boot: int
  alpha: float

  def to_dict(self) -> Dict[str, float]:
    return dataclasses.asdict(self)


def bootstrap_ci(values: Sequence[float] | np.ndarray,
                 statistic: Callable[..., np.ndarray] = np.mean,
                 n_boot: int = 2000, alpha: float = 0.05,
                 seed: int = 0) -> Interval:
  """Percentile CI of ``statistic`` over i.i.d. units (e.g. per-worker F1).

  ``statistic`` must accept ``axis=-1`` (np.mean, np.median, ...).
  """
  v = np.asarray(values, np.float64).ravel()
  if v.size == 0:
    raise ValueError("bootstrap_ci of no values")
  rng = np.random.default_rng(seed)
  reps = np.empty(n_boot)
  for start in range(0, n_boot, 256):   # bounded memory for many units
    idx = rng.integers(0, v.size, size=(min(256, n_boot - start), v.size))
    reps[start:start + len(idx)] = statistic(v[idx], axis=-1)
  low, high = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
  return Interval(float(statistic(v)), float(low), float(high), n_boot, alpha)


def worker_bootstrap(folds: Sequence[SeededFold], metric: str = "macro_f1",
                     n_boot: int = 2000, alpha: float = 0.05,
                     seed: int = 0) -> Interval:
  """CI of the mean-over-folds pooled ``metric``, resampling test workers.

  ``folds``: one ``{worker_id: confusion}`` per fold (from results.json
  ``per_worker``), or a list of them, one per seed. Each replicate draws
  ``W`` workers with replacement from the union of all folds' test workers,
  weights every worker's confusion matrix by its draw count in each fold it
  appears in, recomputes each fold's pooled metric (the mean over a
  resample of its seeds) and averages over folds (a fold left empty by a
  draw is skipped in that replicate).
  """
  table = _ConfusionTable.build([folds])
  counts = table.draw_counts(n_boot, seed)
  reps = table.replicates(0, counts, metric, table.draw_seeds(n_boot, seed))
  return _interval(table.point(0, metric), reps, n_boot, alpha)


@dataclasses.dataclass(frozen=True)
class PairedBootstrap:
  """Bootstrap of ``score(a) - score(b)`` under a shared worker resample."""
  difference: Interval
  p_value: float       # two-sided, 2 (1 + min(#d <= 0, #d >= 0)) / (1 + B), <= 1
  a: float
  b: float

  def to_dict(self) -> Dict[str, object]:
    return {"difference": self.difference.to_dict(), "p_value": self.p_value,
            "a": self.a, "b": self.b}


def paired_worker_bootstrap(folds_a: Sequence[SeededFold],
                            folds_b: Sequence[SeededFold],
                            metric: str = "macro_f1", n_boot: int = 2000,
                            alpha: float = 0.05, seed: int = 0
                            ) -> PairedBootstrap:
  """Paired worker bootstrap of the difference between two models.

  Both models must have been tested on the same workers in each fold (same
  splits); this is checked. A fold given per seed (``worker_bootstrap``)
  resamples that model's seeds too.
  """
  if len(folds_a) != len(folds_b):
    raise ValueError(f"models have {len(folds_a)} and {len(folds_b)} folds")
  for f, (fa, fb) in enumerate(zip(folds_a, folds_b)):
    fa, fb = _seeds(fa)[0], _seeds(fb)[0]
    if set(fa) != set(fb):
      raise ValueError(
          f"fold {f}: the two models were tested on different workers "
          f"({sorted(set(fa) ^ set(fb))[:5]} ...); a paired test needs the same splits")
  table = _ConfusionTable.build([folds_a, folds_b])
  counts = table.draw_counts(n_boot, seed)
  seeds = table.draw_seeds(n_boot, seed)
  reps = (table.replicates(0, counts, metric, seeds)
          - table.replicates(1, counts, metric, seeds))
  a, b = table.point(0, metric), table.point(1, metric)
  reps = reps[~np.isnan(reps)]
  # (1 + count) / (1 + B): never exactly 0 from a finite number of resamples.
  tail = min(np.sum(reps <= 0), np.sum(reps >= 0))
  p = min(1.0, 2.0 * (1 + tail) / (1 + len(reps)))
  return PairedBootstrap(_interval(a - b, reps, n_boot, alpha), float(p), a, b)


def paired_fold_tests(a: Sequence[float], b: Sequence[float]) -> Dict[str, float]:
  """Paired t-test and exact Wilcoxon signed-rank over per-fold scores a vs b.

  Folds are paired by position. Identical scores give p = 1 (scipy would
  return NaN or raise there).
  """
  a = np.asarray(a, np.float64)
  b = np.asarray(b, np.float64)
  if a.shape != b.shape or a.ndim != 1 or a.size < 2:
    raise ValueError(f"need two equal-length score lists of >= 2 folds, got "
                     f"{a.shape} and {b.shape}")
  d = a - b
  out = {"n": int(d.size), "mean_difference": float(d.mean())}
  if np.allclose(d, 0.0, atol=1e-12):
    out.update(t_statistic=0.0, t_p_value=1.0, wilcoxon_statistic=0.0,
               wilcoxon_p_value=1.0)
    return out
  if np.allclose(d, d[0], atol=1e-12):   # zero variance: t undefined, sign is certain
    out.update(t_statistic=float(np.sign(d[0]) * np.inf), t_p_value=0.0)
  else:
    t = sp_stats.ttest_rel(a, b)
    out.update(t_statistic=float(t.statistic), t_p_value=float(t.pvalue))
  nonzero = d[~np.isclose(d, 0.0, atol=1e-12)]
  w = sp_stats.wilcoxon(nonzero, method="exact" if nonzero.size <= 25 else "auto")
  out.update(wilcoxon_statistic=float(w.statistic),
             wilcoxon_p_value=float(w.pvalue))
  return out


def sign_flip_test(differences: Sequence[float] | np.ndarray,
                   n_perm: int = 10000, seed: int = 0,
                   exact_max_n: int = 16) -> Dict[str, float]:
  """Two-sided paired permutation test of mean(differences) = 0.

  Under H0 each worker's difference is symmetric around zero, so its sign is
  exchangeable. Exact (all 2^n sign patterns) for n <= ``exact_max_n``;
  otherwise Monte Carlo with p = (1 + #{|T*| >= |T|}) / (1 + n_perm).
  """
  d = np.asarray(differences, np.float64).ravel()
  if d.size == 0:
    raise ValueError("sign_flip_test of no differences")
  observed = abs(d.mean())
  tol = 1e-12 * max(1.0, observed)
  if d.size <= exact_max_n:
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=d.size)))
    stats_ = np.abs(signs @ d) / d.size
    p = float(np.mean(stats_ >= observed - tol))
    return {"mean_difference": float(d.mean()), "p_value": p, "n": int(d.size),
            "exact": True}
  rng = np.random.default_rng(seed)
  hits = 0
  for start in range(0, n_perm, 1000):
    signs = rng.choice((-1.0, 1.0), size=(min(1000, n_perm - start), d.size))
    hits += int(np.sum(np.abs(signs @ d) / d.size >= observed - tol))
  return {"mean_difference": float(d.mean()),
          "p_value": (1 + hits) / (1 + n_perm), "n": int(d.size), "exact": False}


def q_values(p_values: Sequence[Optional[float]] | np.ndarray) -> np.ndarray:
  """Benjamini-Hochberg q-values of ``p_values``, in their order.

  ``q_(i) = min_{j >= i} min(1, p_(j) m / j)`` over the m finite p-values
  sorted ascending, so q is monotone in p. A missing p (None or NaN) gets a
  NaN q and does not count in m.
  """
  p = np.array([np.nan if v is None else v for v in p_values], np.float64)
  q = np.full(p.shape, np.nan)
  finite = np.flatnonzero(np.isfinite(p))
  if finite.size:
    order = finite[np.argsort(p[finite], kind="stable")]
    scaled = p[order] * finite.size / np.arange(1, finite.size + 1)
    q[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
  return q


def _seeds(fold: SeededFold) -> List[FoldConfusions]:
  """A fold's confusions per seed (one seed: a mapping given alone)."""
  return [fold] if isinstance(fold, Mapping) else list(fold)


class _ConfusionTable:
  """Per-model, per-fold worker confusions indexed into one worker universe."""

  def __init__(self, workers: List[str], models: List[List[tuple]]):
    self.workers = workers
    # models[m][f] = (worker_idx [W_f], conf [S_f, W_f, K*K]) over S_f seeds
    self.models = models

  @classmethod
  def build(cls, models: Sequence[Sequence[SeededFold]]) -> "_ConfusionTable":
    if not models or not models[0]:
      raise ValueError("no folds to bootstrap")
    models = [[_seeds(fold) for fold in folds] for folds in models]
    if any(not fold for folds in models for fold in folds):
      raise ValueError("a fold has no seeds")
    workers = sorted({w for folds in models for fold in folds
                      for one in fold for w in one})
    if not workers:
      raise ValueError("no test workers to bootstrap")
    index = {w: i for i, w in enumerate(workers)}
    out = []
    for folds in models:
      entries = []
      for fold in folds:
        names = sorted(fold[0])
        if not names:
          raise ValueError("a fold has no test workers")
        if any(sorted(one) != names for one in fold):
          raise ValueError("the seeds of a fold were tested on different "
                           "workers")
        conf = np.stack([np.stack([np.asarray(one[w], np.float64).ravel()
                                   for w in names]) for one in fold])
        entries.append((np.array([index[w] for w in names]), conf))
      out.append(entries)
    return cls(workers, out)

  def draw_counts(self, n_boot: int, seed: int) -> np.ndarray:
    n = len(self.workers)
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)

  def draw_seeds(self, n_boot: int, seed: int) -> List[List[Optional[np.ndarray]]]:
    """Per model and fold, ``[B, S_f]`` draw counts of its seeds (None for a
    fold of one seed), from a stream of their own: the worker draws stay
    those of ``draw_counts``."""
    rng = np.random.default_rng([seed, 1])
    return [[None if conf.shape[0] == 1 else rng.multinomial(
        conf.shape[0], np.full(conf.shape[0], 1.0 / conf.shape[0]),
        size=n_boot).astype(np.float64) for _, conf in folds]
            for folds in self.models]

  def _fold_metric(self, conf_flat: np.ndarray, metric: str) -> np.ndarray:
    k = int(round(np.sqrt(conf_flat.shape[-1])))
    return _METRICS[metric](conf_flat.reshape(conf_flat.shape[:-1] + (k, k)))

  def point(self, m: int, metric: str) -> float:
    per_fold = [np.mean(self._fold_metric(conf.sum(1), metric))
                for _, conf in self.models[m]]
    return float(np.mean(per_fold))

  def replicates(self, m: int, counts: np.ndarray, metric: str,
                 seeds: Optional[List[List[Optional[np.ndarray]]]] = None
                 ) -> np.ndarray:
    per_fold = []
    for f, (idx, conf) in enumerate(self.models[m]):
      # [B, S_f]: the fold's metric on each seed under the worker draw.
      by_seed = np.stack([self._fold_metric(counts[:, idx] @ one, metric)
                          for one in conf], axis=1)
      draw = seeds[m][f] if seeds is not None else None
      if draw is None:
        per_fold.append(by_seed.mean(1) if by_seed.shape[1] > 1
                        else by_seed[:, 0])
      else:
        with np.errstate(invalid="ignore"):
          per_fold.append((draw * by_seed).sum(1) / draw.sum(1))
    with np.errstate(invalid="ignore"):
      return np.nanmean(np.stack(per_fold, axis=1), axis=1)   # [B]; NaN only if all folds empty


def _interval(estimate: float, reps: np.ndarray, n_boot: int,
              alpha: float) -> Interval:
  reps = reps[~np.isnan(reps)]
  low, high = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
  return Interval(float(estimate), float(low), float(high), n_boot, alpha)
