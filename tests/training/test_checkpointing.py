"""Which checkpoints are kept, the best step, restoring the data position."""

import os

import grain
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from egoimu_jax.training import checkpointing


def _iterator():
  return iter(grain.MapDataset.range(1000).to_iter_dataset())


def _state(step):
  return {"w": jnp.full((3,), float(step)), "step": jnp.asarray(step)}


def test_keeps_latest_and_best_and_restores_position(tmp_path):
  ckpt = checkpointing.Checkpointer(str(tmp_path), keep=2,
                                    best_metric="macro_f1", async_save=True)
  it = _iterator()
  f1 = {1: 0.5, 3: 0.9, 5: 0.7, 7: float("nan")}
  for step in range(1, 9):
    next(it)
    metrics = {"macro_f1": f1[step], "accuracy": 0.0} if step in f1 else None
    ckpt.save(step, _state(step), it, metrics=metrics)
  ckpt.wait()
  assert ckpt.all_steps() == [3, 7, 8]   # latest two plus the best
  assert ckpt.best_step() == 3
  ckpt.close()

  # A new manager (a restarted run) finds the same best step.
  ckpt = checkpointing.Checkpointer(str(tmp_path), keep=2,
                                    best_metric="macro_f1")
  assert ckpt.latest_step() == 8 and ckpt.best_step() == 3
  abstract = jax.eval_shape(lambda: _state(0))
  it = _iterator()
  state = ckpt.restore(3, abstract, it)
  np.testing.assert_array_equal(state["w"], [3.0, 3.0, 3.0])
  assert next(it) == 3     # the next element after three consumed
  state = ckpt.restore(8, abstract)  # state only: iterator untouched
  assert int(state["step"]) == 8 and next(it) == 4
  ckpt.close()


def test_best_by_lowest_metric(tmp_path):
  # Pretraining picks its best checkpoint by the lowest validation loss.
  ckpt = checkpointing.Checkpointer(str(tmp_path), keep=2, best_metric="loss",
                                    best_mode="min", async_save=False)
  it = _iterator()
  loss = {1: 0.5, 3: 0.2, 5: 0.9, 7: float("nan")}
  for step in range(1, 9):
    next(it)
    metrics = {"loss": loss[step]} if step in loss else None
    ckpt.save(step, _state(step), it, metrics=metrics)
  assert ckpt.all_steps() == [3, 7, 8]   # latest two plus the lowest loss
  assert ckpt.best_step() == 3
  ckpt.close()
  ckpt = checkpointing.Checkpointer(str(tmp_path), keep=2, best_metric="loss",
                                    best_mode="min")
  assert ckpt.best_step() == 3
  ckpt.close()


def test_iterator_state_across_process_counts(tmp_path):
  ckpt = checkpointing.Checkpointer(str(tmp_path), keep=1, async_save=False)
  it = _iterator()
  for _ in range(5):
    next(it)
  ckpt.save(5, _state(5), it)
  directory = tmp_path / "5" / checkpointing.DATA_ITER
  # As if written by two processes holding the same (global) position.
  os.rename(directory / "process_0-of-1.json",
            directory / "process_0-of-2.json")
  (directory / "process_1-of-2.json").write_text(
      (directory / "process_0-of-2.json").read_text())
  it = _iterator()
  ckpt.restore(5, jax.eval_shape(lambda: _state(0)), it)
  assert next(it) == 5
  # Different positions per process cannot be carried over.
  (directory / "process_1-of-2.json").write_text('{"next_index": 7}')
  with pytest.raises(ValueError, match="differ"):
    ckpt.restore(5, jax.eval_shape(lambda: _state(0)), _iterator())
  ckpt.close()


def test_relative_directory(tmp_path, monkeypatch):
  # `--workdir=runs/demo` (the README's command) is relative.
  monkeypatch.chdir(tmp_path)
  ckpt = checkpointing.Checkpointer(os.path.join("run", "checkpoints"), keep=1)
  ckpt.save(1, _state(1), _iterator())
  ckpt.wait()
  assert ckpt.directory == str(tmp_path / "run" / "checkpoints")
  assert ckpt.all_steps() == [1]
  ckpt.close()
