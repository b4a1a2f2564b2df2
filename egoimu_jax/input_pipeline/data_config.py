"""``config.data``: where the raw dataset is and how it becomes windows."""

import ml_collections

from egoimu_jax.input_pipeline.synthetic.defaults import SYNTHETIC_DEFAULTS


def data_config() -> ml_collections.ConfigDict:
  """Where the raw dataset is and how it is turned into windows."""
  c = ml_collections.ConfigDict()
  # Raw dataset root: local path or fsspec URL (gs://...). Empty: the synthetic
  # pilot, generated once under cache_dir (keyed by the generator config).
  c.raw_dir = ""
  # Processed shard set. Empty: under cache_dir, keyed by raw data + prepare config.
  c.processed_dir = ""
  c.cache_dir = ""  # Empty: $EGOIMU_CACHE or ~/.cache/egoimu_jax.
  # The raw source reading raw_dir (input_pipeline/raw/source.py RAW_SOURCES):
  # "index_csv" (index.csv + segments.csv, docs/data_layout.md) or "memory".
  c.layout = "index_csv"
  # Column names of index.csv / workers.csv / segments.csv in the raw layout.
  c.columns = ml_collections.ConfigDict(dict(
      clip_id="clip_id",
      worker_id="worker_id",
      video="video_path",
      imu="imu_path",
      segment_start="start_s",
      segment_end="end_s",
      segment_label="label",
      imu_t0="imu_t0_us",  # optional: IMU clock value at clip time zero
      # optional: clips of one session are dealt together (never split
      # between within-person train and test)
      session_id="session_id",
  ))
  # Label vocabulary. Empty: read from the dataset's labels.json (a dataset
  # with neither is an error; the synthetic generator writes labels.json).
  c.classes = ()
  # Relative index paths that climb out of the root ("../x") are refused
  # unless this is set (absolute paths and URLs are always allowed).
  c.allow_paths_outside_root = False
  # Repairs (dropped lines, repeated timestamps, gaps) listed per clip in the
  # processed dataset's repairs.csv; all are counted in the manifest.
  c.max_repairs_per_clip = 100
  # What the raw fingerprint covers besides the tables: "" nothing; "stat"
  # every clip file's size + mtime; "hash" its content (reads all data). Set
  # it when clip files are edited in place, or a cached prepare is reused.
  c.verify = ""
  # The synthetic pilot (input_pipeline/synthetic/): SYNTHETIC_DEFAULTS.
  c.synthetic = ml_collections.ConfigDict(dict(SYNTHETIC_DEFAULTS))
  c.imu = ml_collections.ConfigDict(dict(
      # Target rate after resampling; 0: the dataset's native rate (its
      # dataset.json rate_hz, else measured; prepare/native_rate.py).
      rate_hz=200.0,
      window_seconds=5.0,   # non-overlapping windows -> [1000, 6] at 200 Hz
      max_gap_seconds=0.1,  # interpolate gaps up to this; split the clip beyond
      min_purity=0.8,       # a window's majority label must cover this fraction
      # Raw units: "m/s2" | "g" and "rad/s" | "deg/s". "": as the dataset's
      # dataset.json declares, else m/s2 / rad/s; a value that differs from
      # the declaration is an error (docs/data_layout.md).
      acc_unit="",
      gyro_unit="",
      check_units=True,     # quarantine clips whose magnitudes contradict the units
      max_bad_line_fraction=0.01,  # corrupt JSONL lines dropped up to this, else quarantine
  ))
  c.video = ml_collections.ConfigDict(dict(
      store_frames=False,   # frames are large: store them for a subset only
      frames_fraction=1.0,  # fraction of clips (by hash) whose frames are stored
      fps=10.0, frames_per_window=50, size=224))
  # STFT of a window (input_pipeline/spectrogram.py): 160 frames every 6 samples
  # (30 ms), 256-sample Hann frames, bins 0..127 (0-99.2 Hz). n_fft=254 gives the
  # same 128 bins but is ~2x slower (254 = 2 * 127).
  c.spectrogram = ml_collections.ConfigDict(dict(
      n_fft=256, hop=6, time_bins=160, freq_bins=128, log=True))
  # Output shards; processes (0 = CPU count); this host's share of the shards.
  # Compression is an ArrayRecord option: IMU floats barely compress, and
  # "uncompressed" reads ~2x faster than zstd.
  c.prepare = ml_collections.ConfigDict(dict(
      num_shards=16, num_processes=0, shard_index=0, shard_count=1,
      compression="uncompressed", frames_compression="zstd:1"))
  return c
