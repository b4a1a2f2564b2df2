"""Attend-and-Discriminate: parity with the ISWC'22 PyTorch model, aux, dtypes."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import model_testlib
from egoimu_jax import models
from egoimu_jax.models import attend_discriminate as ad


def _torch_model(model, length, seed=0):
  import torch  # pylint: disable=g-import-not-at-top
  torch.manual_seed(seed)
  net = model_testlib.iswc22_reference("Attend.py").AttendDiscriminate(
      (1, 1, length, 6), model.num_classes, 1, ad.torch_config(model))
  with torch.no_grad():  # gamma starts at 0, which would hide the attention.
    net.fe.sa.gamma.fill_(0.7)
  return net.eval()


@pytest.mark.torch
@pytest.mark.parametrize("batch,length,overrides", [
    (2, 1000, {}),  # The benchmark's windows at the published size.
    (3, 40, dict(num_filters=8, hidden_dim=16, sa_reduction=2,
                 activation="tanh", gru_layers=1, dropout_rnn=0.0)),
    (2, 30, dict(num_filters=4, hidden_dim=8, kernel_size=3, gru_layers=3)),
])
def test_parity_iswc22(batch, length, overrides):
  import torch  # pylint: disable=g-import-not-at-top
  model = ad.create(num_classes=5, **overrides)
  net = _torch_model(model, length)
  x = np.random.RandomState(1).randn(batch, length, 6).astype(np.float32)
  with torch.no_grad():
    xt = torch.from_numpy(x)[:, None]
    expected = net(xt).numpy()
    pooled = net.fe(xt).numpy()
  variables = ad.variables_from_torch(net.state_dict(), model)
  logits, aux = jax.jit(lambda v, x: model.apply(v, {"imu": x}, train=False))(
      variables, x)
  np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(aux["pooled"], pooled, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(
      aux["features"], pooled / np.linalg.norm(pooled, axis=1, keepdims=True),
      rtol=1e-5, atol=1e-6)


@pytest.mark.torch
def test_converter_keeps_authors_centers_and_flags_leftovers():
  model = ad.create(variant="tiny", num_classes=3, conv_layers=4)
  state = dict(_torch_model(model, 30).state_dict())
  centers = np.random.RandomState(0).randn(3, model.hidden_dim)
  variables = ad.variables_from_torch({**state, "centers": centers}, model)
  np.testing.assert_array_equal(variables["centers"], centers)
  with pytest.raises(ValueError, match="keys not converted.*extra"):
    ad.variables_from_torch({**state, "extra.weight": centers}, model)
  del state["fe.rnn.bias_hh_l1"]
  with pytest.raises(KeyError, match="missing key 'fe.rnn.bias_hh_l1'"):
    ad.variables_from_torch(state, model)


def _init(model, x):
  return model.init({"params": jax.random.key(0)}, {"imu": x}, train=False)


def test_structure_and_aux():
  model = ad.create(num_classes=4)
  x = jax.random.normal(jax.random.key(1), (2, 60, 6))
  shapes = jax.eval_shape(lambda: _init(model, x))["params"]
  assert shapes["conv3"]["kernel"].shape == (5, 64, 64)
  assert shapes["sa"]["query"]["kernel"].shape == (64, 64)
  assert shapes["gru0"]["kernel_ih"].shape == (6 * 64, 3 * 128)
  assert shapes["gru1"]["kernel_hh"].shape == (128, 3 * 128)
  assert "gru2" not in shapes
  tiny = ad.create(variant="tiny", num_classes=4)
  logits, aux = tiny.apply(_init(tiny, x), {"imu": x}, train=False)
  assert logits.shape == (2, 4)
  np.testing.assert_allclose(np.linalg.norm(aux["features"], axis=1), 1.0,
                             rtol=1e-6)
  assert aux["pooled"].shape == (2, 16)


def test_dropout_rng_and_bf16_jit():
  model = ad.create(variant="tiny", num_classes=3)
  x = jax.random.normal(jax.random.key(0), (4, 32, 6))
  variables = _init(model, x)
  run = jax.jit(lambda key: model.apply(variables, {"imu": x}, train=True,
                                        rngs={"dropout": key})[0])
  np.testing.assert_array_equal(run(jax.random.key(1)), run(jax.random.key(1)))
  assert not np.allclose(run(jax.random.key(1)), run(jax.random.key(2)))

  bf16 = dataclasses.replace(model, dtype=jnp.bfloat16)
  low, aux = jax.jit(lambda v: bf16.apply(v, {"imu": x}, train=False))(
      variables)
  assert low.dtype == jnp.bfloat16 and aux["features"].dtype == jnp.bfloat16
  ref = model.apply(variables, {"imu": x}, train=False)[0]
  np.testing.assert_allclose(np.asarray(low, np.float32), ref, atol=5e-2)


def test_registry_and_errors():
  model = models.build({"name": "attend_discriminate", "variant": "tiny",
                        "num_classes": 3})
  assert isinstance(model, ad.AttendDiscriminate)
  with pytest.raises(ValueError, match="activation"):
    _init(dataclasses.replace(model, activation="gelu"), jnp.zeros((1, 20, 6)))
  with pytest.raises(ValueError, match="exactly 4 conv"):
    ad.torch_config(model)


def test_strided_variant_shortens_the_gru_sequence():
  model = ad.create(variant="strided", num_classes=3, num_filters=8,
                    hidden_dim=16)
  x = jax.random.normal(jax.random.key(0), (2, 1000, 6))
  variables = _init(model, x)
  (logits, _), state = model.apply(
      variables, {"imu": x}, train=False, capture_intermediates=True,
      mutable=["intermediates"])
  assert logits.shape == (2, 3)
  # VALID convs of width 5 with strides (1, 2, 1, 2): 1000 -> 996 -> 496
  # -> 492 -> 244 steps.
  gru_out = state["intermediates"]["gru1"]["__call__"][0]
  assert gru_out.shape == (2, 244, 16)
  with pytest.raises(ValueError, match="unstrided convs"):
    ad.torch_config(model)
  with pytest.raises(ValueError, match="one stride per conv"):
    _init(dataclasses.replace(model, conv_strides=(2, 2)), x)
