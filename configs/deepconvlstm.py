r"""DeepConvLSTM (Ordóñez & Roggen, Sensors 2016) on 5 s IMU windows.

  python -m egoimu_jax.main --config=configs/deepconvlstm.py --workdir=DIR
  ...deepconvlstm.py:iswc22          # Zhou et al. ISWC'22 benchmark layout
  ...deepconvlstm.py:tiny            # CPU smoke run on a tiny synthetic set
  ...deepconvlstm.py:epochs=100      # any arg: comma-separated key=value

Model variants are ``models.deepconvlstm.VARIANTS``. Training follows the
paper where it is specific (lr 1e-3, dropout 0.5 inside the model, batch
~100 -> 128 to split over 8 devices) and the project defaults elsewhere:
AdamW instead of RMSProp, warmup + cosine, global-norm clipping at 1.
"""

from egoimu_jax import config_lib


def get_config(arg=None):
  config = config_lib.base(arg, variant="paper", epochs=50.0)
  config_lib.imu_classifier(config, "deepconvlstm", batch_size=128)
  config.model.batch_norm = False  # ISWC'22's BatchNorm after each conv
  return config
