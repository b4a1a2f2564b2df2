"""VideoMAE weight import: key mapping and shape checks with numpy only, and
encoder parity against transformers' ``VideoMAEModel`` (random weights)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hf_testlib
from egoimu_jax.models import evimae
from egoimu_jax.models import evimae_spec
from egoimu_jax.models.convert import videomae

KEY = jax.random.key(0)
RNGS = {"params": KEY, "masking": KEY, "dropout": KEY}
SMALL = hf_testlib.VIDEOMAE_SMALL


def _spec(config, **extra):
  w = videomae.VideoMAEWeights({}, config, ())
  return evimae_spec.make_spec("tiny", **w.spec_overrides(),
                          imu_width=config["hidden_size"], unified_heads=4,
                          **extra)


def _synthetic_state_dict(config, prefix="", legacy_bias=True, seed=0):
  """A state dict with transformers' names and shapes (numpy)."""
  rng = np.random.default_rng(seed)
  d = config["hidden_size"]
  r = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
  sd = hf_testlib.videomae_state_dict(config, rng, prefix, legacy_bias)
  if prefix:  # a VideoMAEForPreTraining checkpoint
    sd["encoder_to_decoder.weight"] = r(8, d)
    sd["decoder.norm.weight"] = r(8)
    sd["mask_token"] = r(1, 1, 8)
  return sd


@pytest.mark.parametrize("prefix,legacy", [("", True),
                                           ("videomae.", False)])
def test_import_maps_every_weight(tmp_path, prefix, legacy):
  sd = _synthetic_state_dict(SMALL, prefix, legacy)
  ckpt = hf_testlib.write_checkpoint(tmp_path, SMALL, sd)
  model = evimae.EVIMAE(spec=_spec(SMALL))
  batch = {"spec": jax.ShapeDtypeStruct((1, 32, 32, 6), jnp.float32),
           "frames": jax.ShapeDtypeStruct((1, 4, 32, 32, 3), jnp.float32)}
  params = jax.eval_shape(lambda b: model.init(RNGS, b), batch)["params"]
  out = videomae.load_into_evimae(params, ckpt)
  enc = out["video_encoder"]["block_1"]
  src = f"{prefix}encoder.layer.1.attention.attention"
  np.testing.assert_array_equal(enc["attn"]["query"]["kernel"],
                                sd[f"{src}.query.weight"].T)
  bias = "v_bias" if legacy else "value.bias"
  np.testing.assert_array_equal(enc["attn"]["value"]["bias"],
                                sd[f"{src}.{bias}"])
  np.testing.assert_array_equal(enc["attn"]["key"]["bias"], np.zeros(48))
  np.testing.assert_array_equal(
      enc["mlp"]["fc2"]["kernel"],
      sd[f"{prefix}encoder.layer.1.output.dense.weight"].T)
  conv = out["video_tokens"]["patch_embed"]["proj"]["kernel"]
  np.testing.assert_array_equal(
      conv, sd[f"{prefix}embeddings.patch_embeddings.projection.weight"]
      .transpose(2, 3, 4, 1, 0))
  # Untouched: the rest of the model keeps its (abstract) initialisation.
  assert out["imu_encoder"] == params["imu_encoder"]
  weights = videomae.load(ckpt)
  if prefix:
    assert "encoder_to_decoder.weight" in weights.ignored


def test_import_rejects_mismatches_and_missing_weights(tmp_path):
  sd = _synthetic_state_dict(SMALL)
  ckpt = hf_testlib.write_checkpoint(tmp_path / "a", SMALL, sd)
  wider = dict(SMALL, hidden_size=64, num_attention_heads=4)
  model = evimae.EVIMAE(spec=_spec(wider))
  batch = {"spec": jax.ShapeDtypeStruct((1, 32, 32, 6), jnp.float32),
           "frames": jax.ShapeDtypeStruct((1, 4, 32, 32, 3), jnp.float32)}
  params = jax.eval_shape(lambda b: model.init(RNGS, b), batch)["params"]
  with pytest.raises(ValueError, match="shape"):
    videomae.load_into_evimae(params, ckpt)
  hf_testlib.assert_rejects_missing_and_extra(
      videomae.load, str(tmp_path), SMALL, sd,
      "encoder.layer.0.output.dense.weight",
      "encoder.layer.0.attention.relative_position_bias")
  with pytest.raises(FileNotFoundError, match="config.json"):
    videomae.load(str(tmp_path / "nowhere"))


def test_bin_checkpoints_need_torch(tmp_path, monkeypatch):
  hf_testlib.assert_bin_needs_torch(videomae.read_checkpoint, tmp_path, SMALL,
                                   monkeypatch)


def test_videomae_b_config_describes_the_b_variant():
  base = dict(SMALL, image_size=224, patch_size=16, num_frames=16,
              hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
              intermediate_size=3072)
  over = videomae.VideoMAEWeights({}, base, ()).spec_overrides()
  b = evimae_spec.make_spec("B")
  for k, v in over.items():
    if k != "norm_eps":
      assert getattr(b, k) == v, k


@pytest.mark.torch
def test_encoder_parity_with_transformers(tmp_path):
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  ref = hf_testlib.reference(transformers.VideoMAEModel,
                             transformers.VideoMAEConfig, SMALL)
  ref.save_pretrained(tmp_path)

  spec = _spec(SMALL)
  model = evimae.EVIMAE(spec=spec)
  frames = np.random.default_rng(0).normal(size=(2, 4, 32, 32, 3)).astype(
      np.float32)
  batch = {"spec": jnp.zeros((2, 32, 32, 6)), "frames": jnp.asarray(frames)}
  params = jax.jit(lambda b: model.init(RNGS, b))(batch)["params"]
  params = videomae.load_into_evimae(params, str(tmp_path))
  params["video_tokens"]["modality"] = np.zeros_like(
      params["video_tokens"]["modality"])  # EVI-MAE-only; VideoMAE has none
  ours = jax.jit(lambda p, x: model.apply({"params": p}, x,
                                          method=model.encode_video))(
                                              params, batch["frames"])
  with torch.no_grad():
    want = ref(torch.from_numpy(frames).permute(0, 1, 4, 2, 3)
               ).last_hidden_state.numpy()
  assert ours.shape == want.shape == (2, 2 * 4 * 4, 48)
  np.testing.assert_allclose(np.asarray(ours), want, rtol=1e-4, atol=1e-4)
