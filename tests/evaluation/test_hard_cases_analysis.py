"""Experiment E's statistics: permutation Spearman, BH, clusters, prediction."""

import numpy as np
import pytest
from sklearn import neighbors

from egoimu_jax.evaluation import hard_case_analysis as analysis


def test_exact_spearman_p_for_four_workers():
  # ρ = 1 with n = 4: only the identity and the reversal reach |ρ| = 1.
  rho, p, method = analysis.spearman([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4])
  assert (rho, p, method) == (pytest.approx(1.0), pytest.approx(2 / 24), "exact")
  # ρ = 0.8 (one adjacent swap): |ρ| >= 0.8 for 8 of the 24 orderings
  # (ρ = ±1 twice, ±0.8 six times).
  rho, p, _ = analysis.spearman([1, 2, 3, 4], [0.2, 0.1, 0.3, 0.4])
  assert rho == pytest.approx(0.8) and p == pytest.approx(8 / 24)


def test_monte_carlo_spearman_is_seeded_and_bounded():
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=30), rng.normal(size=30)
  a = analysis.spearman(x, y, n_perm=500, seed=4)
  assert a == analysis.spearman(x, y, n_perm=500, seed=4)
  assert a[2] == "monte-carlo" and 1 / 501 <= a[1] <= 1.0
  assert analysis.spearman(x, x, n_perm=500)[1] == pytest.approx(1 / 501)


def test_benjamini_hochberg_hand_example():
  # sorted p 0.005, 0.01, 0.03, 0.04 (m = 4): ×4/1, ×4/2, ×4/3, ×4/4 =
  # 0.02, 0.02, 0.04, 0.04 (already monotone).
  q = analysis.benjamini_hochberg([0.01, 0.04, 0.03, 0.005, None])
  assert q == pytest.approx([0.02, 0.04, 0.04, 0.02, None])
  # Monotonicity: a larger p never gets a smaller q.
  assert analysis.benjamini_hochberg([0.04, 0.041]) == pytest.approx([0.041, 0.041])


def _three_groups(n_per=6, seed=0):
  rng = np.random.default_rng(seed)
  centres = {0: (0.0, 0.0), 1: (10.0, 0.0), 2: (0.0, 10.0)}
  stats, f1, group = {}, {}, {}
  for g, (a, b) in centres.items():
    for i in range(n_per):
      w = f"g{g}w{i}"
      stats[w] = {"motion_energy": a + rng.normal(0, 0.3),
                  "acc_noise": b + rng.normal(0, 0.3),
                  "fraction/x": float(rng.random())}
      f1[w] = 0.5 + 0.2 * g + rng.normal(0, 0.01)
      group[w] = g
  return stats, f1, group


def test_silhouette_picks_three_separated_clusters_that_differ_in_f1():
  stats, f1, group = _three_groups()
  out = analysis.cluster_workers(f1, stats, seed=0, n_perm=999)
  assert out["k"] == 3
  assert max(out["silhouette"], key=out["silhouette"].get) == 3
  # Clusters are numbered by mean F1: cluster c is generated group c.
  assert list(out["labels"]) == [group[w] for w in out["workers"]]
  assert out["p_kruskal"] < 0.01 and out["p_permutation"] < 0.01
  assert out["statistics"] == ["acc_noise", "motion_energy"]   # no labels
  assert out["pca"]["coords"].shape == (18, 2)


def test_cluster_f1_permutation_test_without_difference():
  stats, f1, _ = _three_groups(seed=1)
  rng = np.random.default_rng(5)
  flat = {w: float(v) for w, v in zip(sorted(f1), rng.permutation(18) / 18)}
  out = analysis.cluster_workers(flat, stats, seed=0, n_perm=999)
  assert out["p_permutation"] > 0.05


def test_prediction_never_trains_on_the_predicted_worker():
  # With X and y unrelated, a 1-nearest-neighbour model reaches R² = 1 only
  # if the predicted worker is in its training set.
  rng = np.random.default_rng(0)
  workers = [f"w{i}" for i in range(12)]
  stats = {w: {"a": float(rng.normal()), "b": float(rng.normal())}
           for w in workers}
  f1 = {w: float(rng.random()) for w in workers}
  seen = []

  class Spy(neighbors.KNeighborsRegressor):
    def fit(self, x, y):
      seen.append(x.copy())
      return super().fit(x, y)

    def predict(self, x):
      assert not any((seen[-1] == row).all(1).any() for row in x)
      return super().predict(x)

  out = analysis.predict_difficulty(f1, stats, model=lambda: Spy(n_neighbors=1))
  assert len(seen) == 12 and out["cv"] == "leave-one-worker-out"
  assert out["r2"] < 0.5
  # The same model fit on every worker would be perfect (the leak we avoid).
  x = np.array([[stats[w]["a"], stats[w]["b"]] for w in workers])
  y = np.array([f1[w] for w in workers])
  assert neighbors.KNeighborsRegressor(1).fit(x, y).score(x, y) == 1.0


def test_prediction_recovers_an_informative_statistic():
  rng = np.random.default_rng(1)
  workers = [f"w{i:02d}" for i in range(40)]
  noise = {w: float(rng.uniform(0, 1)) for w in workers}
  stats = {w: {"acc_noise": noise[w], "random": float(rng.normal()),
               "fraction/x": 0.5} for w in workers}
  f1 = {w: 0.9 - 0.4 * noise[w] + float(rng.normal(0, 0.02)) for w in workers}
  out = analysis.predict_difficulty(f1, stats, seed=0)
  assert out["cv"] == "10-fold over workers"
  assert out["r2"] > 0.8 and out["auroc"] > 0.95
  assert out["p_r2"] == out["p_auroc"] == pytest.approx(1 / 200)
  assert out["hardest"].sum() == 10
  assert np.isfinite(out["predicted"]).all()


def test_prediction_p_values_are_calibrated_without_signal():
  # Over datasets where the statistics carry no information the p-values
  # are roughly uniform, although the AUROC itself is biased low (~0.45 here;
  # ranking by raw LOO predictions instead of their deviation: ~0.2).
  rng = np.random.default_rng(3)
  workers = [f"w{i:02d}" for i in range(16)]
  p_r2, p_auroc = [], []
  for seed in range(40):
    stats = {w: {f"s{j}": float(rng.normal()) for j in range(6)}
             for w in workers}
    f1 = {w: float(rng.random()) for w in workers}
    out = analysis.predict_difficulty(f1, stats, seed=seed, n_null=99)
    p_r2.append(out["p_r2"])
    p_auroc.append(out["p_auroc"])
  for p in (np.array(p_r2), np.array(p_auroc)):
    assert np.mean(p < 0.05) <= 0.15 and 0.35 < p.mean() < 0.65


def test_ridge_loo_matches_scikit_learn_per_column():
  from sklearn import impute, linear_model, pipeline, preprocessing
  rng = np.random.default_rng(2)
  x = rng.normal(size=(25, 5))
  x[3, 1] = x[7, 4] = np.nan
  y = np.stack([x[:, 0] * 0.5 + rng.normal(0, 0.3, 25), rng.normal(size=25)], 1)
  ours = analysis.RidgeLOO().fit(x[:20], y[:20])
  for j in range(2):
    ref = pipeline.make_pipeline(
        impute.SimpleImputer(strategy="median"), preprocessing.StandardScaler(),
        linear_model.RidgeCV(alphas=analysis.RIDGE_ALPHAS)).fit(x[:20], y[:20, j])
    assert ours.alpha[j] == ref[-1].alpha_
    np.testing.assert_allclose(ours.predict(x[20:])[:, j], ref.predict(x[20:]),
                               rtol=1e-8)


def test_small_n_is_a_clear_error_not_a_crash():
  stats = {f"w{i}": {"acc_noise": float(i)} for i in range(8)}
  f1 = {f"w{i}": 0.5 + 0.05 * i for i in range(8)}
  table = analysis.correlation_table(f1, stats)
  assert table[0]["p_method"] == "exact"
  assert table[0]["p_value"] == pytest.approx(2 / 40320)
  with pytest.raises(analysis.NotEnoughWorkers, match="too few people "
                     "for predicting difficulty: 8 .* need 10"):
    analysis.predict_difficulty(f1, stats)
  with pytest.raises(analysis.NotEnoughWorkers, match="clustering: 8"):
    analysis.cluster_workers(f1, stats)
  few = {w: f1[w] for w in list(f1)[:7]}
  with pytest.raises(analysis.NotEnoughWorkers, match="rank correlations: 7"):
    analysis.correlation_table(few, stats)
  with pytest.raises(analysis.NotEnoughWorkers, match="rank correlations"):
    analysis.correlation_table({"a": 0.5, "b": 0.6}, stats)
