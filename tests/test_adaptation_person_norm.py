"""Person-aware normalisation and gravity alignment, and the k-minute split."""

import types

import numpy as np
import pytest

from egoimu_jax.adaptation import calibration
from egoimu_jax.input_pipeline import person_norm


class _Dataset:
  """Three workers, each with its own offset, scale and sensor tilt."""

  def __init__(self):
    rng = np.random.default_rng(0)
    self.workers = ("a", "b", "c")
    worker = np.repeat([0, 1, 2], 5)
    self.imu = rng.normal(size=(15, 20, 6)).astype(np.float32)
    self.imu *= np.array([1.0, 3.0, 0.5], np.float32)[worker][:, None, None]
    gravity = np.array([[0, 0, 9.8], [9.8, 0, 0], [0, 6.9, 6.9]], np.float32)
    self.imu[..., :3] += gravity[worker][:, None]
    self.table = types.SimpleNamespace(worker=worker)
    self.fingerprint = "fp"
    self.read = []

  def read_imu(self, indices):
    self.read.append(np.asarray(indices))
    return self.imu[indices].copy()

  def split_indices(self, split, part):
    return np.flatnonzero(np.isin(self.table.worker,
                                  [self.workers.index(w)
                                   for w in split[f"{part}_workers"]]))


SPLIT = {"train_workers": ["a", "b"], "val_workers": [], "test_workers": ["c"]}


def test_person_statistics_use_only_that_persons_windows():
  ds = _Dataset()
  norm, info = person_norm.compute(ds, SPLIT, "person", False)
  for w in range(3):
    own = ds.imu[ds.table.worker == w].reshape(-1, 6)
    np.testing.assert_allclose(norm.mean[w], own.mean(0), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(norm.std[w], own.std(0), rtol=1e-5)
  # Every read is of one worker's windows.
  assert all(len(np.unique(ds.table.worker[r])) == 1 for r in ds.read)
  assert info["workers"] == {"a": 5, "b": 5, "c": 5}
  # Applied per window: each worker's windows come out standardised.
  out = norm.apply_batch(ds.imu.copy(), ds.table.worker)
  for w in range(3):
    x = out[ds.table.worker == w].reshape(-1, 6)
    np.testing.assert_allclose(x.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(x.std(0), 1, rtol=1e-4)
  # Population statistics: the training workers' (a, b), for everyone.
  pop, _ = person_norm.compute(ds, SPLIT, "population", False)
  train = ds.imu[:10].reshape(-1, 6)
  np.testing.assert_allclose(pop.mean[2], train.mean(0), rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="input.normalization"):
    person_norm.compute(ds, SPLIT, "per_clip", False)


def test_gravity_alignment_rotates_each_persons_gravity_to_the_populations():
  ds = _Dataset()
  norm, info = person_norm.compute(ds, SPLIT, "population", True)
  target = np.asarray(info["gravity_target"])
  aligned = person_norm.rotate(ds.imu, norm.rotation[ds.table.worker])
  for w in range(3):
    g = aligned[ds.table.worker == w][..., :3].reshape(-1, 3).mean(0)
    np.testing.assert_allclose(g / np.linalg.norm(g), target, atol=1e-5)
    np.testing.assert_allclose(norm.rotation[w] @ norm.rotation[w].T,
                               np.eye(3), atol=1e-5)
  # Norms are kept (a rotation), acc and gyro turn alike.
  np.testing.assert_allclose(np.linalg.norm(aligned[..., 3:], axis=-1),
                             np.linalg.norm(ds.imu[..., 3:], axis=-1),
                             rtol=1e-5)
  flip = person_norm.rotation_between(np.array([0, 0, 1.0]),
                                      np.array([0, 0, -2.0]))
  np.testing.assert_allclose(flip @ [0, 0, 1.0], [0, 0, -1.0], atol=1e-9)


def test_k_minute_split_never_touches_evaluated_windows():
  # Two clips of 60 s (12 windows of 5 s) and one of 30 s, given shuffled.
  clip = np.array([0] * 12 + [1] * 12 + [2] * 6)
  t0 = np.concatenate([np.arange(12), np.arange(12), np.arange(6)]) * 5_000_000
  perm = np.random.default_rng(1).permutation(len(clip))
  minutes = (0, 0.5, 1, 2)
  adapt, evaluate = calibration.minute_split(clip[perm], t0[perm], 5_000_000,
                                             minutes)
  start, end = calibration.timeline(clip[perm], t0[perm], 5_000_000)
  assert len(adapt[0]) == 0
  assert [len(adapt[k]) for k in minutes[1:]] == [6, 12, 24]
  assert len(evaluate) == 6 and set(clip[perm][evaluate]) == {2}
  for k in minutes:
    assert not set(adapt[k]) & set(evaluate)
    # In time too: every fine-tuning window ends before any evaluated starts.
    if len(adapt[k]):
      assert end[adapt[k]].max() <= start[evaluate].min()
  # Budgets are nested: the first k minutes grow with k.
  assert set(adapt[0.5]) <= set(adapt[1]) <= set(adapt[2])
  # The first minute is clip 0's, in time order.
  np.testing.assert_array_equal(np.sort(t0[perm][adapt[1]]),
                                np.arange(12) * 5_000_000)
  with pytest.raises(ValueError, match="calibration_minutes"):
    calibration.minute_split(clip, t0, 5_000_000, (-1, 1))
