r"""MFU of one training configuration: the real task, train step, mesh and
shardings of the trainer, on random batches of the config's shapes.

  python benchmarks/mfu.py --config=configs/timesformer.py --steps=30
  python benchmarks/mfu.py --config=configs/evimae.py:B --stage=pretrain \
      --batch=64 --dtype=bfloat16
  python benchmarks/mfu.py --config=configs/videomae.py:tiny --steps=5  # CPU

Prints steps/s over ``--rounds`` rounds of ``--steps`` steps (min / median /
max), the model FLOP/s from the model's own analytic count
(``models.forward_flops``, training = 3x forward) and, on a device kind with
a known peak (``training/mfu.py``), MFU = achieved / peak. The data pipeline
is left out on purpose (random device-resident batches): this measures the
model and the step, the figure a pipeline must then keep fed.
"""

from __future__ import annotations

import statistics
import time
import types

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np
from ml_collections import config_flags

from egoimu_jax import config_lib
from egoimu_jax import models
from egoimu_jax.training import mesh as mesh_lib
from egoimu_jax.training import mfu as mfu_lib
from egoimu_jax.training import optim
from egoimu_jax.training import sharding
from egoimu_jax.training import tasks
from egoimu_jax.training import train_state
from egoimu_jax.training import trainer

config_flags.DEFINE_config_file("config", None, "Config file[:arg].")
_STAGE = flags.DEFINE_string("stage", "", "Experiment stage to merge in "
                             "(e.g. pretrain, finetune for configs/evimae.py).")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps per round.")
_ROUNDS = flags.DEFINE_integer("rounds", 3, "Rounds.")
_BATCH = flags.DEFINE_integer("batch", 0, "Global batch (0: the config's).")
_DTYPE = flags.DEFINE_string("dtype", "", "Compute dtype (default: config's).")
_CLASSES = flags.DEFINE_integer("num_classes", 3, "Classes of the head.")


def _batch_shapes(config, b: int) -> dict[str, tuple]:
  """Contract-3 batch shapes the config's input section asks for."""
  data, inp = config.data, config.input
  length = int(round(data.imu.window_seconds * data.imu.rate_hz))
  shapes = {"imu": ((b, length, 6), np.float32), "label": ((b,), np.int32),
            "worker": ((b,), np.int32), "index": ((b,), np.int64),
            "mask": ((b,), np.bool_)}
  if inp.get("spectrogram"):
    s = data.spectrogram
    shapes["spec"] = ((b, s.time_bins, s.freq_bins, 6), np.float32)
  if inp.get("frames"):
    t = inp.num_frames or data.video.frames_per_window
    shapes["frames"] = ((b, t, data.video.size, data.video.size, 3),
                        np.float32)
  return shapes


def _random_batch(shapes, num_classes, seed=0) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(seed)
  out = {}
  for k, (shape, dtype) in shapes.items():
    if k == "label":
      out[k] = rng.integers(0, num_classes, shape).astype(dtype)
    elif k == "mask":
      out[k] = np.ones(shape, dtype)
    elif np.issubdtype(dtype, np.integer):
      out[k] = np.arange(shape[0]).astype(dtype)
    else:
      out[k] = rng.normal(size=shape).astype(dtype)
  return out


def main(argv):
  del argv
  config = flags.FLAGS.config
  if _STAGE.value:
    config = config_lib.merged(config, config[_STAGE.value])
  with config.unlocked():
    if _DTYPE.value:
      config.dtype = _DTYPE.value
    if _BATCH.value:
      config.input.batch_size = _BATCH.value
  b = config.input.batch_size
  classes = tuple(f"c{i}" for i in range(_CLASSES.value))
  data = types.SimpleNamespace(dataset=types.SimpleNamespace(classes=classes),
                               split={})
  task = tasks.TASKS.get(config.task.name)(config, data)
  mesh = mesh_lib.make_mesh(config.mesh)
  total = _ROUNDS.value * _STEPS.value + 2
  lr = optim.schedule(config.optim, total, 0)
  tx = task.optimizer(lr)
  shapes = _batch_shapes(config, b)
  one = {k: jnp.zeros((1,) + s[1:], d) for k, (s, d) in shapes.items()}

  def init(key):
    return train_state.from_variables(task.init_variables(key, one), tx)

  key = jax.random.key(0)
  abstract = jax.eval_shape(init, key)
  state_sh = sharding.state_shardings(abstract, config.sharding_rules, mesh)
  batch_sh = mesh_lib.batch_sharding(mesh)
  state = jax.jit(init, out_shardings=state_sh)(key)
  step = jax.jit(trainer.make_train_step(task, tx, lr, key),
                 in_shardings=(state_sh, batch_sh),
                 out_shardings=(state_sh, mesh_lib.replicated(mesh)),
                 donate_argnums=(0,))
  batch = sharding.global_batch(_random_batch(shapes, len(classes)), batch_sh)
  for _ in range(2):  # compile and warm up
    state, metrics = step(state, batch)
  jax.block_until_ready(state)
  rates = []
  for _ in range(_ROUNDS.value):
    t0 = time.perf_counter()
    for _ in range(_STEPS.value):
      state, metrics = step(state, batch)
    jax.block_until_ready(state)
    rates.append(_STEPS.value / (time.perf_counter() - t0))
  flops = models.forward_flops(config.model,
                               {k: s for k, (s, _) in shapes.items()})
  meter = mfu_lib.Meter(flops, b, jax.devices(), config.dtype)
  med = statistics.median(rates)
  name = config_flags.get_config_filename(flags.FLAGS["config"])
  print(f"config {name} stage {_STAGE.value or '-'}: "
        f"model {config.model.name}, batch {b}, dtype {config.dtype}, "
        f"{jax.device_count()} x {jax.devices()[0].device_kind}")
  print(f"steps/s min {min(rates):.3f} median {med:.3f} max {max(rates):.3f}"
        f" ({_ROUNDS.value} rounds x {_STEPS.value} steps); loss "
        f"{float(metrics['loss']):.4f}")
  if flops is None:
    print("no FLOP count for this model: MFU not available")
    return
  figures = meter(med)
  print(f"forward FLOPs/example {flops:.4g}; model FLOP/s at the median "
        f"{figures['model_flops_per_sec']:.4g}")
  if "mfu" in figures:
    lo, hi = meter(min(rates))["mfu"], meter(max(rates))["mfu"]
    print(f"MFU min {lo:.1%} median {figures['mfu']:.1%} max {hi:.1%} (peak "
          f"{meter.peak:.4g} FLOP/s)")
  else:
    print("device kind has no peak in training/mfu.py: MFU not available")


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  app.run(main)
