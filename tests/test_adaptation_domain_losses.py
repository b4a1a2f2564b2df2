"""Workers as domains: CORAL, GroupDRO and VREx show their mechanisms."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from egoimu_jax import config_lib
from egoimu_jax.adaptation import domain_losses as dl
from egoimu_jax.training import tasks

_coral = jax.jit(dl.coral_penalty, static_argnums=3)


def _reference_coral(x, groups):
  """Pairwise mean + covariance distance with covariances formed."""
  stats = {}
  for g in np.unique(groups):
    xg = x[groups == g]
    stats[g] = (xg.mean(0), np.cov(xg, rowvar=False))
  d, terms = x.shape[1], []
  keys = sorted(stats)
  for i, a in enumerate(keys):
    for b in keys[i + 1:]:
      terms.append(np.sum((stats[a][0] - stats[b][0]) ** 2) / d +
                   np.sum((stats[a][1] - stats[b][1]) ** 2) / d**2)
  return np.mean(terms)


def test_coral_zero_for_equal_statistics_and_matches_formed_covariances():
  rng = np.random.default_rng(0)
  base = rng.normal(size=(6, 5))
  # Worker 1's windows are worker 0's in another order: equal mean and cov.
  x = np.concatenate([base, base[::-1]]).astype(np.float32)
  groups = np.array([0] * 6 + [1] * 6)
  mask = np.ones(12, bool)
  assert abs(float(_coral(x, groups, mask, 4))) < 1e-5
  # Scaled and shifted: positive, and equal to the explicit formula.
  x2 = np.concatenate([base, 3 * base + 1]).astype(np.float32)
  got = float(_coral(x2, groups, mask, 4))
  assert got > 0.1
  np.testing.assert_allclose(got, _reference_coral(x2, groups), rtol=1e-4)
  # Padding rows are ignored (a huge masked row changes nothing).
  x3 = np.concatenate([x2, 1e3 * np.ones((1, 5), np.float32)])
  got3 = _coral(x3, np.append(groups, 1), np.append(mask, False), 4)
  np.testing.assert_allclose(float(got3), got, rtol=1e-4)
  # Three workers: the mean over the three pairs.
  x4 = np.concatenate([x2, base * 0.5]).astype(np.float32)
  g4 = np.array([0] * 6 + [1] * 6 + [3] * 6)
  np.testing.assert_allclose(float(_coral(x4, g4, np.ones(18, bool),
                                                    4)),
                             _reference_coral(x4, g4), rtol=1e-4)


def test_vrex_zero_for_equal_risks_positive_otherwise():
  groups = jnp.array([0, 0, 1, 1, 2])
  mask = jnp.array([True, True, True, True, False])
  risks, present = dl.group_risks(jnp.array([1.0, 1.0, 1.0, 1.0, 9.0]),
                                  groups, mask, 3)
  assert present.tolist() == [True, True, False]
  assert float(dl.vrex_penalty(risks, present)) == 0.0
  risks, present = dl.group_risks(jnp.array([1.0, 1.0, 3.0, 3.0, 9.0]),
                                  groups, mask, 3)
  np.testing.assert_allclose(float(dl.vrex_penalty(risks, present)), 1.0)


def test_groupdro_weights_move_to_the_worst_worker():
  """Toy problem: a shared bias fits worker 0 (target 0) and workers 1, 2
  (target 1). ERM sides with the majority; GroupDRO's weights move to
  worker 0, the worst-served, and its solution balances the risks."""
  targets = jnp.array([0.0] * 2 + [1.0] * 8)
  groups = jnp.array([0] * 2 + [1] * 4 + [2] * 4)
  mask = jnp.ones(10, bool)

  def train(method):
    tx = optax.sgd(0.1)

    def step(carry, _):
      theta, q, opt = carry

      def loss(t):
        value, _, new_q = dl.objective(method, (t - targets) ** 2, None,
                                       groups, mask, 3, weight=0.0, eta=0.5,
                                       q=q)
        return value, new_q
      (_, q), g = jax.value_and_grad(loss, has_aux=True)(theta)
      upd, opt = tx.update(g, opt)
      return (optax.apply_updates(theta, upd), q, opt), None

    theta = jnp.zeros(())
    (theta, q, _), _ = jax.lax.scan(
        step, (theta, jnp.full((3,), 1 / 3), tx.init(theta)), None, length=300)
    return float(theta), np.asarray(q)

  erm_theta, _ = train("erm")
  dro_theta, q = train("groupdro")
  assert erm_theta > 0.7            # the majority's target wins under ERM
  assert abs(dro_theta - 0.5) < 0.05  # worst-worker risk: the midpoint
  assert q[0] > 0.4 and q[0] == q.max()
  np.testing.assert_allclose(q.sum(), 1.0, rtol=1e-6)


def test_erm_objective_is_the_masked_mean():
  per_example = jnp.array([1.0, 2.0, 30.0])
  loss, metrics, q = dl.objective("erm", per_example, None, jnp.zeros(3, int),
                                  jnp.array([True, True, False]), 1,
                                  weight=1.0, eta=0.1)
  assert float(loss) == 1.5 and metrics == {} and q is None


def test_supervised_task_carries_groupdro_weights_and_coral_penalty():

  def task(**fields):
    config = config_lib.base()
    config.update(config_lib.trainer_config())
    config.model.update(name="deepconvlstm", variant="tiny")
    config.task.update(fields)
    data = types.SimpleNamespace(dataset=types.SimpleNamespace(
        classes=("a", "b", "c"), workers=("w0", "w1", "w2", "w3"),
        table=types.SimpleNamespace(label=np.arange(3))),
        indices=lambda part: np.arange(3), split={})  # balanced: weights 1
    t = tasks.TASKS.get("supervised")(config, data)
    t.model = t.model.clone(dropout_rate=0.0, lstm_layers=1)
    return t

  rng = np.random.default_rng(0)
  batch = {"imu": jnp.asarray(rng.normal(size=(6, 24, 6)), jnp.float32),
           "label": jnp.asarray([0, 1, 2, 0, 1, 2], jnp.int32),
           "worker": jnp.asarray([0, 0, 1, 1, 3, 3], jnp.int32),
           "mask": jnp.ones(6, bool)}
  dro = task(dg="groupdro", groupdro_eta=1.0)
  variables = dro.init_variables(jax.random.key(0), batch)
  params = variables.pop("params")
  np.testing.assert_allclose(variables[dl.GROUPDRO_STATE], 0.25)
  _, (state, metrics) = jax.jit(dro.loss)(params, variables, batch,
                                          jax.random.key(1))
  q = np.asarray(state[dl.GROUPDRO_STATE])
  assert q[2] < 0.25 and q[[0, 1, 3]].min() > q[2]   # worker 2 is absent
  assert "worst_worker_risk" in metrics
  coral = task(dg="coral", dg_weight=2.0)
  loss, (_, metrics) = jax.jit(coral.loss)(params, {}, batch,
                                           jax.random.key(1))
  np.testing.assert_allclose(float(loss), float(metrics["cross_entropy"]) +
                             2.0 * float(metrics["coral"]), rtol=1e-5)
  with pytest.raises(ValueError, match="config.task.dg"):
    task(dg="dann")
