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


def report(result: Fit, boot: Optional[Bootstrap], targets: Sequence[float] = (),
           what: str = "n", level: float = 0.95) -> str:
  """A Markdown summary: parameters (with CIs), goodness of fit, residuals,
  extrapolations."""
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
  return "\n".join(lines) + "\n"

