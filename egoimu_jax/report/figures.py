"""Paper figures (PNG + PDF) from grouped runs.

Uses matplotlib's object API with the Agg canvas (no pyplot, no global
backend switch), so it is safe to import anywhere and runs headless.
Sizes follow a two-column paper: 3.5 in single-column, 7.2 in full width,
9-pt text; a figure grows with what it shows (models, classes, panels) and
is saved with a tight bounding box, so no label is clipped. Every figure has
a caption: ``save`` writes it next to the image (``<stem>.txt``) and the
report prints it under the figure (``caption``).
"""

from __future__ import annotations

import logging
import os
from typing import Dict, List, Mapping, Sequence, Tuple

import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from egoimu_jax.input_pipeline import protocols
from egoimu_jax.report import aggregate

# PDF font subsetting logs every table it prunes at INFO level.
logging.getLogger("fontTools").setLevel(logging.WARNING)

_STYLE = {"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9,
          "xtick.labelsize": 8, "ytick.labelsize": 8, "legend.fontsize": 8,
          "axes.spines.top": False, "axes.spines.right": False,
          "pdf.fonttype": 42}     # embed TrueType: editable text in the PDF
COLORS = ("#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377",
           "#BBBBBB")             # Paul Tol's colour-blind-safe palette
CAPTION_SUFFIX = ".txt"
CHAR_IN = 0.07     # width of an average 8-pt character, inches


_STAT_LABELS = {   # short two-line labels: four panels share 7.2 in
    "motion_energy": "Motion energy\nstd |acc| (m/s²)",
    "rotation_energy": "Rotation energy\nRMS |gyro| (rad/s)",
    "gravity_offset_deg": "Gravity offset\nfrom population (°)",
    "gravity_spread_deg": "Gravity spread\nwithin worker (°)",
    "acc_noise": "Accelerometer\nnoise (m/s²)",
    "gyro_noise": "Gyroscope\nnoise (rad/s)",
    "rms_acc": "RMS dynamic\nacceleration (m/s²)",
    "gyro_variance": "Gyroscope\nvariance (rad²/s²)",
    "jerk": "Jerk\nmean |da/dt| (m/s³)",
    "spectral_centroid_hz": "Spectral centroid\nof |acc| (Hz)",
    "dominant_freq_hz": "Dominant frequency\nof |acc| (Hz)",
    "spectral_entropy": "Spectral entropy\nof |acc| (0–1)",
    "acf_decay_s": "Autocorrelation\ndecay to 1/e (s)",
    "stationary_share": "Stationary windows\n(ADF p < 0.05)",
    "transition_rate_per_min": "Activity transitions\nper minute",
}


def style():
  """The figures' rc settings, as a context (text drawn inside it gets them)."""
  return matplotlib.rc_context(_STYLE)


def new_figure(width: float, height: float) -> Figure:
  with matplotlib.rc_context(_STYLE):
    fig = Figure(figsize=(width, height), layout="constrained")
  FigureCanvasAgg(fig)
  return fig


def labelled_width(labels: Sequence[str], panels: int,
                   panel_in: float = 2.2) -> float:
  """Width (in) of a figure with ``labels`` on its y axis and ``panels``
  panels of ``panel_in`` each, at most full width (7.2 in)."""
  label_in = min(3.6, 0.3 + CHAR_IN * max(len(t) for t in labels))
  return min(7.2, label_in + panel_in * panels)


def save(fig: Figure, stem: str, *, caption: str) -> List[str]:
  """``<stem>.png`` and ``.pdf`` (tight bounding box) and the caption in
  ``<stem>.txt``; returns the two image paths."""
  os.makedirs(os.path.dirname(stem) or ".", exist_ok=True)
  paths = [f"{stem}.png", f"{stem}.pdf"]
  with style():   # pdf.fonttype applies when the file is written
    fig.savefig(paths[0], dpi=200, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
  with open(stem + CAPTION_SUFFIX, "w") as f:
    f.write(caption.strip() + "\n")
  return paths


def caption(image: str) -> str:
  """The caption ``save`` wrote for ``image`` (a .png or .pdf), "" if none."""
  path = os.path.splitext(image)[0] + CAPTION_SUFFIX
  if not os.path.exists(path):
    return ""
  with open(path) as f:
    return f.read().strip()


def clean_runs(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]]
               ) -> Dict[Tuple[str, str], List[aggregate.Run]]:
  """``{(name, protocol): runs}`` of the non-scaling runs without a
  test-time variant (those are in ``robustness.figure``)."""
  out: Dict[Tuple[str, str], List[aggregate.Run]] = {}
  for rs in groups.values():
    for r in rs:
      if r.scale is None and r.variant is None:
        out.setdefault((r.name, r.protocol), []).append(r)
  return out


def confusion(runs: Sequence[aggregate.Run], stem: str, title: str) -> List[str]:
  """Row-normalised confusion matrix summed over a group's folds."""
  classes = runs[0].classes
  conf = np.sum([np.asarray(r.test["confusion"], np.float64) for r in runs], 0)
  support = conf.sum(1, keepdims=True)
  norm = np.divide(conf, support, out=np.zeros_like(conf), where=support > 0)
  k = len(classes)
  with matplotlib.rc_context(_STYLE):
    side = max(2.8, 0.75 * k + 1.6)
    fig = new_figure(side + 0.5, side)
    ax = fig.subplots()
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(k):
      for j in range(k):
        ax.text(j, i, f"{norm[i, j]:.2f}\n({int(conf[i, j])})", ha="center",
                va="center", fontsize=7 if k > 4 else 8,
                color="white" if norm[i, j] > 0.6 else "black")
    ax.set_xticks(range(k), [_pretty(c) for c in classes], rotation=30, ha="right")
    ax.set_yticks(range(k), [f"{_pretty(c)}\n(n={int(support[i, 0])})"
                             for i, c in enumerate(classes)])
    ax.set_xlabel("Predicted")
    ax.set_ylabel("True")
    ax.set_title(title)
    ax.spines[:].set_visible(False)
    fig.colorbar(im, ax=ax, shrink=0.8, label="Fraction of true class")
    return save(fig, stem, caption=(
        f"Confusion matrix of {title}, summed over folds and normalised by "
        "row (the fraction of each true class predicted as each class; "
        "counts in brackets, n: test windows of the class)."))


def scaling(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
            stem: str) -> List[str]:
  """Macro-F1 (mean ± std over folds) vs training scale, per model."""
  keys = [k for k in groups if k[2] is not None]
  protos = sorted({k[1] for k in keys})
  if not protos:
    return []
  names = sorted({k[0] for k in keys})
  with matplotlib.rc_context(_STYLE):
    fig = new_figure(3.5 * len(protos), 2.6)
    axes = fig.subplots(1, len(protos), squeeze=False)[0]
    for ax, proto in zip(axes, protos):
      for i, name in enumerate(names):
        pts = sorted((k[2], [r.test["macro_f1"] for r in groups[k]])
                     for k in keys if k[0] == name and k[1] == proto)
        if not pts:
          continue
        x = np.array([_scale_x(groups[(name, proto, s)], proto, s) for s, _ in pts])
        y = np.array([np.mean(v) for _, v in pts])
        e = np.array([np.std(v, ddof=1) if len(v) > 1 else 0.0 for _, v in pts])
        order = np.argsort(x)
        ax.errorbar(x[order], y[order], yerr=e[order], marker="o", ms=3,
                    capsize=2, color=COLORS[i % len(COLORS)], label=name)
      ax.set_xscale("log")
      ticks = sorted({_scale_x(groups[k], proto, k[2]) for k in keys if k[1] == proto})
      ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
      ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
      unit = protocols.get(proto).scale_unit
      ax.set_xlabel(f"Training {unit}" if unit else "Scale")
      ax.set_title(protocol_title(proto))
      ax.grid(alpha=0.3)
    axes[0].set_ylabel("Cross-person macro-F1")
    axes[-1].legend(frameon=False)
    return save(fig, stem, caption=(
        "Macro-F1 against the training set's size (log scale: mean training "
        "workers or clips over folds), mean ± std over folds, one panel per "
        "scaling protocol."))


def hard_cases(difficulty: Mapping[str, float],
               stats: Mapping[str, Mapping[str, float]],
               correlations: Sequence[Mapping[str, object]], stem: str,
               top: int = 4) -> List[str]:
  """Per-worker F1 against the ``top`` statistics most correlated with it.

  Each panel has a least-squares line and its Spearman ρ with the
  permutation p-value and the Benjamini-Hochberg q-value (if given).
  """
  chosen = [r for r in correlations if r["rho"] is not None][:top]
  if not chosen:
    return []
  workers = sorted(set(difficulty) & set(stats))
  with matplotlib.rc_context(_STYLE):
    fig = new_figure(min(7.2, 1.8 * len(chosen) + 0.4), 2.4)
    axes = fig.subplots(1, len(chosen), sharey=True, squeeze=False)[0]
    f1 = np.array([difficulty[w] for w in workers])
    for ax, row in zip(axes, chosen):
      x = np.array([stats[w].get(row["statistic"], np.nan) for w in workers])
      ok = np.isfinite(x)
      ax.scatter(x, f1, s=8, color=COLORS[0], alpha=0.8, linewidths=0)
      if ok.sum() >= 2 and np.ptp(x[ok]) > 0:     # least-squares line
        dx = x[ok] - x[ok].mean()
        slope = float(dx @ (f1[ok] - f1[ok].mean())) / float(dx @ dx)
        line = np.array([x[ok].min(), x[ok].max()])
        ax.plot(line, f1[ok].mean() + slope * (line - x[ok].mean()),
                color=COLORS[1], lw=1)
      ax.set_xlabel(_STAT_LABELS.get(str(row["statistic"]),
                                     _pretty(str(row["statistic"]))))
      title = f"ρ = {row['rho']:.2f}\np = {row['p_value']:.2g}"
      if row.get("q_value") is not None:
        title += f", q = {row['q_value']:.2g}"
      ax.set_title(title, fontsize=7)
      ax.grid(alpha=0.3)
    axes[0].set_ylabel("Per-worker macro-F1")
    return save(fig, stem, caption=(
        "Per-worker macro-F1 against the IMU statistics most correlated "
        "with it (one point per test worker; least-squares line), with "
        "Spearman ρ, its permutation p-value and Benjamini-Hochberg q."))


def hard_case_clusters(clusters: Mapping[str, object], f1: Sequence[float],
                       stem: str) -> List[str]:
  """Cluster map and F1 per cluster.

  Left: the workers on the first two principal components of their
  standardised IMU statistics, coloured by k-means cluster, marker area
  growing as F1 falls (harder = larger). Right: F1 per cluster with the
  Kruskal-Wallis and permutation p-values.
  """
  labels = np.asarray(clusters["labels"])
  coords = np.asarray(clusters["pca"]["coords"])
  explained = clusters["pca"]["explained"]
  f1 = np.asarray(f1, np.float64)
  size = 8 + 60 * (f1.max() - f1) / max(float(np.ptp(f1)), 1e-9)
  rng = np.random.default_rng(0)
  with matplotlib.rc_context(_STYLE):
    fig = new_figure(7.2, 2.8)
    ax_map, ax_f1 = fig.subplots(1, 2, width_ratios=(1.4, 1))
    for c in range(int(clusters["k"])):
      sel = labels == c
      color = COLORS[c % len(COLORS)]
      marker = "os^"[c // len(COLORS) % 3]     # k may exceed the palette
      ax_map.scatter(coords[sel, 0], coords[sel, 1], s=size[sel], color=color,
                     marker=marker, alpha=0.75, linewidths=0,
                     label=f"cluster {c}")
      ax_f1.scatter(c + rng.uniform(-0.15, 0.15, sel.sum()), f1[sel], s=10,
                    color=color, marker=marker, alpha=0.8, linewidths=0)
      ax_f1.hlines(f1[sel].mean(), c - 0.3, c + 0.3, color="black", lw=1)
    ax_map.set_xlabel(f"PC 1 ({explained[0]:.0%} of variance)")
    ax_map.set_ylabel(f"PC 2 ({explained[1]:.0%})" if len(explained) > 1
                      else "PC 2")
    ax_map.set_title(f"k = {clusters['k']} (silhouette "
                     f"{clusters['silhouette'][clusters['k']]:.2f}); "
                     "larger marker: lower F1", fontsize=8)
    legend = ax_map.legend(frameon=False, fontsize=7)
    for handle in legend.legend_handles:
      handle.set_sizes([20])
    ax_map.grid(alpha=0.3)
    ax_f1.set_xticks(range(int(clusters["k"])))
    ax_f1.set_xlabel("Cluster")
    ax_f1.set_ylabel("Per-worker macro-F1")
    ax_f1.set_title(f"Kruskal-Wallis p = {clusters['p_kruskal']:.2g}, "
                    f"permutation p = {clusters['p_permutation']:.2g}",
                    fontsize=8)
    ax_f1.grid(axis="y", alpha=0.3)
    return save(fig, stem, caption=(
        "Workers clustered by their standardised IMU statistics (k-means). "
        "Left: the first two principal components, marker area growing as "
        "F1 falls. Right: per-worker macro-F1 per cluster (bar: mean), with "
        "Kruskal-Wallis and permutation p-values."))


def hard_case_prediction(prediction: Mapping[str, object], stem: str
                         ) -> List[str]:
  """Cross-validated predicted vs actual per-worker F1, hardest quartile marked."""
  actual = np.asarray(prediction["actual"])
  predicted = np.asarray(prediction["predicted"])
  hardest = np.asarray(prediction["hardest"], bool)
  with matplotlib.rc_context(_STYLE):
    fig = new_figure(3.5, 3.2)
    ax = fig.subplots()
    ax.scatter(actual[~hardest], predicted[~hardest], s=10, color=COLORS[0],
               alpha=0.8, linewidths=0, label="other workers")
    ax.scatter(actual[hardest], predicted[hardest], s=14, color=COLORS[1],
               alpha=0.9, linewidths=0, label="hardest quartile")
    lo = float(min(actual.min(), predicted.min()))
    hi = float(max(actual.max(), predicted.max()))
    ax.plot([lo, hi], [lo, hi], color="black", lw=0.8, ls="--", label="y = x")
    def fmt(value, p):
      if value is None:
        return "—"
      return f"{value:.2f}" + ("" if p is None else f" (p = {p:.2g})")
    ax.set_title(f"{prediction['cv']}: R² = "
                 f"{fmt(prediction['r2'], prediction.get('p_r2'))}\n"
                 "hardest-quartile AUROC = "
                 f"{fmt(prediction['auroc'], prediction.get('p_auroc'))}",
                 fontsize=7)
    ax.set_xlabel("Actual per-worker macro-F1")
    ax.set_ylabel("Predicted from IMU statistics")
    ax.legend(frameon=False, fontsize=7)
    ax.grid(alpha=0.3)
    return save(fig, stem, caption=(
        "Per-worker macro-F1 predicted from IMU statistics (cross-validated) "
        "against the actual one; red: the hardest quartile of workers. "
        "Title: R² and the hardest-quartile AUROC with permutation "
        "p-values."))


def _scale_x(runs: Sequence[aggregate.Run], proto: str, scale: float) -> float:
  """The scale's actual size: mean training workers / clips over folds."""
  field = protocols.get(proto).scale_field
  sizes = [len(r.results.get("split", {}).get(field) or []) for r in runs]
  return float(np.mean(sizes)) if all(sizes) else float(scale)


def protocol_title(proto: str) -> str:
  return protocols.get(proto).title if proto in protocols.PROTOCOLS else proto


def _pretty(name: str) -> str:
  if name.startswith("fraction/"):
    return f"Fraction of windows\n'{name[len('fraction/'):].replace('_', ' ')}'"
  return name.replace("_", " ")
