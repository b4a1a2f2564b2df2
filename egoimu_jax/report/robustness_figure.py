"""The robustness figure: each test-time variant against its clean run.

A variant (``Run.variant``: a modality dropped, degraded video, a
per-person adaptation) scores the same trained model under other test
conditions, so it is not a model of its own: it is left out of the
per-worker figure and drawn here as Δ macro-F1 = variant − clean run, paired
by fold (and seed), one row per (model, variant), one panel per protocol.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
from matplotlib.figure import Figure

from egoimu_jax.report import aggregate
from egoimu_jax.report import figures

Groups = Mapping[aggregate.GroupKey, List[aggregate.Run]]


def clean_name(run: aggregate.Run) -> str:
  """The name of the run ``run`` is a variant of (``"<name> / <variant>"``,
  as ``training/eval_variants`` names them, or the name itself)."""
  tail = f" / {run.variant}"
  return run.name[:-len(tail)] if run.name.endswith(tail) else run.name


def _pair_key(run: aggregate.Run) -> Tuple[int, int]:
  return run.fold, int(run.results.get("config", {}).get("seed", 0) or 0)


def deltas(groups: Groups) -> Dict[Tuple[str, str, str], List[float]]:
  """``{(model, variant, protocol): [variant − clean macro-F1 per fold]}``
  over the folds (and seeds) where both exist."""
  clean = {key: {_pair_key(r): r for r in rs}
           for key, rs in figures.clean_runs(groups).items()}
  out: Dict[Tuple[str, str, str], List[float]] = {}
  for rs in groups.values():
    for r in sorted(rs, key=_pair_key):
      if r.scale is not None or r.variant is None:
        continue
      base = clean.get((clean_name(r), r.protocol), {}).get(_pair_key(r))
      if base is not None:
        out.setdefault((clean_name(r), r.variant, r.protocol), []).append(
            r.test["macro_f1"] - base.test["macro_f1"])
  return out


def robustness_figure(groups: Groups) -> Optional[Figure]:
  """Δ macro-F1 per (model, variant) and protocol; None without variants."""
  found = deltas(groups)
  if not found:
    return None
  rows = sorted({(m, v) for m, v, _ in found})
  protos = [p for p in aggregate.protocol_order()
            if any(k[2] == p for k in found)]
  protos += sorted({k[2] for k in found} - set(protos))
  y = np.arange(len(rows), 0, -1, dtype=float)
  with figures.style():
    labels = [f"{m} · {v}" for m, v in rows]
    fig = figures.new_figure(figures.labelled_width(labels, len(protos)),
                             0.9 + 0.3 * len(rows))
    axes = fig.subplots(1, len(protos), sharey=True, squeeze=False)[0]
    for ax, proto in zip(axes, protos):
      for i, (model, variant) in enumerate(rows):
        d = found.get((model, variant, proto))
        if not d:
          continue
        color = figures.COLORS[i % len(figures.COLORS)]
        ax.barh(y[i], np.mean(d), height=0.6, color=color, alpha=0.45)
        ax.scatter(d, np.full(len(d), y[i]), s=10, color=color,
                   linewidths=0, zorder=3)
      ax.axvline(0.0, color="black", lw=0.8)
      values = [x for k, d in found.items() if k[2] == proto for x in d] + [0.0]
      pad = 0.05 * max(max(values) - min(values), 0.1)
      ax.set_xlim(min(values) - pad, max(values) + pad)
      ax.set_title(figures.protocol_title(proto))
      ax.set_xlabel("Δ macro-F1 (variant − clean)")
      ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, labels)
    axes[0].set_ylim(0.4, len(rows) + 0.6)
  return fig


def robustness(groups: Groups, stem: str) -> List[str]:
  """The figure saved with its caption; [] without variants."""
  fig = robustness_figure(groups)
  if fig is None:
    return []
  return figures.save(fig, stem, caption=(
      "Test-time variants against the clean run of the same model: Δ "
      "macro-F1 = variant − clean, paired by fold (bar: mean over folds; "
      "points: single folds), one panel per protocol. Variants are test "
      "conditions, not models: the per-worker figure leaves them out."))
