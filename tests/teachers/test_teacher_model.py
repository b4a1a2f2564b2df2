"""Pooling, projection and batching of the frozen teacher."""

import jax
import ml_collections
import numpy as np
import pytest

from egoimu_jax.teachers import config as teacher_config
from egoimu_jax.teachers import extract
from egoimu_jax.teachers import model as model_lib


def _cfg(**kw):
  c = teacher_config.teacher_config()
  c.model = ml_collections.ConfigDict(dict(name="timesformer",
                                           variant="tiny"))
  c.update({"num_frames": 4, "batch_size": 3, **kw})
  return c


@pytest.fixture(scope="module")
def frames():
  rng = np.random.default_rng(0)
  return rng.integers(0, 256, (5, 4, 32, 32, 3), dtype=np.uint8)


def test_poolings_pick_cls_mean_of_all_tokens_or_features(frames):
  teachers = {p: model_lib.Teacher(_cfg(pooling=p), (4, 32, 32, 3))
              for p in teacher_config.POOLINGS}
  t = teachers["cls"]
  x = t.normalise(frames)
  # Compiled (eager apply dispatches op by op).
  _, aux = jax.jit(lambda v, x: t.model.apply(v, {"frames": x}, train=False))(
      t.variables, x)
  tokens = np.asarray(aux["tokens"])
  assert tokens.shape == (5, 1 + 16 * 4, 32)
  expected = {"cls": tokens[:, 0], "mean_tokens": tokens.mean(axis=1),
              "features": np.asarray(aux["features"])}
  for pooling, teacher in teachers.items():
    got = extract.embed_chunk(teacher, frames)  # two batches, one padded
    assert got.shape == (5, 32)
    np.testing.assert_allclose(got, expected[pooling], rtol=1e-5, atol=1e-5)
  assert not np.allclose(expected["cls"], expected["mean_tokens"])


def test_a_window_vector_does_not_depend_on_its_batch(frames):
  teacher = model_lib.Teacher(_cfg(), (4, 32, 32, 3))
  whole = extract.embed_chunk(teacher, frames)
  for start in range(5):
    np.testing.assert_allclose(extract.embed_chunk(teacher, frames[start:]),
                               whole[start:], rtol=1e-6, atol=1e-6)


def test_projection_is_a_fixed_isometry(frames):
  for dim, out in ((32, 8), (32, 32), (8, 32)):
    m = model_lib.projection_matrix(dim, out, seed=3)
    assert m.shape == (dim, out) and m.dtype == np.float32
    gram = m.T @ m if out <= dim else m @ m.T
    np.testing.assert_allclose(gram, np.eye(min(dim, out)), atol=1e-5)
    np.testing.assert_array_equal(m, model_lib.projection_matrix(dim, out, 3))
    assert not np.allclose(m, model_lib.projection_matrix(dim, out, 4))
  teacher = model_lib.Teacher(_cfg(pooling="features"), (4, 32, 32, 3))
  features = extract.embed_chunk(teacher, frames)
  m = model_lib.projection_matrix(32, 8, seed=0)
  teacher.set_projection(m)
  assert teacher.dim == 8
  np.testing.assert_allclose(extract.embed_chunk(teacher, frames),
                             features @ m, rtol=1e-5, atol=1e-5)


def test_batches_split_over_the_local_devices():
  teacher = model_lib.Teacher(_cfg(), (4, 32, 32, 3))
  n = len(jax.local_devices())
  assert teacher.batch_size % n == 0 and teacher.batch_size >= 3
  out = teacher.embed(np.zeros((teacher.batch_size, 4, 32, 32, 3),
                               np.float32))
  assert out.sharding == teacher.batch_sharding


@pytest.mark.parametrize("model, pooling, message", [
    (dict(name="videomae", variant="tiny"), "cls", "has no CLS token"),
    (dict(name="slowfast", variant="tiny"), "mean_tokens",
     "returns no aux\\['tokens'\\]"),
])
def test_pooling_the_model_cannot_give_is_refused(model, pooling, message):
  cfg = _cfg(pooling=pooling)
  cfg.model = ml_collections.ConfigDict(model)
  with pytest.raises(ValueError, match=message):
    model_lib.Teacher(cfg, (4 if model["name"] != "slowfast" else 8, 32, 32,
                            3))
