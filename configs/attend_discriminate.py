r"""Attend and Discriminate (Abedin et al., IMWUT 2021) on 5 s IMU windows.

  python -m egoimu_jax.main --workdir=DIR \
      --config=configs/attend_discriminate.py
  ...attend_discriminate.py:recipe=False   # plain cross-entropy (ISWC'22 setup)
  ...attend_discriminate.py:tiny           # CPU smoke run, recipe on

The authors' recipe is on by default: mixup on the IMU input with
``alpha=0.8`` (``lam = max(lam, 1-lam)``) and a center loss on the
L2-normalised embedding with weight ``beta=0.3`` and centre rate
``lr_cent=0.001``; Adam(W) at lr 1e-3, batch 256, dropouts 0.5 / 0.25 / 0.5
inside the model. The authors train 300 epochs on small HAR sets with a
step decay; here warmup + cosine over ``epochs`` (default 50).
"""

from egoimu_jax import config_lib


def get_config(arg=None):
  config = config_lib.base(arg, variant="paper", epochs=50.0, recipe=True)
  config_lib.imu_classifier(config, "attend_discriminate", batch_size=256)
  if config.arg.recipe:
    config.task.mixup_alpha = 0.8
    config.task.center_loss_weight = 0.3
    config.task.center_lr = 0.001
  return config
