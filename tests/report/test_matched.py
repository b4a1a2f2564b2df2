"""report.matched: which within-person predictions meet a cross-person
fold (the pooling rule), and intervals that resample seeds as well as
people (issue 22, items 1 and 7)."""

from typing import Dict, List, Optional

import numpy as np
import pytest

from egoimu_jax.evaluation import metrics
from egoimu_jax.evaluation import results
from egoimu_jax.report import aggregate
from egoimu_jax.report import matched
from egoimu_jax.report import tables

CLASSES = ["a", "b", "c"]
_RECORD: Dict[str, int] = {}   # window id -> its record index


def _run(workdir: str, protocol: str, fold: int, seed: Optional[int] = None,
         per_worker: Optional[Dict[str, dict]] = None) -> aggregate.Run:
  return aggregate.Run(
      workdir=workdir, name="m", model="m", protocol=protocol, fold=fold,
      scale=None, classes=CLASSES, test={}, per_worker=per_worker or {},
      test_workers=(), results={"config": {"seed": seed}})


def _preds(ids: List[str], label: np.ndarray, pred: np.ndarray
           ) -> results.Predictions:
  index = [_RECORD.setdefault(i, len(_RECORD)) for i in ids]
  return results.Predictions(
      index, ids, [i.split("/")[0] for i in ids], label, pred,
      np.zeros((len(ids), len(CLASSES)), np.float32))


@pytest.fixture(name="stored")
def _stored(monkeypatch):
  """Predictions by workdir, served to ``matched`` in place of files."""
  store: Dict[str, results.Predictions] = {}
  monkeypatch.setattr(matched, "_read", lambda run: store[run.workdir])
  return store


# Two cross-person folds, each testing two people with 4 windows each.
_PEOPLE = {0: ("p0", "p1"), 1: ("p2", "p3")}
_IDS = {p: [f"{p}/{t}" for t in range(4)] for ps in _PEOPLE.values()
        for p in ps}
_LABEL = {i: k % 3 for k, i in enumerate(sorted(sum(_IDS.values(), [])))}


def _cross(stored) -> List[aggregate.Run]:
  runs = []
  for fold, people in _PEOPLE.items():
    ids = [i for p in people for i in _IDS[p]]
    label = np.array([_LABEL[i] for i in ids])
    stored[f"cross{fold}"] = _preds(ids, label, label)   # always right
    runs.append(_run(f"cross{fold}", "l20wo", fold))
  return runs


def test_disjoint_within_runs_are_pooled_over_folds(stored):
  # within_test="all": within fold k tests windows k and k+2 of EVERY
  # person, so cross fold 0's people were tested by both within folds.
  within = []
  for fold in (0, 1):
    ids = [i for p in sorted(_IDS) for t, i in enumerate(_IDS[p])
           if t % 2 == fold]
    label = np.array([_LABEL[i] for i in ids])
    stored[f"within{fold}"] = _preds(ids, label, np.full(len(ids), fold))
    within.append(_run(f"within{fold}", "within", fold))
  folds = matched.match(within, _cross(stored))
  assert [f.fold for f in folds] == [0, 1]
  for f in folds:
    people = _PEOPLE[f.fold]
    # Every window of the fold's people, each predicted by the within fold
    # that tested it.
    assert f.window_id.tolist() == sorted(i for p in people for i in _IDS[p])
    expected = [int(i.split("/")[1]) % 2 for i in f.window_id]
    assert f.within[0].tolist() == expected


def test_within_runs_sharing_windows_meet_their_own_fold(stored):
  # Both within folds test every window (e.g. two evaluations of the same
  # windows): pooling would mix them, so fold k meets within fold k.
  within = []
  ids = sorted(sum(_IDS.values(), []))
  label = np.array([_LABEL[i] for i in ids])
  for fold in (0, 1):
    stored[f"within{fold}"] = _preds(ids, label, np.full(len(ids), fold))
    within.append(_run(f"within{fold}", "within", fold))
  folds = matched.match(within, _cross(stored))
  assert [f.fold for f in folds] == [0, 1]
  for f in folds:
    assert f.within.shape == (1, 8)
    assert (f.within[0] == f.fold).all()


def _seeded_within(stored, preds_by_seed: List[np.ndarray]
                   ) -> List[aggregate.Run]:
  ids = sorted(sum(_IDS.values(), []))
  label = np.array([_LABEL[i] for i in ids])
  runs = []
  for seed, pred in enumerate(preds_by_seed):
    stored[f"within_s{seed}"] = _preds(ids, label, pred)
    runs.append(_run(f"within_s{seed}", "within", 0, seed=seed))
  return runs


def _noisy(seed: int, rate: float = 0.3) -> np.ndarray:
  ids = sorted(sum(_IDS.values(), []))
  label = np.array([_LABEL[i] for i in ids])
  wrong = np.random.default_rng(seed).uniform(size=len(ids)) < rate
  return np.where(wrong, (label + 1) % 3, label)


def test_gap_interval_resamples_seeds(stored):
  cross = _cross(stored)
  one = matched.gap(matched.match(_seeded_within(stored, [_noisy(0)]), cross),
                    n_boot=400)
  same = matched.gap(matched.match(
      _seeded_within(stored, [_noisy(0), _noisy(0)]), cross), n_boot=400)
  assert (same.value, same.low, same.high) == (one.value, one.low, one.high)
  differ = matched.gap(matched.match(
      _seeded_within(stored, [_noisy(0), _noisy(1, 0.7)]), cross), n_boot=400)
  assert differ.high - differ.low > one.high - one.low


def _worker_confusions(label: np.ndarray, pred: np.ndarray,
                       workers: np.ndarray) -> Dict[str, dict]:
  return {str(w): {"confusion": metrics.confusion_matrix(
      label[workers == w], pred[workers == w], len(CLASSES)).tolist()}
          for w in np.unique(workers)}


def test_ci_table_resamples_seeds():
  rng = np.random.default_rng(0)
  workers = np.repeat([f"p{i}" for i in range(12)], 20)
  label = rng.integers(0, 3, len(workers))

  def runs(seed_preds):
    return {("m", "l20wo", None): [
        _run(f"r{f}_{s}", "l20wo", f, seed=s,
             per_worker=_worker_confusions(label, pred, workers))
        for f in (0, 1) for s, pred in enumerate(seed_preds)]}

  def width(seed_preds):
    cell = tables.ci_table(runs(seed_preds), n_boot=400).rows[0][2]
    return cell.high - cell.low, cell

  def noisy(s, rate=0.3):
    return np.where(np.random.default_rng(s).uniform(size=len(label)) < rate,
                    (label + 1) % 3, label)
  one, one_cell = width([noisy(0)])
  same, same_cell = width([noisy(0), noisy(0)])
  assert same == one and same_cell.value == one_cell.value
  assert width([noisy(0), noisy(1, 0.7)])[0] > one
  table = tables.ci_table(runs([noisy(0), noisy(1, 0.7)]), n_boot=50)
  assert table.columns[-1] == "seeds per fold" and table.rows[0][-1] == 2
  assert "seeds per fold" not in tables.ci_table(runs([noisy(0)])).columns
