"""``config.teacher``: the ``extract_embeddings`` job's section.

Only ml_collections here, so configs can build the section without importing
JAX. Fields that change the vectors (everything but the ``OPERATIONAL``
ones) are hashed into the extraction's identity (``parts.config_hash``).
"""

from __future__ import annotations

import ml_collections

POOLINGS = ("cls", "mean_tokens", "features")
SOURCES = ("auto", "stored", "raw")
# Fields that say how or where to run, not what to compute.
OPERATIONAL = ("raw_dir", "shard_index", "shard_count", "finalize_only",
               "decode_threads", "prefetch_chunks", "log_every_s")


def teacher_config() -> ml_collections.ConfigDict:
  """Defaults: TimeSformer-B, 8 frames, mean over all tokens (COMODO)."""
  c = ml_collections.ConfigDict()
  # The set is <processed_dir>/egoimu/teacher_<name>/ ([A-Za-z0-9_]+).
  c.name = "timesformer_b"
  # models.build(model) (+ num_classes, dtype); other fields are overrides.
  c.model = ml_collections.ConfigDict(dict(name="timesformer", variant="B"))
  # Weights: "" = random init (a loud warning; seed in the manifest). With
  # weights_format "" a checkpoint of our own runs (a workdir, checkpoints
  # dir, step or state dir; weights_step picks the step), else the name of a
  # models.IMPORTERS entry reading `weights` (e.g. "videomae").
  c.weights = ""
  c.weights_format = ""
  c.weights_step = "latest"
  c.seed = 0                   # random init (when weights is "")
  # "cls" (token 0 of aux["tokens"]; models with a cls_token), "mean_tokens"
  # (mean over all of aux["tokens"], CLS included, as COMODO), "features"
  # (the model's pooled aux["features"]).
  c.pooling = "mean_tokens"
  # > 0: multiply by a fixed [D, projection_dim] matrix with orthonormal
  # columns (or rows, when projection_dim > D), drawn from projection_seed.
  c.projection_dim = 0
  c.projection_seed = 0
  # Frames: num_frames of the frames_per_window (50 at 10 fps) per window,
  # at round(linspace(0, 49, num_frames)) as the grain pipeline samples them;
  # frame_size 0 = the processed dataset's data.video.size. Normalised as
  # (x / 255 - mean) / std (pipeline.imagenet_normalise).
  c.num_frames = 8
  c.frame_size = 0
  c.frame_mean = (0.45, 0.45, 0.45)
  c.frame_std = (0.225, 0.225, 0.225)
  c.dtype = "float32"          # compute dtype; vectors are stored float32
  # Where frames come from: "stored" shards, "raw" MP4s decoded on the fly,
  # or "auto" (stored where kept, raw elsewhere).
  c.source = "auto"
  # Raw dataset root; "" = data.raw_dir, else the synthetic pilot (when
  # data.processed_dir is empty), else the root prepare recorded.
  c.raw_dir = ""
  c.batch_size = 32            # per host, rounded up to the local devices
  c.chunk_windows = 256        # unit of resumption and of host split
  # Host split: chunk k runs on host k % shard_count. shard_count 0 = one
  # host per JAX process (jax.process_index() / process_count()).
  c.shard_index = 0
  c.shard_count = 0
  c.finalize_only = False      # merge finished chunks into the set, no model
  c.decode_threads = 0         # 0 = CPU count
  c.prefetch_chunks = 1        # chunks decoded ahead of the model
  c.log_every_s = 30.0
  return c


# model -> default variant, frame statistics, pooling.
_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
PRESETS = {
    "timesformer": dict(variant="B", mean=(0.45,) * 3, std=(0.225,) * 3,
                        pooling="mean_tokens"),
    "videomae": dict(variant="B", mean=_IMAGENET_MEAN, std=_IMAGENET_STD,
                     pooling="mean_tokens"),
    "slowfast": dict(variant="R50", mean=(0.45,) * 3, std=(0.225,) * 3,
                     pooling="features"),
    # CLIP ViT-B/32's image embedding of the window's middle frame
    # (IMU2CLIP); its statistics are models.clip_vision.MEAN / STD.
    "clip_vision": dict(variant="B32",
                        mean=(0.48145466, 0.4578275, 0.40821073),
                        std=(0.26862954, 0.26130258, 0.27577711),
                        pooling="features"),
}


def preset(model: str, variant: str = "", pooling: str = "",
           source: str = "auto") -> ml_collections.ConfigDict:
  """``config.teacher`` for a video model family with its own frame
  statistics, frame count and size, and pooling; set name ``<model>_<variant>``.
  """
  if model not in PRESETS:
    raise ValueError(f"teacher model={model!r}; expected one of "
                     f"{sorted(PRESETS)}")
  p = PRESETS[model]
  variant = variant or p["variant"]
  t = teacher_config()
  t.name = f"{model}_{variant}".lower()
  t.model.update(name=model, variant=variant)
  t.pooling = pooling or p["pooling"]
  t.source = source
  t.frame_mean, t.frame_std = p["mean"], p["std"]
  t.num_frames, t.frame_size = _geometry(model, variant)
  return t


def _geometry(model: str, variant: str):
  """(frames, frame side) the model variant takes (SlowFast: any)."""
  # Model files are imported only here: configs stay cheap to list.
  if model == "slowfast":  # R50 8x8: 32 frames (Slow: every 4th)
    return (8, 32) if variant == "tiny" else (32, 224)
  if model == "clip_vision":  # frames 0, 24, 49 of 50; it embeds the middle
    from egoimu_jax.models import clip_vision  # pylint: disable=g-import-not-at-top
    return 3, clip_vision.create(variant).image_size
  if model == "timesformer":
    from egoimu_jax.models import timesformer as module  # pylint: disable=g-import-not-at-top
  else:
    from egoimu_jax.models import videomae as module  # pylint: disable=g-import-not-at-top
  m = module.create(variant)
  return m.num_frames, m.image_size
