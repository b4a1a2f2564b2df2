r"""Train-step throughput of our DeepConvLSTM against PyTorch, on one CPU.

Both sides run the same network from the same initial weights (the torch
model is benchmarkhar's ISWC'22 ``DeepConvLSTM``; its state dict is converted
with ``deepconvlstm.variables_from_torch``) on the same fixed batch of
``[B, 1000, 6]`` windows. One train step is forward, mean cross-entropy,
backward and an AdamW update (lr 1e-3, weight decay 1e-2 on both sides). The
Flax step is one ``jax.jit`` with donated state.

Threads: the process is pinned to ``--threads`` cores before jax or torch is
imported (XLA:CPU sizes its intra-op pool from the affinity mask) and
``torch.set_num_threads(--threads)``; both sides therefore use the same cores.
Timed steps alternate between the frameworks in rounds so that load from other
processes hits both alike; warm-up steps (including compilation) are excluded
and the median step time of each side is reported.

  python benchmarks/train_step_vs_torch.py --batch 64 --steps 6

``--variant paper`` patches the torch convs to stride 1 and uses 2 LSTM layers
(the paper's conv/LSTM stack; dropout placement as in benchmarkhar's code on
both sides, since the torch module has one dropout only).

Needs the test-only references: ``torch==2.13.0`` (CPU) and
``benchmarkhar==0.1.1`` installed with ``--no-deps``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time


def _parse() -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--length", type=int, default=1000)
  p.add_argument("--classes", type=int, default=3)
  p.add_argument("--steps", type=int, default=6,
                 help="timed steps per framework")
  p.add_argument("--warmup", type=int, default=2)
  p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
  p.add_argument("--variant", choices=["iswc22", "paper"], default="iswc22")
  p.add_argument("--lstm_unroll", type=int, default=1)
  p.add_argument("--json", default=None, help="also write results here")
  return p.parse_args()


ARGS = _parse()
# Before importing jax/torch: both size their thread pools from this mask.
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:ARGS.threads])


import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import optax  # pylint: disable=g-import-not-at-top,wrong-import-position
import torch  # pylint: disable=g-import-not-at-top,wrong-import-position

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


def _torch_step(net, opt, x, y):
  opt.zero_grad(set_to_none=True)
  loss = torch.nn.functional.cross_entropy(net(x), y)
  loss.backward()
  opt.step()
  return loss


def _flax_step_fn(model, tx):
  def loss_fn(params, x, y, key):
    logits, _ = model.apply({"params": params}, {"imu": x}, train=True,
                            rngs={"dropout": key})
    return optax.softmax_cross_entropy_with_integer_labels(
        logits.astype(jnp.float32), y).mean()

  def step(params, opt_state, x, y, key):
    key, sub = jax.random.split(key)
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y, sub)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, key, loss

  return jax.jit(step, donate_argnums=(0, 1, 4))


def main(args):
  torch.set_num_threads(args.threads)
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
  loss_j = float(optax.softmax_cross_entropy_with_integer_labels(
      logits, y_j).mean())
  net.train()

  opt = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
  tx = optax.adamw(LR, weight_decay=WEIGHT_DECAY)
  opt_state = tx.init(params)
  step = _flax_step_fn(model, tx)
  key = jax.random.key(0)

  t0 = time.perf_counter()
  params, opt_state, key, loss = step(params, opt_state, x_j, y_j, key)
  jax.block_until_ready(loss)
  compile_s = time.perf_counter() - t0
  for _ in range(args.warmup):
    params, opt_state, key, loss = step(params, opt_state, x_j, y_j, key)
    _torch_step(net, opt, x_t, y_t)
  jax.block_until_ready(loss)

  times = {"flax": [], "torch": []}
  for _ in range(args.steps):
    t0 = time.perf_counter()
    params, opt_state, key, loss = step(params, opt_state, x_j, y_j, key)
    jax.block_until_ready(loss)
    times["flax"].append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    _torch_step(net, opt, x_t, y_t)
    times["torch"].append(time.perf_counter() - t0)

  med = {k: statistics.median(v) for k, v in times.items()}
  wps = {k: args.batch / v for k, v in med.items()}
  result = {
      "variant": args.variant, "batch": args.batch, "length": args.length,
      "threads": args.threads, "lstm_unroll": args.lstm_unroll,
      "steps": args.steps, "warmup": args.warmup,
      "eval_loss_flax": loss_j, "eval_loss_torch": loss_t,
      "flax_compile_s": compile_s,
      "step_s": {k: [round(t, 4) for t in v] for k, v in times.items()},
      "windows_per_s": wps, "ratio_flax_over_torch": wps["flax"] / wps["torch"],
      "jax": jax.__version__, "torch": torch.__version__,
  }
  print(f"DeepConvLSTM ({args.variant}) train step, batch {args.batch} x "
        f"[{args.length}, 6], {args.threads} thread(s)")
  print(f"  initial eval loss: flax {loss_j:.6f}  torch {loss_t:.6f}")
  print(f"  flax : {med['flax'] * 1e3:9.1f} ms/step  {wps['flax']:8.1f} "
        f"windows/s  (compile {compile_s:.1f} s)")
  print(f"  torch: {med['torch'] * 1e3:9.1f} ms/step  {wps['torch']:8.1f} "
        "windows/s")
  print(f"  ratio flax/torch windows/s: {result['ratio_flax_over_torch']:.2f}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(result, f, indent=1)
  return result


if __name__ == "__main__":
  main(ARGS)
