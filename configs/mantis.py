r"""Mantis (Feofanov et al., 2025) on 5 s IMU windows, one series per channel.

  python -m egoimu_jax.main --config=configs/mantis.py --workdir=DIR
  ...mantis.py:weights=/ckpt/Mantis-8M   # fine-tune converted Mantis-8M weights
  ...mantis.py:tiny                      # CPU smoke run on a tiny synthetic set
  ...mantis.py:epochs=100                # any arg: comma-separated key=value
  ...mantis.py:recipe=authors            # fit's batch 256, 500 epochs

Model variants are ``models.mantis.VARIANTS`` (``8M``: the released
Mantis-8M encoder). Each of the 6 IMU channels of a ``[1000, 6]`` window is
resized to 512 samples inside the model and encoded on its own; the 6 CLS
embeddings (6 x 256 = 1536) feed ``fit``'s default head, BatchNorm1d +
Linear.

``weights=<path>`` fine-tunes from a Mantis checkpoint (a ``save_pretrained``
/ Hugging Face directory, or a state-dict file) converted by
``models.convert.mantis`` through the ``finetune`` task; the head starts
fresh. Without it the model trains from scratch (``supervised``).

Training follows ``mantis``' ``Trainer.fit`` (full fine-tuning): AdamW lr
2e-4, betas (0.9, 0.999), weight decay 0.05 on every parameter (torch's
AdamW; ``decay_min_ndim=0``), no gradient clipping, linear warmup then
cosine to 0. Differences, chosen for this data: batch 128 instead of 256;
50 epochs instead of 500 (``fit``'s default is sized for small UCR/UEA sets
of a few hundred series; a pilot has tens of thousands of windows, so 50
epochs are already far more steps) with 5 warmup epochs (10% of the run;
``fit`` warms up for 10 of its 500). ``epochs`` 0: 50.

``recipe=authors`` is ``fit`` as released: batch 256, 500 epochs, 10 warmup
epochs (2% of ``epochs`` when given), then cosine; the 512-sample input is
the model's in every recipe.
"""

from egoimu_jax import config_lib


def authors(config):
  config.input.batch_size = 256
  config.total_epochs = config.arg.epochs or 500.0
  config.warmup_epochs = 10.0 * config.total_epochs / 500.0


RECIPES = {"authors": authors}


def get_config(arg=None):
  config = config_lib.base(arg, variant="8M", epochs=0.0, weights="",
                           recipe="ours")
  config.update(config_lib.trainer_config())
  variant, weights = config.arg.variant, config.arg.weights
  config.name = f"mantis-{variant}" + ("-ft" if weights else "")
  config.model.name = "mantis"
  config.model.variant = variant
  config.model.head = "batchnorm_linear"
  config.model.output_token = "cls"
  config_lib.warm_start(config, weights, "mantis")

  config.input.batch_size = 128
  config.input.eval_batch_size = 256
  config.optim.update(lr=2e-4, b1=0.9, b2=0.999, weight_decay=0.05,
                      decay_min_ndim=0, clip_norm=0.0)
  config.total_epochs = config.arg.epochs or 50.0
  config.warmup_epochs = config.total_epochs / 10
  config.eval_every_epochs = 1.0
  config.log_every_steps = 50
  return config_lib.finish(config, RECIPES)
