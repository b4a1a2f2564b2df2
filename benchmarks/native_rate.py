r"""DeepConvLSTM epoch time at a dataset's native 50 Hz vs resampled to 200 Hz.

Issue 24: keeping 50 Hz data at 50 Hz (``data.imu.rate_hz=0``) instead of
upsampling it to 200 Hz should cut training compute about 4x. Both arms train
on the same windows: a seeded 50 Hz IMU stream (smooth random motion) cut into
``--window_seconds`` windows, and the same stream resampled to 200 Hz by
``prepare``'s resampler (``raw/imu_resample.resample``, piecewise-cubic), so
the 200 Hz windows are what ``prepare`` would store. Conv/LSTM compute does
not depend on the values, only on the lengths.

One epoch is ``--windows / --batch`` train steps of DeepConvLSTM (``--variant``;
forward, mean cross-entropy, backward, AdamW; one ``jax.jit`` with donated
state; compilation excluded). Each round times one epoch of each arm in turn
(``timing.alternate``), so load from other processes hits both alike; the
200/50 Hz ratio is taken within each round. Reported: epoch seconds of each
arm and the ratio, min / median / max over rounds.

  python benchmarks/native_rate.py --rounds 5 --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics

import timing


def _parse() -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--window_seconds", type=float, default=2.56,
                 help="HAPT / UCI-HAR windows (128 samples at 50 Hz)")
  p.add_argument("--windows", type=int, default=1024, help="windows per epoch")
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--classes", type=int, default=6)
  p.add_argument("--variant", choices=["iswc22", "paper"], default="iswc22")
  timing.add_args(p, rounds=5, warmup=1)
  return p.parse_args()


ARGS = _parse()
timing.pin_threads(ARGS.threads)  # before jax sizes its thread pool

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import optax  # pylint: disable=g-import-not-at-top,wrong-import-position

from egoimu_jax.input_pipeline.raw import imu_resample  # pylint: disable=g-import-not-at-top,wrong-import-position
from egoimu_jax.models import deepconvlstm  # pylint: disable=g-import-not-at-top,wrong-import-position

NATIVE_HZ, RESAMPLED_HZ = 50.0, 200.0


def windows(n: int, seconds: float, seed: int = 0) -> dict[float, np.ndarray]:
  """``{rate: [n, seconds * rate, 6]}``: one 50 Hz stream, cut natively and
  after resampling to 200 Hz."""
  rng = np.random.default_rng(seed)
  samples = int(round(n * seconds * NATIVE_HZ))
  stream = np.cumsum(rng.normal(size=(samples, 6)), axis=0).astype(np.float32)
  stream /= np.sqrt(np.arange(1, samples + 1))[:, None]
  t_us = np.arange(samples, dtype=np.int64) * int(1e6 / NATIVE_HZ)
  out = {}
  for rate in (NATIVE_HZ, RESAMPLED_HZ):
    length = int(round(seconds * rate))
    target = (np.arange(n * length, dtype=np.int64) * int(1e6 / rate))
    values, valid = imu_resample.resample(
        t_us, stream, target, max_gap_us=4e6 / NATIVE_HZ, rate_hz=NATIVE_HZ,
        target_hz=rate)
    assert valid.all()
    out[rate] = values.reshape(n, length, 6)
  return out


def epoch_fn(x: np.ndarray, labels: np.ndarray):
  """A callable that trains one epoch over ``x`` (state kept across calls)
  and blocks until it is done; compiled on construction."""
  model = deepconvlstm.create(variant=ARGS.variant, num_classes=ARGS.classes)
  batches = [(jnp.asarray(x[i:i + ARGS.batch]),
              jnp.asarray(labels[i:i + ARGS.batch]))
             for i in range(0, len(x) - ARGS.batch + 1, ARGS.batch)]
  params = model.init({"params": jax.random.key(0)}, {"imu": batches[0][0]},
                      train=False)["params"]
  tx = optax.adamw(1e-3, weight_decay=1e-4)

  def loss_fn(params, xb, yb, key):
    logits, _ = model.apply({"params": params}, {"imu": xb}, train=True,
                            rngs={"dropout": key})
    return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

  @jax.jit
  def step(params, opt_state, xb, yb, key):
    key, sub = jax.random.split(key)
    grads = jax.grad(loss_fn)(params, xb, yb, sub)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, key

  state = [params, tx.init(params), jax.random.key(1)]

  def first_step():  # compiles
    state[:] = step(state[0], state[1], *batches[0], state[2])
    jax.block_until_ready(state)

  compile_s = timing.timed(first_step)[1]

  def epoch():
    for xb, yb in batches:
      state[:] = step(state[0], state[1], xb, yb, state[2])
    jax.block_until_ready(state)

  return epoch, len(batches), compile_s


def main() -> None:
  data = windows(ARGS.windows, ARGS.window_seconds)
  labels = np.random.default_rng(1).integers(0, ARGS.classes, ARGS.windows)
  fns, steps, compile_s = {}, 0, {}
  for rate, x in data.items():
    name = f"{rate:g}Hz"
    fns[name], steps, compile_s[name] = epoch_fn(x, labels)
  times = timing.alternate(fns, ARGS.rounds, ARGS.warmup)
  native, resampled = (f"{r:g}Hz" for r in (NATIVE_HZ, RESAMPLED_HZ))
  ratios = [b / a for a, b in zip(times[native], times[resampled])]
  print(f"DeepConvLSTM {ARGS.variant}, {ARGS.window_seconds:g} s windows, "
        f"{steps} steps x {ARGS.batch} per epoch, {ARGS.threads} threads, "
        f"load {os.getloadavg()[0]:.1f}")
  for name in fns:
    t = times[name]
    print(f"  {name:>6} [{data[float(name[:-2])].shape[1]} samples]: epoch s "
          f"min {min(t):.3f}  median {statistics.median(t):.3f}  max "
          f"{max(t):.3f}  (compile {compile_s[name]:.1f} s)")
  print(f"  {resampled}/{native} epoch time: min {min(ratios):.2f}  median "
        f"{statistics.median(ratios):.2f}  max {max(ratios):.2f}")
  timing.write_json({
      "variant": ARGS.variant, "window_seconds": ARGS.window_seconds,
      "steps_per_epoch": steps, "batch": ARGS.batch, "threads": ARGS.threads,
      "epoch_s": {k: [round(x, 4) for x in v] for k, v in times.items()},
      "compile_s": compile_s, "ratio": [round(r, 3) for r in ratios],
      "jax": jax.__version__}, ARGS.json)


if __name__ == "__main__":
  main()
