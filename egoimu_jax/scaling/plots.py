"""Macro-F1 against training size with the fitted law, its bootstrap band,
the held-out check and the extrapolation targets (log x axis)."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from egoimu_jax.scaling import power_law


def plot_fit(result: power_law.Fit, boot: Optional[power_law.Bootstrap] = None,
             targets: Sequence[float] = (), ax=None, label: str = "",
             xlabel: str = "training size", level: float = 0.95, color: str = "C0",
             check: Optional[power_law.HoldoutCheck] = None):
  """Draws runs, per-size means ± std, the fit and its band; returns the axes.

  With ``check``: the law fitted without the largest size (dashed) and its
  prediction there (open diamond, with the check's bootstrap interval).

  Uses matplotlib's object API (no pyplot state), so it works headless.
  """
  if ax is None:
    from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
    ax = Figure(figsize=(4.5, 3.2), layout="constrained").add_subplot()
  pts = result.points
  means = pts.by_size()
  hi_n = max([pts.n.max(), *targets])
  grid = np.geomspace(pts.n.min(), hi_n, 200)
  ax.scatter(pts.n, 1 - pts.err, s=8, alpha=0.35, color=color, linewidths=0)
  ax.errorbar(means["n"], 1 - means["mean"], yerr=means["std"], fmt="o", ms=4,
              capsize=2, color=color, label=f"{label} runs (mean ± std)".strip())
  law = result.law
  ax.plot(grid, law.f1(grid), color=color, lw=1.2,
          label=f"fit: b={law.b:.2f}, c={law.c:.3f}, R²={result.r2:.2f}")
  if boot is not None:
    lo, hi = boot.f1_band(grid, level)
    ax.fill_between(grid, lo, hi, color=color, alpha=0.15, lw=0,
                    label=f"{level:.0%} bootstrap band")
  if check is not None:
    held = check.held_out_n
    ax.plot(grid, check.fit.law.f1(grid), color=color, lw=0.9, ls="--",
            label=f"fit without n={held:,.0f}: error "
                  f"{check.error:+.3f} ({check.relative_error:+.0%})")
    iv = check.predicted_interval
    yerr = (None if iv is None else
            [[max(check.predicted_f1 - iv[0], 0.0)],
             [max(iv[1] - check.predicted_f1, 0.0)]])
    ax.errorbar([held], [check.predicted_f1], yerr=yerr, fmt="D", ms=5,
                mfc="none", capsize=2, color=color)
  for t in targets:
    ax.axvline(t, color="0.6", lw=0.8, ls="--")
    ax.plot([t], law.f1(t), marker="*", ms=8, color=color)
  ax.axhline(1 - law.c, color=color, lw=0.8, ls=":", alpha=0.7)
  ax.set_xscale("log")
  ax.set_xlabel(xlabel)
  ax.set_ylabel("cross-person macro-F1")
  ax.grid(alpha=0.3)
  ax.legend(frameon=False, fontsize=7)
  return ax
