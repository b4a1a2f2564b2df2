r"""Closing the cross-person gap (issue 15): every method against ERM, paired.

For each model, on the ``l20wo`` folds (the same test windows for all):

* ``<model>``: ERM, plus its per-test-person adaptations written as
  variants of the same run (``config.adapt``): AdaBN and TENT, and the
  calibration curve (fine-tuned on each test person's first ``k`` minutes,
  head only and whole model, scored on the windows after the largest ``k``);
* ``<model>+person_norm`` / ``+gravity_align`` / ``+person_norm_gravity``:
  person-aware normalisation (``input.normalization``, ``input.gravity_align``);
* ``<model>+coral`` / ``+groupdro`` / ``+vrex``: workers as domains
  (``task.dg``);

and ``<model>`` on the ``within`` folds, the calibration curve's ceiling.
The report's cross-person section (``egoimu_jax/report/cross_person.py``)
pairs each method with ERM.

  python -m launch.run --sweep=launch/sweeps/cross_person.py --root=runs/xp \
      --report_dir=runs/xp/report
  python -m launch.run --sweep=launch/sweeps/cross_person.py:folds=1 --tiny \
      --root=/tmp/xp --report_dir=/tmp/xp/report

Arg: ``models=deepconvlstm+moment``, ``methods`` (``+``-joined subset of
``METHODS``), ``tta=adabn+tent``, ``minutes`` (``+``-joined; default
``0+0.5+1+2+5``, tiny ``0+0.1+0.2``: the tiny set's people have < 1 min),
``modes=head+full``, ``folds`` (default 5, tiny 3), ``weights.moment`` /
``weights.mantis`` (``launch/weights.py``: needed without ``tiny`` or
``cpu`` unless ``allow_random_init=True``), ``cpu``
(``launch/config_paths.CPU_VARIANTS``),
``epochs`` (0: each config's own), ``class_weights`` (the one policy of
every job: ``balanced``, default, or ``none``), ``tiny``,
``seeds`` (each job repeated with seeds 0..seeds-1: ``launch/seeds.py``). DeepConvLSTM runs with its BatchNorm
option (``model.batch_norm``, ISWC'22), so that AdaBN has statistics to
re-estimate; its rows are named ``deepconvlstm-bn``.
"""

import launch
from launch import config_paths
from launch import weights as weights_lib
from launch.config_paths import config_for

METHODS = {
    "person_norm": {"input.normalization": "person"},
    "gravity_align": {"input.gravity_align": True},
    "person_norm_gravity": {"input.normalization": "person",
                            "input.gravity_align": True},
    "coral": {"task.dg": "coral", "task.dg_weight": 1.0},
    "groupdro": {"task.dg": "groupdro", "task.groupdro_eta": 0.01},
    "vrex": {"task.dg": "vrex", "task.dg_weight": 1.0},
}
# Models with a BatchNorm switch: turned on (and the rows renamed) for AdaBN.
BATCH_NORM = {"deepconvlstm": ("model.batch_norm", "deepconvlstm-bn")}
RUN_GLOBS = (".", "variants/*")


def _config(model, a, weights):
  return config_paths.with_args(config_for(model, a.tiny, cpu=a.cpu),
                                **weights_lib.config_args(model, weights),
                                epochs=a.epochs)


def _floats(text):
  return tuple(float(x) for x in str(text).split("+") if x != "")


def sweep(arg=None):
  arg, weights = weights_lib.split(arg)
  a = launch.parse_arg(
      arg, tiny=False, models="deepconvlstm+moment", methods="+".join(METHODS),
      tta="adabn+tent", minutes="", modes="head+full", folds=0, cpu=False,
      epochs=0.0, class_weights="balanced", seeds=1)
  weights.check([m for m in a.models.split("+") if m in weights_lib.MODELS],
                papers_scale=not (a.tiny or a.cpu))
  folds = a.folds or (3 if a.tiny else 5)
  methods = [m for m in a.methods.split("+") if m]
  unknown = sorted(set(methods) - set(METHODS))
  if unknown:
    raise ValueError(f"methods: unknown {unknown}; known {sorted(METHODS)}")
  minutes = _floats(a.minutes or ("0+0.1+0.2" if a.tiny else "0+0.5+1+2+5"))
  adapt = {"adapt.tta": tuple(t for t in a.tta.split("+") if t),
           "adapt.calibration_minutes": minutes,
           "adapt.calibration_modes": tuple(a.modes.split("+"))}
  jobs = []
  for model in a.models.split("+"):
    config = _config(model, a, weights)
    base, name = {"class_weights": a.class_weights}, model
    if model in BATCH_NORM:
      key, name = BATCH_NORM[model]
      base[key] = True
    for fold in range(folds):
      jobs.append(launch.protocol_job(
          config, name, "l20wo", fold, overrides={**base, **adapt,
                                                  "name": name},
          run_globs=RUN_GLOBS))
      for method in methods:
        jobs.append(launch.protocol_job(
            config, f"{name}+{method}", "l20wo", fold,
            overrides={**base, **METHODS[method],
                       "name": f"{name}+{method}"}))
      jobs.append(launch.protocol_job(config, name, "within", fold,
                                      overrides={**base, "name": name}))
  return launch.with_seeds(jobs, a.seeds)
