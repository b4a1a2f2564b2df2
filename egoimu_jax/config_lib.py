"""Shared config sections. Files in ``configs/`` start from ``base(arg)``.

``arg`` is the string after ``:`` in ``--config=configs/x.py:arg``. It is a
comma-separated list of ``key=value`` pairs, where a bare word is shorthand
for ``variant=word`` (``configs/evimae.py:tiny`` == ``...:variant=tiny``).
"""

from __future__ import annotations

from typing import Dict

import ml_collections

# The pilot's activity states; the default vocabulary when neither the dataset
# (labels.json) nor the config names classes.
PILOT_CLASSES = ("working", "break", "not_on_person")


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
  """Parses ``"tiny"`` / ``"variant=S,runlocal=True"`` into a ConfigDict."""
  out: Dict[str, object] = dict(defaults)
  for part in filter(None, (arg or "").split(",")):
    key, sep, value = part.partition("=")
    if not sep:
      key, value = "variant", part
    key = key.strip()
    default = out.get(key)
    if isinstance(default, bool):
      out[key] = value.strip().lower() in ("1", "true", "yes")
    elif isinstance(default, int):
      out[key] = int(value)
    elif isinstance(default, float):
      out[key] = float(value)
    else:
      out[key] = value.strip()
  return ml_collections.ConfigDict(out)


def data_config() -> ml_collections.ConfigDict:
  """Where the raw dataset is and how it is turned into windows."""
  c = ml_collections.ConfigDict()
  # Raw dataset root: local path or fsspec URL (gs://...). Empty: the synthetic
  # pilot, generated once under cache_dir (keyed by the generator config).
  c.raw_dir = ""
  # Processed shard set. Empty: under cache_dir, keyed by raw data + prepare config.
  c.processed_dir = ""
  c.cache_dir = ""  # Empty: $EGOIMU_CACHE or ~/.cache/egoimu_jax.
  c.layout = "jsonl"  # "jsonl" | "wds": which raw variant to read.
  # Column names of index.csv / workers.csv / segments.csv in the raw layout.
  c.columns = ml_collections.ConfigDict(dict(
      clip_id="clip_id",
      worker_id="worker_id",
      video="video_path",
      imu="imu_path",
      segment_start="start_s",
      segment_end="end_s",
      segment_label="label",
  ))
  # Label vocabulary. Empty: read from the dataset's labels.json, else PILOT_CLASSES.
  c.classes = ()
  c.synthetic = ml_collections.ConfigDict(dict(
      num_workers=100, clips_per_worker=130, seed=0, clip_seconds=27.0,
      with_video=True, video_size=(96, 128), imu_rate_hz=200.0,
      variant="jsonl", defects=""))
  c.imu = ml_collections.ConfigDict(dict(
      rate_hz=200.0,        # target rate after resampling
      window_seconds=5.0,   # non-overlapping windows -> [1000, 6] at 200 Hz
      max_gap_seconds=0.1,  # interpolate gaps up to this; split the clip beyond
      min_purity=0.8,       # a window's majority label must cover this fraction
  ))
  c.video = ml_collections.ConfigDict(dict(
      store_frames=False,   # frames are large: store them for a subset only
      frames_fraction=1.0,  # fraction of clips (by hash) whose frames are stored
      fps=10.0, frames_per_window=50, size=224))
  c.spectrogram = ml_collections.ConfigDict(dict(
      n_fft=254, hop=6, time_bins=160, freq_bins=128, log=True))
  # Output shards; processes (0 = CPU count); this host's share of the shards.
  # Compression is an ArrayRecord option: IMU floats barely compress, and
  # "uncompressed" reads ~2x faster than zstd.
  c.prepare = ml_collections.ConfigDict(dict(
      num_shards=16, num_processes=0, shard_index=0, shard_count=1,
      compression="uncompressed", frames_compression="zstd:1"))
  return c


def input_config() -> ml_collections.ConfigDict:
  """The grain pipeline that feeds the trainer."""
  c = ml_collections.ConfigDict()
  c.batch_size = 64            # global; each host reads batch_size // process_count
  c.eval_batch_size = 256
  c.shuffle_seed = 0
  c.worker_count = 0           # grain worker processes per host
  c.read_threads = 2           # grain threads per process (each reads whole batches)
  c.prefetch_batches = 4       # batches buffered per process
  c.norm_max_windows = 100_000  # IMU norm stats from <= this many train windows (0: all)
  c.spectrogram = False        # add 'spec' [b, time, freq, 6] to batches
  c.frames = False             # add 'frames' [b, T, H, W, 3] (needs stored frames)
  c.teacher = ""               # name of a stored teacher-embedding set, "" for none
  return c


def protocol_config() -> ml_collections.ConfigDict:
  """Which split a run trains and evaluates on."""
  c = ml_collections.ConfigDict()
  c.name = "l20wo"   # l20wo | within | lowo | worker_scaling | data_scaling
  c.fold = 0
  c.num_folds = 5
  c.seed = 0
  c.lowo_workers = ()          # leave-one-worker-out: the subset to iterate
  c.lowo_count = 10            # ... or this many workers picked by lowo_rule
  c.lowo_rule = "most_clips"   # most_clips | most_break | spread (see splits.py)
  c.stratify_label = "break"   # folds are stratified by each worker's fraction of it
  c.scale = -1.0               # worker count / clip count or fraction for scaling protocols
  return c


def base(arg: str | None = None, **arg_defaults) -> ml_collections.ConfigDict:
  """The sections every config shares. Returns (config, parsed arg)."""
  config = ml_collections.ConfigDict()
  config.arg = parse_arg(arg, variant="", **arg_defaults)
  config.seed = 0
  config.data = data_config()
  config.input = input_config()
  config.protocol = protocol_config()
  return config
