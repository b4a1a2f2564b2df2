"""models/dropout.py: the hashed mask keeps 1 - rate of the elements,
independently of position and key, deterministically per key."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from egoimu_jax.models import dropout


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_keep_rate(rate):
  keep = np.asarray(dropout.keep_mask(jax.random.key(3), (1000, 1000), rate))
  # 1e6 Bernoulli draws: the std of the mean is <= 5e-4.
  assert abs(keep.mean() - (1 - rate)) < 3e-3
  # Rows and columns keep alike: their means spread as binomial means do
  # (no position drifts, no structure along either axis).
  sigma = np.sqrt(rate * (1 - rate) / 1000)
  for axis in (0, 1):
    means = keep.mean(axis)
    assert 0.85 < means.std() / sigma < 1.15
    assert np.abs(means - (1 - rate)).max() < 5 * sigma


def test_neighbours_and_keys_are_uncorrelated():
  a = np.asarray(dropout.keep_mask(jax.random.key(0), (1 << 20,), 0.5), float)
  b = np.asarray(dropout.keep_mask(jax.random.key(1), (1 << 20,), 0.5), float)
  # 2**20 pairs: |r| of independent bits is ~1e-3.
  for x, y in ((a[:-1], a[1:]), (a, b), (a[:-4096], a[4096:])):
    assert abs(np.corrcoef(x, y)[0, 1]) < 5e-3
  same = dropout.keep_mask(jax.random.key(0), (1 << 20,), 0.5)
  np.testing.assert_array_equal(np.asarray(same), a.astype(bool))


def test_module_scales_like_inverted_dropout():
  x = jnp.ones((256, 512))
  layer = dropout.Dropout(0.25)
  y = layer.apply({}, x, deterministic=False,
                  rngs={"dropout": jax.random.key(5)})
  values = np.unique(np.asarray(y))
  np.testing.assert_allclose(values, [0.0, 1 / 0.75], rtol=1e-6)
  assert abs(float(y.mean()) - 1.0) < 0.02
  np.testing.assert_array_equal(layer.apply({}, x, deterministic=True), x)
  assert not np.any(np.asarray(dropout.Dropout(1.0).apply(
      {}, x, deterministic=False, rngs={"dropout": jax.random.key(0)})))


def test_under_jit_matches_eager():
  key = jax.random.key(9)
  eager = dropout.keep_mask(key, (33, 7), 0.3)
  jitted = jax.jit(dropout.keep_mask, static_argnums=(1, 2))(key, (33, 7), 0.3)
  np.testing.assert_array_equal(np.asarray(eager), np.asarray(jitted))
