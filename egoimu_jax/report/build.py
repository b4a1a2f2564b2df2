"""Builds the benchmark report from a set of run workdirs.

Output layout under ``out``::

  report.md                     every table, with links to the figures
  runs.csv                      one row per run (input to scaling fits)
  tables/<name>.md, <name>.csv  main, gap, anchors (published results on
                                the same split), ci, worst_workers, per_class,
                                robustness,
                                significance (each model vs a reference),
                                pretrained_vs_scratch, transductive (pretrained
                                on all − on train), distillation, scaling,
                                scaling_fits,
                                hard_workers, hard_case_correlations,
                                hard_case_clusters, hard_case_prediction,
                                cross_person_gains, calibration_curve
  figures/<name>.png, .pdf      per_worker_f1, robustness (test-time
                                variants), confusion_<model>_<protocol>,
                                scaling, hard_cases, hard_case_clusters,
                                hard_case_prediction, calibration_curve;
                                <name>.txt: the caption, printed under the
                                figure in report.md

Only ``results.json`` (and, for the hard-case statistics, ``predictions.npz``
plus the processed records) are read, never checkpoints, so a model
evaluated with ``python -m egoimu_jax.evaluate`` sits in the same tables.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
import re
from typing import Dict, List, Optional, Sequence

from egoimu_jax import errors
from egoimu_jax.evaluation import metrics as metrics_lib
from egoimu_jax.report import aggregate
from egoimu_jax.report import anchors
from egoimu_jax.report import comparisons
from egoimu_jax.report import cross_person
from egoimu_jax.report import distillation
from egoimu_jax.report import figures
from egoimu_jax.report import hard_cases_section
from egoimu_jax.report import robustness
from egoimu_jax.report import per_worker_figure
from egoimu_jax.report import robustness_figure
from egoimu_jax.report import scaling_tables
from egoimu_jax.report import table_model
from egoimu_jax.report import tables
from egoimu_jax.report import transductive

# Reads raw IMU windows [n, L, 6] of the given record indices (a
# hard_cases_section.WindowSource also carries their rate).
ImuReader = hard_cases_section.ImuReader | hard_cases_section.WindowSource


@dataclasses.dataclass
class Report:
  out: str
  runs: int
  tables: Dict[str, table_model.Table]
  figures: List[str]
  notes: List[str]


def build_report(patterns: Sequence[str], out: str, *, n_boot: int = 2000,
                 seed: int = 0, hard_cases: str = "auto",
                 processed_dir: str = "", max_windows_per_worker: int = 64,
                 imu_reader: Optional[ImuReader] = None,
                 worker_f1_threshold: float = metrics_lib.WORKER_F1_THRESHOLD,
                 reference: str = "",
                 min_class_support: int = tables.MIN_CLASS_SUPPORT) -> Report:
  """Aggregates the runs matching ``patterns`` into tables and figures.

  Args:
    patterns: workdir globs (local or fsspec URLs).
    out: output directory.
    n_boot: bootstrap resamples for CIs and paired comparisons.
    seed: seed of every resampling (the report is deterministic).
    hard_cases: "auto" (IMU statistics when predictions and processed data
      can be found), "on" (fail if they cannot), "off".
    processed_dir: processed dataset for IMU statistics; empty: the runs'
      ``config.data.processed_dir``, else ``extra.processed_dir`` (where jobs
      that resolved the dataset with ``prepare.ensure`` record it).
    max_windows_per_worker: windows read per worker for IMU statistics.
    imu_reader: overrides how windows are read (tests, other storage).
    worker_f1_threshold: per-worker macro-F1 under which a test worker
      counts as badly served (worst-workers table, per-worker figure).
    reference: the model every other is compared with in the paired
      comparisons; empty: ``comparisons.choose_reference``'s default.
    min_class_support: a class with fewer test windows in a fold flags the
      run's macro-F1 in the main table.
  """
  runs = aggregate.load_runs(patterns)
  if not runs:
    raise errors.MissingDataError(f"no results.json under {list(patterns)}")
  groups = aggregate.group(runs)
  # Test-time variants are an axis of a model, not models (robustness
  # table); groups with a collapsed run never serve as a reference or in
  # the difficulty average.
  models = aggregate.models_only(groups)
  comparable = aggregate.comparable(groups)
  os.makedirs(os.path.join(out, "tables"), exist_ok=True)
  os.makedirs(os.path.join(out, "figures"), exist_ok=True)
  notes: List[str] = []
  collapsed = sorted({f"{k[0]} ({k[1]})" for k in set(models) - set(comparable)})
  if collapsed:
    notes.append("Predicting one class for every test window in a fold, so "
                 "left out of the reference, the significance tests and the "
                 "hard-case difficulty: " + ", ".join(collapsed) + ".")
  gaps, gap_folds = tables.matched_gaps(models, n_boot=n_boot, seed=seed)
  out_tables: Dict[str, table_model.Table] = {
      "main": tables.main_table(models, gaps=gaps,
                                min_class_support=min_class_support),
  }
  if gaps:
    out_tables["gap"] = tables.gap_table(gaps, gap_folds)
  published = anchors.anchors_table(runs)
  if published is not None:
    out_tables["anchors"] = published
  out_tables.update({
      "ci": tables.ci_table(models, n_boot=n_boot, seed=seed),
      "worst_workers": tables.worst_workers_table(
          models, worker_f1_threshold, n_boot=n_boot, seed=seed),
      "per_class": tables.per_class_table(models),
      "significance": comparisons.significance_table(
          comparable, reference=reference, n_boot=n_boot, seed=seed),
  })
  robust = robustness.robustness_table(groups)
  if robust is not None:
    out_tables["robustness"] = robust
  by_init = comparisons.init_table(groups, n_boot=n_boot, seed=seed)
  if by_init is not None:
    out_tables["pretrained_vs_scratch"] = by_init
  pretrain_on = transductive.transductive_table(groups, n_boot=n_boot,
                                                seed=seed)
  if pretrain_on is not None:
    out_tables["transductive"] = pretrain_on
  distill = distillation.distillation_table(groups, n_boot=n_boot, seed=seed)
  if distill is not None:
    out_tables["distillation"] = distill
  scaling = scaling_tables.scaling_table(models)
  if scaling is not None:
    out_tables["scaling"] = scaling
    fits = scaling_tables.scaling_fit_table(
        [r for r in runs if not r.variant], n_boot=n_boot, seed=seed)
    if fits is not None:
      out_tables["scaling_fits"] = fits

  fig_dir = os.path.join(out, "figures")
  figs = per_worker_figure.per_worker_f1(models, os.path.join(fig_dir, "per_worker_f1"),
                                         seed=seed, threshold=worker_f1_threshold)
  figs += robustness_figure.robustness(groups,
                                       os.path.join(fig_dir, "robustness"))
  for (name, proto, scale), rs in sorted(models.items(), key=lambda kv: tables.key_order(kv[0])):
    if scale is None:
      figs += figures.confusion(
          rs, os.path.join(fig_dir, f"confusion_{_slug(name)}_{proto}"),
          f"{name} · {proto} ({len(rs)} fold{'s' if len(rs) > 1 else ''})")
  figs += figures.scaling(models, os.path.join(fig_dir, "scaling"))
  xp_tables, xp_figs = cross_person.section(groups, fig_dir, n_boot=n_boot,
                                            seed=seed)
  out_tables.update(xp_tables)
  figs += xp_figs

  if hard_cases != "off":
    hard_tables, hard_figs = hard_cases_section.build(
        comparable, mode=hard_cases, processed_dir=processed_dir,
        max_per_worker=max_windows_per_worker, seed=seed,
        imu_reader=imu_reader, notes=notes, fig_dir=fig_dir)
    out_tables.update(hard_tables)
    figs += hard_figs

  random_init = aggregate.random_init_names(runs)
  for name, table in out_tables.items():
    table.random_init = random_init
    with open(os.path.join(out, "tables", f"{name}.md"), "w") as f:
      f.write(table.to_markdown())
    with open(os.path.join(out, "tables", f"{name}.csv"), "w") as f:
      f.write(table.to_csv())
  _write_runs_csv(os.path.join(out, "runs.csv"), aggregate.long_rows(runs))
  _write_markdown(os.path.join(out, "report.md"), runs, out_tables, figs, out, notes)
  return Report(out, len(runs), out_tables, figs, notes)


def _write_runs_csv(path: str, rows: List[Dict]) -> None:
  with open(path, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)


def _write_markdown(path, runs, out_tables, figs, out, notes):
  lines = ["# egoimu_jax benchmark report", "",
           f"{len(runs)} runs: " + ", ".join(
               f"{n} ({len([r for r in runs if r.name == n])})"
               for n in aggregate.names(runs)), ""]
  lines += [f"> {n}" for n in notes] + ([""] if notes else [])
  for table in out_tables.values():
    lines.append(table.to_markdown())
  pngs = [p for p in figs if p.endswith(".png")]
  if pngs:
    lines += ["## Figures", ""]
    for i, p in enumerate(pngs, 1):
      lines += [f"![{os.path.basename(p)}]({os.path.relpath(p, out)})", ""]
      lines += [f"*Figure {i}: {figures.caption(p)}*", ""]
  with open(path, "w") as f:
    f.write("\n".join(lines) + "\n")
  logging.info("report: %s", path)


def _slug(name: str) -> str:
  return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
