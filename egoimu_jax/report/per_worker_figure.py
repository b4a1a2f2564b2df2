"""The per-worker figure: how every test person fares under each model.

Box + strip plots of per-worker macro-F1, one panel per protocol, sized by
what they show: up to ``HORIZONTAL_AFTER`` models with short names stand
side by side; more (or longer names) lie horizontally, one row per model,
and the figure grows in height. Test-time variants are left out (they are
test conditions, not models: ``robustness_figure``).
"""

from __future__ import annotations

import textwrap
from typing import List, Mapping, Optional, Sequence

import numpy as np
from matplotlib.figure import Figure

from egoimu_jax.evaluation import metrics as metrics_lib
from egoimu_jax.input_pipeline import protocols
from egoimu_jax.report import aggregate
from egoimu_jax.report import figures

# Past this many models (or where a name would need more than two lines
# under its box), per-model boxes lie horizontally (names on the y axis, one
# row each) instead of side by side.
HORIZONTAL_AFTER = 6


def per_worker_f1(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
                  stem: str, seed: int = 0,
                  threshold: float = metrics_lib.WORKER_F1_THRESHOLD
                  ) -> List[str]:
  """The per-worker figure (``figure``) saved with its caption."""
  fig = figure(groups, seed, threshold)
  if fig is None:
    return []
  return figures.save(fig, stem, caption=(
      "Per-worker macro-F1 of each model, one panel per protocol (box: "
      "quartiles; points: test workers, each the mean over the folds that "
      f"test it). Dashed line: F1 = {threshold:g}; black pointer: the "
      f"{metrics_lib.WORKER_F1_PERCENTILE}th percentile; with each model, "
      f"the share of its test workers below {threshold:g}. Test-time "
      "variants are in the robustness figure."))


def figure(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
                      seed: int = 0,
                      threshold: float = metrics_lib.WORKER_F1_THRESHOLD
                      ) -> Optional[Figure]:
  """Box + strip plot of per-worker macro-F1 per model, one panel per
  protocol; None without runs.

  The worst-served people are marked: a dashed line at ``threshold``, a
  black pointer beside each box at its 10th percentile, and with each
  model's name the share of its test workers below the threshold. Up to
  ``HORIZONTAL_AFTER`` models the boxes stand side by side; past that they
  lie horizontally, one row per model, and the figure grows in height.
  Test-time variants are left out.
  """
  runs = figures.clean_runs(groups)
  protos = [p for p in aggregate.protocols([rs[0] for rs in runs.values()])
            if not protocols.is_scaling(p)]
  names = sorted({n for n, _ in runs})
  if not protos:
    return None
  width = max(3.5, min(7.2, 1.0 + 0.8 * len(names) * len(protos)))
  # Characters of a name that fit under its box, per line.
  per_line = max(1, int((width - 1.2) / (len(names) * len(protos)) / figures.CHAR_IN))
  horizontal = (len(names) > HORIZONTAL_AFTER or
                max(len(n) for n in names) > 2 * per_line)
  rng = np.random.default_rng(seed)
  with figures.style():
    if horizontal:   # one row per model
      fig = figures.new_figure(
          figures.labelled_width(names, len(protos)), 0.9 + 0.32 * len(names))
    else:
      fig = figures.new_figure(width, 2.8)
    axes = fig.subplots(1, len(protos), sharey=True, squeeze=False)[0]
    for ax, proto in zip(axes, protos):
      data = {n: np.array(list(aggregate.worker_f1(runs[(n, proto)]).values()))
              for n in names if (n, proto) in runs}
      if not data:
        ax.set_visible(False)
        continue
      _worker_boxes(ax, data, names, threshold, horizontal, per_line, rng)
      ax.set_title(figures.protocol_title(proto))
    if horizontal:
      axes[0].set_yticks(np.arange(len(names), 0, -1), names)
      for ax in axes:
        ax.set_xlabel("Per-worker macro-F1")
      fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center",
                 ncols=2, frameon=False, fontsize=7)
    else:
      axes[0].set_ylabel("Per-worker macro-F1")
      axes[0].legend(loc="lower left", frameon=False, fontsize=7)
  return fig


def _worker_boxes(ax, data: Mapping[str, np.ndarray], names: Sequence[str],
                  threshold: float, horizontal: bool, per_line: int,
                  rng) -> None:
  """One panel of ``per_worker_figure``: a box, points and pointer per
  model; horizontal models are on the y axis, the first at the top."""
  labels = list(data)
  pos = (np.arange(len(names), 0, -1, dtype=float)[
      [names.index(n) for n in labels]] if horizontal
         else np.arange(1, len(labels) + 1, dtype=float))
  values = list(data.values())
  box = ax.boxplot(values, positions=pos, widths=0.55, showfliers=False,
                   patch_artist=True, medianprops={"color": "black"},
                   orientation="horizontal" if horizontal else "vertical")
  worst = [metrics_lib.worst_worker_metrics(d, threshold) for d in values]
  p10 = [w["worker_f1_p10"] for w in worst]
  for i, (name, d) in enumerate(data.items()):
    color = figures.COLORS[names.index(name) % len(figures.COLORS)]
    box["boxes"][i].set_facecolor(color)
    box["boxes"][i].set_alpha(0.35)
    jitter = pos[i] + rng.uniform(-0.18, 0.18, len(d))
    xy = (d, jitter) if horizontal else (jitter, d)
    ax.scatter(*xy, s=6, color=color, alpha=0.8, linewidths=0, zorder=3)
  label = f"{metrics_lib.WORKER_F1_PERCENTILE}th percentile"
  shares = [f"{w['share_workers_below']:.0%}" for w in worst]
  if horizontal:
    ax.scatter(p10, pos + 0.36, marker="v", s=18, color="black",
               linewidths=0, zorder=4, label=label)
    ax.axvline(threshold, color="#EE6677", ls="--", lw=0.8, zorder=1,
               label=f"F1 = {threshold:g}")
    # The share below the threshold: a column right of F1 = 1, headed by
    # its own tick label.
    for y, share in zip(pos, shares):
      ax.text(1.06, y, share, va="center", fontsize=7)
    ax.set_ylim(0.4, len(names) + 0.6)
    ax.set_xlim(-0.02, 1.25)
    ax.set_xticks([0.0, 0.5, 1.0, 1.13], ["0", "0.5", "1", f"< {threshold:g}"])
    ax.grid(axis="x", alpha=0.3)
  else:
    below = [f"{share} < {threshold:g}" for share in shares]
    if max(len(b) for b in below) > per_line:
      below = shares     # the threshold is in the caption
    ticks = ["\n".join(textwrap.wrap(n, per_line) + [b])
             for n, b in zip(labels, below)]
    ax.scatter(pos + 0.36, p10, marker="<", s=22, color="black",
               linewidths=0, zorder=4, label=label)
    ax.axhline(threshold, color="#EE6677", ls="--", lw=0.8, zorder=1,
               label=f"F1 = {threshold:g}")
    ax.set_xticks(pos, ticks)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(axis="y", alpha=0.3)
