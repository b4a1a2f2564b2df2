r"""Peak memory of ``prepare`` as the clip count doubles (it must stream).

Generates synthetic raw datasets of N and 2N clips, then runs ``prepare`` on
each in a fresh subprocess and prints each subprocess's peak RSS (its own and
its children's) and their ratio. A prepare that held every window in memory
would need about twice the memory for 2N clips; a streaming one stays flat.

  python benchmarks/prepare_rss.py [--clips=200] [--processes=1] [--frames]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from absl import app
from absl import flags

import timing

flags.DEFINE_integer("clips", 200, "N: clips of the smaller dataset.")
flags.DEFINE_integer("clips_per_worker", 10, "Clips per synthetic worker.")
flags.DEFINE_integer("processes", 1, "prepare processes (1: in-process).")
flags.DEFINE_bool("frames", False, "Also decode and store 64² video frames.")
flags.DEFINE_string("work_dir", "", "Default: a temp dir, removed afterwards.")
# Internal: the measured child.
flags.DEFINE_string("child_raw", "", "")
flags.DEFINE_string("child_out", "", "")
FLAGS = flags.FLAGS


def data_config(frames: bool, processes: int):
  from egoimu_jax import config_lib  # pylint: disable=g-import-not-at-top
  c = config_lib.data_config()
  c.prepare.num_processes = processes
  c.prepare.num_shards = 8
  c.synthetic.with_video = frames
  c.video.update(store_frames=frames, size=64)
  return c


def child() -> None:
  """Runs prepare and prints its peak RSS (MiB) as JSON."""
  config = data_config(FLAGS.frames, FLAGS.processes)
  print(json.dumps(timing.prepare_figures(config, FLAGS.child_raw,
                                          FLAGS.child_out)))


def main(argv):
  del argv
  if FLAGS.child_raw:
    child()
    return
  from egoimu_jax.input_pipeline.store import manifest  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline import synthetic  # pylint: disable=g-import-not-at-top
  with timing.work_dir(FLAGS.work_dir, "prepare_rss_") as work:
    peaks = []
    for clips in (FLAGS.clips, 2 * FLAGS.clips):
      config = data_config(FLAGS.frames, FLAGS.processes)
      config.synthetic.update(
          num_workers=clips // FLAGS.clips_per_worker,
          clips_per_worker=FLAGS.clips_per_worker)
      raw = synthetic.ensure(config.synthetic, os.path.join(work, "cache"))
      out = os.path.join(work, f"processed_{clips}")
      shutil.rmtree(out, ignore_errors=True)
      result = subprocess.run(
          [sys.executable, __file__, f"--child_raw={raw}",
           f"--child_out={out}", f"--processes={FLAGS.processes}",
           f"--frames={FLAGS.frames}"],
          check=True, capture_output=True, text=True)
      stats = json.loads(result.stdout.strip().splitlines()[-1])
      m = manifest.load(out)
      peak = max(stats["self_mib"], stats["children_mib"])
      peaks.append(peak)
      print(f"{clips:6d} clips -> {m['num_records']:6d} windows "
            f"({m['frames']['num_records']} with frames) in "
            f"{stats['seconds']:.1f} s: peak RSS {stats['self_mib']:.0f} MiB "
            f"(main), {stats['children_mib']:.0f} MiB (largest child)")
    print(f"peak RSS ratio 2N/N = {peaks[1] / peaks[0]:.3f} (goal: ~1, flat)")


if __name__ == "__main__":
  app.run(main)
