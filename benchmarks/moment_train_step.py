r"""Train-step throughput of our MOMENT against momentfm's, on one CPU.

Both sides run the same network from the same initial weights: momentfm's
``MOMENTPipeline`` (classification, concat head, random initialisation) is
converted with ``models.convert.moment``, on the same fixed batch of ``[B, L,
6]`` windows (``[B, 6, L]`` for torch). One train step is forward, mean
cross-entropy, backward and an AdamW update (lr 1e-4, weight decay 0.01 on
every parameter, both sides) with every parameter trained and dropout on.
momentfm's default gradient checkpointing is turned off (``--remat`` turns
recomputation on for both). The Flax step is one ``jax.jit`` with donated
state; the eval-mode losses of both are compared before timing.

Threads: the process is pinned to ``--threads`` cores before jax or torch is
imported (XLA:CPU sizes its intra-op pool from the affinity mask);
``OMP_NUM_THREADS`` and ``torch.set_num_threads`` get the same count, and
``OMP_WAIT_POLICY`` (default ``PASSIVE``) keeps torch's OpenMP workers from
spin-waiting on cores that XLA needs between torch steps. Timed steps
alternate between the frameworks in rounds, so that load from other processes
hits both alike; warm-up steps (including compilation) are excluded.
Reported: windows/s at the min / median / max step time of each side, and the
ratio of the medians.

  python benchmarks/moment_train_step.py          # 2 blocks, batch 16 x 512
  python benchmarks/moment_train_step.py --full   # MOMENT-small, 64 x 1000

The default is MOMENT-small's widths with 2 of its 8 blocks, batch 16 of 512
samples (64 patches per channel), 5 rounds: about 2 minutes on 2 cores.
``--full`` is the real MOMENT-small (8 blocks) on the recipe's batch of 64
native 1000-sample windows (125 patches), about 25x the work per step. Needs
the test-only references: ``torch==2.13.0`` (CPU) and ``momentfm==0.1.4``
(``requirements-parity.txt``, installed with ``--no-deps``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import timing


def _parse() -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--full", action="store_true",
                 help="MOMENT-small: 8 blocks, batch 64 x 1000 samples")
  p.add_argument("--layers", type=int, default=None, help="T5 blocks")
  p.add_argument("--batch", type=int, default=None)
  p.add_argument("--length", type=int, default=None,
                 help="samples per window (patches = length / 8)")
  p.add_argument("--classes", type=int, default=3)
  timing.add_args(p, rounds=5, warmup=1,
                  rounds_help="timed steps per framework")
  p.add_argument("--omp_wait_policy", default="PASSIVE",
                 choices=["PASSIVE", "ACTIVE", ""],
                 help="OMP_WAIT_POLICY for torch ('' leaves it unset)")
  p.add_argument("--remat", action="store_true",
                 help="recompute blocks in the backward pass on both sides")
  args = p.parse_args()
  full = dict(layers=8, batch=64, length=1000)
  small = dict(layers=2, batch=16, length=512)
  for k, v in (full if args.full else small).items():
    if getattr(args, k) is None:
      setattr(args, k, v)
  return args


ARGS = _parse()
# Before importing jax/torch: both size their thread pools from these.
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:ARGS.threads])
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
os.environ["MKL_NUM_THREADS"] = str(ARGS.threads)
if ARGS.omp_wait_policy:
  os.environ["OMP_WAIT_POLICY"] = ARGS.omp_wait_policy
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import torch  # pylint: disable=g-import-not-at-top,wrong-import-position
import train_step_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

from egoimu_jax.models import moment  # pylint: disable=g-import-not-at-top,wrong-import-position
from egoimu_jax.models.convert import moment as convert  # pylint: disable=g-import-not-at-top,wrong-import-position

LR, WEIGHT_DECAY, CHANNELS = 1e-4, 0.01, 6


def _reference(args):
  try:
    from momentfm.models.moment import MOMENTPipeline  # pylint: disable=g-import-not-at-top
  except ImportError:
    sys.exit("momentfm is not installed: pip install --no-deps "
             "momentfm==0.1.4")
  m = moment.create("small")
  t5 = dict(d_model=m.width, d_ff=m.mlp_dim, num_layers=args.layers,
            num_heads=m.num_heads, d_kv=m.head_dim,
            feed_forward_proj="gated-gelu",
            relative_attention_num_buckets=m.num_buckets,
            relative_attention_max_distance=m.max_distance,
            layer_norm_epsilon=m.norm_eps, dropout_rate=m.dropout,
            vocab_size=32128, is_encoder_decoder=False, use_cache=False)
  config = dict(task_name="classification", model_name="MOMENT",
                transformer_type="encoder_only", d_model=None, seq_len=512,
                patch_len=m.patch_len, patch_stride_len=m.patch_len,
                transformer_backbone="google/flan-t5-small", t5_config=t5,
                freeze_embedder=False, freeze_encoder=False,
                freeze_head=False,
                enable_gradient_checkpointing=args.remat)
  torch.manual_seed(0)
  net = MOMENTPipeline(config=config, model_kwargs={
      "task_name": "classification", "n_channels": CHANNELS,
      "num_class": args.classes})
  net.init()
  return net, config


def _stats(times, batch):
  med = statistics.median(times)
  return {"min_s": min(times), "median_s": med, "max_s": max(times),
          "windows_per_s": {"at_min": batch / min(times),
                            "at_median": batch / med,
                            "at_max": batch / max(times)}}


def main(args):
  torch.set_num_threads(args.threads)
  net, config = _reference(args)
  weights = convert.convert(net.state_dict(), config)
  model = moment.create("small", num_classes=args.classes, depth=args.layers,
                        remat=args.remat, **{
                            k: v for k, v in weights.spec_overrides.items()
                            if k != "depth"})
  params = jax.tree.map(jnp.asarray, weights.params)

  rng = np.random.RandomState(0)
  x_np = rng.randn(args.batch, args.length, CHANNELS).astype(np.float32)
  y_np = rng.randint(0, args.classes, args.batch).astype(np.int64)
  x_t = torch.from_numpy(x_np).permute(0, 2, 1).contiguous()
  y_t = torch.from_numpy(y_np)
  x_j, y_j = jnp.asarray(x_np), jnp.asarray(y_np.astype(np.int32))

  # Same network, same weights: eval-mode losses agree before training.
  net.eval()
  with torch.no_grad():
    loss_t = torch.nn.functional.cross_entropy(net(x_enc=x_t).logits,
                                               y_t).item()
  logits, _ = jax.jit(lambda p, x: model.apply({"params": p}, {"imu": x},
                                               train=False))(params, x_j)
  loss_j = train_step_lib.eval_loss(logits, y_j)
  net.train()

  opt, tx, opt_state = train_step_lib.adamw(net, params, LR, WEIGHT_DECAY)
  step = train_step_lib.flax_step_fn(model, tx)
  forward = lambda x: net(x_enc=x).logits  # noqa: E731
  key = jax.random.key(0)

  t0 = time.perf_counter()
  params, opt_state, key, loss = step(params, opt_state, x_j, y_j, key)
  jax.block_until_ready(loss)
  compile_s = time.perf_counter() - t0
  for _ in range(args.warmup):
    params, opt_state, key, loss = step(params, opt_state, x_j, y_j, key)
    jax.block_until_ready(loss)
    train_step_lib.torch_step(forward, opt, x_t, y_t)

  times = {"flax": [], "torch": []}
  for _ in range(args.rounds):
    t0 = time.perf_counter()
    params, opt_state, key, loss = step(params, opt_state, x_j, y_j, key)
    jax.block_until_ready(loss)
    times["flax"].append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    train_step_lib.torch_step(forward, opt, x_t, y_t)
    times["torch"].append(time.perf_counter() - t0)

  stats = {k: _stats(v, args.batch) for k, v in times.items()}
  ratio = (stats["flax"]["windows_per_s"]["at_median"] /
           stats["torch"]["windows_per_s"]["at_median"])
  result = {
      "full": args.full, "layers": args.layers, "batch": args.batch,
      "length": args.length, "patches": args.length // model.patch_len,
      "channels": CHANNELS, "threads": args.threads,
      "omp_wait_policy": args.omp_wait_policy, "remat": args.remat,
      "rounds": args.rounds, "warmup": args.warmup,
      "eval_loss_flax": loss_j, "eval_loss_torch": loss_t,
      "stats": stats, "ratio_flax_over_torch_median": ratio,
      **timing.flax_torch_entries(times, compile_s),
  }
  print(f"MOMENT-small widths, {args.layers} block(s), train step, batch "
        f"{args.batch} x [{args.length}, {CHANNELS}] "
        f"({args.length // model.patch_len} patches), {args.threads} "
        f"thread(s), OMP_WAIT_POLICY={args.omp_wait_policy or 'unset'}")
  print(f"  initial eval loss: flax {loss_j:.6f}  torch {loss_t:.6f}")
  for k in ("flax", "torch"):
    w = stats[k]["windows_per_s"]
    extra = f"  (compile {compile_s:.1f} s)" if k == "flax" else ""
    print(f"  {k:5s}: windows/s min {w['at_max']:7.2f}  median "
          f"{w['at_median']:7.2f}  max {w['at_min']:7.2f}   median step "
          f"{stats[k]['median_s'] * 1e3:8.1f} ms{extra}")
  print(f"  ratio flax/torch windows/s (medians): {ratio:.2f}")
  timing.write_json(result, args.json)
  return result


if __name__ == "__main__":
  main(ARGS)
