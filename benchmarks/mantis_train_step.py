r"""Train-step throughput of our Flax Mantis against ``mantis-tsfm``, on CPU.

Both sides train the same classifier from the same weights: ``MantisV1``
(random initialisation, seed 0) with ``Trainer.fit``'s default head
(BatchNorm1d + Linear over the 6 concatenated CLS embeddings); its state
dict is converted with ``models.convert.mantis`` and the head copied. Each
side gets the same fixed batch of ``[B, 1000, 6]`` windows; the torch side
resizes them to 512 with ``F.interpolate`` and encodes the ``B * 6``
channels as one batch (as ours does, rather than ``FineTuningNetwork``'s
loop over channels, which gives the same outputs); ours does both inside
``jax.jit``. One step is forward in training mode (dropout 0.1,
batch statistics), mean cross-entropy, backward and an AdamW update (lr
2e-4, weight decay 0.05 on every parameter, as ``fit``). Eval-mode losses
are compared before timing.

Threads: before jax or torch is imported the process is pinned to
``--threads`` cores (XLA:CPU sizes its thread pool from the affinity mask),
``OMP_NUM_THREADS`` is set, and ``torch.set_num_threads(--threads)``.
``OMP_WAIT_POLICY`` (``--omp_wait_policy``, default ``PASSIVE``) stops
torch's OpenMP workers from spin-waiting after each parallel region: with
the default active policy they keep the cores busy for a while after every
torch step and slow the XLA step that follows (and any other process).
Timed steps alternate between the frameworks in rounds so that load from
other processes hits both alike; warm-up rounds (including XLA
compilation) are excluded. Reported: windows/s at the min / median / max
round and the ratio of the medians.

Default size (about 1.5 minutes on 2 cores shared with other work): the 8M
widths (256, 8 heads x 128, MLP 512, 32 patches, 6 channels) with 2
transformer layers (1.2 GFLOP forward per window), batch 32, 8 rounds.
``--full`` runs Mantis-8M itself (6 layers, 3.4 GFLOP forward per window;
about 3x longer).

  python benchmarks/mantis_train_step.py --threads 2
  python benchmarks/mantis_train_step.py --full --rounds 5

Needs the test-only references: ``torch==2.13.0`` (CPU) and
``mantis-tsfm==1.1.0`` + ``einops`` installed with ``--no-deps``
(``requirements-parity.txt``).
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
                 help="Mantis-8M itself (6 layers)")
  p.add_argument("--depth", type=int, default=None,
                 help="transformer layers (default 2, or 6 with --full)")
  p.add_argument("--batch", type=int, default=32, help="windows per step")
  p.add_argument("--length", type=int, default=1000)
  p.add_argument("--channels", type=int, default=6)
  p.add_argument("--classes", type=int, default=3)
  timing.add_args(p, rounds=8, warmup=2)
  p.add_argument("--omp_wait_policy", default="PASSIVE",
                 choices=["PASSIVE", "ACTIVE", "unset"])
  args = p.parse_args()
  args.depth = args.depth or (6 if args.full else 2)
  return args


ARGS = _parse()
# Before importing jax/torch: both size their thread pools from these.
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:ARGS.threads])
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
if ARGS.omp_wait_policy != "unset":
  os.environ["OMP_WAIT_POLICY"] = ARGS.omp_wait_policy

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import optax  # pylint: disable=g-import-not-at-top,wrong-import-position
import torch  # pylint: disable=g-import-not-at-top,wrong-import-position
import train_step_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

from egoimu_jax.models import mantis  # pylint: disable=g-import-not-at-top,wrong-import-position
from egoimu_jax.models import torch_convert  # pylint: disable=g-import-not-at-top,wrong-import-position
from egoimu_jax.models.convert import mantis as convert  # pylint: disable=g-import-not-at-top,wrong-import-position

LR, WEIGHT_DECAY = 2e-4, 0.05


class TorchClassifier(torch.nn.Module):
  """``MantisV1`` per channel + ``fit``'s BatchNorm1d + Linear head."""

  def __init__(self, encoder, features: int, classes: int):
    super().__init__()
    self.encoder = encoder
    self.head = torch.nn.Sequential(torch.nn.BatchNorm1d(features),
                                    torch.nn.Linear(features, classes))

  def forward(self, x):  # [B, C, L]
    b, c, _ = x.shape
    x = torch.nn.functional.interpolate(x, size=self.encoder.seq_len,
                                        mode="linear", align_corners=False)
    z = self.encoder(x.reshape(b * c, 1, -1))
    return self.head(z.reshape(b, -1))


def _models(args):
  try:
    from mantis.architecture import MantisV1  # pylint: disable=g-import-not-at-top
  except ImportError:
    sys.exit("mantis-tsfm is not installed: pip install --no-deps -r "
             "requirements-parity.txt")
  torch.manual_seed(0)
  encoder = MantisV1(device="cpu", transf_depth=args.depth)
  net = TorchClassifier(encoder, args.channels * 256, args.classes)
  model = mantis.create("8M", num_classes=args.classes, depth=args.depth,
                        head="batchnorm_linear")
  weights = convert.convert(encoder.state_dict(),
                            {"transf_depth": args.depth})
  sd = torch_convert.StateDict(net.head.state_dict(), "head")
  norm, stats = torch_convert.batch_norm(sd, "0")
  params = dict(weights.params, head_norm=norm,
                head=torch_convert.linear(sd, "1"))
  sd.assert_all_used()
  variables = {"params": params, "batch_stats": {"head_norm": stats}}
  return model, net, jax.tree.map(jnp.asarray, variables)


def _flax_step_fn(model, tx):
  def loss_fn(params, stats, x, y, key):
    (logits, _), updates = model.apply(
        {"params": params, "batch_stats": stats}, {"imu": x}, train=True,
        rngs={"dropout": key}, mutable=["batch_stats"])
    loss = optax.softmax_cross_entropy_with_integer_labels(
        logits.astype(jnp.float32), y).mean()
    return loss, updates["batch_stats"]

  def step(params, stats, opt_state, x, y, key):
    key, sub = jax.random.split(key)
    (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params, stats, x, y, sub)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), stats, opt_state, key, loss

  return jax.jit(step, donate_argnums=(0, 1, 2, 5))


def main(args):
  torch.set_num_threads(args.threads)
  model, net, variables = _models(args)
  rng = np.random.default_rng(0)
  x_np = rng.normal(size=(args.batch, args.length, args.channels)
                    ).astype(np.float32)
  y_np = rng.integers(0, args.classes, args.batch)
  x_t = torch.from_numpy(x_np).permute(0, 2, 1).contiguous()
  y_t = torch.from_numpy(y_np)
  x_j, y_j = jnp.asarray(x_np), jnp.asarray(y_np.astype(np.int32))

  # Same network, same weights: eval-mode losses agree before training.
  net.eval()
  with torch.no_grad():
    loss_t = torch.nn.functional.cross_entropy(net(x_t), y_t).item()
  logits, _ = jax.jit(lambda v, x: model.apply(v, {"imu": x}, train=False))(
      variables, x_j)
  loss_j = train_step_lib.eval_loss(logits, y_j)
  if abs(loss_j - loss_t) > 1e-4 * max(1.0, abs(loss_t)):
    raise SystemExit(f"eval losses differ: flax {loss_j} torch {loss_t}; "
                     "not timing")
  net.train()

  params, stats = variables["params"], variables["batch_stats"]
  opt, tx, opt_state = train_step_lib.adamw(net, params, LR, WEIGHT_DECAY)
  step = _flax_step_fn(model, tx)
  key = jax.random.key(0)

  def run_flax():
    nonlocal params, stats, opt_state, key
    params, stats, opt_state, key, loss = step(params, stats, opt_state,
                                               x_j, y_j, key)
    return float(loss)

  t0 = time.perf_counter()
  run_flax()
  compile_s = time.perf_counter() - t0
  for _ in range(args.warmup):
    run_flax()
    train_step_lib.torch_step(net, opt, x_t, y_t)

  times = {"flax": [], "torch": []}
  losses = {"flax": [], "torch": []}
  for _ in range(args.rounds):
    t0 = time.perf_counter()
    losses["flax"].append(run_flax())
    times["flax"].append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    losses["torch"].append(
        train_step_lib.torch_step(net, opt, x_t, y_t).item())
    times["torch"].append(time.perf_counter() - t0)

  rates = {k: timing.rates(v, args.batch) for k, v in times.items()}
  ratio = rates["flax"]["median"] / rates["torch"]["median"]
  flops = mantis.forward_flops("8M", channels=args.channels,
                               num_classes=args.classes, depth=args.depth)
  result = {
      "model": "Mantis-8M" if args.depth == 6 else
               f"Mantis 8M widths, {args.depth} layers",
      "batch": args.batch, "length": args.length, "channels": args.channels,
      "threads": args.threads, "omp_wait_policy": args.omp_wait_policy,
      "rounds": args.rounds, "warmup": args.warmup,
      "forward_gflop_per_window": flops / 1e9,
      "eval_loss_flax": loss_j, "eval_loss_torch": loss_t,
      "train_loss": {k: [round(v, 4) for v in l] for k, l in losses.items()},
      "windows_per_s": rates, "ratio_flax_over_torch": ratio,
      **timing.flax_torch_entries(times, compile_s),
  }
  print(f"{result['model']} train step, batch {args.batch} x [{args.length}, "
        f"{args.channels}], {args.threads} thread(s), OMP_WAIT_POLICY="
        f"{args.omp_wait_policy}; {flops / 1e9:.2f} GFLOP forward per window")
  print(f"  initial eval loss: flax {loss_j:.6f}  torch {loss_t:.6f}; flax "
        f"compile {compile_s:.1f} s")
  for k in ("flax", "torch"):
    print(f"  {k:5s}: {timing.rates_line(rates[k], 'windows/s')}  "
          f"({statistics.median(times[k]) * 1e3:.0f} ms/step median)")
  print(f"  ratio flax/torch (median windows/s): {ratio:.2f}")
  timing.write_json(result, args.json)
  return result


if __name__ == "__main__":
  main(ARGS)
