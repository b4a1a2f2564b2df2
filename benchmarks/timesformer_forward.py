r"""Forward throughput of our Flax TimeSformer against transformers', on CPU.

Both sides run the same network with the same weights: a transformers
``TimesformerModel`` (its own random initialisation, seed 0) is saved with
``save_pretrained`` and imported with ``convert/timesformer.py``, so the
benchmark also exercises the importer. Each side gets the same fixed batch
in its own layout (ours ``[B, T, S, S, 3]``, transformers
``[B, T, 3, S, S]``, prepared before timing) and computes the final hidden
states (``last_hidden_state`` / ``aux['tokens']``) in float32; the head is not
run (dead code under ``jax.jit``). The script checks that both outputs agree
before timing.

Threads: the process is pinned to ``--threads`` cores before jax or torch is
imported (XLA:CPU sizes its intra-op pool from the affinity mask) and
``torch.set_num_threads(--threads)``, so both use the same cores. Timed
forwards alternate between the frameworks in rounds so that load from other
processes hits both alike; warm-up rounds (including XLA compilation) are
excluded. Reported: clips/s per round (min / median / max) and the ratio of
medians.

Default size (about a minute on 2 cores): TimeSformer-B's width (768, 12
heads, MLP 3072, patch 16, 8 frames) with 4 blocks at 112^2 (49 patches per
frame), batch 2. ``--full`` runs the real TimeSformer-B (12 blocks, 224^2;
~392 GFLOP per clip, several seconds per clip on 2 cores).

  python benchmarks/timesformer_forward.py --threads 2 --rounds 7
  python benchmarks/timesformer_forward.py --full --batch 1 --rounds 3

Needs ``torch`` (CPU) and ``transformers`` (test-only requirements).
"""

from __future__ import annotations

import argparse
import os
import tempfile

import timing


def _parse() -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--variant", default="B",
                 help="models.timesformer variant giving the sizes")
  p.add_argument("--depth", type=int, default=4)
  p.add_argument("--image_size", type=int, default=112)
  p.add_argument("--full", action="store_true",
                 help="the variant's own depth and image size")
  p.add_argument("--batch", type=int, default=2)
  timing.add_args(p, rounds=7, warmup=1)
  return p.parse_args()


ARGS = _parse()
# Before importing jax/torch: both size their thread pools from this mask.
timing.pin_threads(ARGS.threads)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import torch  # pylint: disable=g-import-not-at-top,wrong-import-position
import transformers  # pylint: disable=g-import-not-at-top,wrong-import-position

from egoimu_jax.models import timesformer  # pylint: disable=g-import-not-at-top,wrong-import-position
from egoimu_jax.models.convert import timesformer as convert  # pylint: disable=g-import-not-at-top,wrong-import-position


def _geometry(args) -> dict[str, int]:
  over = {} if args.full else dict(depth=args.depth,
                                   image_size=args.image_size)
  m = timesformer.create(args.variant, **over)
  return dict(image_size=m.image_size, patch_size=m.patch_size,
              num_frames=m.num_frames, width=m.width, depth=m.depth,
              num_heads=m.num_heads, mlp_dim=m.mlp_dim)


def _models(geo: dict[str, int]):
  """transformers' model (seed 0) and ours with its weights."""
  cfg = transformers.TimesformerConfig(
      image_size=geo["image_size"], patch_size=geo["patch_size"],
      num_frames=geo["num_frames"], hidden_size=geo["width"],
      num_hidden_layers=geo["depth"], num_attention_heads=geo["num_heads"],
      intermediate_size=geo["mlp_dim"])
  torch.manual_seed(0)
  net = transformers.TimesformerModel(cfg).eval()
  with tempfile.TemporaryDirectory() as tmp:
    net.save_pretrained(tmp)
    params = dict(convert.load(tmp)["params"])
    spec = convert.spec_overrides(tmp)
  model = timesformer.create(ARGS.variant, num_classes=3, **spec)
  # TimesformerModel has no classifier; the head is unused (not computed).
  params["head"] = {"kernel": np.zeros((geo["width"], 3), np.float32),
                    "bias": np.zeros((3,), np.float32)}
  return net, model, jax.tree.map(jnp.asarray, params)


def main(args):
  torch.set_num_threads(args.threads)
  geo = _geometry(args)
  net, model, params = _models(geo)
  s, t = geo["image_size"], geo["num_frames"]
  x_np = np.random.default_rng(0).normal(
      size=(args.batch, t, s, s, 3)).astype(np.float32)
  x_t = torch.from_numpy(x_np).permute(0, 1, 4, 2, 3).contiguous()
  x_j = jnp.asarray(x_np)

  forward = jax.jit(lambda p, x: model.apply({"params": p}, {"frames": x},
                                             train=False)[1]["tokens"])

  def run_flax():
    return jax.block_until_ready(forward(params, x_j))

  def run_torch():
    with torch.inference_mode():
      return net(x_t).last_hidden_state

  ours, compile_s = timing.timed(lambda: np.asarray(run_flax()))
  want = run_torch().numpy()
  max_diff = float(np.abs(ours - want).max())
  if not np.allclose(ours, want, rtol=1e-3, atol=1e-3):
    raise SystemExit(f"outputs differ (max |diff| {max_diff:.2e}); not timing")
  times = timing.alternate({"flax": run_flax, "torch": run_torch},
                           args.rounds, args.warmup)
  stats = {k: timing.rates(v, args.batch) for k, v in times.items()}
  ratio = stats["flax"]["median"] / stats["torch"]["median"]
  gflop = timesformer.forward_flops(args.variant, **geo) / 1e9
  result = {
      "geometry": geo, "batch": args.batch, "threads": args.threads,
      "rounds": args.rounds, "warmup": args.warmup,
      "gflop_per_clip": gflop, "max_abs_diff": max_diff,
      "clips_per_s": stats, "ratio_flax_over_torch": ratio,
      **timing.flax_torch_entries(times, compile_s, "forward_s"),
      "transformers": transformers.__version__,
  }
  print(f"TimeSformer forward ({'full ' if args.full else ''}{args.variant} "
        f"sizes: depth {geo['depth']}, {t} x {s}^2, width {geo['width']}), "
        f"batch {args.batch}, {args.threads} thread(s), {args.rounds} rounds, "
        f"{gflop:.1f} GFLOP/clip")
  print(f"  outputs agree: max |diff| {max_diff:.1e}; flax compile "
        f"{compile_s:.1f} s")
  for name in ("flax", "torch"):
    r = stats[name]
    print(f"  {name:5s}: {timing.rates_line(r, 'clips/s')}  "
          f"({r['median'] * gflop:.1f} GFLOP/s)")
  print(f"  ratio flax/torch (median clips/s): {ratio:.2f}")
  timing.write_json(result, args.json)
  return result


if __name__ == "__main__":
  main(ARGS)
