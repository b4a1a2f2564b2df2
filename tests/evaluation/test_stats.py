import numpy as np
import pytest

from egoimu_jax.evaluation import metrics
from egoimu_jax.evaluation import stats


def _fake_fold(rng, workers, k=3, windows=20, skill=(0.5, 0.9)):
  """{worker: confusion}; each worker is right with its own probability."""
  out = {}
  for w in workers:
    p = rng.uniform(*skill)
    y = rng.integers(0, k, windows)
    wrong = (y + rng.integers(1, k, windows)) % k
    pred = np.where(rng.random(windows) < p, y, wrong)
    out[w] = metrics.confusion_matrix(y, pred, k)
  return out


def test_bootstrap_ci_is_deterministic_and_brackets_estimate():
  v = np.random.default_rng(0).normal(size=40)
  a = stats.bootstrap_ci(v, seed=3)
  b = stats.bootstrap_ci(v, seed=3)
  assert a == b
  assert a.low < a.estimate < a.high
  assert stats.bootstrap_ci(v, seed=4) != a


def test_bootstrap_ci_coverage_of_a_mean():
  rng = np.random.default_rng(0)
  hits = 0
  sims = 300
  for s in range(sims):
    ci = stats.bootstrap_ci(rng.normal(1.0, 2.0, size=50), n_boot=500, seed=s)
    hits += ci.low <= 1.0 <= ci.high
  assert 0.89 <= hits / sims <= 0.99


def test_worker_bootstrap_coverage_of_pooled_macro_f1():
  # Labels uniform over 3 classes, each worker right with p ~ U(0.5, 0.9) and
  # wrong uniformly otherwise: by symmetry precision = recall = E[p] = 0.7
  # for every class, so the population macro-F1 is 0.7.
  rng = np.random.default_rng(1)
  hits, sims = 0, 150
  for s in range(sims):
    names = [f"w{i}" for i in range(40)]
    folds = [_fake_fold(rng, names[i::2]) for i in range(2)]
    ci = stats.worker_bootstrap(folds, n_boot=400, seed=s)
    hits += ci.low <= 0.7 <= ci.high
  assert 0.87 <= hits / sims <= 0.99


def test_worker_bootstrap_estimate_is_mean_of_fold_macro_f1():
  rng = np.random.default_rng(2)
  folds = [_fake_fold(rng, ["a", "b", "c"]), _fake_fold(rng, ["d", "e"])]
  ci = stats.worker_bootstrap(folds, n_boot=200, seed=0)
  expected = np.mean([metrics.macro_f1(sum(f.values())) for f in folds])
  assert ci.estimate == pytest.approx(expected)
  assert ci == stats.worker_bootstrap(folds, n_boot=200, seed=0)


def test_within_person_folds_share_workers():
  rng = np.random.default_rng(3)
  names = [f"w{i}" for i in range(10)]
  folds = [_fake_fold(rng, names) for _ in range(3)]
  ci = stats.worker_bootstrap(folds, n_boot=300, metric="accuracy")
  assert ci.low < ci.estimate < ci.high


def test_paired_worker_bootstrap_detects_a_better_model():
  rng = np.random.default_rng(4)
  names = [f"w{i}" for i in range(30)]
  good = [_fake_fold(rng, names[i::3], skill=(0.8, 0.95)) for i in range(3)]
  bad = [_fake_fold(rng, names[i::3], skill=(0.4, 0.6)) for i in range(3)]
  r = stats.paired_worker_bootstrap(good, bad, n_boot=500)
  assert r.difference.estimate == pytest.approx(r.a - r.b)
  assert r.difference.low > 0
  assert r.p_value < 0.01
  same = stats.paired_worker_bootstrap(good, good, n_boot=200)
  assert same.difference.estimate == 0.0 and same.p_value == 1.0
  with pytest.raises(ValueError, match="different workers"):
    stats.paired_worker_bootstrap(good, [bad[1], bad[0], bad[2]])


def test_paired_fold_tests_constructed_cases():
  a = [0.80, 0.75, 0.82, 0.78, 0.79]
  b = [0.70, 0.66, 0.71, 0.69, 0.70]
  r = stats.paired_fold_tests(a, b)
  assert r["mean_difference"] == pytest.approx(0.096)
  assert r["t_p_value"] < 0.001
  # Exact Wilcoxon with 5 folds all in one direction: 2 / 2**5.
  assert r["wilcoxon_p_value"] == pytest.approx(0.0625)
  same = stats.paired_fold_tests(a, a)
  assert same["t_p_value"] == 1.0 and same["wilcoxon_p_value"] == 1.0
  noisy = stats.paired_fold_tests([0.7, 0.8, 0.6, 0.75], [0.72, 0.77, 0.63, 0.74])
  assert noisy["t_p_value"] > 0.5
  shift = stats.paired_fold_tests([0.5, 0.6, 0.7], [0.4, 0.5, 0.6])
  assert shift["t_p_value"] == 0.0 and np.isfinite(shift["wilcoxon_p_value"])


def test_sign_flip_exact_and_monte_carlo():
  d = np.array([0.1, 0.2, 0.15, 0.05, 0.3, 0.12])
  r = stats.sign_flip_test(d)
  assert r["exact"] and r["p_value"] == pytest.approx(2 / 64)
  big = np.random.default_rng(0).normal(0.0, 1.0, size=200)
  null = stats.sign_flip_test(big, n_perm=2000)
  assert not null["exact"] and null["p_value"] > 0.05
  shifted = stats.sign_flip_test(big + 0.5, n_perm=2000)
  assert shifted["p_value"] == pytest.approx(1 / 2001)


def test_q_values_by_hand_monotone_and_nan_aware():
  # Finite p sorted: 0.005, 0.01, 0.03, 0.04, 0.2 (m = 5): ×5/1, ×5/2,
  # ×5/3, ×5/4, ×5/5 = 0.025, 0.025, 0.05, 0.05, 0.2 (already monotone).
  q = stats.q_values([0.01, 0.04, None, 0.03, 0.005, np.nan, 0.2])
  np.testing.assert_allclose(q, [0.025, 0.05, np.nan, 0.05, 0.025, np.nan,
                                 0.2])
  # A larger p never gets a smaller q; q never exceeds 1.
  np.testing.assert_allclose(stats.q_values([0.04, 0.041]), [0.041, 0.041])
  np.testing.assert_allclose(stats.q_values([0.9, 0.8, 0.95]), [0.95] * 3)
  assert np.isnan(stats.q_values([None, np.nan])).all()
  assert stats.q_values([]).shape == (0,)
  rng = np.random.default_rng(0)
  p = rng.random(40) ** 3
  q = stats.q_values(p)
  order = np.argsort(p)
  assert np.all(np.diff(q[order]) >= 0) and np.all(q >= p) and q.max() <= 1
  from scipy import stats as sp_stats  # pylint: disable=g-import-not-at-top
  if hasattr(sp_stats, "false_discovery_control"):
    np.testing.assert_allclose(q, sp_stats.false_discovery_control(p))
