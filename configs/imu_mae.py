r"""IMU-only MAE: EVI-MAE's IMU branch (spectrogram ViT with 75% patch
masking, pixel decoder, GIN graph branch over the acc / gyro groups) pretrained
without video, then fine-tuned per fold against the same classifier from
scratch. Same stages, hyperparameters and variants (``B``, ``S``, ``tiny``)
as ``configs/evimae.py``, minus the video tower and the contrastive term.

  python -m egoimu_jax.main --config=configs/imu_mae.py:tiny --workdir=DIR
  python -m egoimu_jax.main --config=configs/imu_mae.py:S,folds=0 --workdir=DIR

Video frames are neither stored nor read, so this runs on IMU-only data.
"""

import importlib.util
import os


def _evimae_config():
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "evimae.py")
  spec = importlib.util.spec_from_file_location("egoimu_configs_evimae", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def get_config(arg=None):
  config = _evimae_config().get_config(arg)
  config.name = f"imu_mae-{config.arg.variant}"
  config.data.video.store_frames = False
  config.data.synthetic.with_video = False
  config.input.num_frames = 0
  config.pretrain.model.name = "imu_mae"
  config.pretrain.input.frames = False
  config.pretrain.task.loss.contrastive_weight = 0.0
  config.finetune.model.name = "imu_mae_classifier"
  config.experiment.update(modalities=("imu",), missing_modality=False,
                           degraded_video=())
  return config
