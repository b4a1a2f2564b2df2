"""IMU augmentation: physics of each transform, off by default, seeded."""

import ml_collections
import numpy as np
import pytest

from egoimu_jax import config_lib
from egoimu_jax.input_pipeline import augment
from egoimu_jax.input_pipeline import pipeline

import storage_testlib as lib

SPLIT = lib.split(["w00", "w01", "w02", "w03"], ["w04"], ["w05"])


def _cfg(**kw):
  c = config_lib.input_config().augment
  c.update(kw)
  return c


def _window(seed=0, length=200):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(length, 6))
  x[:, 2] += 9.81
  return x.astype(np.float32)


@pytest.mark.parametrize("max_degrees", [180.0, 30.0])
def test_rotation_keeps_norms_and_turns_acc_and_gyro_alike(max_degrees):
  aug = augment.Augmenter(_cfg(rotation_prob=1.0,
                               rotation_max_degrees=max_degrees))
  x = _window()
  y = aug(x[None], step=3, rows=np.array([0]))[0]
  for s in (slice(0, 3), slice(3, 6)):
    np.testing.assert_allclose(np.linalg.norm(y[:, s], axis=1),
                               np.linalg.norm(x[:, s], axis=1), rtol=1e-5)
  # One R for both sensors, recovered from acc by least squares.
  r, *_ = np.linalg.lstsq(x[:, :3].astype(np.float64), y[:, :3], rcond=None)
  np.testing.assert_allclose(x[:, 3:] @ r, y[:, 3:], atol=1e-4)
  np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-5)
  assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-5)
  angle = np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1)))
  assert angle <= max_degrees + 1e-3
  assert not np.allclose(x, y)


def test_uniform_rotations_spread_over_the_sphere():
  rng = np.random.default_rng(0)
  z = np.array([augment.random_rotation(rng) @ [0, 0, 1] for _ in range(2000)])
  np.testing.assert_allclose(z.mean(axis=0), 0, atol=0.06)
  np.testing.assert_allclose((z ** 2).mean(axis=0), 1 / 3, atol=0.04)


def test_scale_jitter_and_time_warp():
  x = _window()
  scaled = augment.Augmenter(_cfg(scale_prob=1.0))(x[None], 0, [0])[0]
  fa = scaled[:, :3] / x[:, :3]
  fg = scaled[:, 3:] / x[:, 3:]
  np.testing.assert_allclose(fa, fa[0, 0], rtol=1e-4)
  np.testing.assert_allclose(fg, fg[0, 0], rtol=1e-4)
  noisy = augment.Augmenter(_cfg(jitter_prob=1.0, jitter_acc=0.5,
                                 jitter_gyro=0.01))(x[None], 0, [0])[0]
  d = noisy - x
  assert d[:, :3].std() == pytest.approx(0.5, rel=0.15)
  assert d[:, 3:].std() == pytest.approx(0.01, rel=0.15)
  ramp = np.repeat(np.arange(200, dtype=np.float32)[:, None], 6, axis=1)
  warped = augment.Augmenter(_cfg(time_warp_prob=1.0, time_warp_sigma=0.5))(
      ramp[None], 0, [0])[0]
  assert warped[0, 0] == 0 and warped[-1, 0] == pytest.approx(199)
  assert (np.diff(warped[:, 0]) > 0).all()      # monotone
  assert not np.allclose(warped, ramp)           # but not the identity


def test_seeded_by_step_and_row_not_by_host():
  aug = augment.Augmenter(_cfg(rotation_prob=0.5, jitter_prob=0.5,
                               time_warp_prob=0.5))
  x = np.stack([_window(i) for i in range(4)])
  a = aug(x, 7, np.arange(4))
  np.testing.assert_array_equal(a, aug(x, 7, np.arange(4)))
  # Host 1 of 2 reads rows 2, 3 of the same global batch: the same draws.
  np.testing.assert_array_equal(a[2:], aug(x[2:], 7, np.array([2, 3])))
  assert not np.array_equal(a, aug(x, 8, np.arange(4)))
  other = augment.Augmenter(_cfg(seed=1, rotation_prob=0.5, jitter_prob=0.5,
                                 time_warp_prob=0.5))
  assert not np.array_equal(a, other(x, 7, np.arange(4)))


def test_bad_probability_is_one_line():
  with pytest.raises(augment.AugmentConfigError, match="rotation_prob"):
    augment.Augmenter(_cfg(rotation_prob=2.0))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  return lib.prepare_memory(tmp_path_factory.mktemp("p"), lib.memory_clips())


def _pipe(out, **augment_kw):
  c = lib.input_config()
  c.augment.update(augment_kw)
  return pipeline.InputPipeline(out, SPLIT, c, process_index=0,
                                process_count=1)


def test_off_by_default_and_training_batches_only(data):
  assert not augment.enabled(config_lib.input_config().augment)
  assert not augment.enabled(ml_collections.ConfigDict())
  plain, aug = _pipe(data), _pipe(data, rotation_prob=1.0)
  assert plain._train_reader("train").augment is None
  b0, b1 = next(plain.train_iterator()), next(aug.train_iterator())
  np.testing.assert_array_equal(b0["index"], b1["index"])
  assert not np.allclose(b0["imu"], b1["imu"])
  raw0, raw1 = plain.norm.invert(b0["imu"]), aug.norm.invert(b1["imu"])
  np.testing.assert_allclose(np.linalg.norm(raw1[..., :3], axis=-1),
                             np.linalg.norm(raw0[..., :3], axis=-1),
                             rtol=1e-3, atol=1e-3)
  for a, b in zip(plain.eval_batches("test"), aug.eval_batches("test")):
    np.testing.assert_array_equal(a["imu"], b["imu"])
