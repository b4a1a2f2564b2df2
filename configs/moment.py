r"""MOMENT-small (Goswami et al., ICML 2024) fine-tuned on 5 s IMU windows.

  python -m egoimu_jax.main --config=configs/moment.py --workdir=DIR
  ...moment.py:input_length=512      # resample windows to MOMENT's 512
  ...moment.py:weights=/ckpt/MOMENT-1-small   # warm start (finetune task)
  ...moment.py:head=mean             # average channels instead of concat
  ...moment.py:recipe=authors        # MOMENT's fine-tuning schedule
  ...moment.py:tiny                  # CPU smoke run on a tiny synthetic set

Model variants are ``models.moment.VARIANTS`` (``small`` = MOMENT-1-small's
flan-t5-small encoder). ``input_length``: ``native`` feeds the 1000-sample
windows as they are (125 patches, as COMODO / CrossHAR do) or a number of
samples to resample to (512: MOMENT's pretraining length).

``weights`` (a ``MOMENTPipeline.save_pretrained`` directory such as
``AutonLab/MOMENT-1-small``, or a state dict file; see
``models/convert/moment.py``) trains with the ``finetune`` task: every
leaf but the fresh head comes from the checkpoint. Without it, the
``supervised`` task trains from scratch.

Training is MOMENT's classification fine-tuning: full fine-tuning (nothing
frozen) with AdamW at lr 1e-4, batch 64, 10 epochs; the schedule is the
project's warmup (1 epoch) + cosine, and weight decay is torch AdamW's
default 0.01 (on kernels only, the project's rule). ``epochs`` 0: 10.

``recipe=authors`` is the fine-tuning schedule issue 24 gives for MOMENT:
windows resampled to 512 samples, batch 16, ``OneCycleLR`` from 1e-6 to
1e-4 (``div_factor`` 100). Not in ``shared/MODEL_NOTES.md``, so left as
torch's defaults: ``pct_start`` 0.3, ``final_div_factor`` 1e4; optimizer,
weight decay, clipping and epochs stay as above.
"""

from egoimu_jax import config_lib
from egoimu_jax import durations


def authors(config):
  config.model.input_length = "512"  # as the input_length argument gives it
  config.input.batch_size = 16
  config.optim.update(lr=1e-4, schedule="onecycle", div_factor=100.0,
                      pct_start=0.3, final_div_factor=1e4)
  durations.clear(config, prefixes=("warmup",))


RECIPES = {"authors": authors}


def get_config(arg=None):
  config = config_lib.base(arg, variant="small", input_length="native",
                           head="concat", weights="", epochs=0.0,
                           recipe="ours")
  config.update(config_lib.trainer_config())
  arg = config.arg
  config.name = "moment-" + (arg.variant if arg.input_length == "native" else
                             f"{arg.variant}-{arg.input_length}")
  config.model.name = "moment"
  config.model.variant = arg.variant
  config.model.input_length = arg.input_length
  config.model.head_reduction = arg.head

  config_lib.warm_start(config, arg.weights, "moment")

  config.input.batch_size = 64
  config.input.eval_batch_size = 256
  config.optim.lr = 1e-4
  config.optim.weight_decay = 0.01
  config.total_epochs = arg.epochs or 10.0
  config.warmup_epochs = 1.0
  config.eval_every_epochs = 1.0
  config.log_every_steps = 50
  return config_lib.finish(config, RECIPES)
