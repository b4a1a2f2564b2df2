"""VideoMAE weight import: key mapping and shape checks with numpy only, and
encoder parity against transformers' ``VideoMAEModel`` (random weights)."""

import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from egoimu_jax.models import evimae
from egoimu_jax.models.convert import videomae

KEY = jax.random.key(0)
RNGS = {"params": KEY, "masking": KEY, "dropout": KEY}
SMALL = dict(model_type="videomae", image_size=32, patch_size=8, num_frames=4,
             tubelet_size=2, hidden_size=48, num_hidden_layers=2,
             num_attention_heads=4, intermediate_size=192, hidden_act="gelu",
             num_channels=3, layer_norm_eps=1e-12, qv_bias=True,
             use_mean_pooling=True)


def _spec(config, **extra):
  w = videomae.VideoMAEWeights({}, config, ())
  return evimae.make_spec("tiny", **w.spec_overrides(),
                          imu_width=config["hidden_size"], unified_heads=4,
                          **extra)


def _synthetic_state_dict(config, prefix="", legacy_bias=True, seed=0):
  """A state dict with transformers' names and shapes (numpy)."""
  rng = np.random.default_rng(seed)
  d, m = config["hidden_size"], config["intermediate_size"]
  t, p = config["tubelet_size"], config["patch_size"]
  r = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
  sd = {"embeddings.patch_embeddings.projection.weight": r(d, 3, t, p, p),
        "embeddings.patch_embeddings.projection.bias": r(d)}
  for i in range(config["num_hidden_layers"]):
    a = f"encoder.layer.{i}.attention.attention"
    for name in ("query", "key", "value"):
      sd[f"{a}.{name}.weight"] = r(d, d)
    if legacy_bias:
      sd[f"{a}.q_bias"], sd[f"{a}.v_bias"] = r(d), r(d)
    else:
      sd[f"{a}.query.bias"], sd[f"{a}.value.bias"] = r(d), r(d)
    p_ = f"encoder.layer.{i}"
    sd.update({f"{p_}.attention.output.dense.weight": r(d, d),
               f"{p_}.attention.output.dense.bias": r(d),
               f"{p_}.intermediate.dense.weight": r(m, d),
               f"{p_}.intermediate.dense.bias": r(m),
               f"{p_}.output.dense.weight": r(d, m),
               f"{p_}.output.dense.bias": r(d),
               f"{p_}.layernorm_before.weight": r(d),
               f"{p_}.layernorm_before.bias": r(d),
               f"{p_}.layernorm_after.weight": r(d),
               f"{p_}.layernorm_after.bias": r(d)})
  sd = {prefix + k: v for k, v in sd.items()}
  if prefix:  # a VideoMAEForPreTraining checkpoint
    sd["encoder_to_decoder.weight"] = r(8, d)
    sd["decoder.norm.weight"] = r(8)
    sd["mask_token"] = r(1, 1, 8)
  return sd


def _write(tmp_path, config, sd):
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  os.makedirs(tmp_path, exist_ok=True)
  with open(os.path.join(tmp_path, "config.json"), "w") as f:
    json.dump(config, f)
  save_file(sd, os.path.join(tmp_path, "model.safetensors"))
  return str(tmp_path)


@pytest.mark.parametrize("prefix,legacy", [("", True),
                                           ("videomae.", False)])
def test_import_maps_every_weight(tmp_path, prefix, legacy):
  sd = _synthetic_state_dict(SMALL, prefix, legacy)
  ckpt = _write(tmp_path, SMALL, sd)
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
  ckpt = _write(tmp_path / "a", SMALL, sd)
  wider = dict(SMALL, hidden_size=64, num_attention_heads=4)
  model = evimae.EVIMAE(spec=_spec(wider))
  batch = {"spec": jax.ShapeDtypeStruct((1, 32, 32, 6), jnp.float32),
           "frames": jax.ShapeDtypeStruct((1, 4, 32, 32, 3), jnp.float32)}
  params = jax.eval_shape(lambda b: model.init(RNGS, b), batch)["params"]
  with pytest.raises(ValueError, match="shape"):
    videomae.load_into_evimae(params, ckpt)
  broken = dict(sd)
  del broken["encoder.layer.0.output.dense.weight"]
  with pytest.raises(KeyError, match="output.dense.weight"):
    videomae.load(_write(tmp_path / "b", SMALL, broken))
  extra = dict(sd, **{"encoder.layer.0.attention.relative_position_bias":
                      np.zeros(48, np.float32)})
  with pytest.raises(ValueError, match="not converted"):
    videomae.load(_write(tmp_path / "c", SMALL, extra))
  with pytest.raises(FileNotFoundError, match="config.json"):
    videomae.load(str(tmp_path / "nowhere"))


def test_bin_checkpoints_need_torch(tmp_path, monkeypatch):
  os.makedirs(tmp_path, exist_ok=True)
  with open(tmp_path / "config.json", "w") as f:
    json.dump(SMALL, f)
  (tmp_path / "pytorch_model.bin").write_bytes(b"")
  monkeypatch.setitem(sys.modules, "torch", None)
  with pytest.raises(ImportError, match="needs torch"):
    videomae.read_checkpoint(str(tmp_path))


def test_videomae_b_config_describes_the_b_variant():
  base = dict(SMALL, image_size=224, patch_size=16, num_frames=16,
              hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
              intermediate_size=3072)
  over = videomae.VideoMAEWeights({}, base, ()).spec_overrides()
  b = evimae.make_spec("B")
  for k, v in over.items():
    if k != "norm_eps":
      assert getattr(b, k) == v, k


@pytest.mark.torch
def test_encoder_parity_with_transformers(tmp_path):
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  os.environ.setdefault("HF_HUB_OFFLINE", "1")
  torch.manual_seed(0)
  cfg = {k: v for k, v in SMALL.items() if k != "model_type"}
  ref = transformers.VideoMAEModel(transformers.VideoMAEConfig(**cfg)).eval()
  with torch.no_grad():  # non-trivial norms and biases too
    for p in ref.parameters():
      p.normal_(0.0, 0.2)
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
