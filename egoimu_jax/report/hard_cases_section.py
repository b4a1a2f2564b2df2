"""The report's hard-case section (Experiment E): which people are hard,
and could we have told from their IMU data before deployment?

Difficulty is how much worse a model does on a person it never saw than on
the same person seen in training: cross- minus within-person macro-F1 on
that person's matched windows (``report.matched.worker_gaps``; lower =
harder), from leave-one-worker-out runs when the report has them (the
proposal's source), else from the l20wo test folds; averaged over the
models (``aggregate.comparable``: no test-time variants, no collapsed runs)
that matched the most workers, so that it describes the person rather than
one model. A person's plain macro-F1 would mostly measure their class mix
(a predictor without skill scores a one-class person 1 and others less);
on matched windows such a predictor scores 0 for everyone. The hardest-
workers table adds each person's cross-person balanced accuracy, and the
statistics that describe class mix (``fraction/*``) are confounders, in a
table of their own, never findings. Without within-person runs there is no
difficulty measure and the section is a note. The worker statistics (``evaluation.hard_cases``)
come from a sample of each worker's raw test windows, read from the
processed shards at the rate their manifest records.

Tables: ``hard_workers``, ``hard_case_correlations`` (Spearman, permutation
p, BH q), ``hard_case_clusters`` and ``hard_case_prediction``
(``evaluation.hard_case_analysis``); figures: ``hard_cases`` (scatter with
fits), ``hard_case_clusters`` (cluster map), ``hard_case_prediction``
(predicted vs actual). An analysis with too few workers is a note.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from egoimu_jax.evaluation import hard_case_analysis as analysis
from egoimu_jax.evaluation import hard_cases as hard_cases_lib
from egoimu_jax.evaluation import results as results_lib
from egoimu_jax.input_pipeline import protocols
from egoimu_jax.report import aggregate
from egoimu_jax.report import figures
from egoimu_jax.report import matched
from egoimu_jax.report import table_model

# Reads raw IMU windows [n, L, 6] of the given record indices.
ImuReader = Callable[[np.ndarray], np.ndarray]
# Where per-worker difficulty is read from, first present wins: each person
# tested unseen by the most training data first, within-person last.
DIFFICULTY_PROTOCOLS = ("lowo", "l20wo")


@dataclasses.dataclass(frozen=True)
class WindowSource:
  """Raw windows and the IMU rate (Hz) they are stored at (None: unknown)."""
  read_imu: ImuReader
  rate_hz: Optional[float]


def build(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]], *,
          mode: str, processed_dir: str, max_per_worker: int, seed: int,
          imu_reader: Optional[ImuReader | WindowSource], notes: List[str],
          fig_dir: str, n_perm: int = analysis.N_PERMUTATIONS
          ) -> Tuple[Dict[str, table_model.Table], List[str]]:
  """Tables and figure paths of the section; appends its notes to ``notes``.

  ``mode``: "auto" (statistics when predictions and processed data can be
  found) or "on" (fail if they cannot).
  """
  source = difficulty(groups)
  if source is None:
    if any(k[1] in DIFFICULTY_PROTOCOLS for k in groups):
      notes.append("Hard cases: no difficulty measure: it needs within-person "
                   "runs of the models with cross-person runs (and their "
                   "predictions), to compare each person seen and unseen.")
    return {}, []
  proto, keys, f1, bacc = source
  notes.append(f"Hard cases: difficulty is cross- minus within-person "
               f"macro-F1 on each person's matched windows, from "
               f"{_source_name(proto)}, averaged over {len(keys)} model(s) "
               f"({', '.join(k[0] for k in keys)}); {len(f1)} workers.")
  stats = None
  try:
    stats = worker_stats(groups[keys[0]], processed_dir, max_per_worker, seed,
                         imu_reader, notes)
  except (FileNotFoundError, ValueError, KeyError, ImportError) as e:
    if mode == "on":
      raise
    notes.append(f"Hard cases without IMU statistics: {e}")
  hardest = hard_cases_lib.hardest_workers(f1, stats, k=15)
  for row in hardest:
    row["cross − within F1"] = row.pop("macro_f1")
    row["cross balanced accuracy"] = bacc[row["worker"]]
  out = {"hard_workers": table_model.Table.from_dicts(
      f"Hardest workers ({proto}: cross − within macro-F1 on matched "
      f"windows, averaged over {len(keys)} model(s))", hardest)}
  figs: List[str] = []
  if stats is None:
    return out, figs
  n = len(set(f1) & set(stats))
  try:
    corr = analysis.correlation_table(f1, stats, n_perm=n_perm, seed=seed)
  except analysis.NotEnoughWorkers as e:
    notes.append(f"Hard cases: {e}.")
    return out, figs
  # Class shares describe what a person did, not how they move: reported
  # as confounders of the difficulty, not as findings.
  confounders = [r for r in corr if str(r["statistic"]).startswith("fraction/")]
  corr = [r for r in corr if r not in confounders]
  if confounders:
    out["hard_case_confounders"] = table_model.Table.from_dicts(
        f"Class shares vs difficulty ({proto}, Spearman): confounders",
        confounders, "A person's share of each class against the difficulty "
        "measure; a strong ρ here means the measure still tracks what people "
        "did, and the IMU correlations above may share that cause.")
  tested = sum(r["p_value"] is not None for r in corr)
  out["hard_case_correlations"] = table_model.Table.from_dicts(
      f"Per-worker statistics vs difficulty ({proto}, Spearman)", corr,
      f"{n} workers; statistics from up to {max_per_worker} test windows per "
      f"worker. p: two-sided permutation test of ρ ("
      + ("exact over all orderings" if n <= analysis.EXACT_MAX_N else
         f"{n_perm} random orderings") +
      f"); q: Benjamini-Hochberg over the {tested} statistics tested. "
      "Negative ρ: higher values, harder worker (difficulty: cross − within "
      "macro-F1 on matched windows). Class shares are in the confounders "
      "table and out of the clusters and the prediction below.")
  figs += figures.hard_cases(f1, stats, corr, os.path.join(fig_dir, "hard_cases"))
  try:
    clusters = analysis.cluster_workers(f1, stats, seed=seed, n_perm=n_perm)
    out["hard_case_clusters"] = _cluster_table(clusters, proto)
    figs += figures.hard_case_clusters(
        clusters, [f1[w] for w in clusters["workers"]],
        os.path.join(fig_dir, "hard_case_clusters"))
  except analysis.NotEnoughWorkers as e:
    notes.append(f"Hard cases: {e}.")
  try:
    prediction = analysis.predict_difficulty(f1, stats, seed=seed)
    out["hard_case_prediction"] = _prediction_table(prediction, proto)
    figs += figures.hard_case_prediction(
        prediction, os.path.join(fig_dir, "hard_case_prediction"))
  except analysis.NotEnoughWorkers as e:
    notes.append(f"Hard cases: {e}.")
  return out, figs


def _source_name(proto: str) -> str:
  protocol = protocols.get(proto)
  if protocol.cross_person:
    return protocol.test_part
  return (f"{protocol.test_part} (no cross-person runs: this is not "
          "difficulty for unseen people)")


def difficulty(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]]
               ) -> Optional[Tuple[str, List[aggregate.GroupKey],
                                   Dict[str, float], Dict[str, float]]]:
  """(protocol, model keys, {worker: cross − within macro-F1}, {worker:
  cross-person balanced accuracy}) per ``DIFFICULTY_PROTOCOLS``, on matched
  windows, averaged over the models that matched the most workers."""
  for proto in DIFFICULTY_PROTOCOLS:
    per_model = {}
    for (name, p, scale), within in groups.items():
      cross = groups.get((name, proto, None))
      if p != "within" or scale is not None or not cross:
        continue
      try:
        folds = matched.match(within, cross)
      except FileNotFoundError:
        continue
      gaps = matched.worker_gaps(folds)
      if gaps:
        per_model[(name, proto, None)] = gaps
    if per_model:
      break
  else:
    return None
  most = max(len(g) for g in per_model.values())
  keys = sorted(k for k, g in per_model.items() if len(g) == most)
  workers = sorted(set.intersection(*(set(per_model[k]) for k in keys)))
  mean = lambda f: {w: float(np.mean([f(per_model[k][w]) for k in keys]))
                    for w in workers}
  return (proto, keys, mean(lambda g: -g["gap"]),
          mean(lambda g: g["cross_bacc"]))


def worker_stats(runs: Sequence[aggregate.Run], processed_dir: str,
                 max_per_worker: int, seed: int,
                 imu_reader: Optional[ImuReader | WindowSource],
                 notes: List[str]) -> hard_cases_lib.WorkerStats:
  """Statistics of the runs' test workers from their raw test windows."""
  preds = [results_lib.read_predictions(r.workdir, r.results) for r in runs]
  index = np.concatenate([p.index for p in preds])
  label = np.concatenate([p.label for p in preds])
  worker = np.concatenate([p.worker_id for p in preds])
  window_id = np.concatenate([p.window_id for p in preds])
  # A worker tested in several folds (within-person) keeps each window once.
  index, first = np.unique(index, return_index=True)
  label, worker, window_id = label[first], worker[first], window_id[first]
  if imu_reader is None:
    res = runs[0].results
    processed_dir = (processed_dir or
                     res.get("config", {}).get("data", {}).get("processed_dir") or
                     res.get("extra", {}).get("processed_dir", ""))
    if not processed_dir:
      raise FileNotFoundError(
          "no processed dataset: pass --processed_dir (the runs record none in "
          "config.data.processed_dir or extra.processed_dir)")
    imu_reader = shard_source(processed_dir)
  elif not isinstance(imu_reader, WindowSource):
    imu_reader = WindowSource(imu_reader, _config_rate(runs))
  if imu_reader.rate_hz is None:
    notes.append("Hard cases: the IMU rate is unknown (no manifest, no "
                 "config.data.imu.rate_hz in the runs), so the frequency and "
                 "time statistics are left out.")
  return hard_cases_lib.statistics_from_records(
      imu_reader.read_imu, index, label, worker, runs[0].classes,
      max_per_worker, seed, rate_hz=imu_reader.rate_hz, window_ids=window_id)


def shard_source(processed_dir: str) -> WindowSource:
  """Windows of a processed dataset, at its manifest's ``rate_hz``."""
  from egoimu_jax.input_pipeline.store import processed  # pylint: disable=g-import-not-at-top
  dataset = processed.ProcessedDataset.open(processed_dir)

  def read(indices: np.ndarray) -> np.ndarray:
    chunks = [dataset.read_imu(indices[i:i + 4096])
              for i in range(0, len(indices), 4096)]
    return np.concatenate(chunks) if chunks else np.zeros((0, 0, 6), np.float32)
  return WindowSource(read, float(dataset.manifest["rate_hz"]))


def _config_rate(runs: Sequence[aggregate.Run]) -> Optional[float]:
  rates = {r.results.get("config", {}).get("data", {}).get("imu", {})
           .get("rate_hz") for r in runs} - {None, 0, 0.0}  # 0: native, unknown here
  return float(rates.pop()) if len(rates) == 1 else None


def _cluster_table(clusters: Mapping[str, object], proto: str) -> table_model.Table:
  k, small = clusters["k"], clusters["min_cluster_size"]
  silhouettes = ", ".join(f"{kk}: {s:.2f}"
                          for kk, s in clusters["silhouette"].items())
  note = (f"k-means on {len(clusters['statistics'])} standardised IMU "
          f"statistics of {len(clusters['workers'])} workers; k = {k} by "
          f"silhouette ({silhouettes}). Clusters differ in F1? Kruskal-Wallis "
          f"H = {clusters['kruskal_h']:.2f}, p = {clusters['p_kruskal']:.2g}; "
          f"{clusters['p_method']} permutation p = "
          f"{clusters['p_permutation']:.2g}"
          + (f" (the one to read: the smallest cluster has {small} "
             "worker(s))" if small < 5 else "")
          + ". Clusters are numbered by mean F1, 0 = hardest; distinctive: "
          "the statistics whose cluster mean is furthest from the overall "
          "mean, in standard deviations.")
  return table_model.Table.from_dicts(
      f"Worker clusters by IMU statistics ({proto})", clusters["clusters"], note)


def _prediction_table(prediction: Mapping[str, object], proto: str
                      ) -> table_model.Table:
  row = {"workers": len(prediction["workers"]), "cross-validation":
         prediction["cv"], "statistics": len(prediction["statistics"]),
         "R²": prediction["r2"], "p (R²)": prediction["p_r2"],
         "MAE": prediction["mae"],
         "hardest quartile": int(np.sum(prediction["hardest"])),
         "AUROC hardest quartile": prediction["auroc"],
         "p (AUROC)": prediction["p_auroc"]}
  note = ("Ridge regression (median imputation, standardisation and the "
          "penalty fit on each fold's training workers only) from the IMU "
          "statistics to per-worker macro-F1; every worker is predicted by a "
          "model that never saw it. R² below 0: worse than predicting the "
          "mean F1. AUROC: ranking by predicted F1 flags the hardest quartile "
          "(F1 at or below its 25th percentile) before deployment. p: share "
          f"of {analysis.N_NULL} reruns of the whole cross-validation on "
          "randomly permuted F1 that do at least as well (cross-validation "
          "over few workers is biased below chance, so read p, not the "
          "distance from 0 or 0.5).")
  return table_model.Table.from_dicts(
      f"Predicting a worker's difficulty from IMU statistics ({proto})",
      [row], note)
