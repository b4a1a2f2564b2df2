"""IMU-only MAE: its own registry entry, IMU-only outputs and losses, and
hand-off into the IMU-only classifier."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jit_testlib
from egoimu_jax import models
from egoimu_jax.models import evimae_spec
from egoimu_jax.models import imu_mae
from egoimu_jax.models import mae_losses
from egoimu_jax.models import transfer

KEY = jax.random.key(0)
RNGS = {"params": KEY, "masking": KEY, "dropout": KEY}


def test_imu_mae_trains_on_the_imu_branch_and_hands_off():
  model = models.build({"name": "imu_mae", "variant": "tiny", "imu_depth": 1,
                        "decoder_depth": 1})
  assert isinstance(model, imu_mae.IMUMAE)
  s = model.spec
  spec_x = jax.random.normal(KEY, (4, s.spec_time, s.spec_freq, 6))
  batch = {"spec": spec_x}  # no frames needed

  def loss_and_features(b):
    variables = model.init(RNGS, b)
    (out, aux), _ = model.apply(variables, b, train=True, rngs=RNGS,
                                mutable=["batch_stats"])
    total, terms = mae_losses.losses(out)
    return variables, out, terms, aux

  variables, out, terms, aux = jit_testlib.compile_fast(loss_and_features,
                                                        batch)(batch)
  assert set(variables["params"]) == {"imu_tokens", "imu_encoder", "graph",
                                      "unified", "norm_imu", "decoder"}
  assert out["imu"]["pred"].shape == (4, 16, 8 * 8 * 6)
  assert set(terms) == {"mse_imu", "graph", "total"}
  np.testing.assert_allclose(terms["total"],
                             terms["mse_imu"] + 10 * terms["graph"], rtol=1e-6)
  assert aux["features"].shape == (4, s.width)

  clf = models.build({"name": "imu_mae_classifier", "variant": "tiny",
                      "num_classes": 4, "imu_depth": 1, "decoder_depth": 1})
  clf_vars = jax.eval_shape(lambda b: clf.init(RNGS, b), batch)
  merged = transfer.transfer(variables, clf_vars)
  logits, aux = jax.eval_shape(lambda v, b: clf.apply(v, b), merged, batch)
  assert logits.shape == (4, 4)
  assert aux["features"].shape == (4, s.width + s.graph_hidden)


def test_imu_mae_rejects_video():
  model = imu_mae.IMUMAE(spec=evimae_spec.make_spec("tiny"),
                         modalities=("imu", "video"))
  with pytest.raises(ValueError, match="IMU-only"):
    jax.eval_shape(lambda: model.init(RNGS, {"spec": jnp.zeros((1, 32, 32,
                                                                6))}))


def test_s_variant_pools_imu_tokens_to_the_unified_width():
  model = imu_mae.create("S")
  s = model.spec
  batch = {"spec": jax.ShapeDtypeStruct((2, 160, 128, 6), jnp.float32)}
  variables = jax.eval_shape(lambda b: model.init(RNGS, b), batch)
  (out, aux), _ = jax.eval_shape(
      lambda v, b: model.apply(v, b, train=True, rngs=RNGS,
                               mutable=["batch_stats"]), variables, batch)
  assert s.imu_width == 768 and s.width == 384
  assert variables["params"]["unified"]["attn"]["query"]["kernel"].shape == (
      384, 384)
  assert out["imu"]["pred"].shape == (2, 80, 16 * 16 * 6)
  assert out["graph"]["pred"].shape == (2, 2, 768)
  assert aux["features"].shape == (2, 384)
