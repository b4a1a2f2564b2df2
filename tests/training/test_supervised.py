"""The supervised task's loss hooks: padding mask, center loss, mixup."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from egoimu_jax import config_lib
from egoimu_jax.training import tasks
from egoimu_jax.training.tasks import base


def _config(class_weights="none", **task_fields):
  config = config_lib.base()
  config.update(config_lib.trainer_config())
  config.model.name = "deepconvlstm"
  config.model.variant = "tiny"
  config.class_weights = class_weights
  config.task.update(task_fields)
  return config


def _task(data=None, class_weights="none", **task_fields):
  data = data or types.SimpleNamespace(
      dataset=types.SimpleNamespace(classes=("a", "b", "c")), split={})
  task = tasks.TASKS.get("supervised")(
      _config(class_weights, **task_fields), data)
  # No dropout, one LSTM layer: deterministic and quick to compile.
  task.model = task.model.clone(dropout_rate=0.0, lstm_layers=1)
  return task


def test_mask_center_loss_and_mixup():
  rng = np.random.default_rng(0)
  # Four real windows (classes 0 and 1) and two padding rows labelled 2.
  batch = {"imu": jnp.asarray(rng.normal(size=(6, 24, 6)), jnp.float32),
           "label": jnp.asarray([0, 1, 0, 1, 2, 2], jnp.int32),
           "mask": jnp.asarray([True] * 4 + [False] * 2)}
  task = _task(center_loss_weight=0.5, center_lr=0.5)
  variables = jax.jit(task.init_variables)(jax.random.key(0), batch)
  assert variables["centers"].shape == (3, 16)
  params = variables.pop("params")
  key = jax.random.key(1)
  loss, (state, metrics) = jax.jit(task.loss)(params, variables, batch, key)

  # Cross-entropy averages the real rows only.
  probs = np.asarray(jax.jit(task.predict)({"params": params, **state},
                                           batch)["probs"])
  np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
  want = -np.log(probs[np.arange(4), [0, 1, 0, 1]]).mean()
  np.testing.assert_allclose(float(metrics["cross_entropy"]), want, rtol=1e-5)
  assert float(loss) == float(metrics["loss"]) > float(metrics["cross_entropy"])
  # Centres of the classes in the batch move; class 2 (padding only) stays.
  old, new = np.asarray(variables["centers"]), np.asarray(state["centers"])
  assert not np.allclose(old[:2], new[:2])
  np.testing.assert_array_equal(old[2], new[2])

  mixed = _task(mixup_alpha=0.8)
  mixed_loss = jax.jit(mixed.loss)
  l1, _ = mixed_loss(params, {}, batch, key)
  l2, _ = mixed_loss(params, {}, batch, key)
  assert float(l1) == float(l2)                # same rng, same mix
  assert abs(float(l1) - want) > 1e-4          # but not the plain loss


def test_every_registered_task_is_a_task():
  for name in tasks.TASKS.names():
    assert issubclass(tasks.TASKS.get(name), base.Task), name


def test_balanced_class_weights():
  rng = np.random.default_rng(0)
  batch = {"imu": jnp.asarray(rng.normal(size=(4, 24, 6)), jnp.float32),
           "label": jnp.asarray([0, 0, 1, 2], jnp.int32),
           "mask": jnp.asarray([True] * 4)}
  # Training windows: 6 of class 0, 2 of class 1, none of class 2.
  train_labels = np.array([0, 0, 0, 0, 0, 0, 1, 1])
  data = types.SimpleNamespace(
      dataset=types.SimpleNamespace(
          classes=("a", "b", "c"),
          table=types.SimpleNamespace(label=train_labels)),
      indices=lambda part: np.arange(len(train_labels)), split={})
  plain, balanced = _task(), _task(data, class_weights="balanced")
  # sklearn's "balanced": n / (K n_c); an absent class gets 0.
  np.testing.assert_allclose(balanced.class_weights, [8 / 18, 8 / 6, 0.0])
  variables = jax.jit(plain.init_variables)(jax.random.key(0), batch)
  params = variables.pop("params")
  probs = np.asarray(jax.jit(plain.predict)({"params": params}, batch)["probs"])
  ce = -np.log(probs[np.arange(4), [0, 0, 1, 2]])
  loss, _ = jax.jit(balanced.loss)(params, {}, batch, jax.random.key(1))
  np.testing.assert_allclose(
      float(loss), (ce * np.array([8 / 18, 8 / 18, 8 / 6, 0.0])).mean(),
      rtol=1e-5)
  with pytest.raises(ValueError, match="class_weights"):
    _task(data, class_weights="inverse")
  # The old per-task field is refused, not silently ignored.
  with pytest.raises(ValueError, match="moved to config.class_weights"):
    tasks.TASKS.get("supervised")(_stale_task_field(), data)


def _stale_task_field():
  config = _config("balanced")
  config.task.class_weights = "balanced"
  return config


def test_freeze_trains_only_the_unfrozen_leaves():
  """``optim.freeze``: a linear probe through the trainer (frozen encoder)."""
  import optax  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  batch = {"imu": jnp.asarray(rng.normal(size=(4, 24, 6)), jnp.float32),
           "label": jnp.asarray([0, 1, 2, 1], jnp.int32),
           "mask": jnp.asarray([True] * 4)}
  task = _task()
  task.config.optim.freeze = "(?!head/).*"
  variables = jax.jit(task.init_variables)(jax.random.key(0), batch)
  params = variables.pop("params")
  tx = task.optimizer(optax.constant_schedule(0.1))
  grads = jax.grad(lambda p: task.loss(p, variables, batch,
                                       jax.random.key(1))[0])(params)
  updates, _ = tx.update(grads, tx.init(params), params)
  new = optax.apply_updates(params, updates)
  flat_old = jax.tree_util.tree_flatten_with_path(params)[0]
  flat_new = jax.tree.leaves(new)
  changed = {"/".join(str(getattr(k, "key", k)) for k in path)
             for (path, a), b in zip(flat_old, flat_new)
             if not np.array_equal(a, b)}
  assert changed and all(p.startswith("head/") for p in changed), changed
