r"""Frozen video-teacher embeddings of every window (``extract_embeddings``).

  python -m egoimu_jax.main --config=configs/teacher_embeddings.py \
      --workdir=runs/teacher_timesformer_b \
      --config.data.processed_dir=/data/pilot_processed \
      --config.teacher.weights=/ckpt/timesformer-base-finetuned-k400 \
      --config.teacher.weights_format=timesformer
  ...teacher_embeddings.py:model=videomae          # VideoMAE-B, 16 frames
  ...teacher_embeddings.py:model=slowfast          # SlowFast R50, 32 frames
  ...teacher_embeddings.py:pooling=cls             # CLS token instead
  ...teacher_embeddings.py:tiny                    # CPU smoke run

Default: TimeSformer-B, 8 frames of 224^2 sampled uniformly from the 50 per
window, normalised with its statistics (mean 0.45, std 0.225), embedded as
the mean over all final tokens (CLS included), as COMODO. VideoMAE takes 16
frames with ImageNet statistics; SlowFast 32 frames and its pooled features.

Frames come from the frame shards where ``prepare`` kept them, else from the
raw MP4s decoded on the fly (``teacher.source``: auto | stored | raw), so a
dataset prepared without frames works. Run with the same ``data`` settings
(or ``data.processed_dir``) as the runs that will read the set through
``input.teacher = "<teacher.name>"``. ``teacher.weights`` empty means random
weights (a warning; tests and demos only). Every field: ``teachers/config.py``.
Multi-host: ``teacher.shard_index`` / ``shard_count`` (or one process per
host under ``jax.distributed``), then ``teacher.finalize_only=True``. For a
sweep, the job's done file is ``teacher_manifest.json``.
"""

from egoimu_jax import config_lib
from egoimu_jax.teachers import config as teacher_config

_IMAGENET = config_lib.input_config()
# model -> default variant, frame statistics, pooling.
PRESETS = {
    "timesformer": dict(variant="B", mean=(0.45,) * 3, std=(0.225,) * 3,
                        pooling="mean_tokens"),
    "videomae": dict(variant="B", mean=_IMAGENET.frame_mean,
                     std=_IMAGENET.frame_std, pooling="mean_tokens"),
    "slowfast": dict(variant="R50", mean=(0.45,) * 3, std=(0.225,) * 3,
                     pooling="features"),
}


def get_config(arg=None):
  config = config_lib.base(arg, variant="", model="timesformer", pooling="",
                           source="auto")
  arg = config.arg
  if arg.model not in PRESETS:
    raise ValueError(f"model={arg.model!r}; expected one of {sorted(PRESETS)}")
  preset = PRESETS[arg.model]
  variant = arg.variant or preset["variant"]
  config.job = "extract_embeddings"
  config.name = f"teacher-{arg.model}-{variant}"
  config.teacher = teacher_config.teacher_config()
  t = config.teacher
  t.name = f"{arg.model}_{variant}".lower()
  t.model.update(name=arg.model, variant=variant)
  t.pooling = arg.pooling or preset["pooling"]
  t.source = arg.source
  t.frame_mean, t.frame_std = preset["mean"], preset["std"]
  t.num_frames, t.frame_size = _geometry(arg.model, variant)
  if variant == "tiny":
    tiny(config)
  return config


def _geometry(model: str, variant: str):
  """(frames, frame side) the model variant takes (SlowFast: any)."""
  # Model files are imported only here: configs stay cheap to list.
  if model == "slowfast":  # R50 8x8: 32 frames (Slow: every 4th)
    return (8, 32) if variant == "tiny" else (32, 224)
  if model == "timesformer":
    from egoimu_jax.models import timesformer as module  # pylint: disable=g-import-not-at-top
  else:
    from egoimu_jax.models import videomae as module  # pylint: disable=g-import-not-at-top
  m = module.create(variant)
  return m.num_frames, m.image_size


def tiny(config):
  """CPU smoke run on the shared tiny dataset with video, frames stored for
  half of the clips: the others are decoded from their MP4s."""
  config_lib.tiny_run(config)
  config.data.synthetic.with_video = True
  config.data.video.update(store_frames=True, size=32, frames_fraction=0.5)
  config.teacher.update(batch_size=8, chunk_windows=16, decode_threads=2,
                        log_every_s=0.0)
