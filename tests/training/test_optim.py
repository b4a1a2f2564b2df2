import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from egoimu_jax.training import optim


def test_warmup_cosine_schedule():
  lr = optim.schedule(dict(lr=1.0, schedule="warmup_cosine",
                           end_lr_factor=0.1), total_steps=10, warmup_steps=2)
  values = np.array([float(lr(s)) for s in range(11)])
  np.testing.assert_allclose(values[:3], [0.0, 0.5, 1.0])
  assert np.all(np.diff(values[2:]) < 0)
  np.testing.assert_allclose(values[10], 0.1, rtol=1e-6)
  flat = optim.schedule(dict(lr=2.0, schedule="constant"), 10, 0)
  assert float(flat(0)) == float(flat(9)) == 2.0
  with pytest.raises(ValueError, match="schedule"):
    optim.schedule(dict(lr=1.0, schedule="step"), 10, 0)


def test_clipping_decay_mask_and_freeze():
  params = {"enc": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)},
            "head": {"kernel": jnp.ones((2, 2))}}
  grads = jax.tree.map(lambda p: 100.0 * jnp.ones_like(p), params)
  tx = optim.build(dict(lr=0.1, weight_decay=0.5, clip_norm=1.0,
                        freeze="enc/.*"), optax.constant_schedule(0.1))
  updates, _ = tx.update(grads, tx.init(params), params)
  assert float(jnp.abs(updates["enc"]["kernel"]).max()) == 0.0  # frozen
  # Adam's first step is lr * sign(g); decay adds lr * wd * p on kernels only.
  np.testing.assert_allclose(updates["head"]["kernel"], -0.1 - 0.05, rtol=1e-5)
  tx = optim.build(dict(lr=0.1, weight_decay=0.5, clip_norm=0.0),
                   optax.constant_schedule(0.1))
  updates, _ = tx.update(grads, tx.init(params), params)
  np.testing.assert_allclose(updates["enc"]["bias"], -0.1, rtol=1e-5)
