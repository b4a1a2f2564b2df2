r"""SlowFast R50 (Feichtenhofer et al., ICCV 2019) video classifier on 5 s
windows (frames only).

  python -m egoimu_jax.main --config=configs/slowfast.py --workdir=DIR   # R50
  ...slowfast.py:tiny                # CPU smoke run on a tiny synthetic set
  ...slowfast.py:R50,epochs=50       # any arg: comma-separated key=value

The model is ``models.slowfast`` (pytorchvideo's ``SLOWFAST_8x8_R50``
layout): 32 Fast frames of 224^2, the Slow pathway every 4th of them. Frames
are stored per window (50 at 10 fps) and the pipeline samples 32 uniformly
over the 5 s (Kinetics' 8x8 clips span ~2 s), normalised with pytorchvideo's
Kinetics statistics (mean 0.45, std 0.225).

Recipe: the paper trains from scratch with SGD (lr 0.1 per 64 clips, momentum
0.9, weight decay 1e-4, 196 epochs, cosine, dropout 0.5). This config is the
fine-tuning-sized one that suits our data: AdamW at lr 1e-4, weight decay
0.05 on kernels, 2 warmup epochs then cosine over 30 epochs, batch 64,
gradient clipping at norm 1, dropout 0.5 before the head, bfloat16 compute
(float32 parameters and BatchNorm statistics). ``weights=<file or dir>``
(pytorchvideo's Kinetics ``SLOWFAST_8x8_R50`` checkpoint, converted by
``models.convert.slowfast.load``) fine-tunes them through the ``finetune``
task (the head fresh).
"""

from egoimu_jax import config_lib


def get_config(arg=None):
  config = config_lib.base(arg, variant="R50", epochs=30.0, weights="")
  config_lib.video_classifier(
      config, "slowfast", num_frames=32, lr=1e-4, warmup_epochs=2.0,
      frame_mean=(0.45, 0.45, 0.45), frame_std=(0.225, 0.225, 0.225))
  config.checkpoint.keep = 1
  config_lib.warm_start(config, config.arg.weights, "slowfast")
  if config.arg.variant == "tiny":
    # The CPU smoke run: 8 Fast (2 Slow) frames of 32^2, the tiny model.
    config_lib.tiny_video(config, num_frames=8)
  return config
