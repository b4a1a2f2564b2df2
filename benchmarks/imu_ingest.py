r"""IMU JSONL -> 5 s windows: throughput of our parser vs per-line json.loads.

Generates synthetic 200 Hz JSONL clips (27 s, ~5400 lines each), then runs
the real ingest path (``ingest.ingest_clip``: parse, validate, units,
rate inference, gap check, resample to 200 Hz, label and cut windows) three
ways, on one core:

  * ours:        ``imu_jsonl.parse`` (every line's structure checked at once,
                 numbers read by Arrow's CSV reader; corrupt lines still
                 found, with their line numbers);
  * naive:       one ``json.loads`` per line into Python lists, each line
                 checked (what finding corrupt lines by line number costs);
  * naive-lean:  one ``json.loads`` per line, no per-line checks (a corrupt
                 line aborts the file without saying where).

Everything but the parser is shared. Each round ingests every clip once with
each variant, in a rotating order, so that load from other processes hits
all of them alike; windows per CPU second are reported as min / median / max
over rounds, the ratios per round likewise, with the load average. Also times
the STFT op (``spectrogram.from_config``) per window.

  python benchmarks/imu_ingest.py --rounds=15

Goal: ours >= 5x naive per core.
"""

from __future__ import annotations

import os

# One core: keep numpy/BLAS single-threaded (set before numpy is imported).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
  os.environ.setdefault(_var, "1")

import json  # pylint: disable=g-import-not-at-top,g-bad-import-order
import tempfile
import time

from absl import app
from absl import flags
import numpy as np

flags.DEFINE_integer("clips", 24, "Synthetic clips to ingest per round.")
flags.DEFINE_integer("rounds", 15, "Rounds (each variant once per round).")
flags.DEFINE_float("seconds", 6.0, "Measure the STFT for half this long.")
flags.DEFINE_integer("spec_batch", 256, "Batch size for the STFT timing.")
FLAGS = flags.FLAGS


def _lean_parse(data: bytes):
  """json.loads per line, straight into lists; no per-line validation."""
  from egoimu_jax.input_pipeline.raw import imu_jsonl  # pylint: disable=g-import-not-at-top
  t, acc, gyro = [], [], []
  for line in data.splitlines():
    if line.strip():
      obj = json.loads(line)
      t.append(obj["t_us"])
      acc.append(obj["acc"])
      gyro.append(obj["gyro"])
  values = np.concatenate([np.asarray(acc, np.float64),
                           np.asarray(gyro, np.float64)], axis=1)
  return imu_jsonl.ParsedImu(np.asarray(t, np.int64), values,
                             np.arange(1, len(t) + 1), [], len(t))


def _sources(root: str):
  from egoimu_jax import config_lib  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline.raw import ingest  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline.raw import source  # pylint: disable=g-import-not-at-top
  cfg = config_lib.data_config()
  ds = source.open_source(root, cfg)
  out = []
  for row in ds.rows:
    path = os.path.join(root, row.imu)
    with open(path, "rb") as f:
      data = f.read()
    start, end, label = ds.segments(row.clip_id)
    out.append(ingest.ClipSource(
        clip_id=row.clip_id, worker_id=row.worker_id, imu_path=path,
        imu_format=".jsonl", imu_data=data,
        imu_t0_us=int(row.extra["imu_t0_us"]), seg_start_us=start,
        seg_end_us=end, seg_label=label))
  return cfg, out, len(ds.classes)


def _ingest_all(parse, cfg, sources, num_classes) -> tuple[int, float]:
  """(windows, CPU seconds) of one pass over ``sources`` with ``parse`` as the
  JSONL parser."""
  from egoimu_jax.input_pipeline.raw import imu_jsonl  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline.raw import ingest  # pylint: disable=g-import-not-at-top
  real = imu_jsonl.parse
  imu_jsonl.parse = parse
  try:
    windows = 0
    cpu0 = time.process_time()
    for src in sources:
      res = ingest.ingest_clip(src, cfg, num_classes)
      assert isinstance(res, ingest.ClipWindows), res
      windows += len(res) + sum(res.dropped.values())
    return windows, time.process_time() - cpu0
  finally:
    imu_jsonl.parse = real


def _spread(values) -> str:
  return " / ".join(f"{f(values):.1f}" for f in (min, np.median, max))


def main(argv):
  del argv
  from egoimu_jax import config_lib  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline.raw import imu_jsonl  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline import spectrogram  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline import synthetic  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as tmp:
    workers = max(1, FLAGS.clips // 4)
    syn = synthetic.config(num_workers=workers, clips_per_worker=4,
                           with_video=False, num_processes=1)
    root = synthetic.generate(syn, os.path.join(tmp, "syn"))
    cfg, sources, num_classes = _sources(root)
    lines = sum(s.imu_data.count(b"\n") for s in sources)
    mb = sum(len(s.imu_data) for s in sources) / 1e6
    print(f"{len(sources)} clips, {lines} JSONL lines, {mb:.1f} MB, 200 Hz, "
          "one core")
    parsers = {"ours": imu_jsonl.parse, "naive": imu_jsonl.parse_naive,
               "naive-lean": _lean_parse}
    for parse in parsers.values():  # warm-up (imports, caches)
      _ingest_all(parse, cfg, sources[:2], num_classes)
    rates = {name: [] for name in parsers}
    load = [os.getloadavg()[0]]
    for r in range(FLAGS.rounds):
      names = list(parsers)
      names = names[r % 3:] + names[:r % 3]
      for name in names:
        windows, cpu = _ingest_all(parsers[name], cfg, sources, num_classes)
        rates[name].append(windows / cpu)
    load.append(os.getloadavg()[0])
    print(f"{FLAGS.rounds} rounds, load average {load[0]:.1f} -> "
          f"{load[1]:.1f} on {os.cpu_count()} CPUs; min / median / max:")
    for name, values in rates.items():
      print(f"{name:>11}: {_spread(values)} windows/s per core")
    ours = np.asarray(rates["ours"])
    for name in ("naive", "naive-lean"):
      print(f"ours / {name:<10} = "
            f"{_spread(ours / np.asarray(rates[name]))}x")

  spec_cfg = config_lib.data_config().spectrogram
  x = np.random.default_rng(0).normal(size=(FLAGS.spec_batch, 1000, 6)).astype(
      np.float32)
  spectrogram.from_config(x, spec_cfg)
  cpu0, n = time.process_time(), 0
  while time.process_time() - cpu0 < FLAGS.seconds / 2:
    spectrogram.from_config(x, spec_cfg)
    n += FLAGS.spec_batch
  us = (time.process_time() - cpu0) / n * 1e6
  print(f"STFT [{FLAGS.spec_batch}, 1000, 6] -> [{spec_cfg.time_bins}, "
        f"{spec_cfg.freq_bins}, 6] (n_fft={spec_cfg.n_fft}, hop={spec_cfg.hop}):"
        f" {us:.0f} us/window per core = {1e6 / us:.0f} windows/s per core")


if __name__ == "__main__":
  app.run(main)
