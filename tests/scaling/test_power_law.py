"""Power-law fits recover a known law; bootstrap, extrapolation, report, plot."""

import numpy as np
import pytest

from egoimu_jax.scaling import plots
from egoimu_jax.scaling import power_law as pl

TRUE = pl.PowerLaw(a=3.0, b=0.4, c=0.12)
SIZES = np.array([13e3, 50e3, 100e3, 250e3, 500e3])


def synthetic(law=TRUE, sizes=SIZES, folds=5, noise=0.0, fold_noise=0.0, seed=0):
  rng = np.random.default_rng(seed)
  n = np.repeat(sizes, folds)
  fold = np.tile(np.arange(folds), len(sizes))
  offset = rng.normal(0, fold_noise, folds)
  err = law.err(n) + offset[fold] + rng.normal(0, noise, n.size)
  return pl.Points(n, fold, err)


def test_recovers_exact_law():
  f = pl.fit(synthetic())
  assert f.law.a == pytest.approx(3.0, rel=1e-3)
  assert f.law.b == pytest.approx(0.4, rel=1e-4)
  assert f.law.c == pytest.approx(0.12, abs=1e-5)
  assert f.r2 == pytest.approx(1.0) and f.rmse < 1e-6 and f.converged


@pytest.mark.parametrize("law, sizes", [
    (pl.PowerLaw(a=2.0, b=0.8, c=0.25), np.array([100, 200, 400, 600, 800])),
    (pl.PowerLaw(a=0.9, b=0.15, c=0.05), np.geomspace(1e3, 1e6, 6)),
])
def test_recovers_other_laws_with_noise(law, sizes):
  f = pl.fit(synthetic(law, sizes, noise=0.002, seed=3))
  assert f.law.b == pytest.approx(law.b, rel=0.25)
  assert f.law.c == pytest.approx(law.c, abs=0.03)
  # Predictions inside the data range are tight even where a, b trade off.
  assert np.allclose(f.law.err(sizes), law.err(sizes), atol=0.004)


def test_bootstrap_ci_covers_truth_and_extrapolates():
  pts = synthetic(noise=0.003, fold_noise=0.004, seed=1)
  f = pl.fit(pts)
  boot = pl.bootstrap(pts, f, n_boot=120, seed=0)
  ci = boot.params()
  assert ci["b"][0] < 0.4 < ci["b"][1]
  assert ci["c"][0] < 0.12 < ci["c"][1]
  assert ci["b"][1] - ci["b"][0] < 0.5
  rows = pl.extrapolate(f, boot, [500e3, 1e6])
  assert not rows[0]["beyond_data"] and rows[1]["beyond_data"]
  for r in rows:
    assert r["f1_lo"] <= r["f1"] <= r["f1_hi"]
  assert rows[1]["f1"] > rows[0]["f1"]            # error still falls
  assert rows[1]["f1"] < 1 - f.law.c              # but never past the floor
  # Same seed, same intervals.
  assert (pl.bootstrap(pts, f, n_boot=8, seed=5).params() ==
          pl.bootstrap(pts, f, n_boot=8, seed=5).params())


def test_report_and_plot(tmp_path):
  pts = synthetic(noise=0.003, seed=2)
  f = pl.fit(pts)
  boot = pl.bootstrap(pts, f, n_boot=30)
  text = pl.report(f, boot, targets=[1e6], what="clips")
  assert f"| b | {f.law.b:.4g} [" in text and "R² = " in text and "| 1,000,000 |" in text
  assert text.count("\n| 13,000 |") == 1
  ax = plots.plot_fit(f, boot, targets=[1e6], label="m", xlabel="clips")
  ax.figure.savefig(tmp_path / "fit.png")
  assert (tmp_path / "fit.png").stat().st_size > 1000
  assert ax.get_xscale() == "log" and len(ax.lines) >= 3


def test_needs_three_sizes_and_two_folds():
  with pytest.raises(ValueError, match=">= 3 distinct sizes"):
    pl.fit(synthetic(sizes=SIZES[:2]))
  one_fold = synthetic(folds=1)
  with pytest.raises(ValueError, match=">= 2 folds"):
    pl.bootstrap(one_fold, pl.fit(one_fold))
  with pytest.raises(ValueError, match="one length"):
    pl.Points([1, 2], [0], [0.1, 0.2])


def test_holdout_check_on_a_known_law_predicts_the_largest_size():
  exact = pl.holdout_check(synthetic(), n_boot=30)
  assert exact.held_out_n == pytest.approx(500e3) and exact.beyond_data
  assert np.unique(exact.fit.points.n).tolist() == SIZES[:-1].tolist()
  assert exact.predicted_f1 == pytest.approx(TRUE.f1(500e3), abs=1e-6)
  assert abs(exact.error) < 1e-6 and abs(exact.relative_error) < 1e-5
  assert max(map(abs, exact.error_interval)) < 1e-6
  noisy = pl.holdout_check(synthetic(noise=0.002, fold_noise=0.003, seed=4),
                           n_boot=120)
  lo, hi = noisy.error_interval
  assert lo <= 0.0 <= hi and hi - lo < 0.03 and abs(noisy.error) < 0.01
  assert noisy.resamples + noisy.failed == 120
  text = pl.report(pl.fit(synthetic()), None, what="clips", check=exact)
  assert "Held-out check: fitted on clips = 13,000, 50,000, 100,000, 250,000" in text
  assert "predicting clips = 500,000 (5 runs)" in text


def test_holdout_check_flags_points_that_break_the_law():
  pts = synthetic(noise=0.002, fold_noise=0.003, seed=4)
  # The largest size scores far worse than the smaller ones' law predicts
  # (e.g. a data regime the law never saw).
  broken = pl.Points(pts.n, pts.fold,
                     np.where(pts.n == SIZES[-1], pts.err + 0.15, pts.err))
  check = pl.holdout_check(broken, n_boot=120)
  assert check.error == pytest.approx(0.15, abs=0.02)
  assert check.relative_error > 0.5
  assert check.error_interval[0] > 0.1            # the interval excludes 0
  assert check.observed_f1 == pytest.approx(
      1 - broken.err[broken.n == SIZES[-1]].mean())


def test_holdout_check_needs_four_sizes_and_folds_for_an_interval():
  with pytest.raises(ValueError, match=">= 4 sizes"):
    pl.holdout_check(synthetic(sizes=SIZES[:3]))
  one_fold = pl.holdout_check(synthetic(folds=1), n_boot=20)
  assert one_fold.error_interval is None and one_fold.resamples == 0
  assert "needs >= 2 folds" in pl.holdout_report(one_fold)
  # Folds that trained on slightly different sizes: each fold's largest is
  # held out.
  pts = synthetic(folds=3)
  jitter = pl.Points(pts.n * (1 + 0.01 * pts.fold), pts.fold, pts.err)
  _, held = pl.split_largest(jitter)
  assert held.n.tolist() == pytest.approx([500e3, 505e3, 510e3])
