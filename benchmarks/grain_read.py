r"""Read throughput of IMU windows through the grain pipeline.

Writes a processed dataset of random windows (the real shard format, via
``prepare`` from an in-memory source), then measures, in the same run:

  * naive: grain ``DataLoader`` over tfds' data source, one record at a time
    with tfds decoding, shuffled, batched by grain;
  * ours: ``pipeline.InputPipeline.train_iterator`` — batched reads, proto
    decode, z-normalisation — in-process and with grain worker processes.

  python benchmarks/grain_read.py [--windows=20000] [--batch_size=256]

Goal: >= 20k windows/s on 2 cores (the "workers" line).
"""

from __future__ import annotations

import os
import time

from absl import app
from absl import flags
import numpy as np

import timing

flags.DEFINE_integer("windows", 20000, "Windows in the benchmark dataset.")
flags.DEFINE_integer("batch_size", 256, "Global batch size.")
flags.DEFINE_float("seconds", 8.0, "Measure each reader for about this long.")
flags.DEFINE_integer("workers", 2, "grain worker processes for the last line.")
flags.DEFINE_string("work_dir", "", "Where to write the dataset (default: a "
                    "temp dir, removed afterwards).")
FLAGS = flags.FLAGS

CLASSES = ("working", "break", "not_on_person")


def make_dataset(out_dir: str, num_windows: int) -> str:
  from egoimu_jax import config_lib  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline.raw import ingest  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline.raw import memory_dataset  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline import prepare  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  per_clip, clips = 5, []
  for k in range(num_windows // per_clip):
    clips.append(ingest.ClipWindows(
        clip_id=f"w{k % 50:03d}_c{k:06d}", worker_id=f"w{k % 50:03d}",
        imu=rng.normal(size=(per_clip, 1000, 6)).astype(np.float32),
        t0_us=np.arange(per_clip, dtype=np.int64) * 5_000_000,
        label=rng.integers(0, 3, per_clip).astype(np.int32),
        purity=np.ones(per_clip, np.float32), frames=None,
        native_rate_hz=200.0, dropped={}, notes={}))
  config = config_lib.data_config()
  config.prepare.num_shards = 8
  return prepare.prepare(config, "memory", out_dir, num_processes=1,
                         dataset=memory_dataset.MemoryDataset(CLASSES, clips))


def measure(next_batch, seconds: float) -> tuple[float, float, int]:
  """(windows per wall second, per CPU second of this process, windows).

  The machine may be shared: the CPU-second rate (this process's user + sys
  time, all its threads) does not depend on what else runs, the wall rate
  does.
  """
  next_batch()
  count, start, cpu = 0, time.perf_counter(), time.process_time()
  while time.perf_counter() - start < seconds:
    count += len(next_batch()["label"])
  wall = time.perf_counter() - start
  return count / wall, count / (time.process_time() - cpu), count


def naive_reader(processed_dir: str, batch_size: int):
  import grain  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline.store import tfds_format  # pylint: disable=g-import-not-at-top
  source = tfds_format.data_source(processed_dir)
  loader = grain.DataLoader(
      data_source=source,
      sampler=grain.samplers.IndexSampler(
          len(source), shuffle=True, seed=0, num_epochs=None,
          shard_options=grain.sharding.NoSharding()),
      operations=[grain.transforms.Batch(batch_size, drop_remainder=True)],
      worker_count=0)
  it = iter(loader)
  return lambda: next(it)


def pipeline_reader(processed_dir: str, batch_size: int, workers: int):
  from egoimu_jax import config_lib  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline.store import manifest  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline import pipeline  # pylint: disable=g-import-not-at-top
  workers_ids = manifest.load(processed_dir)["workers"]
  split = {"train_workers": workers_ids[:-5], "val_workers": [],
           "test_workers": workers_ids[-5:], "train_clips": None,
           "val_clips": None, "test_clips": None, "dataset_fingerprint": "b"}
  c = config_lib.input_config()
  c.batch_size = batch_size
  c.worker_count = workers
  c.norm_max_windows = 2000
  pipe = pipeline.InputPipeline(processed_dir, split, c, process_index=0,
                                process_count=1)
  it = pipe.train_iterator()
  return (lambda: next(it)), it


def main(argv):
  del argv
  with timing.work_dir(FLAGS.work_dir, "grain_read_") as work:
    out = os.path.join(work, "processed")
    start = time.perf_counter()
    if not os.path.exists(os.path.join(out, "manifest.json")):
      make_dataset(out, FLAGS.windows)
    print(f"dataset: {FLAGS.windows} windows of [1000, 6] float32 "
          f"({time.perf_counter() - start:.1f} s to write); "
          f"batch {FLAGS.batch_size}; {os.cpu_count()} cores")

    print(f"load average before: {os.getloadavg()[0]:.1f}")
    naive, naive_cpu, n = measure(naive_reader(out, FLAGS.batch_size),
                                  min(FLAGS.seconds, 5.0))
    print(f"naive  grain DataLoader + tfds decode, one record per read: "
          f"{naive:8,.0f} windows/s, {naive_cpu:8,.0f} per CPU-s "
          f"({n} windows)")
    results = {}
    for workers in (0, FLAGS.workers):
      read, it = pipeline_reader(out, FLAGS.batch_size, workers)
      rate, rate_cpu, n = measure(read, FLAGS.seconds)
      it.close()
      results[workers] = rate
      if workers:
        print(f"ours   same, {workers} grain worker processes: "
              f"{rate:8,.0f} windows/s ({n} windows)  x{rate / naive:.1f} "
              "vs naive")
      else:
        print(f"ours   batched read + proto decode + normalise, in-process: "
              f"{rate:8,.0f} windows/s, {rate_cpu:8,.0f} per CPU-s "
              f"({n} windows)  x{rate / naive:.1f} wall, "
              f"x{rate_cpu / naive_cpu:.1f} per CPU-s vs naive")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    best = max(results.values())
    print(f"goal >= 20,000 windows/s on 2 cores: "
          f"{'met' if best >= 20000 else 'NOT met'} ({best:,.0f})")


if __name__ == "__main__":
  app.run(main)
