"""COMODO's and IMU2CLIP's losses against hand (numpy) computations, the
COMODO schedule, and the task-owned variables of ``tasks.base``."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from egoimu_jax.models import distill_losses
from egoimu_jax.training import optim
from egoimu_jax.training.tasks import base

TAU_T, TAU_S = 0.1, 0.05


def _normalize(x):
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _log_softmax(x):
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _comodo_numpy(z_x, z_v, queue):
  """The reference's loss, written out: Q = [queue; z_v]."""
  bank = np.concatenate([queue, z_v])
  p = np.exp(_log_softmax(z_v @ bank.T / TAU_T))
  logits = _normalize(z_x) @ bank.T / TAU_S
  return -np.sum(p * _log_softmax(logits)) / len(z_x), bank[len(z_x):]


def _toy(seed, b=4, k=6, d=3):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(b, d)), _normalize(rng.normal(size=(b, d))),
          _normalize(rng.normal(size=(k, d))))


def test_comodo_loss_and_queue_match_hand_computation():
  z_x, z_v, queue = _toy(0)
  want, want_queue = _comodo_numpy(z_x, z_v, queue)
  valid = jnp.ones(len(z_x), bool)
  got = distill_losses.comodo_loss(jnp.asarray(z_x, jnp.float32),
                                   jnp.asarray(z_v, jnp.float32),
                                   jnp.asarray(queue, jnp.float32), valid,
                                   TAU_T, TAU_S)
  np.testing.assert_allclose(float(got), want, rtol=1e-5)
  new_queue = distill_losses.fifo_update(jnp.asarray(queue, jnp.float32),
                                         jnp.asarray(z_v, jnp.float32), valid)
  np.testing.assert_allclose(np.asarray(new_queue), want_queue, rtol=1e-6)
  # The oldest rows left, the batch is at the end, in order.
  np.testing.assert_allclose(np.asarray(new_queue)[-len(z_v):], z_v,
                             rtol=1e-6)


def test_comodo_invalid_rows_act_as_absent():
  z_x, z_v, queue = _toy(1, b=5)
  valid = np.array([True, False, True, True, False])
  want, want_queue = _comodo_numpy(z_x[valid], z_v[valid], queue)
  args = [jnp.asarray(a, jnp.float32) for a in (z_x, z_v, queue)]
  got = distill_losses.comodo_loss(*args, jnp.asarray(valid), TAU_T, TAU_S)
  np.testing.assert_allclose(float(got), want, rtol=1e-5)
  new_queue = distill_losses.fifo_update(args[2], args[1], jnp.asarray(valid))
  np.testing.assert_allclose(np.asarray(new_queue), want_queue, rtol=1e-6)
  # Gradients stay finite with excluded columns.
  grad = jax.grad(lambda zx: distill_losses.comodo_loss(
      zx, args[1], args[2], jnp.asarray(valid), TAU_T, TAU_S))(args[0])
  assert np.isfinite(np.asarray(grad)).all()
  assert not np.asarray(grad)[~valid].any()


def test_clip_loss_matches_hand_computation():
  rng = np.random.default_rng(2)
  s, t = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
  log_t = np.log(0.1)
  logits = _normalize(s) @ _normalize(t).T / np.exp(log_t)
  want = (-np.mean(np.diag(_log_softmax(logits))) -
          np.mean(np.diag(_log_softmax(logits.T)))) / 2
  got = distill_losses.clip_loss(jnp.asarray(s, jnp.float32),
                                 jnp.asarray(t, jnp.float32),
                                 jnp.asarray(log_t, jnp.float32),
                                 jnp.ones(5, bool))
  np.testing.assert_allclose(float(got["loss"]), want, rtol=1e-5)
  assert float(got["accuracy"]) == np.mean(
      np.argmax(logits, 1) == np.arange(5))
  # Invalid rows: the loss of the batch without them.
  valid = np.array([True, True, False, True, True])
  sub = distill_losses.clip_loss(jnp.asarray(s[valid], jnp.float32),
                                 jnp.asarray(t[valid], jnp.float32),
                                 jnp.asarray(log_t, jnp.float32),
                                 jnp.ones(4, bool))
  masked = distill_losses.clip_loss(jnp.asarray(s, jnp.float32),
                                    jnp.asarray(t, jnp.float32),
                                    jnp.asarray(log_t, jnp.float32),
                                    jnp.asarray(valid))
  np.testing.assert_allclose(float(masked["loss"]), float(sub["loss"]),
                             rtol=1e-5)


def test_task_variables_split_and_join():
  model = {"params": {"encoder": {"kernel": 1}, "head": {"bias": 2}},
           "batch_stats": {"norm": {"mean": 3}}}
  owned = {"params": {"proj": {"kernel": 4}}, "task_state": {"queue": 5}}
  joined = base.join_task(model, owned)
  assert joined["params"]["encoder"] == {"kernel": 1}  # model paths unchanged
  assert joined["params"][base.TASK] == {"proj": {"kernel": 4}}
  assert joined["task_state"] == {base.TASK: {"queue": 5}}
  assert base.split_task(joined) == (model, owned)
  assert base.split_task(model) == (model, {})


def test_warmup_linear_schedule():
  """COMODO's: linear warmup over 10%, then linear decay to 0."""
  lr = optim.schedule({"lr": 3e-4, "schedule": "warmup_linear"}, 100, 10)
  np.testing.assert_allclose([float(lr(s)) for s in (0, 5, 10, 55, 100)],
                             [0.0, 1.5e-4, 3e-4, 1.5e-4, 0.0], atol=1e-9)


def test_task_init_variables_adds_owned_variables_under_task():
  config = ml_collections.ConfigDict(dict(
      model=dict(name="imu2clip", variant="tiny", num_classes=2),
      dtype="float32", task=dict(name="toy")))

  class Toy(base.Task):
    def init_task_variables(self, rng, batch, variables):
      return {"params": {"proj": jnp.zeros(3)},
              "task_state": {"queue": jnp.ones((4, 3))}}

  batch = {"imu": jnp.zeros((1, 1000, 6))}
  plain = base.Task(config, None).init_variables(jax.random.key(0), batch)
  owned = Toy(config, None).init_variables(jax.random.key(0), batch)
  model, task = base.split_task(owned)
  assert jax.tree.map(np.shape, model) == jax.tree.map(np.shape, plain)
  assert set(owned["params"]) == set(plain["params"]) | {base.TASK}
  assert task["task_state"]["queue"].shape == (4, 3)
