r"""Supervised HAR models (DeepConvLSTM, Attend-and-Discriminate) on 5-fold
leave-20%-workers-out and within-person, folds 0-4.

  python -m launch.run --sweep=launch/sweeps/har_models.py --root=runs/har \
      --report_dir=runs/har/report

Arg: ``models=deepconvlstm+attend_discriminate``, ``folds`` (default all: 5,
or 3 for tiny), ``tiny``.
"""

import launch
from launch.configs import config_for

PROTOCOLS = ("l20wo", "within")


def sweep(arg=None):
  a = launch.parse_arg(arg, tiny=False, models="deepconvlstm+attend_discriminate",
                       folds=0)
  folds = a.folds or (3 if a.tiny else 5)
  return [launch.protocol_job(config_for(p["model"], a.tiny), p["model"],
                              p["protocol"], p["fold"])
          for p in launch.product(model=a.models.split("+"), protocol=PROTOCOLS,
                                  fold=range(folds))]
