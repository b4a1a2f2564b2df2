"""VideoMAE classifier: shapes and options, the registry, the FLOP model,
checkpoint import (numpy only) and logits parity with transformers'
``VideoMAEForVideoClassification`` (random weights)."""

import json
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hf_testlib
from egoimu_jax import models
from egoimu_jax.models import videomae
from egoimu_jax.models.convert import videomae as convert

KEY = jax.random.key(0)
SMALL = hf_testlib.VIDEOMAE_SMALL


def _frames(b=2, t=4, size=32, seed=0):
  return np.random.default_rng(seed).normal(size=(b, t, size, size, 3)).astype(
      np.float32)


def _init(model, batch):
  return jax.jit(lambda b: model.init({"params": KEY}, b, train=False))(batch)


def test_tiny_shapes_names_and_training_noise():
  model = videomae.create("tiny", num_classes=5, drop_path=0.5,
                          head_dropout=0.5)
  batch = {"frames": jnp.asarray(_frames())}
  variables = _init(model, batch)
  assert set(variables) == {"params"}
  assert set(variables["params"]) == {"patch_embed", "encoder", "fc_norm",
                                      "head"}
  assert variables["params"]["head"]["kernel"].shape == (32, 5)
  apply = jax.jit(lambda v, b, k: model.apply(v, b, train=True,
                                              rngs={"dropout": k}))
  logits, aux = jax.jit(lambda v, b: model.apply(v, b, train=False))(
      variables, batch)
  assert logits.shape == (2, 5) and logits.dtype == jnp.float32
  assert aux["features"].shape == (2, 32)
  assert aux["tokens"].shape == (2, 2 * 4 * 4, 32)
  # features are fc_norm's output: zero mean, unit variance per example
  # (fc_norm starts as the identity affine map).
  np.testing.assert_allclose(aux["features"].mean(-1), 0.0, atol=1e-5)
  np.testing.assert_allclose(aux["features"].std(-1), 1.0, atol=1e-3)
  a, _ = apply(variables, batch, jax.random.key(1))
  b, _ = apply(variables, batch, jax.random.key(2))
  assert np.all(np.isfinite(a)) and not np.allclose(a, b)
  assert not np.allclose(a, logits)


def test_longer_clips_are_subsampled_and_bad_shapes_rejected():
  model = videomae.create("tiny")
  long = _frames(t=10)
  variables = _init(model, {"frames": jnp.asarray(long)})

  def fwd(x):
    return model.apply(variables, {"frames": x}, train=False)[0]

  idx = np.round(np.linspace(0, 9, 4)).astype(int)
  np.testing.assert_allclose(fwd(jnp.asarray(long)),
                             fwd(jnp.asarray(long[:, idx])), atol=1e-6)
  with pytest.raises(ValueError, match="32, 32, 3"):
    fwd(jnp.zeros((1, 4, 16, 16, 3)))
  with pytest.raises(ValueError, match="num_frames=4"):
    fwd(jnp.zeros((1, 2, 32, 32, 3)))
  with pytest.raises(ValueError, match="num_heads"):
    videomae.create("tiny", num_heads=3)
  with pytest.raises(ValueError, match="unknown VideoMAE variant"):
    videomae.create("L")


def test_registry_and_dtypes():
  model = models.build({"name": "videomae", "variant": "tiny",
                        "num_classes": 4, "dtype": jnp.dtype("bfloat16")})
  assert isinstance(model, videomae.VideoMAEClassifier)
  batch = {"frames": jnp.asarray(_frames())}
  variables = _init(model, batch)
  leaves = jax.tree.leaves(variables["params"])
  assert all(x.dtype == jnp.float32 for x in leaves)
  logits, aux = jax.jit(lambda v, b: model.apply(v, b, train=False))(
      variables, batch)
  assert logits.shape == (2, 4) and logits.dtype == jnp.float32
  assert np.all(np.isfinite(aux["tokens"]))
  assert videomae.create("tiny", dtype="bfloat16").dtype == jnp.bfloat16


def test_variants_sizes():
  def count(m):
    frames = jnp.zeros((1, m.num_frames, m.image_size, m.image_size, 3))
    shapes = jax.eval_shape(
        lambda: m.init({"params": KEY}, {"frames": frames}, train=False))
    return sum(x.size for x in jax.tree.leaves(shapes))

  b = videomae.create("B", num_classes=400)
  assert b.num_tokens == 1568
  # VideoMAE ViT-B on Kinetics-400: 87M parameters (its paper's table).
  assert 86e6 < count(b) < 88e6
  assert 21e6 < count(videomae.create("S", num_classes=400)) < 23e6


@pytest.mark.parametrize("variant,overrides", [
    # The tiny geometry at a width where matmuls dominate XLA's count; at
    # width 32, GELU's erf and the norms add ~20% that are not matmuls.
    ("tiny", dict(width=256, mlp_dim=1024, num_heads=4)),
    ("S", {}),
    ("B", dict(num_classes=400)),
])
def test_forward_flops_match_xla_cost_analysis(variant, overrides):
  model = videomae.create(variant, **overrides)
  s = model.image_size
  batch = {"frames": jax.ShapeDtypeStruct((2, model.num_frames, s, s, 3),
                                          jnp.float32)}
  variables = jax.eval_shape(
      lambda b: model.init({"params": KEY}, b, train=False), batch)
  cost = jax.jit(lambda v, b: model.apply(v, b, train=False)).lower(
      variables, batch).cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  analytic = videomae.forward_flops(variant, **overrides)
  assert 1.0 <= cost["flops"] / (2 * analytic) < 1.05


def test_forward_flops_of_vit_b():
  # VideoMAE reports 180 G(MAC) per 16 x 224^2 view for ViT-B.
  assert videomae.forward_flops("B", num_classes=400) / 2 == pytest.approx(
      180e9, rel=0.01)


# --------------------------------------------------------------------------
# Checkpoint import.


def _state_dict(config, classifier=True, seed=0):
  """A VideoMAEForVideoClassification-style state dict (numpy)."""
  rng = np.random.default_rng(seed)
  d = config["hidden_size"]
  r = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
  sd = hf_testlib.videomae_state_dict(config, rng, prefix="videomae.")
  if classifier:
    sd.update({"fc_norm.weight": r(d), "fc_norm.bias": r(d),
               "classifier.weight": r(3, d), "classifier.bias": r(3)})
  else:  # a pretraining checkpoint
    sd.update({"encoder_to_decoder.weight": r(8, d), "mask_token": r(1, 1, 8)})
  return sd


def _abstract_params(model):
  batch = {"frames": jax.ShapeDtypeStruct(
      (1, model.num_frames, model.image_size, model.image_size, 3),
      jnp.float32)}
  return jax.eval_shape(lambda b: model.init({"params": KEY}, b,
                                             train=False), batch)["params"]


def _params(model):
  return _init(model, {"frames": jnp.zeros(
      (1, model.num_frames, model.image_size, model.image_size, 3))})["params"]


def _assert_same(a, b):
  jax.tree.map(np.testing.assert_array_equal, a, b)


def test_load_classifier_maps_head_and_encoder(tmp_path):
  sd = _state_dict(SMALL)
  ckpt = hf_testlib.write_checkpoint(tmp_path, SMALL, sd)
  alone = convert.load_classifier(ckpt)["params"]
  assert set(alone) == {"patch_embed", "encoder", "fc_norm", "head"}
  np.testing.assert_array_equal(alone["head"]["kernel"],
                                sd["classifier.weight"].T)
  np.testing.assert_array_equal(alone["fc_norm"]["scale"],
                                sd["fc_norm.weight"])
  np.testing.assert_array_equal(
      alone["encoder"]["block_1"]["attn"]["value"]["bias"],
      sd["videomae.encoder.layer.1.attention.attention.v_bias"])
  model = videomae.create("tiny", num_classes=3,
                          **convert.classifier_overrides(SMALL))
  target = _abstract_params(model)
  full = convert.load_classifier(ckpt, into={"params": target})["params"]
  assert jax.tree.structure(full) == jax.tree.structure(target)
  np.testing.assert_array_equal(full["head"]["bias"], sd["classifier.bias"])
  weights = convert.convert_classifier(sd, SMALL)
  assert not any(k.startswith(("fc_norm", "classifier"))
                 for k in weights.ignored)
  # Another label set: the checkpoint's head does not fit ...
  five = videomae.create("tiny", num_classes=5,
                         **convert.classifier_overrides(SMALL))
  target5 = _params(five)
  with pytest.raises(ValueError, match="head=False"):
    convert.load_classifier(ckpt, into=target5)
  # ... unless it is left out; fc_norm still comes in.
  out = convert.load_classifier(ckpt, into=target5, head=False)["params"]
  _assert_same(out["head"], target5["head"])
  np.testing.assert_array_equal(out["fc_norm"]["bias"], sd["fc_norm.bias"])


def test_load_classifier_from_pretraining_and_rejections(tmp_path, caplog):
  config = dict(SMALL, use_mean_pooling=False)
  sd = _state_dict(config, classifier=False)
  ckpt = hf_testlib.write_checkpoint(tmp_path / "pre", config, sd)
  caplog.set_level(logging.INFO)
  assert set(convert.load_classifier(ckpt)["params"]) == {"patch_embed",
                                                          "encoder"}
  assert "encoder_to_decoder (1 keys), mask_token (1 keys)" in caplog.text
  model = videomae.create("tiny", **convert.classifier_overrides(config))
  target = _params(model)
  out = convert.load_classifier(ckpt, into=target)["params"]
  _assert_same(out["head"], target["head"])
  _assert_same(out["fc_norm"], target["fc_norm"])
  assert out["encoder"]["block_0"]["mlp"]["fc1"]["kernel"].dtype == np.float32
  assert "encoder_to_decoder.weight" in convert.convert_classifier(
      sd, config).ignored
  # Token-0 classification (no fc_norm) is a different head.
  token0 = _state_dict(config)
  del token0["fc_norm.weight"], token0["fc_norm.bias"]
  with pytest.raises(ValueError, match="use_mean_pooling=False"):
    convert.load_classifier(
        hf_testlib.write_checkpoint(tmp_path / "t0", config, token0))
  # Shapes are checked against the target.
  wide = videomae.create("tiny", width=64, num_heads=4, mlp_dim=192)
  with pytest.raises(ValueError, match="shape"):
    convert.load_classifier(ckpt, into=_abstract_params(wide))


def test_classifier_overrides_describe_the_b_variant():
  base = dict(SMALL, image_size=224, patch_size=16, num_frames=16,
              hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
              intermediate_size=3072)
  over = convert.classifier_overrides(base)
  b = videomae.create("B")
  for k, v in over.items():
    if not k.endswith("norm_eps"):
      assert getattr(b, k) == v, k


@pytest.mark.torch
def test_logits_parity_with_transformers(tmp_path, monkeypatch):
  monkeypatch.setenv("HF_HUB_OFFLINE", "1")
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  ref = hf_testlib.reference(transformers.VideoMAEForVideoClassification,
                             transformers.VideoMAEConfig, SMALL, num_labels=3)
  ref.save_pretrained(tmp_path)
  assert (tmp_path / "model.safetensors").exists()

  with open(tmp_path / "config.json") as f:
    config = json.load(f)
  model = videomae.create("tiny", num_classes=3,
                          **convert.classifier_overrides(config))
  frames = _frames(seed=1)
  batch = {"frames": jnp.asarray(frames)}
  params = _init(model, batch)["params"]
  variables = convert.load_classifier(str(tmp_path), into=params)
  logits, aux = jax.jit(lambda v, b: model.apply(v, b, train=False))(
      variables, batch)
  with torch.no_grad():
    pixels = torch.from_numpy(frames).permute(0, 1, 4, 2, 3)
    want = ref(pixels).logits.numpy()
    tokens = ref.videomae(pixels).last_hidden_state.numpy()
  assert logits.shape == want.shape == (2, 3)
  np.testing.assert_allclose(np.asarray(aux["tokens"]), tokens, rtol=1e-4,
                             atol=1e-4)
  np.testing.assert_allclose(np.asarray(logits), want, rtol=1e-4, atol=1e-4)
