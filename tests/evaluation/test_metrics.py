import numpy as np
import pytest
from sklearn import metrics as skm

from egoimu_jax.evaluation import metrics

CLASSES = ("working", "break", "not_on_person", "other")


def _fixed_set_f1(y, p, k):
  """The convention: every class of the vocabulary; absent and never
  predicted scores 1."""
  return skm.f1_score(y, p, labels=range(k), average="macro", zero_division=1.0)


def _random_labels(rng, n, k, absent=()):
  allowed = [c for c in range(k) if c not in absent]
  return rng.choice(allowed, size=n)


@pytest.mark.parametrize("seed", range(6))
def test_matches_sklearn_on_random_labels(seed):
  rng = np.random.default_rng(seed)
  k = len(CLASSES)
  n = int(rng.integers(5, 200))
  # Some seeds drop a class from the truth, the predictions, or both.
  absent_true = [(), (1,), (2,), (1, 3), (), (0,)][seed]
  absent_pred = [(), (), (2,), (1,), (3,), (0, 1)][seed]
  y = _random_labels(rng, n, k, absent_true)
  p = _random_labels(rng, n, k, absent_pred)
  m = metrics.classification_metrics(y, p, CLASSES)
  present = np.unique(y)
  assert m["macro_f1"] == pytest.approx(_fixed_set_f1(y, p, k))
  assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p))
  ref = skm.f1_score(y, p, average=None, labels=range(k), zero_division=np.nan)
  for i, (c, r) in enumerate(zip(CLASSES, ref)):
    if i in present:
      assert m["per_class_f1"][c] == pytest.approx(r)
    else:
      assert m["per_class_f1"][c] is None
  if len(present) == k:     # every class occurs: sklearn's default agrees
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, p, average="macro"))
  np.testing.assert_array_equal(
      m["confusion"], skm.confusion_matrix(y, p, labels=range(k)))
  assert m["n"] == n


def test_class_absent_and_never_predicted_scores_one():
  # Worker never takes a break and the model never predicts one: no error on
  # that class; the average still runs over all three classes.
  y = np.array([0, 0, 2, 2])
  p = np.array([0, 0, 2, 0])
  m = metrics.classification_metrics(y, p, CLASSES[:3])
  assert m["per_class_f1"]["break"] is None
  assert m["macro_f1"] == pytest.approx((0.8 + 1.0 + 2 / 3) / 3)


def test_false_alarm_of_an_absent_class_scores_zero_for_it():
  y = np.array([0, 0, 0, 0])
  p = np.array([0, 0, 0, 1])
  m = metrics.classification_metrics(y, p, CLASSES[:3])
  assert m["per_class_f1"]["break"] is None
  assert m["macro_f1"] == pytest.approx((6 / 7 + 0.0 + 1.0) / 3)


def test_class_set_is_the_same_in_every_subset():
  # The score of a subset never changes which classes it averages: a
  # constant predictor scores the same on two subsets that hold the same
  # classes in different proportions only through the predictions' errors.
  k = 3
  conf = metrics.grouped_confusion(
      np.array([0, 0, 0, 1, 0, 1, 1, 1]), np.zeros(8, np.int64),
      np.array([0, 0, 0, 0, 1, 1, 1, 1]), 2, k)
  f1 = metrics.macro_f1(conf)
  for g, (y_sub) in enumerate(([0, 0, 0, 1], [0, 1, 1, 1])):
    assert f1[g] == pytest.approx(_fixed_set_f1(np.array(y_sub), np.zeros(4, int), k))


def test_balanced_accuracy_matches_sklearn():
  rng = np.random.default_rng(3)
  y, p = rng.integers(0, 3, 60), rng.integers(0, 4, 60)
  conf = metrics.confusion_matrix(y, p, 4)
  assert metrics.balanced_accuracy(conf) == pytest.approx(
      skm.balanced_accuracy_score(y, p))
  assert np.isnan(metrics.balanced_accuracy(np.zeros((4, 4))))


def test_per_worker_matches_sklearn_and_handles_single_class_workers():
  rng = np.random.default_rng(0)
  k = 3
  workers = np.array(["w1"] * 30 + ["w2"] * 10 + ["w3"] * 5)
  y = rng.integers(0, k, size=45)
  y[30:40] = 1                       # w2 only has class 1
  p = rng.integers(0, k, size=45)
  p[40:] = y[40:]                    # w3 all correct
  out = metrics.per_worker_metrics(y, p, workers, CLASSES[:k])
  assert sorted(out) == ["w1", "w2", "w3"]
  for w in out:
    sel = workers == w
    assert out[w]["macro_f1"] == pytest.approx(_fixed_set_f1(y[sel], p[sel], k))
    assert out[w]["n"] == sel.sum()
    assert np.isfinite(out[w]["macro_f1"])
  assert out["w3"]["macro_f1"] == 1.0


def test_grouped_confusion_batches():
  rng = np.random.default_rng(1)
  y, p = rng.integers(0, 3, 100), rng.integers(0, 3, 100)
  g = rng.integers(0, 4, 100)
  conf = metrics.grouped_confusion(y, p, g, 5, 3)
  assert conf.shape == (5, 3, 3)
  assert conf[4].sum() == 0
  f1 = metrics.macro_f1(conf)
  assert np.isnan(f1[4])             # empty group: no metric, no crash
  for i in range(4):
    assert f1[i] == pytest.approx(_fixed_set_f1(y[g == i], p[g == i], 3))


def test_mean_std_and_gap():
  s = metrics.mean_std([0.5, 0.7, 0.6])
  assert s["mean"] == pytest.approx(0.6)
  assert s["std"] == pytest.approx(0.1)
  assert metrics.mean_std([0.4])["std"] == 0.0
  g = metrics.generalisation_gap([0.9, 0.8], [0.6, 0.7, 0.5])
  assert g["gap"] == pytest.approx(0.85 - 0.6)
  assert g["se"] == pytest.approx(np.sqrt(0.005 / 2 + 0.01 / 3))
  assert not g["paired"]
  p = metrics.generalisation_gap([0.9, 0.8, 0.7], [0.6, 0.6, 0.6], paired=True)
  assert p["gap"] == pytest.approx(0.2)
  assert p["se"] == pytest.approx(0.1 / np.sqrt(3))
  with pytest.raises(ValueError, match="equal fold counts"):
    metrics.generalisation_gap([0.9], [0.6, 0.7], paired=True)


def test_bad_input_is_rejected():
  with pytest.raises(ValueError, match=r"\[0, 3\)"):
    metrics.confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
  with pytest.raises(ValueError, match="integer"):
    metrics.confusion_matrix(np.array([0.0]), np.array([0]), 3)
  with pytest.raises(ValueError, match="empty"):
    metrics.classification_metrics(np.array([], int), np.array([], int), CLASSES)
