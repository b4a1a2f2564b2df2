"""Saturating power laws of cross-person error against training size.

``err(n) = a * n**(-b) + c`` with ``err = 1 - macro-F1`` and ``n`` the
number of training clips (data scaling) or workers (worker scaling). ``c``
is the error that more of the same data would not remove; ``b`` how fast
the rest falls.

The fit is nonlinear least squares (``scipy.optimize.least_squares``, trust
region with bounds ``a >= 0``, ``0 <= b <= 5``, ``0 <= c <= 1``) over every
run (one point per fold and scale), from several starts. ``n`` is scaled by
its geometric mean inside the fit so that ``a`` stays of order one however
large ``n`` is. Uncertainty comes from a bootstrap over folds: folds are
resampled with replacement (all scales of a fold together, since a fold's
runs share test workers), and each resample is refitted.

Whether the law predicts is checked out of sample (``holdout_check``): fit
on every fold's smaller sizes, predict each fold's largest, and compare with
what the runs there scored; the same fold bootstrap gives the error's
interval.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence

import numpy as np
from scipy import optimize

B_MAX = 5.0


@dataclasses.dataclass(frozen=True)
class PowerLaw:
  a: float
  b: float
  c: float

  def err(self, n) -> np.ndarray:
    return self.a * np.asarray(n, np.float64) ** (-self.b) + self.c

  def f1(self, n) -> np.ndarray:
    return 1.0 - self.err(n)


@dataclasses.dataclass
class Points:
  """Runs as points: training size, fold, error (1 - macro-F1)."""

  n: np.ndarray      # float64 [p]
  fold: np.ndarray   # int64 [p]
  err: np.ndarray    # float64 [p]

  def __post_init__(self):
    self.n = np.asarray(self.n, np.float64)
    self.fold = np.asarray(self.fold, np.int64)
    self.err = np.asarray(self.err, np.float64)
    if not self.n.shape == self.fold.shape == self.err.shape or self.n.ndim != 1:
      raise ValueError(f"n, fold and err must be 1-D of one length, got "
                       f"{self.n.shape}, {self.fold.shape}, {self.err.shape}")
    if np.any(self.n <= 0) or not np.all(np.isfinite(self.err)):
      raise ValueError("sizes must be > 0 and errors finite")

  @classmethod
  def from_f1(cls, n, fold, macro_f1) -> "Points":
    return cls(n, fold, 1.0 - np.asarray(macro_f1, np.float64))

  def take(self, idx: np.ndarray) -> "Points":
    return Points(self.n[idx], self.fold[idx], self.err[idx])

  def by_size(self) -> Dict[str, np.ndarray]:
    """Mean and std of the error at each distinct size (over folds)."""
    sizes = np.unique(self.n)
    groups = [self.err[self.n == s] for s in sizes]
    return {"n": sizes, "mean": np.array([g.mean() for g in groups]),
            "std": np.array([g.std(ddof=1) if len(g) > 1 else 0.0 for g in groups]),
            "count": np.array([len(g) for g in groups])}


@dataclasses.dataclass
class Fit:
  law: PowerLaw
  points: Points
  residuals: np.ndarray   # err - law.err(n), per point
  r2: float               # over points
  r2_means: float         # over the per-size means (what the eye sees on a plot)
  rmse: float
  converged: bool
  message: str


def _r2(y: np.ndarray, pred: np.ndarray) -> float:
  ss_tot = float(np.sum((y - y.mean()) ** 2))
  ss_res = float(np.sum((y - pred) ** 2))
  return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def fit(points: Points, starts: Optional[Sequence[PowerLaw]] = None) -> Fit:
  """Least-squares fit of ``err = a n^-b + c`` to ``points``.

  Raises:
    ValueError: fewer than 3 distinct sizes (3 parameters).
  """
  sizes = np.unique(points.n)
  if len(sizes) < 3:
    raise ValueError(f"a 3-parameter power law needs >= 3 distinct sizes, "
                     f"got {sizes.tolist()}")
  n0 = float(np.exp(np.mean(np.log(sizes))))
  x, y = points.n / n0, points.err

  def residuals(theta):
    big_a, b, c = theta
    return big_a * x ** (-b) + c - y

  if starts is None:
    lo = float(y.min())
    inits = [(b, c) for b in (0.1, 0.3, 0.7, 1.5) for c in (0.0, 0.5 * lo, 0.9 * lo)]
  else:
    inits = [(min(max(s.b, 0.0), B_MAX), min(max(s.c, 0.0), 1.0)) for s in starts]
  best = None
  for b0, c0 in inits:
    # Given b and c the best A is linear: start there.
    xb = x ** (-b0)
    a0 = max(float(np.dot(xb, y - c0) / np.dot(xb, xb)), 1e-6)
    res = optimize.least_squares(
        residuals, (a0, b0, c0), bounds=([0.0, 0.0, 0.0], [np.inf, B_MAX, 1.0]),
        method="trf", x_scale="jac")
    if best is None or res.cost < best.cost:
      best = res
  big_a, b, c = (float(v) for v in best.x)
  law = PowerLaw(a=big_a * n0 ** b, b=b, c=c)
  pred = law.err(points.n)
  means = points.by_size()
  return Fit(law=law, points=points, residuals=y - pred, r2=_r2(y, pred),
             r2_means=_r2(means["mean"], law.err(means["n"])),
             rmse=float(np.sqrt(np.mean((y - pred) ** 2))),
             converged=bool(best.success), message=str(best.message))


@dataclasses.dataclass
class Bootstrap:
  """Refits over fold resamples; ``laws[i]`` is resample i's law."""

  laws: List[PowerLaw]
  failed: int

  def interval(self, values: np.ndarray, level: float = 0.95) -> tuple:
    q = (1 - level) / 2
    return tuple(float(v) for v in np.quantile(values, [q, 1 - q]))

  def params(self, level: float = 0.95) -> Dict[str, tuple]:
    return {k: self.interval(np.array([getattr(l, k) for l in self.laws]), level)
            for k in ("a", "b", "c")}

  def f1_band(self, n, level: float = 0.95) -> tuple:
    """Pointwise (lo, hi) of predicted macro-F1 at sizes ``n``."""
    curves = np.stack([l.f1(n) for l in self.laws])
    q = (1 - level) / 2
    return np.quantile(curves, q, axis=0), np.quantile(curves, 1 - q, axis=0)


def bootstrap(points: Points, base: Fit, n_boot: int = 1000, seed: int = 0
              ) -> Bootstrap:
  """Refits on ``n_boot`` resamples of folds (with replacement).

  Resamples with fewer than 3 distinct sizes are skipped (counted in
  ``failed``). Fits start from the full-data fit and two spread-out starts.
  """
  folds = np.unique(points.fold)
  if len(folds) < 2:
    raise ValueError(f"a bootstrap over folds needs >= 2 folds, got {folds.tolist()}")
  rng = np.random.default_rng(seed)
  members = {f: np.flatnonzero(points.fold == f) for f in folds}
  starts = [base.law, PowerLaw(base.law.a, 0.3, 0.0), PowerLaw(base.law.a, 1.0, 0.0)]
  laws, failed = [], 0
  for _ in range(n_boot):
    pick = rng.choice(folds, size=len(folds), replace=True)
    idx = np.concatenate([members[f] for f in pick])
    sample = points.take(idx)
    if len(np.unique(sample.n)) < 3:
      failed += 1
      continue
    laws.append(fit(sample, starts=starts).law)
  if not laws:
    raise ValueError("every bootstrap resample failed")
  return Bootstrap(laws, failed)


def extrapolate(result: Fit, boot: Optional[Bootstrap], targets: Sequence[float],
                level: float = 0.95) -> List[Dict[str, float]]:
  """Predicted macro-F1 at each target size, with the bootstrap interval."""
  rows = []
  for t in targets:
    row = {"n": float(t), "f1": float(result.law.f1(t)),
           "beyond_data": bool(t > result.points.n.max())}
    if boot is not None:
      lo, hi = boot.f1_band(np.array([t]), level)
      row.update(f1_lo=float(lo[0]), f1_hi=float(hi[0]))
    rows.append(row)
  return rows


@dataclasses.dataclass
class HoldoutCheck:
  """The law fitted on the smaller sizes, scored on the largest.

  ``error`` is predicted minus observed macro-F1 at the held-out size (mean
  over its runs); ``relative_error`` divides it by the observed error
  1 − F1, the quantity the law models (0.1: the prediction misses by a
  tenth of the error that is left). The intervals come from refitting on
  fold resamples (held-out runs resampled with their folds); None without
  a bootstrap.
  """

  fit: Fit                   # on the fitted (smaller) sizes only
  held_out: Points           # each fold's largest size
  predicted_f1: float        # mean of law.f1 over the held-out runs
  observed_f1: float         # mean macro-F1 of the held-out runs
  error: float
  relative_error: float
  beyond_data: bool          # every held-out size exceeds every fitted one
  error_interval: Optional[tuple] = None
  predicted_interval: Optional[tuple] = None
  resamples: int = 0
  failed: int = 0

  @property
  def held_out_n(self) -> float:
    """The held-out size (geometric mean if folds differ)."""
    sizes = np.unique(self.held_out.n)
    return float(sizes[0] if len(sizes) == 1 else
                 np.exp(np.mean(np.log(self.held_out.n))))


def split_largest(points: Points) -> tuple:
  """``(fitted, held_out)``: each fold's runs at its largest size are held
  out (folds may train on slightly different sizes at one scale)."""
  top = {f: points.n[points.fold == f].max() for f in np.unique(points.fold)}
  held = np.array([n == top[f] for n, f in zip(points.n, points.fold)])
  return points.take(np.flatnonzero(~held)), points.take(np.flatnonzero(held))


def holdout_check(points: Points, n_boot: int = 1000, level: float = 0.95,
                  seed: int = 0) -> HoldoutCheck:
  """Fits the law without the largest size and predicts it (see
  :class:`HoldoutCheck`).

  Raises:
    ValueError: fewer than 3 distinct sizes are left to fit (3 parameters),
      i.e. fewer than 4 sizes in all.
  """
  fitted, held = split_largest(points)
  sizes = np.unique(fitted.n)
  if len(sizes) < 3:
    raise ValueError(
        f"a held-out check needs >= 3 distinct sizes to fit besides the "
        f"largest (3 parameters), i.e. >= 4 sizes; got "
        f"{np.unique(points.n).astype(int).tolist()}")
  base = fit(fitted)
  pred, obs = _holdout_scores(base.law, held)
  check = HoldoutCheck(
      fit=base, held_out=held, predicted_f1=pred, observed_f1=obs,
      error=pred - obs, relative_error=_relative(pred, obs),
      beyond_data=bool(held.n.min() > fitted.n.max()))
  folds = np.unique(points.fold)
  if len(folds) < 2 or n_boot <= 0:
    return check
  rng = np.random.default_rng(seed)
  fit_members = {f: np.flatnonzero(fitted.fold == f) for f in folds}
  held_members = {f: np.flatnonzero(held.fold == f) for f in folds}
  starts = [base.law, PowerLaw(base.law.a, 0.3, 0.0),
            PowerLaw(base.law.a, 1.0, 0.0)]
  errors, preds, failed = [], [], 0
  for _ in range(n_boot):
    pick = rng.choice(folds, size=len(folds), replace=True)
    sample = fitted.take(np.concatenate([fit_members[f] for f in pick]))
    if len(np.unique(sample.n)) < 3:
      failed += 1
      continue
    law = fit(sample, starts=starts).law
    p, o = _holdout_scores(
        law, held.take(np.concatenate([held_members[f] for f in pick])))
    errors.append(p - o)
    preds.append(p)
  if not errors:
    return dataclasses.replace(check, failed=failed)
  q = (1 - level) / 2
  band = lambda v: tuple(float(x) for x in np.quantile(v, [q, 1 - q]))
  return dataclasses.replace(
      check, error_interval=band(errors), predicted_interval=band(preds),
      resamples=len(errors), failed=failed)


def _holdout_scores(law: PowerLaw, held: Points) -> tuple:
  return float(np.mean(law.f1(held.n))), float(np.mean(1.0 - held.err))


def _relative(predicted_f1: float, observed_f1: float) -> float:
  left = 1.0 - observed_f1
  return (predicted_f1 - observed_f1) / left if left > 0 else float("nan")


def holdout_report(check: HoldoutCheck, what: str = "n",
                   level: float = 0.95) -> str:
  """Markdown lines of the held-out check (for ``report``)."""
  pct = f"{level:.0%}"
  fitted = np.unique(check.fit.points.n)
  band = lambda iv, fmt: (f" [{fmt.format(iv[0])}, {fmt.format(iv[1])}]"
                          if iv else "")
  ci = lambda iv: f" [{pct} CI]" if iv else ""
  lines = [
      f"Held-out check: fitted on {what} = "
      f"{', '.join(f'{s:,.0f}' for s in fitted)} "
      f"({len(check.fit.points.n)} runs), predicting {what} = "
      f"{check.held_out_n:,.0f} ({len(check.held_out.n)} runs)"
      + ("" if check.beyond_data else " (not beyond the fitted sizes)"), "",
      f"| predicted F1{ci(check.predicted_interval)} | observed F1 "
      f"| error (pred − obs){ci(check.error_interval)} | relative error |",
      "| --- | --- | --- | --- |",
      f"| {check.predicted_f1:.4f}{band(check.predicted_interval, '{:.4f}')} "
      f"| {check.observed_f1:.4f} "
      f"| {check.error:+.4f}{band(check.error_interval, '{:+.4f}')} "
      f"| {check.relative_error:+.1%} |", "",
      "Relative error: the miss as a share of the observed error 1 − F1."]
  if check.resamples:
    lines.append(f"Bootstrap over folds: {check.resamples} resamples"
                 + (f" ({check.failed} skipped: < 3 sizes)"
                    if check.failed else ""))
  elif check.failed:
    lines.append(f"No interval: all {check.failed} resamples had < 3 sizes")
  else:
    lines.append("No interval: a bootstrap over folds needs >= 2 folds")
  return "\n".join(lines) + "\n"


def report(result: Fit, boot: Optional[Bootstrap], targets: Sequence[float] = (),
           what: str = "n", level: float = 0.95,
           check: Optional[HoldoutCheck] = None) -> str:
  """A Markdown summary: parameters (with CIs), goodness of fit, residuals,
  extrapolations, and the held-out ``check`` if given."""
  law = result.law
  ci = boot.params(level) if boot is not None else {}
  pct = f"{level:.0%}"

  def param(k, v):
    lo_hi = f" [{ci[k][0]:.4g}, {ci[k][1]:.4g}]" if k in ci else ""
    return f"| {k} | {v:.4g}{lo_hi} |"

  lines = [f"err({what}) = a·{what}^(-b) + c, err = 1 − macro-F1 "
           f"({len(result.points.n)} runs, {len(np.unique(result.points.n))} sizes, "
           f"{len(np.unique(result.points.fold))} folds)", "",
           f"| parameter | estimate{f' [{pct} CI]' if ci else ''} |", "| --- | --- |",
           param("a", law.a), param("b", law.b), param("c", law.c), "",
           f"R² = {result.r2:.3f} over runs, {result.r2_means:.3f} over per-size means; "
           f"RMSE = {result.rmse:.4f}; "
           f"{'converged' if result.converged else 'NOT converged: ' + result.message}"]
  if boot is not None:
    lines.append(f"Bootstrap over folds: {len(boot.laws)} resamples"
                 + (f" ({boot.failed} skipped: < 3 sizes)" if boot.failed else ""))
  means = result.points.by_size()
  lines += ["", f"| {what} | runs | mean F1 | fitted F1 | mean residual (err) |",
            "| --- | --- | --- | --- | --- |"]
  for i, s in enumerate(means["n"]):
    res = result.residuals[result.points.n == s].mean()
    lines.append(f"| {s:,.0f} | {means['count'][i]} | {1 - means['mean'][i]:.4f} | "
                 f"{float(law.f1(s)):.4f} | {res:+.4f} |")
  if targets:
    lines += ["", f"| {what} (extrapolated) | predicted F1{f' [{pct} CI]' if ci else ''} |",
              "| --- | --- |"]
    for row in extrapolate(result, boot, targets, level):
      band = f" [{row['f1_lo']:.4f}, {row['f1_hi']:.4f}]" if "f1_lo" in row else ""
      lines.append(f"| {row['n']:,.0f} | {row['f1']:.4f}{band} |")
  text = "\n".join(lines) + "\n"
  return text + "\n" + holdout_report(check, what, level) if check else text

