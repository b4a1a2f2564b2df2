"""The CLIP image tower and its importer against transformers'
``CLIPVisionModelWithProjection`` (random weights, tiny config), and the
``clip`` teacher preset (the window's middle frame)."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from egoimu_jax import models
from egoimu_jax.models import clip_vision
from egoimu_jax.models.convert import clip as clip_convert
from egoimu_jax.teachers import config as teacher_config

TINY = dict(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=2, intermediate_size=64, projection_dim=16,
            hidden_act="quick_gelu", layer_norm_eps=1e-5)


def test_middle_frame_and_preset():
  model = clip_vision.create("tiny", num_classes=2)
  frames = jax.random.normal(jax.random.key(0), (2, 3, 32, 32, 3))
  variables = model.init(jax.random.key(1), {"frames": frames}, train=False)
  _, aux = model.apply(variables, {"frames": frames}, train=False)
  _, alone = model.apply(variables, {"frames": frames[:, 1]}, train=False)
  np.testing.assert_array_equal(aux["features"], alone["features"])
  assert aux["features"].shape == (2, 16)
  with pytest.raises(ValueError, match="32x32 frames"):
    model.apply(variables, {"frames": frames[:, :, :16, :16]}, train=False)
  t = teacher_config.preset("clip_vision")
  assert (t.name, t.model.variant, t.pooling) == ("clip_vision_b32", "B32",
                                                   "features")
  # 3 of the 50 stored frames (0, 24, 49): the model embeds the middle one.
  assert (t.num_frames, t.frame_size) == (3, 224)
  assert tuple(t.frame_mean) == clip_vision.MEAN


@pytest.mark.torch
def test_matches_transformers(tmp_path):
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  torch.manual_seed(0)
  reference = transformers.CLIPVisionModelWithProjection(
      transformers.CLIPVisionConfig(**TINY)).eval()
  reference.save_pretrained(str(tmp_path))
  x = np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32)
  with torch.no_grad():
    want = reference(pixel_values=torch.from_numpy(x))

  loaded = models.IMPORTERS.get("clip")(str(tmp_path))
  overrides = clip_convert.spec_overrides(
      clip_convert.read_checkpoint(str(tmp_path))[0])
  model = clip_vision.create("B32", num_classes=2, **overrides)
  batch = {"frames": jnp.asarray(x.transpose(0, 2, 3, 1))}
  init = model.init(jax.random.key(0), batch, train=False)["params"]
  params = {**loaded["params"], "head": init["head"]}
  assert (jax.tree.map(np.shape, params) ==
          jax.tree.map(np.shape, dict(init)))
  _, aux = model.apply({"params": params}, batch, train=False)
  np.testing.assert_allclose(np.asarray(aux["features"]),
                             want.image_embeds.numpy(), atol=1e-5, rtol=1e-4)
  np.testing.assert_allclose(np.asarray(aux["tokens"]),
                             want.last_hidden_state.numpy(), atol=1e-5,
                             rtol=1e-4)


def test_importer_rejects_other_checkpoints(tmp_path):
  os.makedirs(tmp_path, exist_ok=True)
  (tmp_path / "config.json").write_text('{"model_type": "videomae"}')
  with pytest.raises(ValueError, match="model_type 'videomae'"):
    clip_convert.read_checkpoint(str(tmp_path))
