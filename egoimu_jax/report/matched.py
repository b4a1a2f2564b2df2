"""Within- vs cross-person on the same windows: the matched comparison.

A within-person run of fold k tests part of the data of l20wo fold k's test
people; the cross-person run of that fold tests all of it. Scoring the two
on their own test sets would compare different windows with different
class mixes (a rare class missing from the within-person part changes
macro-F1 by itself), so every within-vs-cross figure here is computed on
the windows both runs scored (matched by ``window_id``, whose labels must
agree), with macro-F1 over the fixed vocabulary (``evaluation.metrics``).
Repeated seeds of a run are averaged per fold before the difference.

* ``fold_gaps``: per fold, within minus cross macro-F1 on the matched
  windows, with their count and a digest of which windows they are.
* ``gap``: the mean of those differences ± their standard error, and a
  paired worker-bootstrap interval (the same resample of test people for
  both arms; where an arm has several seeds, its seeds are resampled too,
  so the interval includes retraining variance).
* ``worker_gaps``: per test person, within minus cross macro-F1 and the two
  balanced accuracies on that person's matched windows: the difficulty
  measure of the hard-case analysis, free of the person's class mix (a
  predictor without skill scores the same on both arms).
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from egoimu_jax import errors
from egoimu_jax.evaluation import metrics as metrics_lib
from egoimu_jax.evaluation import results as results_lib
from egoimu_jax.evaluation import stats as stats_lib
from egoimu_jax.report import aggregate


class MatchError(errors.UserError, ValueError):
  """Two runs disagree on a window they both scored."""


@dataclasses.dataclass(frozen=True)
class MatchedFold:
  """The windows of one fold that both arms scored, and both arms' outputs.

  ``within`` / ``cross``: predictions ``[seeds, n]`` of each arm, in the
  order of ``window_id``.
  """
  fold: int
  window_id: np.ndarray
  worker_id: np.ndarray
  label: np.ndarray
  within: np.ndarray
  cross: np.ndarray
  num_classes: int

  @property
  def digest(self) -> str:
    """Which windows were compared (sha256 of their sorted ids)."""
    blob = "\n".join(self.window_id.tolist()).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()[:16]

  def f1(self, arm: str) -> float:
    """Macro-F1 of ``arm`` ("within" | "cross"), mean over its seeds."""
    preds = getattr(self, arm)
    return float(np.mean([metrics_lib.macro_f1(metrics_lib.confusion_matrix(
        self.label, p, self.num_classes)) for p in preds]))

  def worker_confusions(self, arm: str) -> List[Dict[str, np.ndarray]]:
    """``{worker: [K, K]}`` of each of ``arm``'s seeds (for the bootstrap,
    which resamples seeds as well as people)."""
    workers = np.unique(self.worker_id)
    return [{str(w): metrics_lib.confusion_matrix(
        self.label[self.worker_id == w], pred[self.worker_id == w],
        self.num_classes) for w in workers} for pred in getattr(self, arm)]


def match(within: Sequence[aggregate.Run], cross: Sequence[aggregate.Run]
          ) -> List[MatchedFold]:
  """The matched folds of two groups: one per cross-person fold (sorted)
  that shares windows with the within-person runs.

  The within-person arm of every fold is all within-person runs of a seed
  together: its folds test disjoint windows, so cross fold k meets exactly
  the within-person predictions of its own people's windows, whichever
  within fold made them (fold k's with ``within_test="fold"``; all K folds'
  with ``within_test="all"``, which matches every window of fold k).

  Within-person runs whose folds share test windows are not pooled: fold k
  meets within-person fold k (``_poolable``). Raises ``MatchError`` if the
  runs disagree on a shared window's label or use different vocabularies;
  ``FileNotFoundError`` if a run has no ``predictions.npz``.
  """
  if within and cross and within[0].classes != cross[0].classes:
    raise MatchError(f"{within[0].workdir} and {cross[0].workdir} use "
                     "different class vocabularies")
  w_preds = {r.workdir: _read(r) for r in within}
  pooled = _poolable(within, w_preds)
  w_all = _by_seed(within, w_preds) if pooled else None
  out = []
  for fold in sorted({r.fold for r in cross}):
    c_runs = [r for r in cross if r.fold == fold]
    c_arm = _by_seed(c_runs, {r.workdir: _read(r) for r in c_runs})
    w_arm = w_all if pooled else _by_seed(
        [r for r in within if r.fold == fold], w_preds)
    if not w_arm:
      continue
    shared = None
    for p in w_arm + c_arm:
      ids = set(p.window_id.tolist())
      shared = ids if shared is None else shared & ids
    ids = np.array(sorted(shared or ()), dtype=str)
    if not len(ids):
      continue
    first = _take(w_arm[0], ids)
    stacks = []
    for arm in (w_arm, c_arm):
      rows = []
      for p in arm:
        taken = _take(p, ids)
        bad = np.flatnonzero(taken.label != first.label)
        if len(bad):
          raise MatchError(
              f"window {ids[bad[0]]!r} has label {int(first.label[bad[0]])} "
              f"in {within[0].workdir}'s runs but {int(taken.label[bad[0]])} "
              f"in {c_runs[0].workdir}'s: the runs were not scored on the "
              "same data")
        rows.append(taken.pred)
      stacks.append(np.stack(rows))
    out.append(MatchedFold(fold, ids, first.worker_id, first.label, stacks[0],
                           stacks[1], len(within[0].classes)))
  return out


def _read(run: aggregate.Run) -> results_lib.Predictions:
  return results_lib.read_predictions(run.workdir, run.results)


def _poolable(runs: Sequence[aggregate.Run],
              preds: Dict[str, results_lib.Predictions]) -> bool:
  """Whether each seed's runs test disjoint windows, so that they can be
  pooled over folds; else (runs that share test windows) fold k of the
  within-person runs is matched with fold k of the cross-person ones."""
  seen: Dict[Optional[int], set] = {}
  for r in runs:
    ids = preds[r.workdir].window_id
    mine = seen.setdefault(r.seed, set())
    if mine.intersection(ids.tolist()):
      return False
    mine.update(ids.tolist())
  return True


def _by_seed(runs: Sequence[aggregate.Run],
             preds: Dict[str, results_lib.Predictions]
             ) -> List[results_lib.Predictions]:
  """One prediction set per seed (sorted): the runs of a seed concatenated
  (several when folds are pooled); ``preds`` holds each run's, by workdir."""
  seeds: Dict[Optional[int], List[results_lib.Predictions]] = {}
  for r in sorted(runs, key=lambda r: (_seed_key(r.seed), r.fold)):
    seeds.setdefault(r.seed, []).append(preds[r.workdir])
  out = []
  for parts in seeds.values():
    out.append(parts[0] if len(parts) == 1 else results_lib.Predictions(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in (
            "index", "window_id", "worker_id", "label", "pred", "probs"))))
  return out


def _seed_key(seed: Optional[int]) -> int:
  return -1 if seed is None else seed


def _take(p: results_lib.Predictions, ids: np.ndarray) -> results_lib.Predictions:
  order = np.argsort(p.window_id)
  pos = order[np.searchsorted(p.window_id[order], ids)]
  return results_lib.Predictions(p.index[pos], p.window_id[pos],
                                 p.worker_id[pos], p.label[pos], p.pred[pos],
                                 p.probs[pos])


@dataclasses.dataclass(frozen=True)
class Gap:
  """Within minus cross macro-F1 on matched windows."""
  value: float
  se: float
  low: float
  high: float
  within: float
  cross: float
  folds: int
  windows: int
  workers: int

  def to_dict(self) -> Dict[str, float]:
    return dataclasses.asdict(self)


def gap(folds: Sequence[MatchedFold], n_boot: int = 1000, seed: int = 0
        ) -> Optional[Gap]:
  """The matched gap over folds; None without a matched fold."""
  if not folds:
    return None
  w = np.array([f.f1("within") for f in folds])
  c = np.array([f.f1("cross") for f in folds])
  d = metrics_lib.mean_std(w - c)
  boot = stats_lib.paired_worker_bootstrap(
      [f.worker_confusions("within") for f in folds],
      [f.worker_confusions("cross") for f in folds], n_boot=n_boot, seed=seed)
  return Gap(d["mean"], float(d["std"] / np.sqrt(d["n"])) if d["n"] > 1
             else 0.0, boot.difference.low, boot.difference.high,
             float(w.mean()), float(c.mean()), len(folds),
             sum(len(f.window_id) for f in folds),
             len({w for f in folds for w in f.worker_id.tolist()}))


def worker_gaps(folds: Sequence[MatchedFold]
                ) -> Dict[str, Dict[str, float]]:
  """``{worker: {gap, within_f1, cross_f1, within_bacc, cross_bacc, n}}``
  on each person's matched windows (the seeds' mean confusion; a person
  matched in several folds pools them)."""
  acc: Dict[str, Dict[str, np.ndarray]] = {}
  for f in folds:
    for w in np.unique(f.worker_id):
      sel = f.worker_id == w
      entry = acc.setdefault(str(w), {})
      for arm in ("within", "cross"):
        # The seeds' mean confusion, summed over the person's folds.
        conf = np.mean([metrics_lib.confusion_matrix(
            f.label[sel], p[sel], f.num_classes) for p in getattr(f, arm)], 0)
        entry[arm] = entry.get(arm, 0) + conf
  out = {}
  for w, entry in acc.items():
    row: Dict[str, float] = {}
    for arm in ("within", "cross"):
      row[f"{arm}_f1"] = float(metrics_lib.macro_f1(entry[arm]))
      row[f"{arm}_bacc"] = float(metrics_lib.balanced_accuracy(entry[arm]))
    row["gap"] = row["within_f1"] - row["cross_f1"]
    row["n"] = int(round(entry["within"].sum()))
    out[w] = row
  return out


def group_pairs(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]],
                cross_protocol: str, within_protocol: str = "within"
                ) -> Dict[str, List[MatchedFold]]:
  """``{model name: matched folds}`` for every name with runs of both
  protocols (scale None) whose predictions can be read."""
  out = {}
  for (name, proto, scale), runs in groups.items():
    if proto != within_protocol or scale is not None:
      continue
    cross = groups.get((name, cross_protocol, None))
    if not cross:
      continue
    try:
      folds = match(runs, cross)
    except FileNotFoundError:
      continue
    if folds:
      out[name] = folds
  return out
