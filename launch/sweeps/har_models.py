r"""Supervised HAR models (DeepConvLSTM, Attend-and-Discriminate) on 5-fold
leave-20%-workers-out and within-person, folds 0-4.

  python -m launch.run --sweep=launch/sweeps/har_models.py --root=runs/har \
      --report_dir=runs/har/report

Arg: ``models=deepconvlstm+attend_discriminate``, ``folds`` (default all: 5,
or 3 for tiny), ``tiny``, ``cpu`` (the layouts that train in minutes on a
2-core CPU: DeepConvLSTM ``iswc22``, Attend-and-Discriminate ``cpu``).
"""

import launch
from launch.config_paths import config_for

PROTOCOLS = ("l20wo", "within")
CPU_VARIANTS = {"deepconvlstm": "iswc22", "attend_discriminate": "cpu"}


def _config(model, a):
  config = config_for(model, a.tiny)
  if a.cpu and not a.tiny:
    config += f":{CPU_VARIANTS[model]}"
  return config


def sweep(arg=None):
  a = launch.parse_arg(arg, tiny=False, models="deepconvlstm+attend_discriminate",
                       folds=0, cpu=False)
  folds = a.folds or (3 if a.tiny else 5)
  return [launch.protocol_job(_config(p["model"], a), p["model"],
                              p["protocol"], p["fold"])
          for p in launch.product(model=a.models.split("+"), protocol=PROTOCOLS,
                                  fold=range(folds))]
