r"""IMU models (Experiment A) on 5-fold leave-20%-workers-out and
within-person, each evaluated the three ways the field does:

* ``finetune``: the whole model trained (from converted weights when given);
* ``linear``: the encoder frozen (``optim.freeze``), only the head trained;
* ``svm``: the frozen encoder's features + COMODO's RBF-SVM (the
  ``feature_probe`` job).

  python -m launch.run --sweep=launch/sweeps/har_models.py --root=runs/har \
      --report_dir=runs/har/report

CrossHAR's recipe is itself a frozen-encoder probe (self-supervised
pretraining, then a small transformer classifier on the frozen encoder, and
the same classifier from scratch): it runs as one ``pretrain_finetune`` job
per pretraining population, ``pretrain_on=both`` by default: each fold's
training workers (``crosshar-<variant>-pretrain_train``, the primary row)
and every worker unlabeled, the test people included, as the paper does
(``crosshar-<variant>``); the report's transductive table shows all − train.

Arg: ``models=deepconvlstm+attend_discriminate+moment+mantis+crosshar``,
``ways=finetune+linear+svm``, ``weights.moment`` / ``weights.mantis``
(checkpoints to warm-start from, ``launch/weights.py``; without them the
frozen ways probe a random encoder, refused without ``tiny`` or ``cpu``
unless ``allow_random_init=True``), ``folds`` (default all: 5, or 3 for
tiny), ``tiny``, ``cpu`` (the
layouts that train in minutes on a 2-core CPU: DeepConvLSTM ``iswc22``,
Attend-and-Discriminate, MOMENT and Mantis ``cpu``), ``epochs`` (0: each
config's own; also CrossHAR's classifier), ``pretrain_epochs`` (CrossHAR's
self-supervised stage; 0: its config's), ``class_weights`` (the one policy of
every job and way, probes included: ``balanced``, default, or ``none``),
``pretrain_on``
(CrossHAR's: ``train``, ``all`` or ``both``), ``protocols`` (``+``-separated,
default ``l20wo+within``; every job's, CrossHAR's stages included; ``fixed``
with ``folds=1`` and ``protocol.preset`` set), ``seeds`` (each job repeated
with seeds 0..seeds-1: ``launch/seeds.py``).

Experiment A at CPU scale (README) is
``har_models.py:cpu=True,folds=3,epochs=8,pretrain_epochs=20,class_weights=balanced``.
"""

from egoimu_jax.input_pipeline import protocols
import launch
from egoimu_jax import jobs as egoimu_jobs
from egoimu_jax import pretrain_population
from launch import config_paths
from launch import weights as weights_lib
from launch.config_paths import config_for

PROTOCOLS = protocols.gap_pair()   # ("l20wo", "within")
# Every parameter but the head's (and its norm) is frozen.
FREEZE_ENCODER = "(?!head).*"
CROSSHAR_DONE = egoimu_jobs.done_file("pretrain_finetune")


def _config(model, a, weights):
  return config_paths.with_args(config_for(model, a.tiny, cpu=a.cpu),
                                **weights_lib.config_args(model, weights),
                                epochs=a.epochs)


def _ways(model, a):
  """(name suffix, overrides) of each evaluation way."""
  supervised = {"class_weights": a.class_weights}
  out = []
  for way in a.ways.split("+"):
    if way == "finetune":
      out.append(("", dict(supervised)))
    elif way == "linear":
      out.append(("_linear_probe", {"optim.freeze": FREEZE_ENCODER,
                                    **supervised}))
    elif way == "svm":
      out.append(("_svm_probe", {"job": "feature_probe", **supervised,
                                 "probe.estimator": "svm_comodo"}))
    else:
      raise ValueError(f"ways: unknown {way!r} (finetune, linear, svm)")
  return out


def sweep(arg=None):
  arg, weights = weights_lib.split(arg)
  a = launch.parse_arg(
      arg, tiny=False, models="deepconvlstm+attend_discriminate+moment+mantis"
      "+crosshar", ways="finetune+linear+svm", folds=0, cpu=False,
      epochs=0.0, pretrain_epochs=0.0,
      class_weights="balanced", pretrain_on="both", seeds=1,
      protocols="+".join(PROTOCOLS))
  protocol_names = tuple(a.protocols.split("+"))
  unknown = [p for p in protocol_names if p not in protocols.names()]
  if unknown:
    raise ValueError(f"protocols: unknown {unknown} (known: "
                     f"{'+'.join(protocols.names())})")
  folds = a.folds or (3 if a.tiny else 5)
  models = a.models.split("+")
  weights.check([m for m in models if m in weights_lib.MODELS],
                papers_scale=not (a.tiny or a.cpu))
  jobs = []
  for p in launch.product(model=[m for m in models if m != "crosshar"],
                          protocol=protocol_names, fold=range(folds)):
    for suffix, overrides in _ways(p["model"], a):
      name = p["model"] + suffix
      jobs.append(launch.protocol_job(
          _config(p["model"], a, weights), name, p["protocol"], p["fold"],
          overrides={**overrides, **({"name": name} if suffix else {})}))
  if "crosshar" in models:
    variant = "tiny" if a.tiny else "base"
    folds_arg = "+".join(str(f) for f in range(folds))
    config = config_paths.with_args(
        f"configs/crosshar.py:{variant}", folds=folds_arg,
        finetune_epochs=a.epochs, pretrain_epochs=a.pretrain_epochs)
    for population in pretrain_population.populations(a.pretrain_on):
      name = pretrain_population.mark(f"crosshar-{variant}", population)
      overrides = {"experiment.protocols": protocol_names,
                   "class_weights": a.class_weights}
      if population == "train":   # the config's own: all, and its name
        overrides.update({"name": name, "protocol.pretrain_on": population})
      jobs.append(launch.Job(
          config=config, workdir=f"crosshar-{variant}/pretrain_{population}",
          tags={"model": name, "pretrain_on": population},
          overrides=overrides, done_file=CROSSHAR_DONE,
          run_globs=("*/fold*/*",)))
  return launch.with_seeds(jobs, a.seeds)
