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


def get_config(arg=None):
  config = config_lib.base(arg, variant="", model="timesformer", pooling="",
                           source="auto")
  arg = config.arg
  config.job = "extract_embeddings"
  config.teacher = teacher_config.preset(arg.model, arg.variant, arg.pooling,
                                         arg.source)
  variant = config.teacher.model.variant
  config.name = f"teacher-{arg.model}-{variant}"
  if variant == "tiny":
    tiny(config)
  return config


def tiny(config):
  """CPU smoke run on the shared tiny dataset with video, frames stored for
  half of the clips: the others are decoded from their MP4s."""
  config_lib.tiny_run(config)
  config.data.synthetic.with_video = True
  config.data.video.update(store_frames=True, size=32, frames_fraction=0.5)
  config.teacher.update(batch_size=8, chunk_windows=16, decode_threads=2,
                        log_every_s=0.0)
