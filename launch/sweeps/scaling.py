r"""Worker scaling and data scaling: nested training subsets, each tested on
the held-out workers of its l20wo fold (see input_pipeline/protocols/).

  python -m launch.run --sweep=launch/sweeps/scaling.py --root=runs/scaling \
      --report_dir=runs/scaling/report
  # then scaling/scaling_fits.ipynb (or egoimu_jax.scaling.power_law) over runs/scaling

Arg:
  models=deepconvlstm      ``+``-separated model names (launch/config_paths.py).
  kind=both                ``workers``, ``data`` or ``both``.
  units=fractions          ``fractions`` of each fold's training pool (any
                           dataset size), or ``counts`` as in Experiment F (README):
                           {100, 200, 400, 600, 800} workers and {13K, 50K,
                           100K, 250K, 500K} clips. Counts need a pool of 800
                           workers: they default to num_folds=10 (80/10/10).
  num_folds=0              protocol.num_folds (0: the config's, or 10 with counts).
  folds=0                  run folds 0..folds-1 (0: all num_folds; 3 for tiny).
  cpu=False                the layouts that train at CPU scale
                           (launch/config_paths.CPU_VARIANTS).
  epochs=0                 the models' ``epochs`` config arg (0: their own).
  class_weights=balanced   the one policy of every job, classical ones
                           included (``balanced`` or ``none``).
  weights.<model>=DIR      released weights of a foundation model in
                           ``models`` (launch/weights.py; needed without
                           ``tiny`` or ``cpu`` unless allow_random_init=True).
  tiny                     the small synthetic dataset.
  seeds=1                  each job repeated with seeds 0..seeds-1
                           (launch/seeds.py).
"""

from egoimu_jax.input_pipeline import protocols
import launch
from launch import config_paths
from launch import weights as weights_lib
from launch.config_paths import config_for

# Experiment F's scales (README), and the same ratios as fractions of the largest.
WORKER_COUNTS = (100, 200, 400, 600, 800)
CLIP_COUNTS = (13_000, 50_000, 100_000, 250_000, 500_000)
WORKER_FRACTIONS = tuple(n / WORKER_COUNTS[-1] for n in WORKER_COUNTS)  # 1/8 .. 1
CLIP_FRACTIONS = tuple(n / CLIP_COUNTS[-1] for n in CLIP_COUNTS)        # 0.026 .. 1
TINY_FRACTIONS = (0.5, 1.0)   # the tiny pool has 2 workers


def sweep(arg=None):
  arg, pretrained = weights_lib.split(arg)
  a = launch.parse_arg(arg, tiny=False, models="deepconvlstm", kind="both",
                       units="fractions", num_folds=0, folds=0,
                       cpu=False, epochs=0.0, class_weights="balanced", seeds=1)
  if a.kind not in ("workers", "data", "both"):
    raise ValueError(f"kind must be workers, data or both, got {a.kind!r}")
  if a.units not in ("fractions", "counts"):
    raise ValueError(f"units must be fractions or counts, got {a.units!r}")
  counts = a.units == "counts"
  num_folds = a.num_folds or (10 if counts else 0)
  folds = a.folds or num_folds or (3 if a.tiny else 5)
  overrides = {"protocol.num_folds": num_folds} if num_folds else {}
  scales = {   # by the protocol's scale_unit
      "workers": (WORKER_COUNTS if counts else
                  TINY_FRACTIONS if a.tiny else WORKER_FRACTIONS),
      "clips": (CLIP_COUNTS if counts else
                TINY_FRACTIONS if a.tiny else CLIP_FRACTIONS),
  }
  units = {"workers": ("workers",), "data": ("clips",),
           "both": ("workers", "clips")}[a.kind]
  chosen = [p for p in protocols.all_protocols() if p.scale_unit in units]
  models = a.models.split("+")
  pretrained.check([m for m in models if m in weights_lib.MODELS],
                   papers_scale=not (a.tiny or a.cpu))
  jobs = []
  for model in models:
    config = config_paths.with_args(
        config_for(model, a.tiny, cpu=a.cpu),
        **weights_lib.config_args(model, pretrained))
    if config_paths.accepts(model, "epochs"):
      config = config_paths.with_args(config, epochs=a.epochs)
    weights = {"class_weights": a.class_weights}
    for protocol in chosen:
      for p in launch.product(scale=scales[protocol.scale_unit],
                              fold=range(folds)):
        jobs.append(launch.protocol_job(
            config, model, protocol.name, p["fold"], scale=p["scale"],
            overrides={**overrides, **weights}))
  return launch.with_seeds(jobs, a.seeds)
