"""DeepConvLSTM: parity with the ISWC'22 PyTorch model, variants, dtypes."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jit_testlib
import model_testlib
from egoimu_jax import models
from egoimu_jax.models import deepconvlstm


def _torch_model(model, length, seed=0, stride_one=False):
  import torch  # pylint: disable=g-import-not-at-top
  ref = model_testlib.iswc22_reference("deepconvlstm.py")
  torch.manual_seed(seed)
  config = deepconvlstm.iswc22_config(
      dataclasses.replace(model, conv_strides=(1, 2) * (len(model.conv_strides) // 2),
                    dropout_before_head=False, dropout_between_lstm=False))
  net = ref.DeepConvLSTM((1, 1, length, 6), model.num_classes, 1, config)
  for block in net.conv_blocks:
    if stride_one:  # The paper's conv stack: no stride in the second conv.
      block.conv2.stride = (1, 1)
    if model.batch_norm:  # Non-trivial running statistics and affine params.
      for bn in (block.norm1, block.norm2):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.5, 0.5)
  return net


def _torch_forward(net, x, train=False):
  import torch  # pylint: disable=g-import-not-at-top
  net.train(train)
  with torch.no_grad():
    return net(torch.from_numpy(x)[:, None]).numpy()


@pytest.mark.torch
@pytest.mark.parametrize("batch,length,overrides", [
    # The benchmark's windows at the published ISWC'22 size.
    (2, 1000, {}),
    (3, 40, dict(num_filters=8, lstm_units=16, batch_norm=True)),
    (4, 64, dict(num_filters=8, lstm_units=16, lstm_layers=2,
                 conv_strides=(1, 2), kernel_size=3, dilation=2)),
])
def test_parity_iswc22(batch, length, overrides):
  model = deepconvlstm.create(variant="iswc22", num_classes=5, **overrides)
  net = _torch_model(model, length)
  x = np.random.RandomState(1).randn(batch, length, 6).astype(np.float32)
  variables = deepconvlstm.variables_from_torch(net.state_dict(), model)
  logits, aux = jax.jit(lambda v, x: model.apply(v, {"imu": x}, train=False))(
      variables, x)
  np.testing.assert_allclose(logits, _torch_forward(net, x), rtol=1e-5,
                             atol=1e-5)
  assert aux["features"].shape == (batch, model.lstm_units)


@pytest.mark.torch
def test_parity_batch_norm_train_mode():
  """Batch statistics (not running ones) normalise when train=True."""
  model = deepconvlstm.create(variant="iswc22", num_classes=4, num_filters=8,
                              lstm_units=16, batch_norm=True, dropout_rate=0.0)
  net = _torch_model(model, 48)
  x = np.random.RandomState(2).randn(5, 48, 6).astype(np.float32)
  variables = deepconvlstm.variables_from_torch(net.state_dict(), model)
  (logits, _), updates = model.apply(variables, {"imu": x}, train=True,
                                     mutable=["batch_stats"])
  np.testing.assert_allclose(logits, _torch_forward(net, x, train=True),
                             rtol=1e-5, atol=1e-5)
  # Same momentum convention; torch's running var uses the unbiased batch
  # variance (n = 5 * 44 * 6 values per filter here), linen the biased one.
  torch_stats = deepconvlstm.variables_from_torch(
      net.state_dict(), model)["batch_stats"]
  for name, stats in updates["batch_stats"].items():
    old_mean = variables["batch_stats"][name]["mean"]
    assert np.abs(stats["mean"] - old_mean).max() > 1e-3
    np.testing.assert_allclose(stats["mean"], torch_stats[name]["mean"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats["var"], torch_stats[name]["var"],
                               rtol=2e-3)


@pytest.mark.torch
def test_parity_paper_stack_eval():
  """Paper variant (4 unstrided convs, 2 LSTMs) in eval mode vs torch with
  the ISWC'22 second-conv stride set to 1."""
  model = deepconvlstm.create(variant="paper", num_classes=3, num_filters=8,
                              lstm_units=16)
  net = _torch_model(model, 60, stride_one=True)
  x = np.random.RandomState(3).randn(2, 60, 6).astype(np.float32)
  variables = deepconvlstm.variables_from_torch(net.state_dict(), model)
  logits, _ = model.apply(variables, {"imu": x}, train=False)
  np.testing.assert_allclose(logits, _torch_forward(net, x), rtol=1e-5,
                             atol=1e-5)


def _init(model, x, seed=0):
  return model.init({"params": jax.random.key(seed)}, {"imu": x}, train=False)


def _init_fast(model, x, seed=0):
  """``_init`` under ``compile_fast`` (eager init dispatches op by op)."""
  return jit_testlib.compile_fast(lambda x: _init(model, x, seed), x)(x)


def test_paper_variant_structure():
  model = deepconvlstm.create(num_classes=3)
  x = jnp.zeros((2, 100, 6))
  shapes = jax.eval_shape(lambda: _init(model, x))["params"]
  assert sorted(shapes) == ["conv0", "conv1", "conv2", "conv3", "head",
                            "lstm0", "lstm1"]
  assert shapes["conv0"]["kernel"].shape == (5, 1, 64)
  assert shapes["lstm0"]["kernel_ih"].shape == (6 * 64, 4 * 128)
  assert shapes["lstm1"]["kernel_hh"].shape == (128, 4 * 128)
  assert shapes["head"]["kernel"].shape == (128, 3)
  with pytest.raises(ValueError, match="not an ISWC'22"):
    deepconvlstm.iswc22_config(model)
  with pytest.raises(ValueError, match="unknown DeepConvLSTM variant"):
    deepconvlstm.create(variant="huge", num_classes=3)


def test_dropout_uses_rng_and_train_flag():
  model = deepconvlstm.create(variant="tiny", num_classes=3)
  x = jax.random.normal(jax.random.key(0), (4, 32, 6))
  variables = _init_fast(model, x)
  # One compiled program per train flag, shared by every key.
  programs = {train: jit_testlib.compile_fast(lambda key, train=train: (
      model.apply(variables, {"imu": x}, train=train,
                  rngs={"dropout": key})[0]), jax.random.key(0))
              for train in (True, False)}
  run = lambda key, train: programs[train](key)  # noqa: E731
  np.testing.assert_array_equal(run(jax.random.key(1), True),
                                run(jax.random.key(1), True))
  assert not np.allclose(run(jax.random.key(1), True),
                         run(jax.random.key(2), True))
  np.testing.assert_array_equal(run(jax.random.key(1), False),
                                run(jax.random.key(2), False))


def test_jit_train_step_bf16():
  """bf16 compute, f32 params: a jitted AdamW step runs and tracks f32."""
  x = jax.random.normal(jax.random.key(0), (4, 40, 6))
  labels = jnp.array([0, 1, 2, 0])
  f32 = deepconvlstm.create(variant="tiny", num_classes=3)
  bf16 = dataclasses.replace(f32, dtype=jnp.bfloat16)
  params = _init_fast(f32, x)["params"]
  tx = optax.adamw(1e-3)

  def loss_fn(p, model, key):
    logits, aux = model.apply({"params": p}, {"imu": x}, train=True,
                              rngs={"dropout": key})
    assert logits.dtype == model.dtype or model.dtype is None
    assert aux["features"].shape == (4, 16)
    return optax.softmax_cross_entropy_with_integer_labels(
        logits.astype(jnp.float32), labels).mean()

  def step(p, opt_state, key):
    loss, grads = jax.value_and_grad(loss_fn)(p, bf16, key)
    updates, opt_state = tx.update(grads, opt_state, p)
    return optax.apply_updates(p, updates), opt_state, loss, grads

  opt_state, key = tx.init(params), jax.random.key(1)
  new_params, _, loss, grads = jit_testlib.compile_fast(
      step, params, opt_state, key)(params, opt_state, key)
  assert np.isfinite(loss)
  assert all(l.dtype == jnp.float32 for l in jax.tree.leaves(new_params))
  assert all(np.abs(g).max() > 0 for g in jax.tree.leaves(grads))
  evaluate = lambda model: jit_testlib.compile_fast(lambda p: model.apply(
      {"params": p}, {"imu": x}, train=False)[0], params)(params)
  ref, low = evaluate(f32), evaluate(bf16)
  assert low.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(low, np.float32), ref, atol=5e-2)


def test_registry_builds_variants():
  model = models.build({"name": "deepconvlstm", "variant": "iswc22",
                        "num_classes": 3})
  assert isinstance(model, deepconvlstm.DeepConvLSTM)
  assert model.conv_strides == (1, 2, 1, 2) and model.lstm_layers == 1
  from_list = models.build({"name": "deepconvlstm", "num_classes": 3,
                            "conv_strides": [1, 2]})
  assert from_list.conv_strides == (1, 2)
  hash(from_list)


def test_rejects_bad_input_rank():
  model = deepconvlstm.create(variant="tiny", num_classes=3)
  with pytest.raises(ValueError, match=r"\[b, L, channels\]"):
    _init(model, jnp.zeros((2, 32)))


def test_xavier_normal_init_is_torch_xavier_normal():
  """dl-for-har's init: torch ``xavier_normal_`` on each conv, LSTM
  weight_ih / weight_hh (the fused [4h, h] matrix) and linear weight; zero
  biases."""
  model = deepconvlstm.create(num_classes=5, lstm_layers=1,
                              weights_init="xavier_normal")
  params = _init(model, jnp.zeros((2, 40, 6)))["params"]
  h, f, k = 128, 64, 5

  def std(fan_in, fan_out):
    return np.sqrt(2.0 / (fan_in + fan_out))

  want = {("conv1", "kernel"): std(f * k, f * k),
          ("lstm0", "kernel_ih"): std(6 * f, 4 * h),
          ("lstm0", "kernel_hh"): std(h, 4 * h),
          ("head", "kernel"): std(h, 5)}
  for (layer, name), expected in want.items():
    np.testing.assert_allclose(np.std(params[layer][name]), expected,
                               rtol=0.05, err_msg=f"{layer}/{name}")
  for layer in ("conv0", "lstm0", "head"):
    assert not np.any(params[layer]["bias"])
  default = _init(deepconvlstm.create(num_classes=5, lstm_layers=1),
                  jnp.zeros((2, 40, 6)))["params"]
  assert abs(np.std(default["lstm0"]["kernel_hh"]) - want[
      ("lstm0", "kernel_hh")]) > 0.01  # orthogonal per gate: another init
  with pytest.raises(ValueError, match="weights_init"):
    _init(deepconvlstm.create(num_classes=5, weights_init="he"),
          jnp.zeros((2, 40, 6)))
