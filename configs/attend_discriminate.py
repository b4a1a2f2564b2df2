r"""Attend and Discriminate (Abedin et al., IMWUT 2021) on 5 s IMU windows.

  python -m egoimu_jax.main --workdir=DIR \
      --config=configs/attend_discriminate.py
  ...attend_discriminate.py:recipe=plain     # plain CE (the ISWC'22 setup)
  ...attend_discriminate.py:recipe=authors   # the authors' schedule too
  ...attend_discriminate.py:tiny             # CPU smoke run, recipe ours

``recipe=ours`` (the default) has the authors' loss: mixup on the IMU input
with ``alpha=0.8`` (``lam = max(lam, 1-lam)``) and a center loss on the
L2-normalised embedding with weight ``beta=0.3`` and centre rate
``lr_cent=0.001``; Adam(W) at lr 1e-3, batch 256, dropouts 0.5 / 0.25 / 0.5
inside the model; warmup + cosine over ``epochs`` (0: 50).

``recipe=authors`` is also their schedule
(``AdelaideAuto-IDLab/Attend-And-Discriminate`` ``settings.py``,
``main.py``): Adam without weight decay at lr 1e-3, ``StepLR`` x0.9 every
10 epochs, 300 epochs, no clipping, unweighted cross-entropy, beta 0.3 (their
value for the 6-channel ``hospital`` and for ``skoda``), best checkpoint by
validation macro-F1 as here. Not reproduced: their orthogonal weight init.
"""

from egoimu_jax import config_lib
from egoimu_jax import durations


def plain(config):
  config.task.update(mixup_alpha=0.0, center_loss_weight=0.0)


def authors(config):
  config.optim.update(lr=1e-3, weight_decay=0.0, clip_norm=0.0,
                      schedule="step_decay", decay_factor=0.9)
  config.class_weights = "none"
  durations.clear(config, prefixes=("total", "warmup", "lr_decay_every"))
  config.total_epochs = config.arg.epochs or 300.0
  config.warmup_steps = 0
  config.lr_decay_every_epochs = 10.0


RECIPES = {"plain": plain, "authors": authors}


def get_config(arg=None):
  config = config_lib.base(arg, variant="paper", epochs=0.0, recipe="ours")
  config_lib.imu_classifier(config, "attend_discriminate", batch_size=256,
                            epochs=50.0)
  # The authors' loss, in every recipe but ``plain``.
  config.task.update(mixup_alpha=0.8, center_loss_weight=0.3,
                     center_lr=0.001)
  return config_lib.finish(config, RECIPES)
