r"""Train-step throughput of our DeepConvLSTM against PyTorch, on one CPU.

Both sides run the same network from the same initial weights (the torch
model is benchmarkhar's ISWC'22 ``DeepConvLSTM``; its state dict is converted
with ``deepconvlstm.variables_from_torch``) on the same fixed batch of
``[B, 1000, 6]`` windows. One train step is forward, mean cross-entropy,
backward and an AdamW update (lr 1e-3, weight decay 1e-2 on both sides). The
Flax step is one ``jax.jit`` with donated state.

Threads: the process is pinned to ``--threads`` cores before jax or torch is
imported (XLA:CPU sizes its intra-op pool from the affinity mask); torch gets
the same count (``torch.set_num_threads``, ``OMP_NUM_THREADS``,
``MKL_NUM_THREADS``) and one inter-op thread.

OpenMP waiting (what made torch 3-4x slower in an earlier run): torch's CPU
wheel runs its ops on a GNU OpenMP team whose idle threads spin before they
sleep. When other processes keep the cores busy, a spinning thread holds a
core that the thread it waits for needs, and every parallel region stalls.
Here, at a load average of ~9 on 2 cores, torch's 2-thread step took 20 s
with ``OMP_WAIT_POLICY`` unset or ``ACTIVE`` and 5.3 s with ``PASSIVE``,
while the Flax step barely changed. The script sets ``OMP_WAIT_POLICY``
(``--omp_wait_policy``, default ``PASSIVE``) before torch loads OpenMP.

Timing: ``--steps`` rounds; each times one step of each framework in turn, so
that load from other processes hits both alike; warm-up steps (including
compilation) are excluded. Reported: windows/s of each side and their ratio,
min / median / max over rounds, with the load average and the cores each
side kept busy (CPU s / wall s), so that a run on a loaded machine shows as
one.

  python benchmarks/train_step_vs_torch.py --threads 2 --steps 15
  python benchmarks/train_step_vs_torch.py --threads 1 --steps 15

``--variant paper`` patches the torch convs to stride 1 and uses 2 LSTM layers
(the paper's conv/LSTM stack; dropout placement as in benchmarkhar's code on
both sides, since the torch module has one dropout only).

Needs the test-only references: ``torch==2.13.0`` (CPU) and
``benchmarkhar==0.1.1`` installed with ``--no-deps``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time

import timing


def _parse() -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--length", type=int, default=1000)
  p.add_argument("--classes", type=int, default=3)
  timing.add_args(p, rounds=15, warmup=2, rounds_flag="--steps",
                  rounds_help="rounds: timed steps per framework")
  p.add_argument("--variant", choices=["iswc22", "paper"], default="iswc22")
  p.add_argument("--lstm_unroll", type=int, default=1)
  p.add_argument("--omp_wait_policy", choices=["PASSIVE", "ACTIVE"],
                 default="PASSIVE",
                 help="idle OpenMP threads sleep (PASSIVE) or spin (ACTIVE)")
  return p.parse_args()


ARGS = _parse()
# Before importing jax/torch: both size their thread pools from this mask,
# and OpenMP reads its environment once, when torch loads it.
timing.pin_threads(ARGS.threads, omp=True)
THREAD_ENV = {"OMP_NUM_THREADS": str(ARGS.threads),
              "MKL_NUM_THREADS": str(ARGS.threads),
              "OMP_WAIT_POLICY": ARGS.omp_wait_policy}
os.environ.update(THREAD_ENV)


import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import torch  # pylint: disable=g-import-not-at-top,wrong-import-position
import train_step_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

from egoimu_jax.models import deepconvlstm  # pylint: disable=g-import-not-at-top,wrong-import-position
from egoimu_jax.models import torch_convert  # pylint: disable=g-import-not-at-top,wrong-import-position

LR, WEIGHT_DECAY = 1e-3, 1e-2


def _torch_reference():
  module = torch_convert.iswc22_reference("deepconvlstm.py")
  if module is None:
    sys.exit("benchmarkhar is not installed: pip install --no-deps "
             "benchmarkhar==0.1.1")
  return module


def _models(args):
  model = deepconvlstm.create(variant="iswc22", num_classes=args.classes,
                              lstm_unroll=args.lstm_unroll)
  config = deepconvlstm.iswc22_config(model)
  if args.variant == "paper":
    config["nb_layers_lstm"] = 2
    model = dataclasses.replace(model, conv_strides=(1, 1, 1, 1), lstm_layers=2)
  torch.manual_seed(0)
  net = _torch_reference().DeepConvLSTM((1, 1, args.length, 6), args.classes,
                                        1, config)
  if args.variant == "paper":
    for block in net.conv_blocks:
      block.conv2.stride = (1, 1)
  return model, net


def main(args):
  torch.set_num_threads(args.threads)
  torch.set_num_interop_threads(1)
  model, net = _models(args)
  rng = np.random.RandomState(0)
  x_np = rng.randn(args.batch, args.length, 6).astype(np.float32)
  y_np = rng.randint(0, args.classes, args.batch).astype(np.int64)
  x_t, y_t = torch.from_numpy(x_np)[:, None], torch.from_numpy(y_np)
  x_j, y_j = jnp.asarray(x_np), jnp.asarray(y_np.astype(np.int32))

  params = deepconvlstm.variables_from_torch(net.state_dict(), model)["params"]
  params = jax.tree.map(jnp.asarray, params)
  # Same network, same weights: eval-mode losses agree before training.
  net.eval()
  with torch.no_grad():
    loss_t = torch.nn.functional.cross_entropy(net(x_t), y_t).item()
  logits, _ = model.apply({"params": params}, {"imu": x_j}, train=False)
  loss_j = train_step_lib.eval_loss(logits, y_j)
  net.train()

  opt, tx, opt_state = train_step_lib.adamw(net, params, LR, WEIGHT_DECAY)
  step = train_step_lib.flax_step_fn(model, tx)
  key = jax.random.key(0)

  cpu_s = {"flax": 0.0, "torch": 0.0}

  def run_flax():
    nonlocal params, opt_state, key
    c0 = time.process_time()
    params, opt_state, key, loss = step(params, opt_state, x_j, y_j, key)
    jax.block_until_ready(loss)
    cpu_s["flax"] += time.process_time() - c0

  def run_torch():
    c0 = time.process_time()
    train_step_lib.torch_step(net, opt, x_t, y_t)
    cpu_s["torch"] += time.process_time() - c0

  fns = {"flax": run_flax, "torch": run_torch}
  _, compile_s = timing.timed(run_flax)
  timing.alternate(fns, args.warmup)  # untimed
  cpu_s.update(flax=0.0, torch=0.0)
  load = os.getloadavg()[0]
  times = timing.alternate(fns, args.steps)
  load = (load, os.getloadavg()[0])
  cores = {k: cpu_s[k] / sum(v) for k, v in times.items()}
  wps = {k: timing.rates(v, args.batch) for k, v in times.items()}
  ratios = [t / f for f, t in zip(times["flax"], times["torch"])]
  ratio = {"min": min(ratios), "median": statistics.median(ratios),
           "max": max(ratios)}
  result = {
      "variant": args.variant, "batch": args.batch, "length": args.length,
      "threads": args.threads, "lstm_unroll": args.lstm_unroll,
      "rounds": args.steps, "warmup": args.warmup, "thread_env": THREAD_ENV,
      "loadavg_1min": load, "cpus": os.cpu_count(), "cores_busy": cores,
      "eval_loss_flax": loss_j, "eval_loss_torch": loss_t,
      "windows_per_s": wps, "ratio_flax_over_torch": ratio,
      **timing.flax_torch_entries(times, compile_s),
  }
  print(f"DeepConvLSTM ({args.variant}) train step, batch {args.batch} x "
        f"[{args.length}, 6], {args.threads} thread(s), "
        + " ".join(f"{k}={v}" for k, v in THREAD_ENV.items()))
  print(f"  {args.steps} rounds; load average {load[0]:.1f} -> {load[1]:.1f} "
        f"on {os.cpu_count()} CPUs")
  print(f"  initial eval loss: flax {loss_j:.6f}  torch {loss_t:.6f}")
  print(f"  flax : {timing.rates_line(wps['flax'], 'windows/s', 1)}  "
        f"(cores busy {cores['flax']:.2f}; compile {compile_s:.1f} s)")
  print(f"  torch: {timing.rates_line(wps['torch'], 'windows/s', 1)}  "
        f"(cores busy {cores['torch']:.2f})")
  print(f"  ratio flax/torch per round: {timing.rates_line(ratio, '', 2)}")
  timing.write_json(result, args.json)
  return result


if __name__ == "__main__":
  main(ARGS)
