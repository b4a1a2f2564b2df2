"""Collects finished runs (``results.json`` files) into groups for tables.

A run is identified by (name, variant, protocol, scale, fold, seed).
``name`` is the results' ``name`` (defaults to the model; a test-time
variant's run is named ``"<run> / <variant>"``), ``scale`` is
``config.protocol.scale`` for the scaling protocols and None otherwise,
``seed`` is ``config.seed``. Two workdirs with the same identity would be
counted twice in a mean over folds, so loading them is an error that names
both.

Test-time variants (degraded video, missing modality, TTA) are an axis of
a model, not models: ``models_only`` drops them before the tables that rank
or compare models (main, CIs, significance, difficulty); the robustness
table compares each with its clean run. ``comparable`` further drops
groups with a run that predicts one class for everything, which never
serve as a reference or enter the difficulty average.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import fsspec
import numpy as np

from egoimu_jax import init_record
from egoimu_jax import pretrain_population
from egoimu_jax.evaluation import metrics as metrics_lib
from egoimu_jax.evaluation import results as results_lib
from egoimu_jax.input_pipeline import protocols as protocols_lib

GroupKey = Tuple[str, str, Optional[float]]   # (name, protocol, scale)


@dataclasses.dataclass
class Run:
  """One finished run, as report needs it."""
  workdir: str
  name: str
  model: str
  protocol: str
  fold: int
  scale: Optional[float]
  classes: List[str]
  test: Dict[str, Any]                      # metrics["test"]
  per_worker: Dict[str, Dict[str, Any]]     # per_worker["test"]
  test_workers: Tuple[str, ...]
  results: Dict[str, Any]

  @property
  def test_windows(self) -> Optional[str]:
    """Digest of the test records the run was scored on (None for runs
    written before coverage was recorded)."""
    cov = self.results.get("extra", {}).get("coverage", {}).get("test")
    return cov.get("sha256") if cov else None

  @property
  def test_coverage(self) -> Optional[float]:
    """Fraction of the split's test windows the run was scored on."""
    cov = self.results.get("extra", {}).get("coverage", {}).get("test")
    return cov["served"] / cov["total"] if cov and cov["total"] else None

  @property
  def key(self) -> GroupKey:
    return (self.name, self.protocol, self.scale)

  @property
  def seed(self) -> Optional[int]:
    seed = self.results.get("config", {}).get("seed")
    return None if seed is None else int(seed)

  @property
  def base_name(self) -> str:
    """The clean run's name (``name`` without `` / <variant>``)."""
    suffix = f" / {self.variant}" if self.variant else ""
    return self.name[:-len(suffix)] if suffix and self.name.endswith(
        suffix) else self.name

  @property
  def init(self) -> Optional[str]:
    """"pretrained" or "scratch" for fine-tuning runs (``config.task.name ==
    "finetune"``, warm-started when ``task.pretrained`` is set), else None."""
    task = self.results.get("config", {}).get("task") or {}
    if task.get("name") != "finetune":
      return None
    return "pretrained" if task.get("pretrained") else "scratch"

  @property
  def random_init(self) -> bool:
    """Whether the model or its teacher started from random weights
    although released ones exist (``results["init"]``; runs written before
    it was recorded: the same rule on their config)."""
    init = self.results.get("init")
    if init is None:
      init = init_record.record(self.results.get("config") or {})
    return bool(init.get("random"))

  @property
  def variant(self) -> Optional[str]:
    """The test-time variant (``variants/<name>``) the run scores, if any."""
    return self.results.get("extra", {}).get("variant")

  def class_counts(self) -> Tuple[np.ndarray, np.ndarray]:
    """Test windows per true class and per predicted class, ``[K]`` each
    (from the test confusion matrix; ``predictions.npz`` for runs written
    without one)."""
    conf = self.test.get("confusion")
    if conf is not None:
      conf = np.asarray(conf, np.int64)
      return conf.sum(1), conf.sum(0)
    p = results_lib.read_predictions(self.workdir, self.results)
    k = len(self.classes)
    return np.bincount(p.label, minlength=k), np.bincount(p.pred, minlength=k)

  def worker_confusions(self) -> Dict[str, np.ndarray]:
    """``{worker: [K, K]}`` for the worker bootstrap."""
    missing = [w for w, v in self.per_worker.items() if "confusion" not in v]
    if missing:
      raise ValueError(f"{self.workdir}: per-worker confusion missing for "
                       f"{missing[:3]}; re-evaluate with results.write")
    return {w: np.asarray(v["confusion"]) for w, v in self.per_worker.items()}


def find_workdirs(patterns: Iterable[str]) -> List[str]:
  """Workdirs matching glob patterns (local or fsspec URLs) with results.json.

  A pattern may name workdirs (``runs/*/fold*``) or results files
  (``runs/**/results.json``).
  """
  found = set()
  for pattern in patterns:
    fs, _ = fsspec.core.url_to_fs(pattern)
    protocol = pattern.split("://")[0] + "://" if "://" in pattern else ""
    for path in fs.glob(pattern.rstrip("/")):
      path = protocol + path if protocol and "://" not in path else path
      if path.endswith("/" + results_lib.RESULTS_FILE):
        found.add(path[: -len(results_lib.RESULTS_FILE) - 1])
      elif fs.exists(path.rstrip("/") + "/" + results_lib.RESULTS_FILE):
        found.add(path.rstrip("/"))
  return sorted(found)


def load_runs(patterns: Iterable[str]) -> List[Run]:
  """Reads every matched run; fails on duplicate identities."""
  runs = [_to_run(results_lib.read(w)) for w in find_workdirs(patterns)]
  seen: Dict[Tuple, str] = {}
  for r in runs:
    ident = r.key + (r.fold, r.seed)
    if ident in seen:
      raise ValueError(
          f"two runs of {r.name} / {r.protocol} / fold {r.fold}"
          f"{'' if r.scale is None else f' / scale {r.scale:g}'}"
          f"{'' if r.seed is None else f' / seed {r.seed}'}: {seen[ident]} "
          f"and {r.workdir}; give one a different name or drop it from --workdirs")
    seen[ident] = r.workdir
  versions = {r.results.get("metrics_version", 0) for r in runs}
  if len(versions) > 1:
    old = [r.workdir for r in runs
           if r.results.get("metrics_version", 0) != max(versions)]
    raise ValueError(
        f"runs were evaluated under metrics versions {sorted(versions)}; "
        f"{len(old)} are older (e.g. {old[:3]}): re-evaluate them from their "
        "predictions or drop them from --workdirs")
  return runs


def _to_run(res: Mapping[str, Any]) -> Run:
  protocol = str(res["protocol"])
  scale = None
  if protocols_lib.is_scaling(protocol):
    scale = res.get("split", {}).get("scale")
    if scale is None:
      scale = res.get("config", {}).get("protocol", {}).get("scale")
    scale = None if scale is None else float(scale)
  fold = res["fold"]
  if fold is None:
    raise ValueError(f"{res['workdir']}: results.json has no fold")
  test = dict(res["metrics"]["test"])
  per_worker = res["per_worker"].get("test", {})
  if "worker_f1_p10" not in test and per_worker:
    # Runs written before the worst-worker metrics: same function, same inputs.
    test.update(metrics_lib.worst_worker_metrics(
        [v["macro_f1"] for v in per_worker.values()]))
  return Run(
      workdir=res["workdir"], name=str(res["name"]), model=str(res["model"]),
      protocol=protocol, fold=int(fold), scale=scale,
      classes=list(res["classes"]), test=test, per_worker=per_worker,
      test_workers=tuple(res.get("split", {}).get("test_workers") or
                         sorted(res["per_worker"].get("test", {}))),
      results=dict(res))


def group(runs: Sequence[Run]) -> Dict[GroupKey, List[Run]]:
  """Runs by (name, protocol, scale), folds sorted; checks class vocabularies."""
  out: Dict[GroupKey, List[Run]] = {}
  for r in runs:
    out.setdefault(r.key, []).append(r)
  for key, rs in out.items():
    rs.sort(key=lambda r: r.fold)
    for r in rs[1:]:
      if r.classes != rs[0].classes:
        raise ValueError(f"{key}: {r.workdir} has classes {r.classes}, "
                         f"{rs[0].workdir} has {rs[0].classes}")
  return out


def models_only(groups: Mapping[GroupKey, List[Run]]
                ) -> Dict[GroupKey, List[Run]]:
  """The groups of clean runs (no test-time variant)."""
  return {k: rs for k, rs in groups.items()
          if not any(r.variant for r in rs)}


def comparable(groups: Mapping[GroupKey, List[Run]]
               ) -> Dict[GroupKey, List[Run]]:
  """Clean groups none of whose runs predicts one class for everything:
  the ones a reference, a significance test or a difficulty average may
  use."""
  clean = models_only(groups)
  collapsed = {r.key for r, _ in constant_runs(
      [r for rs in clean.values() for r in rs])}
  return {k: rs for k, rs in clean.items() if k not in collapsed}


def fold_means(runs: Sequence[Run], metric: str) -> Tuple[List[int], List[float]]:
  """(folds, the metric per fold averaged over its seeds), folds sorted."""
  by_fold: Dict[int, List[float]] = {}
  for r in runs:
    if r.test.get(metric) is not None:
      by_fold.setdefault(r.fold, []).append(float(r.test[metric]))
  folds = sorted(by_fold)
  return folds, [float(np.mean(by_fold[f])) for f in folds]


def seeded_confusions(runs: Sequence[Run]
                      ) -> Tuple[List[int], List[List[Dict[str, np.ndarray]]]]:
  """(folds, per fold its seeds' ``worker_confusions``), folds and seeds
  sorted: the bootstrap's input, which resamples seeds as well as people."""
  by_fold: Dict[int, List[Run]] = {}
  for r in runs:
    by_fold.setdefault(r.fold, []).append(r)
  folds = sorted(by_fold)
  return folds, [[r.worker_confusions() for r in sorted(
      by_fold[f], key=lambda r: -1 if r.seed is None else r.seed)]
                 for f in folds]


def seed_spread(runs: Sequence[Run], metric: str = "macro_f1"
                ) -> Optional[float]:
  """Mean over folds of the across-seed std of ``metric`` (None with one
  seed per fold)."""
  by_fold: Dict[int, List[float]] = {}
  for r in runs:
    by_fold.setdefault(r.fold, []).append(float(r.test[metric]))
  stds = [np.std(v, ddof=1) for v in by_fold.values() if len(v) > 1]
  return float(np.mean(stds)) if stds else None


def protocol_order() -> Tuple[str, ...]:
  """Table column order: the within-person protocols (the ceiling), the
  cross-person ones, then the rest, each in registration order."""
  def rank(p):
    return 1 if p.cross_person else 0 if p.tested else 2
  return tuple(p.name for p in sorted(protocols_lib.all_protocols(), key=rank))


def protocols(runs: Sequence[Run]) -> List[str]:
  present = {r.protocol for r in runs}
  order = protocol_order()
  return ([p for p in order if p in present] + sorted(present - set(order)))


def names(runs: Sequence[Run]) -> List[str]:
  return sorted({r.name for r in runs})


def constant_runs(runs: Sequence[Run]) -> List[Tuple[Run, str]]:
  """``(run, class)`` for every run that predicts one class for every test
  window although they hold several (a collapsed model, e.g. on blacked-out
  video)."""
  out = []
  for r in runs:
    try:
      true, pred = r.class_counts()
    except FileNotFoundError:   # neither a confusion matrix nor predictions
      continue
    if np.count_nonzero(pred) == 1 and np.count_nonzero(true) > 1:
      out.append((r, r.classes[int(np.flatnonzero(pred)[0])]))
  return out


_INIT_WORD = re.compile(r"\b(pretrained|scratch)\b")


def init_pairs(groups: Mapping[GroupKey, Sequence[Run]]
               ) -> List[Tuple[GroupKey, GroupKey]]:
  """``(pretrained, scratch)`` group pairs: the same model fine-tuned from
  pretrained weights and from scratch on one protocol.

  A group's init comes from its runs' config (``Run.init``); the two groups
  of a pair have names that differ only in the word "pretrained" vs
  "scratch" (as ``experiments.pretrain_finetune`` names its stages, e.g.
  ``evimae imu (pretrained)`` / ``evimae imu (scratch)``, test variants
  included) and the same model.
  """
  by_slot: Dict[Tuple, Dict[str, List[GroupKey]]] = {}
  for key, rs in groups.items():
    inits = {r.init for r in rs}
    if len(inits) != 1 or None in inits:
      continue
    init = inits.pop()
    if not _INIT_WORD.search(key[0]):
      continue
    slot = (_INIT_WORD.sub("*", key[0]), key[1], key[2], rs[0].model)
    by_slot.setdefault(slot, {}).setdefault(init, []).append(key)
  pairs = []
  for by_init in by_slot.values():
    pre, scr = by_init.get("pretrained", []), by_init.get("scratch", [])
    if len(pre) == 1 and len(scr) == 1:
      pairs.append((pre[0], scr[0]))
  return sorted(pairs, key=lambda ab: (ab[0][0], ab[0][1], ab[0][2] or 0.0))


def random_init_names(runs: Sequence[Run]) -> frozenset:
  """Names of the runs started from random weights although released ones
  exist, with their clean-run names and without a pretraining-population
  mark (as the distillation table names rows): the rows tables mark."""
  return frozenset(n for r in runs if r.random_init
                   for n in (r.name, r.base_name,
                             pretrain_population.split(r.base_name)[0]))


def worker_f1(runs: Sequence[Run]) -> Dict[str, float]:
  """Per-worker macro-F1 over a group's folds (mean where a worker recurs)."""
  acc: Dict[str, List[float]] = {}
  for r in runs:
    for w, v in r.per_worker.items():
      acc.setdefault(w, []).append(v["macro_f1"])
  return {w: float(np.mean(v)) for w, v in acc.items()}


def long_rows(runs: Sequence[Run]) -> List[Dict[str, Any]]:
  """One flat row per run: the input of scaling fits and spreadsheets."""
  rows = []
  for r in sorted(runs, key=lambda r: (r.name, r.protocol, r.scale or 0, r.fold)):
    rows.append({
        "name": r.name, "model": r.model, "protocol": r.protocol,
        "scale": r.scale, "fold": r.fold, "random_init": r.random_init,
        "macro_f1": r.test["macro_f1"], "accuracy": r.test["accuracy"],
        "per_worker_f1_mean": r.test.get("per_worker_f1_mean"),
        "per_worker_f1_std": r.test.get("per_worker_f1_std"),
        "worker_f1_p10": r.test.get("worker_f1_p10"),
        "worker_f1_min": r.test.get("worker_f1_min"),
        "share_workers_below": r.test.get("share_workers_below"),
        "worker_f1_threshold": r.test.get("worker_f1_threshold"),
        "n_windows": r.test.get("n"), "n_workers": r.test.get("n_workers"),
        "n_train_workers": len(r.results.get("split", {}).get("train_workers") or []),
        "workdir": r.workdir,
    })
  return rows
