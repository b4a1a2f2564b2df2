"""A small synthetic dataset with video, prepared with every clip's frames,
and ``extract_embeddings`` configs over it (tiny TimeSformer)."""

from __future__ import annotations

import dataclasses
import pathlib

import ml_collections
import numpy as np

from egoimu_jax import config_lib
from egoimu_jax.input_pipeline import prepare
from egoimu_jax.input_pipeline import synthetic
from egoimu_jax.input_pipeline.store import embeddings
from egoimu_jax.input_pipeline.store import manifest as manifest_lib
from egoimu_jax.teachers import config as teacher_config

ROOT = pathlib.Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True)
class Data:
  raw: str
  processed: str
  data_config: ml_collections.ConfigDict


def make_data(root, variant: str = "jsonl", frames_fraction: float = 1.0,
              store_frames: bool = True) -> Data:
  c = config_lib.data_config()
  c.synthetic.update(num_workers=2, clips_per_worker=3, clip_seconds=11.0,
                     with_video=True, num_processes=1, variant=variant)
  raw = synthetic.ensure(c.synthetic, str(root / "cache"))
  c.raw_dir = raw
  c.video.update(store_frames=store_frames, size=32,
                 frames_fraction=frames_fraction)
  c.prepare.update(num_shards=2, num_processes=1)
  out = prepare.prepare(c, raw, str(root / "processed"))
  c.processed_dir = out
  return Data(raw, out, c)


def config(data: Data, name: str, **teacher) -> ml_collections.ConfigDict:
  c = config_lib.base()
  c.data = data.data_config.copy_and_resolve_references()
  c.job = "extract_embeddings"
  c.teacher = teacher_config.teacher_config()
  c.teacher.update(name=name, num_frames=4, frame_size=32, batch_size=3,
                   chunk_windows=2, decode_threads=2, log_every_s=0.0)
  c.teacher.model = ml_collections.ConfigDict(dict(name="timesformer",
                                                   variant="tiny"))
  for key, value in teacher.items():
    if key == "model":
      c.teacher.model = ml_collections.ConfigDict(value)
    else:
      c.teacher[key] = value
  return c


def vectors(data: Data, name: str) -> np.ndarray:
  """Every record's vector (raises if one is missing)."""
  n = manifest_lib.load(data.processed)["num_records"]
  return embeddings.EmbeddingSet.open(data.processed, name).read(np.arange(n))
