"""Masks: exact ratios, tube structure, structured spectrogram masks,
reproducibility from the key, and consistency of the index arrays."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from egoimu_jax.models import masking


def _check_indices(m: masking.TokenMask):
  mask = np.asarray(m.mask)
  keep = np.asarray(m.ids_keep)
  restore = np.asarray(m.ids_restore)
  b, length = mask.shape
  for i in range(b):
    visible = np.flatnonzero(~mask[i])
    np.testing.assert_array_equal(keep[i], visible)  # sorted, exact set
    np.testing.assert_array_equal(np.sort(restore[i]), np.arange(length))
  # Round trip: gather visible, append mask tokens, un-shuffle.
  x = jnp.arange(b * length, dtype=jnp.float32).reshape(b, length, 1) + 1
  vis = masking.gather_tokens(x, m.ids_keep)
  full = masking.restore_tokens(vis, jnp.zeros((1,)), m.ids_restore)
  np.testing.assert_array_equal(np.asarray(full)[..., 0],
                                np.where(mask, 0.0, np.asarray(x)[..., 0]))


def test_num_masked_is_floor_and_float_safe():
  assert masking.num_masked(10, 0.7) == 7
  assert masking.num_masked(1568, 0.9) == 1411
  assert masking.num_masked(196, 0.9) == 176
  assert masking.num_masked(80, 0.75) == 60
  with pytest.raises(ValueError):
    masking.num_masked(10, 1.0)


def test_random_mask_exact_ratio_and_indices():
  m = masking.random_mask(jax.random.key(0), 5, 80, 0.75)
  assert np.all(np.asarray(m.mask).sum(1) == 60)
  assert m.ids_keep.shape == (5, 20)
  _check_indices(m)


def test_tube_mask_same_spatial_mask_for_every_tubelet():
  frames, h, w = 8, 14, 14
  m = masking.video_mask(jax.random.key(1), 4, (frames, h, w), 0.9, "tube")
  mask = np.asarray(m.mask).reshape(4, frames, h * w)
  assert np.all(mask == mask[:, :1])           # tube structure
  assert np.all(mask[:, 0].sum(-1) == 176)     # floor(0.9 * 196) per tubelet
  assert m.ids_keep.shape == (4, frames * 20)
  assert not np.all(mask[0] == mask[1])        # examples differ
  _check_indices(m)


def test_masks_are_reproducible_from_the_key():
  a = masking.video_mask(jax.random.key(3), 2, (4, 4, 4), 0.9, "tube")
  b = masking.video_mask(jax.random.key(3), 2, (4, 4, 4), 0.9, "tube")
  c = masking.video_mask(jax.random.key(4), 2, (4, 4, 4), 0.9, "tube")
  np.testing.assert_array_equal(a.mask, b.mask)
  assert not np.array_equal(a.mask, c.mask)
  r1 = masking.imu_mask(jax.random.key(5), 3, (10, 8), 0.75, "random")
  r2 = masking.imu_mask(jax.random.key(5), 3, (10, 8), 0.75, "random")
  np.testing.assert_array_equal(r1.mask, r2.mask)


@pytest.mark.parametrize("mode", ["time", "freq", "tf"])
def test_structured_spectrogram_masks(mode):
  t, f = 10, 8
  m = masking.imu_mask(jax.random.key(6), 6, (t, f), 0.75, mode)
  mask = np.asarray(m.mask)
  assert np.all(mask.sum(1) == 60)
  grid = mask.reshape(6, t, f)
  full_rows = grid.all(axis=2).sum(1)   # time steps masked at every freq
  full_cols = grid.all(axis=1).sum(1)   # freq bins masked at every time
  if mode == "time":
    assert np.all(full_rows >= 7)       # floor(0.75 * 10)
  elif mode == "freq":
    assert np.all(full_cols >= 6)       # floor(0.75 * 8)
  else:
    assert np.all(full_rows >= 5) and np.all(full_cols >= 4)  # 0.7 * ratio
  _check_indices(m)


def test_node_mask_exact_count_over_the_batch():
  m = np.asarray(masking.node_mask(jax.random.key(7), 9, 2, 0.5))
  assert m.shape == (9, 2) and m.sum() == 9
  m2 = np.asarray(masking.node_mask(jax.random.key(7), 9, 2, 0.5))
  np.testing.assert_array_equal(m, m2)


def test_unknown_modes_are_rejected():
  with pytest.raises(ValueError, match="IMU mask mode"):
    masking.imu_mask(jax.random.key(0), 1, (4, 4), 0.5, "diagonal")
  with pytest.raises(ValueError, match="video mask mode"):
    masking.video_mask(jax.random.key(0), 1, (2, 2, 2), 0.5, "block")
