r"""TimeSformer (Bertasius et al., ICML 2021) on the video of 5 s windows.

  python -m egoimu_jax.main --config=configs/timesformer.py --workdir=DIR
  ...timesformer.py:HR               # 16 frames at 448^2 (stored at 448)
  ...timesformer.py:tiny             # CPU smoke run on a tiny synthetic set
  ...timesformer.py:epochs=30        # any arg: comma-separated key=value
  ...timesformer.py:weights=/ckpt/timesformer-base-finetuned-k400

Model variants are ``models.timesformer.VARIANTS``; the input geometry
(frames sampled uniformly from the 50 stored per window, stored frame size)
follows the variant. Frames are normalised with TimeSformer's statistics
(``x / 255`` then mean 0.45 / std 0.225, the K400 processor's).

Training: supervised video-only classification, from scratch or, with
``weights=<dir>`` (a transformers TimeSformer checkpoint, e.g.
``facebook/timesformer-base-finetuned-k400``; ``convert/timesformer.py``),
through the ``finetune`` task from the converted weights (the head fresh). The paper trains 15 epochs with SGD (lr 5e-3, momentum
0.9, weight decay 1e-4) and the authors' B uses drop path 0.1; here the
project's AdamW with warmup + cosine at the usual ViT fine-tuning lr 1e-4,
weight decay 0.05, bf16 compute (params stay float32). Unlike the authors'
code, weight decay also reaches ``cls_token`` / ``pos_embed`` /
``time_embed`` (the optimizer decays every array of >= 2 dims).
"""

from egoimu_jax import config_lib


def get_config(arg=None):
  config = config_lib.base(arg, variant="B", epochs=15.0, weights="")
  # The model file is imported only here: configs stay cheap to list.
  # pylint: disable-next=g-import-not-at-top
  from egoimu_jax.models import timesformer
  model = timesformer.create(config.arg.variant)
  config_lib.video_classifier(
      config, "timesformer", num_frames=model.num_frames, lr=1e-4,
      warmup_epochs=config.arg.epochs / 10, frame_mean=(0.45, 0.45, 0.45),
      frame_std=(0.225, 0.225, 0.225))
  config.model.drop_path = 0.1
  config.data.video.size = model.image_size
  config_lib.warm_start(config, config.arg.weights, "timesformer")
  if config.arg.variant == "tiny":
    # CPU smoke run: the shared tiny dataset with 32^2 frames stored.
    config_lib.tiny_video(config, num_frames=4)
  return config
