"""The mae_pretrain and finetune tasks against the Task interface: loss and
evaluation of pretraining, and the warm start of fine-tuning from a
pretraining checkpoint written by the engine's Checkpointer."""

import os
import types

import grain
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

import jit_testlib
from egoimu_jax.training import checkpointing
from egoimu_jax.training import train_state
from egoimu_jax.training.tasks import finetune
from egoimu_jax.training.tasks import mae_pretrain

KEY = jax.random.key(0)
MICRO = dict(video_depth=1, imu_depth=1, decoder_depth=1)
DATA = types.SimpleNamespace(
    dataset=types.SimpleNamespace(classes=("working", "break", "off"),
                                  table=types.SimpleNamespace(label=np.arange(3))),
    indices=lambda part: np.arange(3),  # one training window per class
    split={"protocol": "l20wo", "fold": 0})


def _config(model, task):
  return ml_collections.ConfigDict({"model": model, "task": task,
                                    "dtype": "float32", "seed": 0})


def _batch(b=4, seed=0):
  rng = np.random.default_rng(seed)
  return {"spec": jnp.asarray(rng.normal(size=(b, 32, 32, 6)), jnp.float32),
          "frames": jnp.asarray(rng.normal(size=(b, 8, 32, 32, 3)),
                                jnp.float32),
          "label": jnp.arange(b, dtype=jnp.int32) % 3,
          "index": jnp.arange(b, dtype=jnp.int32) + 10 * seed,
          "mask": jnp.asarray([True] * (b - 1) + [False])}


def _pretrain_state(task, batch):
  variables = jit_testlib.compile_fast(task.init_variables, KEY, batch)(
      KEY, batch)
  return train_state.from_variables(variables, optax.adam(1e-3))


def test_mae_pretrain_loss_and_evaluation():
  task = mae_pretrain.MAEPretrain(_config(
      {"name": "evimae", "variant": "tiny", **MICRO},
      {"name": "mae_pretrain", "loss": {"contrastive_weight": 0.1}}), DATA)
  assert task.loss_config.contrastive_weight == 0.1
  batch = _batch()
  state = _pretrain_state(task, batch)

  def step(params, model_state, batch, rng):
    loss, (new_state, metrics) = task.loss(params, model_state, batch, rng)
    return loss, new_state, metrics, task.predict(
        {"params": params, **model_state}, batch)

  fn = jit_testlib.compile_fast(step, state.params, state.model_state, batch,
                                KEY)
  loss, new_state, metrics, out = fn(state.params, state.model_state, batch,
                                     KEY)
  assert set(metrics) >= {"loss", "mse_imu", "mse_video", "graph",
                          "contrastive"}
  np.testing.assert_allclose(loss, metrics["loss"])
  assert set(new_state) == {"batch_stats"}
  # Padding (mask False) carries no weight in evaluation sums.
  assert float(out["mse_video_den"][-1]) == 0.0
  _, _, _, again = fn(state.params, state.model_state, batch, KEY)
  np.testing.assert_array_equal(out["mse_video_num"], again["mse_video_num"])
  host = {k: np.asarray(v) for k, v in out.items()}
  host["index"] = np.asarray(batch["index"])
  result = task.evaluate("val", host)
  assert result["examples"] == 4 and np.isfinite(result["loss"])
  want = (result["mse_imu"] + result["mse_video"] + 10 * result["graph"] +
          0.1 * result["contrastive"])
  np.testing.assert_allclose(result["loss"], want, rtol=1e-6)


def _save(workdir, state, step=3):
  ckpt = checkpointing.Checkpointer(os.path.join(workdir, "checkpoints"),
                                    async_save=False)
  ckpt.save(step, state, iter(grain.MapDataset.range(4).to_iter_dataset()))
  ckpt.wait()
  ckpt.close()


def test_finetune_warm_start_from_a_pretraining_checkpoint(tmp_path):
  batch = _batch()
  pre = mae_pretrain.MAEPretrain(_config(
      {"name": "evimae", "variant": "tiny", **MICRO},
      {"name": "mae_pretrain"}), DATA)
  pre_state = _pretrain_state(pre, batch)
  _save(str(tmp_path), pre_state)

  task = finetune.Finetune(_config(
      {"name": "evimae_classifier", "variant": "tiny", **MICRO},
      {"name": "finetune", "pretrained": str(tmp_path)}), DATA)
  state = _pretrain_state(task, batch)
  warm = task.warm_start(state)
  np.testing.assert_array_equal(
      warm.params["video_encoder"]["block_0"]["mlp"]["fc1"]["kernel"],
      pre_state.params["video_encoder"]["block_0"]["mlp"]["fc1"]["kernel"])
  np.testing.assert_array_equal(
      warm.model_state["batch_stats"]["graph"]["encoder"]["layer_1"][
          "out_norm"]["norm"]["var"],
      pre_state.model_state["batch_stats"]["graph"]["encoder"]["layer_1"][
          "out_norm"]["norm"]["var"])
  np.testing.assert_array_equal(warm.params["head"]["kernel"],
                                state.params["head"]["kernel"])
  assert "decoder" not in warm.params
  loss, (_, metrics) = jit_testlib.compile_fast(
      task.loss, warm.params, warm.model_state, batch, KEY)(
          warm.params, warm.model_state, batch, KEY)
  assert np.isfinite(loss) and "accuracy" in metrics


def test_finetune_names_what_the_checkpoint_lacks(tmp_path, monkeypatch):
  batch = _batch()
  pre = mae_pretrain.MAEPretrain(_config(
      {"name": "imu_mae", "variant": "tiny", **MICRO},
      {"name": "mae_pretrain"}), DATA)
  _save(str(tmp_path), _pretrain_state(pre, batch), step=7)
  state_dir = finetune.resolve_state_dir(str(tmp_path))
  assert state_dir.endswith(os.path.join("7", "state"))
  monkeypatch.chdir(tmp_path.parent)  # a relative path resolves to the same
  assert finetune.resolve_state_dir(tmp_path.name) == state_dir
  task = finetune.Finetune(_config(
      {"name": "evimae_classifier", "variant": "tiny", **MICRO},
      {"name": "finetune", "pretrained": str(tmp_path)}), DATA)
  abstract = jax.eval_shape(lambda: train_state.from_variables(
      task.init_variables(KEY, batch), optax.adam(1e-3)))
  with pytest.raises(ValueError, match="video_encoder"):
    task.warm_start(abstract)


def test_finetune_head_learning_rate_multiplier():
  config = _config({"name": "evimae_classifier", "variant": "tiny", **MICRO},
                   {"name": "finetune", "head_lr_multiplier": 100.0})
  config.optim = {"lr": 1e-3}
  task = finetune.Finetune(config, DATA)
  params = {"head": {"kernel": jnp.ones((2, 2))},
            "unified": {"attn": {"kernel": jnp.ones((2, 2))}}}
  tx = task.optimizer(optax.constant_schedule(1e-3))
  grads = jax.tree.map(jnp.ones_like, params)
  updates, _ = tx.update(grads, tx.init(params), params)
  np.testing.assert_allclose(updates["head"]["kernel"],
                             100 * updates["unified"]["attn"]["kernel"])
