"""Experiment E's three analyses of per-worker statistics vs difficulty.

1. ``correlation_table``: Spearman's ρ of each statistic with per-worker
   macro-F1. The p-value is a permutation test of ρ (two-sided), exact over
   all n! orderings for n ≤ ``EXACT_MAX_N`` workers (the asymptotic t
   approximation is wrong for such n: with 4 workers ρ = 1 has p = 2/24,
   not 0), else Monte-Carlo with a seed, ``(1 + hits) / (1 + draws)``.
   Benjamini-Hochberg q-values control the false discovery rate across the
   statistics tested.
2. ``cluster_workers``: k-means on the standardised IMU statistics, k in
   2..min(8, n − 1) chosen by the silhouette; whether the clusters differ in
   F1 by Kruskal-Wallis (asymptotic χ² p) and by a permutation test of the
   same statistic (exact / Monte-Carlo as above), which is the one to read
   when clusters are small.
3. ``predict_difficulty``: ridge regression from the IMU statistics to F1
   (median imputation, standardisation and the ridge penalty, by internal
   leave-one-out, all fit on the training workers of each fold), scored on
   workers it never saw: leave-one-worker-out for n ≤ ``LOWO_MAX_N``, else
   10-fold over workers. Reports the cross-validated R² and the AUROC of
   ranking the hardest quartile (F1 at or below its 25th percentile) by
   predicted F1: how well the hardest people could be flagged from their
   unlabeled IMU data before deployment; each with a p-value from rerunning
   the whole cross-validation on permuted F1 (cross-validation over few
   workers is biased below chance, so 0 and 0.5 are not the references).

Label-derived statistics (``fraction/<class>``) are used in (1) only: they
are not known before deployment.
"""

from __future__ import annotations

import itertools
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from scipy import stats as sp_stats

from egoimu_jax.evaluation import hard_cases
from egoimu_jax.evaluation import stats as stats_lib

EXACT_MAX_N = 8          # all n! permutations up to here
N_PERMUTATIONS = 9999    # Monte-Carlo draws above it
LOWO_MAX_N = 20          # leave-one-worker-out up to here, 10-fold above
N_NULL = 199             # permuted-F1 reruns of the prediction's CV
# Fewest people behind an estimate: below these the report says "too few
# people" and prints none (a rank correlation over 3 people, or clusters of
# 4, is noise that reads like a finding).
MIN_CORRELATE, MIN_CLUSTER, MIN_PREDICT = 8, 10, 10
RIDGE_ALPHAS = tuple(np.logspace(-2, 5, 15))


class NotEnoughWorkers(ValueError):
  """Too few workers with both statistics and F1 for an analysis."""


def permutations(values: np.ndarray, n_perm: int, seed: int
                 ) -> Tuple[np.ndarray, str]:
  """Orderings of ``values`` ``[P, n]``: all of them, or ``n_perm`` random."""
  values = np.asarray(values, np.float64)
  if len(values) <= EXACT_MAX_N:
    idx = np.array(list(itertools.permutations(range(len(values)))), np.int64)
    return values[idx], "exact"
  rng = np.random.default_rng(seed)
  return rng.permuted(np.tile(values, (n_perm, 1)), axis=1), "monte-carlo"


def permutation_pvalue(observed: float, null: np.ndarray, method: str) -> float:
  """Share of the null at least as extreme (``null >= observed``)."""
  hits = int(np.sum(null >= observed - 1e-12 * max(1.0, abs(observed))))
  if method == "exact":
    return hits / len(null)
  return (1 + hits) / (1 + len(null))


def spearman(x: np.ndarray, y: np.ndarray, n_perm: int = N_PERMUTATIONS,
             seed: int = 0) -> Tuple[float, float, str]:
  """Spearman's ρ, its two-sided permutation p-value and the method."""
  rx = _standardise(sp_stats.rankdata(x))
  ry = sp_stats.rankdata(y)
  rho = float(rx @ _standardise(ry)) / len(rx)
  null, method = permutations(ry, n_perm, seed)
  null = _standardise(null, axis=1) @ rx / len(rx)
  return rho, permutation_pvalue(abs(rho), np.abs(null), method), method


def benjamini_hochberg(p_values: Sequence[Optional[float]]
                       ) -> List[Optional[float]]:
  """BH q-values (same order; None where p is None): ``stats.q_values``."""
  return [None if np.isnan(q) else float(q)
          for q in stats_lib.q_values(p_values)]


def correlation_table(difficulty: Mapping[str, float],
                      stats: hard_cases.WorkerStats,
                      n_perm: int = N_PERMUTATIONS, seed: int = 0
                      ) -> List[Dict[str, object]]:
  """Spearman ρ, permutation p and BH q of each statistic with F1.

  Rows sorted by |ρ|, strongest first. A statistic that is constant (or has
  fewer than 3 values) over the workers has no rank correlation: None.
  """
  workers = _common(difficulty, stats, MIN_CORRELATE, "rank correlations")
  f1 = np.array([difficulty[w] for w in workers])
  rows = []
  for name in sorted({k for w in workers for k in stats[w]} - {"n_windows"}):
    v = np.array([stats[w].get(name, np.nan) for w in workers], np.float64)
    ok = np.isfinite(v)
    row: Dict[str, object] = {"statistic": name, "rho": None, "p_value": None,
                              "q_value": None, "p_method": None,
                              "n": int(ok.sum())}
    if ok.sum() >= MIN_CORRELATE and np.ptp(v[ok]) > 0 and np.ptp(f1[ok]) > 0:
      rho, p, method = spearman(v[ok], f1[ok], n_perm, seed)
      row.update(rho=rho, p_value=p, p_method=method)
    rows.append(row)
  for row, q in zip(rows, benjamini_hochberg([r["p_value"] for r in rows])):
    row["q_value"] = q
  return sorted(rows, key=lambda r: -abs(r["rho"]) if r["rho"] is not None else 1.0)


def imu_features(stats: hard_cases.WorkerStats, workers: Sequence[str]
                 ) -> Tuple[np.ndarray, List[str]]:
  """``[n, d]`` IMU statistics (NaN where missing), varying columns only."""
  names = sorted({k for w in workers for k in stats[w]
                  if hard_cases.is_imu_statistic(k)})
  x = np.array([[stats[w].get(k, np.nan) for k in names] for w in workers],
               np.float64).reshape(len(workers), len(names))
  keep = [j for j in range(len(names)) if np.isfinite(x[:, j]).sum() >= 2 and
          np.nanstd(x[:, j]) > 0]
  return x[:, keep], [names[j] for j in keep]


def cluster_workers(difficulty: Mapping[str, float],
                    stats: hard_cases.WorkerStats, seed: int = 0,
                    n_perm: int = N_PERMUTATIONS, k_max: int = 8
                    ) -> Dict[str, object]:
  """k-means clusters of workers' statistics and their F1 (module doc).

  Returns ``workers``, ``labels`` (cluster per worker), ``k``,
  ``silhouette`` {k: score}, ``kruskal_h``, ``p_kruskal``,
  ``p_permutation``, ``p_method``, ``min_cluster_size``, ``clusters``
  (summary rows: size, F1, most distinctive statistics) and ``pca`` (2-D
  coordinates ``[n, 2]`` and explained variance ratios, for the map).
  """
  from sklearn import cluster as sk_cluster  # pylint: disable=g-import-not-at-top
  from sklearn import metrics as sk_metrics  # pylint: disable=g-import-not-at-top
  workers = _common(difficulty, stats, MIN_CLUSTER, "clustering")
  x, names = imu_features(stats, workers)
  if not names:
    raise NotEnoughWorkers("no IMU statistic varies across the workers")
  z = _standardise(np.where(np.isfinite(x), x, np.nanmedian(x, 0)), axis=0)
  f1 = np.array([difficulty[w] for w in workers])
  scores, fits = {}, {}
  for k in range(2, min(k_max, len(workers) - 1) + 1):
    labels = sk_cluster.KMeans(k, n_init=10, random_state=seed).fit_predict(z)
    if len(np.unique(labels)) < 2:
      continue
    scores[k] = float(sk_metrics.silhouette_score(z, labels))
    fits[k] = labels
  if not scores:
    raise NotEnoughWorkers("the workers' statistics do not separate into "
                           "two or more clusters")
  k = max(scores, key=lambda kk: (scores[kk], -kk))
  labels = _relabel_by_f1(fits[k], f1)
  k = int(labels.max()) + 1       # k-means may leave a cluster empty
  onehot = np.eye(k)[labels]
  sizes = onehot.sum(0)
  ranks = sp_stats.rankdata(f1)
  observed = float(((ranks @ onehot) ** 2 / sizes).sum())
  null, method = permutations(ranks, n_perm, seed)
  null = ((null @ onehot) ** 2 / sizes).sum(1)
  h, p_kw = (float("nan"), float("nan"))
  if np.ptp(f1) > 0:
    h, p_kw = (float(v) for v in sp_stats.kruskal(*(f1[labels == c]
                                                    for c in range(k))))
  clusters = []
  for c in range(k):
    centre = z[labels == c].mean(0)
    top = np.argsort(-np.abs(centre))[:3]
    clusters.append({
        "cluster": c, "workers": int(sizes[c]),
        "mean_f1": float(f1[labels == c].mean()),
        "min_f1": float(f1[labels == c].min()),
        "distinctive": ", ".join(f"{names[j]} {centre[j]:+.1f}σ" for j in top)})
  u, s, _ = np.linalg.svd(z - z.mean(0), full_matrices=False)
  dims = min(2, len(s))
  coords = np.zeros((len(workers), 2))
  coords[:, :dims] = u[:, :dims] * s[:dims]
  explained = (s ** 2 / max(float((s ** 2).sum()), 1e-300))[:2]
  return {"workers": workers, "labels": labels, "k": k, "silhouette": scores,
          "kruskal_h": h, "p_kruskal": p_kw,
          "p_permutation": permutation_pvalue(observed, null, method) if
                           np.ptp(f1) > 0 else float("nan"),
          "p_method": method, "min_cluster_size": int(sizes.min()),
          "clusters": clusters, "statistics": names,
          "pca": {"coords": coords, "explained": explained}}


class RidgeLOO:
  """Ridge regression with median imputation, standardisation and an
  unpenalised intercept, the penalty chosen per target column by exact
  leave-one-out error (the hat-matrix identity), all fit on ``fit``'s rows.

  Targets may be ``[n]`` or ``[n, m]``: m columns (the observed F1 and its
  permutations) are fit at once from one SVD. Equals scikit-learn's
  ``SimpleImputer(median) → StandardScaler → RidgeCV(alphas)`` per column.
  """

  def __init__(self, alphas: Sequence[float] = RIDGE_ALPHAS):
    self.alphas = np.asarray(alphas, np.float64)

  def fit(self, x: np.ndarray, y: np.ndarray) -> "RidgeLOO":
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    self._vector = y.ndim == 1
    y = y.reshape(len(y), -1)
    with np.errstate(all="ignore"):
      median = np.nanmedian(np.where(np.isnan(x).all(0), 0.0, x), 0)
    self.median = np.where(np.isfinite(median), median, 0.0)
    x = np.where(np.isnan(x), self.median, x)
    self.mean, std = x.mean(0), x.std(0)
    self.std = np.where(std > 0, std, 1.0)
    xs = (x - self.mean) / self.std
    self.y_mean = y.mean(0)
    yc = y - self.y_mean
    u, s, vt = np.linalg.svd(xs, full_matrices=False)
    uty = u.T @ yc                                          # [r, m]
    shrink = s ** 2 / (s ** 2 + self.alphas[:, None])       # [A, r]
    hat_diag = (u ** 2) @ shrink.T + 1.0 / len(y)           # [n, A]
    fitted = np.einsum("nr,ar,rm->anm", u, shrink, uty)
    loo = (yc - fitted) / (1.0 - hat_diag.T)[:, :, None]
    best = (loo ** 2).mean(1).argmin(0)                     # [m]
    weights = s / (s ** 2 + self.alphas[best][:, None])     # [m, r]
    self.coef = vt.T @ (weights.T * uty)                    # [d, m]
    self.alpha = self.alphas[best]
    return self

  def predict(self, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    xs = (np.where(np.isnan(x), self.median, x) - self.mean) / self.std
    out = xs @ self.coef + self.y_mean
    return out[:, 0] if self._vector else out


def predict_difficulty(difficulty: Mapping[str, float],
                       stats: hard_cases.WorkerStats, seed: int = 0,
                       model: Callable[[], object] = RidgeLOO,
                       n_null: int = N_NULL) -> Dict[str, object]:
  """Cross-validated prediction of per-worker F1 from IMU statistics.

  ``model()`` returns a fresh regressor per fold (scikit-learn interface,
  ``[n, m]`` targets: the observed F1 and its permutations). The AUROC
  ranks workers by predicted F1 minus the mean F1 of the fold's training
  workers: with leave-one-out, the training mean alone is perfectly
  anti-correlated with the held-out F1 and would push an uninformative
  model's AUROC towards 0 rather than 0.5. ``p_r2`` and ``p_auroc`` compare
  both with ``n_null`` reruns of the whole cross-validation on randomly
  permuted F1 (0: skipped, None).

  Returns ``workers``, ``actual``, ``predicted`` (each worker predicted by a
  model that never saw it), ``r2``, ``mae``, ``hardest`` (bool mask of the
  hardest quartile), ``auroc`` (None when the quartile is every or no
  worker), ``p_r2``, ``p_auroc``, ``cv`` (scheme) and ``statistics``.
  """
  from sklearn import model_selection  # pylint: disable=g-import-not-at-top
  workers = _common(difficulty, stats, MIN_PREDICT, "predicting difficulty")
  x, names = imu_features(stats, workers)
  if not names:
    raise NotEnoughWorkers("no IMU statistic varies across the workers")
  y = np.array([difficulty[w] for w in workers])
  if len(workers) <= LOWO_MAX_N:
    splitter, cv = model_selection.LeaveOneOut(), "leave-one-worker-out"
  else:
    splitter = model_selection.KFold(10, shuffle=True, random_state=seed)
    cv = "10-fold over workers"
  rng = np.random.default_rng(seed)
  # Column 0: the observed F1; the rest: permutations (the null), fit at once.
  targets = np.stack([y] + [rng.permutation(y) for _ in range(n_null)], 1)
  predicted = np.full(targets.shape, np.nan)
  train_mean = np.full(targets.shape, np.nan)
  for train, test in splitter.split(x):
    fitted = model().fit(x[train], targets[train])
    predicted[test] = np.asarray(fitted.predict(x[test])).reshape(len(test), -1)
    train_mean[test] = targets[train].mean(0)
  sst = ((targets - targets.mean(0)) ** 2).sum(0)
  r2 = 1.0 - ((targets - predicted) ** 2).sum(0) / np.where(sst > 0, sst, np.nan)
  hardest = targets <= np.quantile(y, 0.25)       # same count in every column
  auroc = np.full(targets.shape[1], np.nan)
  n_pos = int(hardest[:, 0].sum())
  if 0 < n_pos < len(y):      # Mann-Whitney form, every column at once
    ranks = sp_stats.rankdata(train_mean - predicted, axis=0)
    auroc = (((ranks * hardest).sum(0) - n_pos * (n_pos + 1) / 2)
             / (n_pos * (len(y) - n_pos)))
  p_r2 = p_auroc = None
  if n_null and np.isfinite(r2[0]):
    p_r2 = permutation_pvalue(float(r2[0]), r2[1:], "monte-carlo")
  if n_null and np.isfinite(auroc[0]):
    p_auroc = permutation_pvalue(float(auroc[0]), auroc[1:], "monte-carlo")
  r2_obs = float(r2[0]) if np.isfinite(r2[0]) else None
  auroc_obs = float(auroc[0]) if np.isfinite(auroc[0]) else None
  predicted, hardest = predicted[:, 0], hardest[:, 0]
  return {"workers": workers, "actual": y, "predicted": predicted,
          "r2": r2_obs, "mae": float(np.abs(y - predicted).mean()),
          "hardest": hardest, "auroc": auroc_obs, "p_r2": p_r2,
          "p_auroc": p_auroc, "cv": cv,
          "statistics": names}


def _common(difficulty: Mapping[str, float], stats: hard_cases.WorkerStats,
            minimum: int, what: str) -> List[str]:
  workers = sorted(set(difficulty) & set(stats))
  if len(workers) < minimum:
    raise NotEnoughWorkers(
        f"too few people for {what}: {len(workers)} with both a difficulty "
        f"and statistics, need {minimum}; no estimate is given")
  return workers


def _relabel_by_f1(labels: np.ndarray, f1: np.ndarray) -> np.ndarray:
  """Cluster ids in order of mean F1 (0 = hardest), independent of k-means."""
  ids, dense = np.unique(labels, return_inverse=True)
  means = [f1[dense == c].mean() for c in range(len(ids))]
  return np.argsort(np.argsort(means, kind="stable"))[dense]


def _standardise(x: np.ndarray, axis: Optional[int] = None) -> np.ndarray:
  x = np.asarray(x, np.float64)
  mean = x.mean(axis=axis, keepdims=axis is not None)
  std = x.std(axis=axis, keepdims=axis is not None)
  return (x - mean) / np.where(std > 0, std, 1.0)

