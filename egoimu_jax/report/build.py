"""Builds the benchmark report from a set of run workdirs.

Output layout under ``out``::

  report.md                     every table, with links to the figures
  runs.csv                      one row per run (input to scaling fits)
  tables/<name>.md, <name>.csv  main, ci, worst_workers, per_class,
                                significance (each model vs a reference),
                                pretrained_vs_scratch, scaling, scaling_fits,
                                hard_workers, hard_case_correlations
  figures/<name>.png, .pdf      per_worker_f1, confusion_<model>_<protocol>,
                                scaling, hard_cases

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
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from egoimu_jax.evaluation import hard_cases as hard_cases_lib
from egoimu_jax.evaluation import metrics as metrics_lib
from egoimu_jax.evaluation import results as results_lib
from egoimu_jax.report import aggregate
from egoimu_jax.report import figures
from egoimu_jax.report import tables

# Reads raw IMU windows [n, L, 6] of the given record indices.
ImuReader = Callable[[np.ndarray], np.ndarray]


@dataclasses.dataclass
class Report:
  out: str
  runs: int
  tables: Dict[str, tables.Table]
  figures: List[str]
  notes: List[str]


def build_report(patterns: Sequence[str], out: str, *, n_boot: int = 2000,
                 seed: int = 0, hard_cases: str = "auto",
                 processed_dir: str = "", max_windows_per_worker: int = 64,
                 imu_reader: Optional[ImuReader] = None,
                 worker_f1_threshold: float = metrics_lib.WORKER_F1_THRESHOLD,
                 reference: str = "") -> Report:
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
      comparisons; empty: ``tables.choose_reference``'s default.
  """
  runs = aggregate.load_runs(patterns)
  if not runs:
    raise FileNotFoundError(f"no results.json under {list(patterns)}")
  groups = aggregate.group(runs)
  os.makedirs(os.path.join(out, "tables"), exist_ok=True)
  os.makedirs(os.path.join(out, "figures"), exist_ok=True)
  notes: List[str] = []
  out_tables: Dict[str, tables.Table] = {
      "main": tables.main_table(groups),
      "ci": tables.ci_table(groups, n_boot=n_boot, seed=seed),
      "worst_workers": tables.worst_workers_table(
          groups, worker_f1_threshold, n_boot=n_boot, seed=seed),
      "per_class": tables.per_class_table(groups),
      "significance": tables.significance_table(
          groups, reference=reference, n_boot=n_boot, seed=seed),
  }
  by_init = tables.init_table(groups, n_boot=n_boot, seed=seed)
  if by_init is not None:
    out_tables["pretrained_vs_scratch"] = by_init
  scaling = tables.scaling_table(groups)
  if scaling is not None:
    out_tables["scaling"] = scaling
    fits = tables.scaling_fit_table(runs, n_boot=n_boot, seed=seed)
    if fits is not None:
      out_tables["scaling_fits"] = fits

  fig_dir = os.path.join(out, "figures")
  figs = figures.per_worker_f1(groups, os.path.join(fig_dir, "per_worker_f1"),
                               seed=seed, threshold=worker_f1_threshold)
  for (name, proto, scale), rs in sorted(groups.items(), key=lambda kv: tables.key_order(kv[0])):
    if scale is None:
      figs += figures.confusion(
          rs, os.path.join(fig_dir, f"confusion_{_slug(name)}_{proto}"),
          f"{name} · {proto} ({len(rs)} fold{'s' if len(rs) > 1 else ''})")
  figs += figures.scaling(groups, os.path.join(fig_dir, "scaling"))

  if hard_cases != "off":
    hard = _hard_cases(runs, groups, hard_cases, processed_dir,
                       max_windows_per_worker, seed, imu_reader, notes)
    out_tables.update(hard[0])
    if hard[1]:
      figs += figures.hard_cases(*hard[1], os.path.join(fig_dir, "hard_cases"))

  for name, table in out_tables.items():
    with open(os.path.join(out, "tables", f"{name}.md"), "w") as f:
      f.write(table.to_markdown())
    with open(os.path.join(out, "tables", f"{name}.csv"), "w") as f:
      f.write(table.to_csv())
  _write_runs_csv(os.path.join(out, "runs.csv"), aggregate.long_rows(runs))
  _write_markdown(os.path.join(out, "report.md"), runs, out_tables, figs, out, notes)
  return Report(out, len(runs), out_tables, figs, notes)


def _hard_cases(runs, groups, mode, processed_dir, max_per_worker, seed,
                imu_reader, notes):
  """Hardest-worker table (always) and IMU-statistics correlations (if data)."""
  protos = [p for p in ("l20wo", "lowo", "within") if
            any(k[1] == p and k[2] is None for k in groups)]
  if not protos:
    return {}, None
  proto = protos[0]
  keys = sorted(k for k in groups if k[1] == proto and k[2] is None)
  # Difficulty: per-worker macro-F1 averaged over models (a property of the
  # person, not of one model), over the models that tested the most workers
  # (a model run on fewer folds would shrink the set to its workers).
  coverage = {k: len(aggregate.worker_f1(groups[k])) for k in keys}
  keys = [k for k in keys if coverage[k] == max(coverage.values())]
  per_model = [aggregate.worker_f1(groups[k]) for k in keys]
  workers = sorted(set.intersection(*(set(m) for m in per_model)))
  difficulty = {w: float(np.mean([m[w] for m in per_model])) for w in workers}
  stats = None
  try:
    stats = _worker_stats(groups[keys[0]], processed_dir, max_per_worker, seed,
                          imu_reader)
  except (FileNotFoundError, ValueError, KeyError, ImportError) as e:
    if mode == "on":
      raise
    notes.append(f"Hard cases without IMU statistics: {e}")
  title = f"Hardest workers ({proto}, macro-F1 averaged over {len(keys)} model(s))"
  out = {"hard_workers": tables.Table.from_dicts(
      title, hard_cases_lib.hardest_workers(difficulty, stats, k=15))}
  if stats is None:
    return out, None
  if len(set(difficulty) & set(stats)) < 3:
    notes.append(f"Hard cases: {len(difficulty)} test worker(s), too few for "
                 "rank correlations.")
    return out, None
  corr = hard_cases_lib.spearman_table(difficulty, stats)
  out["hard_case_correlations"] = tables.Table.from_dicts(
      f"Per-worker IMU statistics vs macro-F1 ({proto}, Spearman)", corr,
      f"{len(difficulty)} test workers; statistics from up to "
      f"{max_per_worker} test windows per worker. Negative ρ: higher values, "
      "harder worker.")
  return out, (difficulty, stats, corr)


def _worker_stats(runs: Sequence[aggregate.Run], processed_dir: str,
                  max_per_worker: int, seed: int,
                  imu_reader: Optional[ImuReader]):
  preds = [results_lib.read_predictions(r.workdir, r.results) for r in runs]
  index = np.concatenate([p.index for p in preds])
  label = np.concatenate([p.label for p in preds])
  worker = np.concatenate([p.worker_id for p in preds])
  # A worker tested in several folds (within-person) keeps each window once.
  index, first = np.unique(index, return_index=True)
  label, worker = label[first], worker[first]
  if imu_reader is None:
    res = runs[0].results
    processed_dir = (processed_dir or
                     res.get("config", {}).get("data", {}).get("processed_dir") or
                     res.get("extra", {}).get("processed_dir", ""))
    if not processed_dir:
      raise FileNotFoundError(
          "no processed dataset: pass --processed_dir (the runs record none in "
          "config.data.processed_dir or extra.processed_dir)")
    imu_reader = _shard_reader(processed_dir)
  return hard_cases_lib.statistics_from_records(
      imu_reader, index, label, worker, runs[0].classes, max_per_worker, seed)


def _shard_reader(processed_dir: str) -> ImuReader:
  from egoimu_jax.input_pipeline.store import processed  # pylint: disable=g-import-not-at-top
  dataset = processed.ProcessedDataset.open(processed_dir)

  def read(indices: np.ndarray) -> np.ndarray:
    chunks = [dataset.read_imu(indices[i:i + 4096])
              for i in range(0, len(indices), 4096)]
    return np.concatenate(chunks) if chunks else np.zeros((0, 0, 6), np.float32)
  return read


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
    lines += [f"![{os.path.basename(p)}]({os.path.relpath(p, out)})" for p in pngs]
  with open(path, "w") as f:
    f.write("\n".join(lines) + "\n")
  logging.info("report: %s", path)


def _slug(name: str) -> str:
  return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
