"""Attend-and-Discriminate recipe pieces: center loss and mixup."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jit_testlib
from configs import attend_discriminate
from egoimu_jax.models import center_loss as cl
from egoimu_jax.models import mixup as mx
from egoimu_jax.training import tasks
from egoimu_jax.training import train_state
from egoimu_jax.training import trainer

FEATURES = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], np.float32)
LABELS = np.array([0, 1, 0], np.int32)
CENTERS = np.array([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]], np.float32)


def test_center_loss_by_hand():
  # Squared distances per example: [1, 0] -> 1, [-1, 1] -> 2, [1, 1] -> 2;
  # MSE over b * d = 6 elements.
  loss = cl.center_loss(FEATURES, LABELS, CENTERS)
  np.testing.assert_allclose(loss, 5.0 / 6.0, rtol=1e-6)
  masked = cl.center_loss(FEATURES, LABELS, CENTERS,
                          mask=np.array([True, False, True]))
  np.testing.assert_allclose(masked, 3.0 / 4.0, rtol=1e-6)


def test_center_loss_gradients():
  grad_f, grad_c = jax.grad(cl.center_loss, argnums=(0, 2))(
      FEATURES, LABELS, CENTERS)
  np.testing.assert_allclose(grad_f, 2 * (FEATURES - CENTERS[LABELS]) / 6,
                             rtol=1e-6)
  np.testing.assert_array_equal(grad_c, 0.0)  # Centres are not trained by SGD.


def test_update_centers_by_hand():
  lr = 0.5
  new = cl.update_centers(CENTERS, FEATURES, LABELS, lr)
  # Class 0: n=2, sum(c0 - f) = [-2, -1] -> c0 - 0.5 * [-2, -1] / 3.
  # Class 1: n=1, c1 - f1 = [1, -1] -> c1 - 0.5 * [1, -1] / 2.
  # Class 2: absent, unchanged.
  np.testing.assert_allclose(new, [[1 / 3, 1 / 6], [0.75, 1.25], [5.0, 5.0]],
                             rtol=1e-6)
  masked = cl.update_centers(CENTERS, FEATURES, LABELS, lr,
                             mask=np.array([True, True, False]))
  np.testing.assert_allclose(masked[0], [0.25, 0.0], rtol=1e-6)


def test_update_centers_matches_authors_loop():
  """Against a plain loop of the authors' get_center_delta."""
  rng = np.random.RandomState(0)
  feats = rng.randn(32, 8).astype(np.float32)
  labels = rng.randint(0, 5, 32)
  centers = rng.randn(6, 8).astype(np.float32)
  expected = centers.copy()
  for k in np.unique(labels):
    members = feats[labels == k]
    delta = (centers[k] - members).sum(0) / (len(members) + 1.0) * 0.001
    expected[k] = centers[k] - delta
  got = jax.jit(cl.update_centers, static_argnums=3)(centers, feats, labels,
                                                     0.001)
  np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_init_centers_and_shape_errors():
  centers = cl.init_centers(jax.random.key(0), 4, 16)
  assert centers.shape == (4, 16) and centers.dtype == jnp.float32
  with pytest.raises(ValueError, match="do not match features"):
    cl.center_loss(FEATURES, LABELS, centers)
  with pytest.raises(ValueError, match="labels"):
    cl.update_centers(CENTERS, FEATURES, LABELS[:2], 0.1)


def _batch(b=8, length=5):
  # Example i is constant i, so a mixed value reveals its partner and weight.
  imu = np.broadcast_to(np.arange(b, dtype=np.float32)[:, None, None],
                        (b, length, 6)).copy()
  return {"imu": jnp.asarray(imu), "label": jnp.arange(b, dtype=jnp.int32),
          "worker": jnp.zeros(b, jnp.int32)}


def test_mixup_mixes_inputs_and_labels_consistently():
  batch = _batch()
  mixed, ya, yb, lam = mx.mixup(jax.random.key(0), batch, alpha=0.8)
  np.testing.assert_array_equal(ya, batch["label"])
  assert sorted(np.asarray(yb).tolist()) == list(range(8))  # A permutation.
  assert np.all(lam >= 0.5) and np.all(lam <= 1.0)
  expected = lam * ya + (1 - lam) * yb  # Labels equal the example values.
  np.testing.assert_allclose(mixed["imu"], np.broadcast_to(
      expected[:, None, None], (8, 5, 6)), rtol=1e-6)
  assert mixed["worker"] is batch["worker"]  # Untouched keys pass through.


def test_mixup_is_a_function_of_the_rng():
  batch = _batch()
  run = jax.jit(lambda key: mx.mixup(key, batch, 0.4))
  a, b, c = run(jax.random.key(3)), run(jax.random.key(3)), run(
      jax.random.key(4))
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)
  assert not np.array_equal(a[3], c[3])


def test_mixup_lambda_distribution():
  # alpha = 1: lam ~ U(0, 1); E[max(u, 1 - u)] = 3/4, plain mixup 1/2.
  batch = {"imu": jnp.zeros((20000, 1, 1)),
           "label": jnp.zeros(20000, jnp.int32)}
  lam = mx.mixup(jax.random.key(0), batch, 1.0)[3]
  assert abs(float(lam.mean()) - 0.75) < 0.01
  plain = mx.mixup(jax.random.key(0), batch, 1.0, max_lambda=False)[3]
  assert abs(float(plain.mean()) - 0.5) < 0.01 and float(plain.min()) < 0.1


def test_mixup_never_mixes_in_padding():
  batch = _batch()
  batch["mask"] = jnp.arange(8) < 5
  mixed, ya, yb, lam = mx.mixup(jax.random.key(1), batch, 0.8)
  padded_partner = np.asarray(yb) >= 5
  assert padded_partner.any()
  np.testing.assert_array_equal(np.asarray(lam)[padded_partner], 1.0)
  np.testing.assert_array_equal(np.asarray(mixed["imu"])[padded_partner],
                                np.asarray(batch["imu"])[padded_partner])


def test_mixup_errors():
  with pytest.raises(ValueError, match="alpha"):
    mx.mixup(jax.random.key(0), _batch(), 0.0)
  with pytest.raises(KeyError, match="spec"):
    mx.mixup(jax.random.key(0), _batch(), 0.4, keys=("imu", "spec"))


def test_mixup_cross_entropy_by_hand():
  logits = jnp.log(jnp.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]))
  ya, yb = jnp.array([0, 2]), jnp.array([1, 0])
  lam = jnp.array([1.0, 0.25])
  loss = mx.mixup_cross_entropy(logits, ya, yb, lam)
  np.testing.assert_allclose(
      loss, [-np.log(0.5), -(0.25 * np.log(0.8) + 0.75 * np.log(0.1))],
      rtol=1e-6)
  # Class weights scale each label's term by its own class's weight.
  weights = jnp.array([2.0, 3.0, 0.5])
  weighted = mx.mixup_cross_entropy(logits, ya, yb, lam, class_weights=weights)
  np.testing.assert_allclose(
      weighted, [-2.0 * np.log(0.5),
                 -(0.25 * 0.5 * np.log(0.8) + 0.75 * 2.0 * np.log(0.1))],
      rtol=1e-6)


def test_attend_discriminate_recipe_step():
  """The recipe as configs/attend_discriminate.py sets it (mixup + center
  loss), through the supervised task's loss in the trainer's jitted step."""
  config = attend_discriminate.get_config("tiny")
  assert config.task.mixup_alpha > 0 and config.task.center_loss_weight > 0
  data = types.SimpleNamespace(
      dataset=types.SimpleNamespace(classes=("a", "b", "c"),
                                    table=types.SimpleNamespace(label=np.arange(3))),
      indices=lambda part: np.arange(3), split={})  # balanced: weights 1
  task = tasks.TASKS.get(config.task.name)(config, data)
  batch = {"imu": jax.random.normal(jax.random.key(0), (6, 24, 6)),
           "label": jnp.array([0, 1, 2, 0, 1, 2], jnp.int32),
           "mask": jnp.ones(6, bool)}
  lr = optax.constant_schedule(1e-3)
  tx = task.optimizer(lr)
  # Compiled with compile_fast (eager init dispatches op by op).
  init_key = jax.random.key(1)
  state = train_state.from_variables(jit_testlib.compile_fast(
      task.init_variables, init_key, batch)(init_key, batch), tx)
  centers = state.model_state["centers"]
  step = jit_testlib.compile_fast(
      trainer.make_train_step(task, tx, lr, jax.random.key(3)), state, batch)
  new_state, metrics = step(state, batch)
  loss, new_centers = metrics["loss"], new_state.model_state["centers"]
  assert np.isfinite(loss) and np.isfinite(metrics["center_loss"])
  assert new_centers.shape == centers.shape
  # A center_lr-sized move (0.001).
  assert 0 < np.abs(new_centers - centers).max() < 10 * config.task.center_lr
  assert any(np.abs(a - b).max() > 0 for a, b in zip(
      jax.tree.leaves(new_state.params), jax.tree.leaves(state.params)))
