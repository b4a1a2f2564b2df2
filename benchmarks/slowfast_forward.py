r"""Forward (inference) throughput of our SlowFast against pytorchvideo's, on
one CPU.

Both sides run the same network with the same weights: pytorchvideo's
``create_slowfast`` (random weights and BatchNorm statistics, eval mode) is
converted with ``models.convert.slowfast``. Both get the same fixed batch of
``--frames`` Fast frames of ``--size``^2 (the Slow frames picked by
PackPathway's rule on the torch side, inside the model on ours); the logits
are compared before timing. The Flax forward is one ``jax.jit``; torch runs
under ``inference_mode``.

Threads: the process is pinned to ``--threads`` cores before jax or torch is
imported (XLA:CPU sizes its intra-op pool from the affinity mask),
``OMP_NUM_THREADS`` is set and ``torch.set_num_threads(--threads)``, so both
sides use the same cores. Timed forwards alternate between the frameworks in
rounds so that load from other processes hits both alike; warm-up (including
compilation) is excluded. Reported: clips/s at the min / median / max round
time, and the ratio of the medians.

  python benchmarks/slowfast_forward.py               # R50, 32 x 112^2, batch 2
  python benchmarks/slowfast_forward.py --size 224 --batch 1 --rounds 3

The default (full R50 depth and width, 32 frames at 112^2: a quarter of the
224^2 FLOPs; batch 2, 10 rounds) takes about a minute on 2 cores. Needs the
test-only references: ``torch==2.13.0`` (CPU) and ``pytorchvideo==0.1.5``
with the packages in ``requirements-parity.txt``; torchvision is replaced by
the tests' stand-in.
"""

from __future__ import annotations

import argparse
import importlib.util
import pathlib
import sys

import timing


def _parse() -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--batch", type=int, default=2)
  p.add_argument("--size", type=int, default=112, help="frame height = width")
  p.add_argument("--frames", type=int, default=32, help="Fast frames")
  p.add_argument("--depth", type=int, default=50, choices=[18, 50, 101],
                 help="pytorchvideo model_depth (18: one block per stage)")
  p.add_argument("--classes", type=int, default=400)
  timing.add_args(p, rounds=10, warmup=1,
                  rounds_help="timed forwards per framework")
  return p.parse_args()


ARGS = _parse()
# Before importing jax/torch: both size their thread pools from these.
timing.pin_threads(ARGS.threads, omp=True)

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import torch  # pylint: disable=g-import-not-at-top,wrong-import-position

from egoimu_jax.models import slowfast  # pylint: disable=g-import-not-at-top,wrong-import-position
from egoimu_jax.models.convert import slowfast as convert  # pylint: disable=g-import-not-at-top,wrong-import-position

STANDIN = (pathlib.Path(__file__).resolve().parents[1] / "tests" / "models" /
           "torchvision_standin.py")


def _pytorchvideo_slowfast():
  if importlib.util.find_spec("pytorchvideo") is None:
    sys.exit("pytorchvideo is not installed: pip install --no-deps -r "
             "requirements-parity.txt")
  spec = importlib.util.spec_from_file_location("torchvision_standin", STANDIN)
  standin = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(standin)
  return standin.import_pytorchvideo("pytorchvideo.models.slowfast")


def _torch_model(args):
  final = -(-args.size // 32)  # spatial size left after the stride-32 stack
  torch.manual_seed(0)
  net = _pytorchvideo_slowfast().create_slowfast(
      model_depth=args.depth, model_num_class=args.classes,
      head_pool_kernel_sizes=((args.frames // 4, final, final),
                              (args.frames, final, final)))
  with torch.no_grad():
    for m in net.modules():
      if isinstance(m, torch.nn.BatchNorm3d):
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.3, 0.3)
        m.running_mean.uniform_(-0.3, 0.3)
        m.running_var.uniform_(0.5, 2.0)
  return net.eval()


def main(args):
  torch.set_num_threads(args.threads)
  net = _torch_model(args)
  weights = convert.convert(net.state_dict())
  model = slowfast.create("R50", num_classes=args.classes,
                          **weights["spec_overrides"])
  variables = jax.device_put({k: weights[k]
                              for k in ("params", "batch_stats")})

  x = np.random.default_rng(0).normal(
      size=(args.batch, args.frames, args.size, args.size, 3)).astype(
          np.float32)
  fast = torch.from_numpy(x).permute(0, 4, 1, 2, 3).contiguous()
  index = torch.linspace(0, args.frames - 1, args.frames // 4).long()
  slow = torch.index_select(fast, 2, index).contiguous()
  x_j = jax.device_put(x)

  forward = jax.jit(lambda v, x: model.apply(v, {"frames": x},
                                             train=False)[0])
  logits_j, compile_s = timing.timed(
      lambda: np.asarray(jax.block_until_ready(forward(variables, x_j))))
  with torch.inference_mode():
    logits_t = net([slow, fast]).numpy()  # a new list: the net rewrites it
  rel_err = float(np.abs(logits_j - logits_t).max() /
                  np.abs(logits_t).max())

  def run_flax():
    jax.block_until_ready(forward(variables, x_j))

  def run_torch():
    with torch.inference_mode():
      net([slow, fast])

  times = timing.alternate({"flax": run_flax, "torch": run_torch},
                           args.rounds, args.warmup)
  clips = {k: timing.rates(v, args.batch) for k, v in times.items()}
  med = {k: v["median"] for k, v in clips.items()}
  gflops = slowfast.forward_flops("R50", args.frames, args.size,
                                  num_classes=args.classes,
                                  **weights["spec_overrides"]) / 1e9
  result = {
      "depth": args.depth, "batch": args.batch, "frames": args.frames,
      "size": args.size, "threads": args.threads, "rounds": args.rounds,
      "torch_threads": torch.get_num_threads(),
      "gflops_per_clip": gflops, "logits_max_rel_err": rel_err,
      "clips_per_s": clips,
      "ratio_flax_over_torch": med["flax"] / med["torch"],
      **timing.flax_torch_entries(times, compile_s, "forward_s"),
  }
  print(f"SlowFast R{args.depth} forward, batch {args.batch} x {args.frames}"
        f" x {args.size}^2, {args.threads} thread(s), {gflops:.1f} GFLOPs/clip")
  print(f"  logits max |flax - torch| / max |torch|: {rel_err:.2e}")
  for k in ("flax", "torch"):
    extra = f"  (compile {compile_s:.1f} s)" if k == "flax" else ""
    print(f"  {k:5s}: {timing.rates_line(clips[k], 'clips/s', 3)}  "
          f"({med[k] * gflops:6.1f} GFLOP/s){extra}")
  print(f"  ratio flax/torch (median clips/s): "
        f"{result['ratio_flax_over_torch']:.2f}")
  timing.write_json(result, args.json)
  return result


if __name__ == "__main__":
  main(ARGS)
