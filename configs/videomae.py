r"""Supervised VideoMAE ViT video classifier on 5 s windows (frames only).

  python -m egoimu_jax.main --config=configs/videomae.py --workdir=DIR   # ViT-B
  ...videomae.py:S                   # ViT-S
  ...videomae.py:tiny                # CPU smoke run on a tiny synthetic set
  ...videomae.py:B,epochs=100        # any arg: comma-separated key=value
  ...videomae.py:weights=/ckpt/videomae-base-finetuned-kinetics

The model is ``models.videomae`` (16 frames of 224^2, tubelet 2, patch 16,
mean pooling + ``fc_norm``); it trains from its initialisation, or with
``weights=<dir>`` (a transformers VideoMAE checkpoint,
``models/convert/videomae.py``) through the ``finetune`` task from the
converted weights (the head fresh). Frames
are stored per window (50 at 10 fps) and the pipeline samples 16 uniformly,
normalised with ImageNet statistics (``input.frame_mean/frame_std``), as
VideoMAE.

Training follows VideoMAE's fine-tuning recipe where this trainer has the
parts: AdamW, betas (0.9, 0.999), weight decay 0.05 (not on biases and norm
scales), 5 warmup epochs then cosine, drop path 0.1, batch 64, bfloat16
compute. VideoMAE's learning rate is 1e-3 * batch / 256 (2.5e-4 at 64); we
use 5e-4 (set ``--config.optim.lr`` to follow the rule exactly). Not
included: layer-wise lr decay, mixup/cutmix, label smoothing, repeated
augmentation and multi-view testing; gradients are clipped at norm 1 (the
project default; VideoMAE does not clip).
"""

from egoimu_jax import config_lib


def get_config(arg=None):
  config = config_lib.base(arg, variant="B", epochs=50.0, weights="")
  # ImageNet frame statistics (the default), as VideoMAE.
  config_lib.video_classifier(config, "videomae", num_frames=16, lr=5e-4,
                              warmup_epochs=5.0)
  config.model.drop_path = 0.1
  config.optim.update(b1=0.9, b2=0.999)
  config.checkpoint.keep = 1
  config_lib.warm_start(config, config.arg.weights, "videomae")
  if config.arg.variant == "tiny":
    # The CPU smoke run: 4 frames of 32^2 on the shared tiny data set.
    config_lib.tiny_video(config, num_frames=4)
  return config
