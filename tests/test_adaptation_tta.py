"""AdaBN and TENT on real models: statistics and entropy."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax import models
from egoimu_jax.adaptation import tta


def _dcl(**kw):
  return models.build(dict(name="deepconvlstm", variant="tiny", num_classes=3,
                           lstm_layers=1, dropout_rate=0.0, **kw))


def _batch(n=6, length=64, seed=0):
  x = jax.random.normal(jax.random.key(seed), (n, length, 6)) * 2.0 + 1.0
  return {"imu": x}


def test_adabn_statistics_equal_the_persons_batch_statistics():
  model = _dcl(batch_norm=True)
  batch = _batch()
  variables = model.init({"params": jax.random.key(1)}, batch, train=False)
  mask = jnp.array([True] * 4 + [False] * 2)   # two padding rows
  stats = jax.jit(lambda v, b, m: tta.adabn_stats(model.apply, v, b, m))(
      variables, batch, mask)
  # Reference: a training-mode pass over the 4 real windows normalises each
  # layer with its batch statistics and folds them into the running ones
  # with momentum 0.9; undo the fold.
  _, upd = model.apply(variables, {"imu": batch["imu"][:4]}, train=True,
                       mutable=["batch_stats"])
  ref = jax.tree.map(lambda u, o: (u - 0.9 * o) / 0.1, upd["batch_stats"],
                     variables["batch_stats"])
  for got, want in zip(jax.tree.leaves(stats), jax.tree.leaves(ref)):
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-5)
  # The first layer's statistics are those of its input, computed directly.
  conv = jax.nn.relu(nn.Conv(
      model.num_filters, (model.kernel_size,),
      kernel_dilation=(model.dilation,), padding="VALID").apply(
          {"params": variables["params"]["conv0"]},
          jnp.swapaxes(batch["imu"][:4], 1, 2)[..., None]))
  np.testing.assert_allclose(stats["bn0"]["mean"], conv.mean((0, 1, 2)),
                             rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(stats["bn0"]["var"], conv.var((0, 1, 2)),
                             rtol=1e-4, atol=1e-6)
  assert tta.has_batch_norm(variables)
  assert not tta.has_batch_norm(_dcl().init(jax.random.key(0), batch,
                                            train=False))


def test_tent_adapts_only_norm_parameters_and_lowers_entropy():
  model = _dcl(batch_norm=True)
  batch = _batch(n=8, seed=3)
  variables = dict(model.init({"params": jax.random.key(2)}, batch,
                              train=False))
  trainable = tta.norm_param_mask(model, variables, batch)
  assert trainable["bn0"] == {"scale": True, "bias": True}
  assert trainable["head"] == {"kernel": False, "bias": False}
  mask = jnp.array([True] * 7 + [False])
  run = jax.jit(tta.make_tent(model.apply, tta.tent_optimizer(1e-2, trainable),
                              steps=15))
  params, history = run(variables, batch, mask)
  assert history.shape == (16,)
  assert float(history[-1]) < float(history[0]) - 1e-3
  np.testing.assert_allclose(
      float(history[0]),
      float(tta.entropy(model.apply(variables, batch, train=False)[0], mask)),
      rtol=1e-5)
  changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)),
                         variables["params"], params)
  assert changed["bn0"]["scale"] and not changed["head"]["kernel"]
  assert not changed["conv0"]["kernel"]


def test_tent_finds_layer_norms_of_a_transformer():
  model = models.build(dict(name="moment", variant="tiny", num_classes=3))
  batch = _batch(n=2, length=64)
  variables = jax.eval_shape(
      lambda: model.init({"params": jax.random.key(0)}, batch, train=False))
  trainable = tta.norm_param_mask(model, variables, batch)
  flat = jax.tree_util.tree_flatten_with_path(trainable)[0]
  norm = [jax.tree_util.keystr(p) for p, t in flat if t]
  assert norm and all("norm" in n.lower() for n in norm)
  assert len(norm) < len(flat)
