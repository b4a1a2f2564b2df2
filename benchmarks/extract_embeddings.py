r"""Teacher-embedding extraction throughput: raw MP4s vs stored frames.

Generates a slice of the synthetic pilot with video, prepares it with every
clip's frames stored, then, in the same run and in alternating rounds:

  * end to end (``extract.extract_chunks``: frames, model, part files; frames
    of the next chunk load while the model runs), from stored frames and
    decoded from the raw MP4s;
  * the parts alone: loading every chunk's frames (stored read / MP4 decode)
    with no model, and the model alone on frames already in memory, giving
    the share of the work that is decoding.

  python benchmarks/extract_embeddings.py [--rounds=3] [--workers=10]
  python benchmarks/extract_embeddings.py --variant=B --size=224   # accelerator

Prints min / median / max windows/s over the rounds and the raw / stored
ratio. Defaults: the tiny TimeSformer at 32^2 (a CPU run); the pilot's video
is 48x64 at 15 fps.
"""

from __future__ import annotations

import os
import shutil
import time

from absl import app
from absl import flags
import ml_collections
import numpy as np

import timing

flags.DEFINE_integer("workers", 10, "Synthetic workers.")
flags.DEFINE_integer("clips_per_worker", 6, "Clips per worker.")
flags.DEFINE_float("clip_seconds", 27.0, "Clip length (the pilot's 27 s).")
flags.DEFINE_string("model", "timesformer", "Teacher model.")
flags.DEFINE_string("variant", "tiny", "Model variant.")
flags.DEFINE_integer("size", 32, "Frame side (stored and decoded).")
flags.DEFINE_integer("batch_size", 16, "Teacher batch size.")
flags.DEFINE_integer("chunk_windows", 32, "Windows per chunk.")
flags.DEFINE_integer("decode_threads", 0, "Decode threads (0: CPU count).")
flags.DEFINE_integer("rounds", 3, "Rounds per measurement.")
flags.DEFINE_string("work_dir", "", "Where to write data (default: a temp "
                    "dir, removed afterwards).")
FLAGS = flags.FLAGS


def make_data(work: str):
  from egoimu_jax import config_lib  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline import prepare  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline import synthetic  # pylint: disable=g-import-not-at-top
  c = config_lib.data_config()
  c.synthetic.update(num_workers=FLAGS.workers,
                     clips_per_worker=FLAGS.clips_per_worker,
                     clip_seconds=FLAGS.clip_seconds, with_video=True)
  raw = synthetic.ensure(c.synthetic, os.path.join(work, "cache"))
  c.video.update(store_frames=True, size=FLAGS.size, frames_fraction=1.0)
  c.prepare.update(num_shards=4)
  out = os.path.join(work, "processed")
  if not os.path.exists(os.path.join(out, "manifest.json")):
    prepare.prepare(c, raw, out)
  return raw, out


def teacher_config(num_frames: int) -> ml_collections.ConfigDict:
  from egoimu_jax.teachers import config as teacher_config_lib  # pylint: disable=g-import-not-at-top
  t = teacher_config_lib.teacher_config()
  t.model = ml_collections.ConfigDict(dict(name=FLAGS.model,
                                           variant=FLAGS.variant))
  t.update(num_frames=num_frames, frame_size=FLAGS.size,
           batch_size=FLAGS.batch_size, chunk_windows=FLAGS.chunk_windows,
           decode_threads=FLAGS.decode_threads, log_every_s=1e9)
  return t


def stats(values) -> str:
  v = np.asarray(values)
  return f"{v.min():8.1f} {np.median(v):8.1f} {v.max():8.1f}"


def main(argv):
  del argv
  from egoimu_jax import models  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline.store import processed  # pylint: disable=g-import-not-at-top
  from egoimu_jax.teachers import extract  # pylint: disable=g-import-not-at-top
  from egoimu_jax.teachers import frame_source  # pylint: disable=g-import-not-at-top
  from egoimu_jax.teachers import model as model_lib  # pylint: disable=g-import-not-at-top
  from egoimu_jax.teachers import parts  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top

  with timing.work_dir(FLAGS.work_dir, "extract_embeddings_") as work:
    start = time.perf_counter()
    raw, out = make_data(work)
    ds = processed.ProcessedDataset.open(out)
    n = len(ds)
    model = models.build(dict(name=FLAGS.model, variant=FLAGS.variant))
    num_frames = getattr(model, "num_frames", 8)
    cfg = teacher_config(num_frames)
    teacher = model_lib.Teacher(cfg, (num_frames, FLAGS.size, FLAGS.size, 3))
    bounds = parts.chunk_bounds(ds.table.clip, FLAGS.chunk_windows)
    chunks = list(range(len(bounds) - 1))
    print(f"{n} windows of {FLAGS.workers}x{FLAGS.clips_per_worker} clips of "
          f"{FLAGS.clip_seconds:g} s ({time.perf_counter() - start:.0f} s to "
          f"generate and prepare); {FLAGS.model}/{FLAGS.variant}, "
          f"{num_frames} x {FLAGS.size}^2 frames, batch {teacher.batch_size},"
          f" {len(chunks)} chunks; {os.cpu_count()} cores, "
          f"{jax.devices()[0].platform}")
    print(f"load average before: {os.getloadavg()[0]:.1f}")

    sources = {mode: frame_source.FrameSource(
        ds, mode, num_frames, FLAGS.size, raw_root=raw,
        threads=FLAGS.decode_threads) for mode in ("stored", "raw")}
    frames = sources["stored"].load(np.arange(bounds[0], bounds[1])).frames
    extract.embed_chunk(teacher, frames)  # compile

    rate = {f"{k} {m}": [] for k in ("end to end", "frames only")
            for m in sources}
    rate["model only"] = []
    waiting = {m: [] for m in sources}
    for r in range(FLAGS.rounds):
      loaded = None
      for mode, source in sources.items():
        t0 = time.perf_counter()
        loaded = [source.load(np.arange(bounds[k], bounds[k + 1])).frames
                  for k in chunks]
        rate[f"frames only {mode}"].append(n / (time.perf_counter() - t0))
        workdir = os.path.join(work, f"run-{mode}-{r}")
        timings = extract.extract_chunks(cfg, workdir, source, teacher,
                                         bounds, chunks)
        shutil.rmtree(workdir)
        rate[f"end to end {mode}"].append(n / timings["elapsed_s"])
        waiting[mode].append(timings["wait_frames_s"] / timings["elapsed_s"])
      t0 = time.perf_counter()
      for f in loaded:
        extract.embed_chunk(teacher, f)
      rate["model only"].append(n / (time.perf_counter() - t0))
    for source in sources.values():
      source.close()

    print(f"\n{'windows/s over ' + str(FLAGS.rounds) + ' rounds':40s} "
          f"{'min':>8s} {'median':>8s} {'max':>8s}")
    for name, values in rate.items():
      print(f"{name:40s} {stats(values)}")
    med = {k: float(np.median(v)) for k, v in rate.items()}
    ratio = lambda what: med[f"{what} raw"] / med[f"{what} stored"]  # noqa: E731
    print(f"\nraw MP4s / stored frames, end to end: "
          f"x{ratio('end to end'):.2f}; frames only: "
          f"x{ratio('frames only'):.2f}")
    for mode in sources:
      frames_s = 1 / med[f"frames only {mode}"]
      share = frames_s / (frames_s + 1 / med["model only"])
      print(f"{mode:6s}: decoding/reading is {100 * share:.0f}% of frames + "
            "model time; end to end the model waited for frames "
            f"{100 * np.median(waiting[mode]):.0f}% of the time")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
  app.run(main)
