r"""EVI-MAE (Zhang et al. 2024): masked video + IMU-spectrogram autoencoding
with a GIN graph branch and a contrastive term, pretrained on every worker
unlabeled, then fine-tuned per fold (the benchmark's Experiment D, README).

  python -m egoimu_jax.main --config=configs/evimae.py:tiny --workdir=DIR   # CPU demo
  python -m egoimu_jax.main --config=configs/evimae.py --workdir=DIR        # B, all folds
  ...evimae.py:S                     # the authors' ViT-S video tower
  ...evimae.py:B,folds=0             # one fold ("0+3": folds 0 and 3)
  --config.protocol.pretrain_on=train    # pretrain on each fold's train workers only
  --config.experiment.protocols='("l20wo","within")'   # + the generalisation gap

The job is ``pretrain_finetune`` (``egoimu_jax/experiments``): one
``mae_pretrain`` run, then per fold and per input (IMU, video, both) a
``finetune`` run from the pretrained encoders and the same classifier from
scratch, with missing-modality and degraded-video test variants, then the
report. ``config.pretrain`` / ``config.finetune`` are merged into the rest
for their stages.

Hyperparameters: masking 90% (video tubes) / 75% (spectrogram patches) / 50%
(graph nodes); loss 1·MSE + 10·graph + 0.01·InfoNCE at tau 0.05 (the
authors'); pretraining AdamW lr 1.5e-4·batch/256, betas (0.9, 0.95), weight
decay 0.05 (VideoMAE's); fine-tuning lr 5e-5 with the head at 100x (the
EVI-MAE fine-tuning scripts).
"""

import ml_collections

from egoimu_jax import config_lib
from egoimu_jax.training import sharding_presets


def get_config(arg=None):
  config = config_lib.base(arg, variant="B", folds="all",
                           pretrain_epochs=100.0, finetune_epochs=30.0)
  config.update(config_lib.trainer_config())
  variant = config.arg.variant
  config.job = "pretrain_finetune"
  config.name = f"evimae-{variant}"
  config.dtype = "bfloat16"
  # Video frames are stored at 224^2 (10 fps, 50 per window); the model takes
  # 16 of them. Spectrograms [160, 128, 6] are computed in the pipeline.
  config.data.video.store_frames = True
  config.input.num_frames = 16  # of the 50 stored per window, as VideoMAE
  config.input.batch_size = 64
  config.input.eval_batch_size = 64
  config.checkpoint.keep = 1

  config.experiment = config_lib.experiment(
      config, ("l20wo",), modalities=("imu", "video", "imu+video"),
      scratch=True, missing_modality=True,
      degraded_video=("noise", "low_light"))
  model = dict(variant=variant)
  config.pretrain = ml_collections.ConfigDict(dict(
      task=dict(name="mae_pretrain", loss=dict(
          mae_weight=1.0, graph_weight=10.0, contrastive_weight=0.01,
          temperature=0.05)),
      model=dict(name="evimae", **model),
      input=dict(spectrogram=True, frames=True),
      optim=dict(lr=1.5e-4 * config.input.batch_size / 256, b2=0.95,
                 weight_decay=0.05),
      total_epochs=config.arg.pretrain_epochs,
      warmup_epochs=config.arg.pretrain_epochs / 20,
      eval_every_epochs=config.arg.pretrain_epochs / 10,
  ))
  config.finetune = ml_collections.ConfigDict(dict(
      task=dict(name="finetune", pretrained="", head_lr_multiplier=100.0),
      model=dict(name="evimae_classifier", **model),
      optim=dict(lr=5e-5, weight_decay=0.05),
      total_epochs=config.arg.finetune_epochs,
      warmup_epochs=config.arg.finetune_epochs / 10,
      eval_every_epochs=1.0,
  ))
  if variant == "B":
    # ~190M parameters: shard the large kernels over the fsdp axis.
    config.sharding_rules = tuple(sharding_presets.vit_fsdp())
  if variant == "tiny":
    tiny(config)
  return config


def tiny(config):
  """The CPU demo: ~4 minutes on 2 cores, data generation included."""
  config_lib.tiny_stages(config)
  config.dtype = "float32"
  config.data.synthetic.update(num_workers=20, clips_per_worker=4,
                               clip_seconds=27.0, with_video=True,
                               video_size=(48, 64))
  config.data.video.update(store_frames=True, size=32)
  # 32 x 32 spectrograms to match the tiny model's input.
  config.data.spectrogram.update(n_fft=62, hop=31, time_bins=32, freq_bins=32)
  config.input.update(batch_size=16, eval_batch_size=32, num_frames=8)
  config.experiment.update(folds=(0,), n_boot=500)
  for stage, epochs, evals in ((config.pretrain, 12.0, 4), (config.finetune,
                                                           16.0, 4)):
    stage.total_epochs = epochs
    stage.warmup_epochs = 1.0
    stage.eval_every_epochs = epochs / evals
  config.pretrain.optim.lr = 1e-3
  # With ~250 training windows, 1e-4 left the IMU classifiers at the
  # majority class and 5e-4 destabilised the video ones.
  config.finetune.optim.lr = 2.5e-4
  config.finetune.task.head_lr_multiplier = 10.0
  config.log_every_steps = 100  # the whole demo's log fits on two screens
  config.sharding_rules = ()
