"""Small datasets for the storage tests (records, prepare, pipeline, tfds)."""

from __future__ import annotations

import numpy as np

from egoimu_jax import config_lib
from egoimu_jax.input_pipeline import prepare
from egoimu_jax.input_pipeline.raw import ingest
from egoimu_jax.input_pipeline.raw import memory_dataset

CLASSES = ("working", "break", "not_on_person")


def data_config(window_seconds: float = 0.5, num_shards: int = 4, **video):
  c = config_lib.data_config()
  c.imu.window_seconds = window_seconds
  c.prepare.num_shards = num_shards
  c.prepare.num_processes = 1
  c.video.update(video)
  return c


def memory_clips(num_workers=6, clips_per_worker=3, windows=4, length=100,
                 seed=0, frames_shape=None, quarantine_every=0):
  """ClipWindows with known arrays; worker ``w``'s IMU has mean ``w``.

  Every ``quarantine_every``-th clip (if > 0) is a ``Quarantined`` row.
  """
  rng = np.random.default_rng(seed)
  clips = []
  for w in range(num_workers):
    for c in range(clips_per_worker):
      clip_id, worker_id = f"w{w:02d}_c{c:02d}", f"w{w:02d}"
      k = len(clips)
      if quarantine_every and k % quarantine_every == quarantine_every - 1:
        clips.append(ingest.Quarantined(clip_id, worker_id, f"{clip_id}.jsonl",
                                        f"{clip_id}.jsonl: planted"))
        continue
      n = windows + (k % 2)  # clips of different lengths
      frames = None
      if frames_shape is not None:
        frames = rng.integers(0, 256, (n, *frames_shape), dtype=np.uint8)
      clips.append(ingest.ClipWindows(
          clip_id=clip_id, worker_id=worker_id,
          imu=(rng.normal(size=(n, length, 6)) * (1 + w) + w).astype(
              np.float32),
          t0_us=np.arange(n, dtype=np.int64) * int(length * 5000),
          label=rng.integers(0, len(CLASSES), n).astype(np.int32),
          purity=rng.uniform(0.8, 1, n).astype(np.float32),
          frames=frames, native_rate_hz=200.0, dropped={"impure": k % 3},
          notes={"interpolated_gaps": 1} if k % 4 == 0 else {}))
  return clips


def prepare_memory(out_dir, clips, config=None, **kwargs) -> str:
  config = config or data_config()
  source = memory_dataset.MemoryDataset(CLASSES, clips, unit_rows=2)
  return prepare.prepare(config, "memory", str(out_dir), dataset=source,
                         **kwargs)


def split(train, val, test, clips=None):
  s = {"protocol": "l20wo", "fold": 0, "seed": 0, "num_folds": 5,
       "scale": -1.0, "dataset_fingerprint": "test",
       "train_workers": list(train), "val_workers": list(val),
       "test_workers": list(test),
       "train_clips": None, "val_clips": None, "test_clips": None}
  if clips:
    s.update({f"{p}_clips": list(c) for p, c in clips.items()})
  return s


def input_config(batch_size=8, eval_batch_size=8, **kw):
  c = config_lib.input_config()
  c.batch_size = batch_size
  c.eval_batch_size = eval_batch_size
  c.update(kw)
  return c
