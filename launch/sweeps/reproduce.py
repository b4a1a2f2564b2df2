r"""Every experiment of the README (A-F) that exists at one scale, in one sweep
with one report folder.

  python -m launch.run --sweep=launch/sweeps/reproduce.py:scale=cpu \
      --executor=local_parallel --parallel=2 \
      --root=runs/reproduce_cpu --report_dir=runs/reproduce_cpu/report

Each experiment's jobs come from its own sweep file (below) and run under
``<root>/<experiment>/``; the report folder gets one report per experiment
(``report/<experiment>/report.md``: its tables and figures) and an index
(``report/README.md``) with, for every run, the command that made it and the
hash of its resolved config. Experiment E (hard cases) is a section of A's
report: it reads A's cross-person runs and their IMU windows.

Scales (``scale=``):

* ``tiny``: every sweep's ``tiny`` variant on the shared tiny synthetic set
  (10 workers; video sets of their own), fold 0; D (the README's main job,
  pretrained on all workers) for one epoch per stage. Minutes; runs in
  CI.
* ``cpu``: sized for a 2-core machine (the README's "Results on the
  synthetic pilot" tables; 164 jobs: the 124 before the forest's lowo
  runs and the transductive control's train-pretraining jobs took 53 min
  with the command above on a quiet 2-core machine from a fresh clone):
  30 workers x 6 clips of IMU
  (A, E, F); the same people with video (B); the CPU layouts of the deep
  IMU models (``launch/config_paths.CPU_VARIANTS``) trained from scratch,
  3 folds (F: 2), the forest on all 5 and leave-one-worker-out over all 30
  people (E's difficulty); B, C and D with their ``tiny`` models (random video
  teachers), C on 3 folds, D on the demo's data.
* ``pilot``: the synthetic pilot (100 workers x 130 clips) or
  ``--set=data.raw_dir=...``, the papers' model sizes and recipes, all folds
  (accelerators).
* ``full``: ``pilot`` plus Experiment F at the proposal's absolute counts
  (100-800 workers, 13K-500K clips; needs a pool of 800 workers).

Self-supervised pretraining and distillation (CrossHAR in A, C, D) run on
each fold's training workers (the primary rows) and on all workers (the
papers' transductive setting) at every scale, and each report's
transductive table shows all − train; to keep the tiny scale quick, A's
CrossHAR runs there on the training workers only.

Data (``data=``): ``synthetic`` (default: the scales above) or ``hapt``:
Experiment A on real people, the UCI HAPT recordings that ``python -m
egoimu_jax.datasets hapt --out=DIR`` writes (``raw_dir=DIR``; 30 people, 6
activities), at their native 50 Hz (``data.imu.rate_hz=0``: the rate
``dataset.json`` declares), sized for a 2-core CPU (``scale=cpu``, the only
scale it takes)::

  python -m launch.run --sweep=launch/sweeps/reproduce.py:data=hapt,raw_dir=DIR \
      --executor=local_parallel --parallel=2 \
      --root=runs/reproduce_hapt --report_dir=runs/reproduce_hapt/report

``A``: the random forest, DeepConvLSTM, Attend-and-Discriminate and a
foundation model (``foundation=moment``, default: the better of the two
on the synthetic CPU tables, or ``mantis``; their CPU layouts from random
init, marked so in every table) on l20wo (5 folds) and
within-person with ``within_test=all`` (every window tested, the matched
gap over all of them), 5 s windows, the deep models trained on windows
with 50% overlap (``input.train_stride_seconds``); ``A-uci_har``: the forest
and the two deep models on UCI-HAR's official split (``fixed`` protocol,
preset ``uci_har``) with 2.56 s windows, the deep models' training windows
at 50% overlap (the forest's features are of the non-overlapping grid: the
classical job reads stored windows only); its report prints the published
anchors (``dataset.json`` ``about.anchors``) next to ours. ``seeds``
defaults to 3 here (every job, the forest included); ``epochs`` (default
``HAPT_EPOCHS``) is the deep models' budget.

Arg: ``scale=tiny|cpu|pilot|full``, ``experiments=A+B+C+D+F`` (``+``-separated
subset; E comes with A), ``seeds`` (every trained job repeated with seeds
0..seeds-1, passed to each part's sweep: ``launch/seeds.py``; default 1),
``weights.<model>=DIR`` for ``moment``, ``mantis``, ``timesformer``,
``videomae``, ``slowfast`` and ``clip`` (released checkpoints, passed to
every part that runs the model: ``launch/weights.py``,
docs/pretrained_weights.md). At ``pilot`` and ``full`` a model without its
weights is refused, all of them named in one line, unless
``allow_random_init=True``; at ``tiny`` and ``cpu`` random init is allowed.
Either way the report marks random-init rows.
"""

import dataclasses
import re
from typing import Dict, List, Mapping, Tuple

import launch
from launch import weights as weights_lib

SCALES = ("tiny", "cpu", "pilot", "full")
EXPERIMENTS = ("A", "B", "C", "D", "F")
# The README's CPU-scale data sets (data.synthetic overrides).
CPU_IMU = {"data.synthetic.num_workers": 30,
           "data.synthetic.clips_per_worker": 6,
           "data.synthetic.with_video": False}
CPU_VIDEO = {"data.synthetic.num_workers": 30,
             "data.synthetic.clips_per_worker": 6,
             "data.synthetic.clip_seconds": 27.0}
# The CPU recipe of the deep IMU models: short runs, balanced class weights.
CPU_HAR = ("cpu=True,folds=3,epochs=8,pretrain_epochs=20,"
           "class_weights=balanced,ways=finetune")
# Experiment D at scale=tiny: one epoch each instead of the demo's 12 + 16
# (its plumbing; the demo's own schedule is the README's first command).
TINY_D_EPOCHS = {"pretrain.total_epochs": 1.0, "pretrain.eval_every_epochs": 1.0,
                 "finetune.total_epochs": 1.0, "finetune.eval_every_epochs": 1.0}
CPU_VIDEO_STEPS = {"total_steps": 400, "eval_every_steps": 100,
                   "log_every_steps": 100, "warmup_steps": 20}
# The sweeps that take weights.<model>= (launch/weights.py).
WEIGHTED_SWEEPS = ("cross_person.py", "distillation.py", "har_models.py",
                   "scaling.py", "video_models.py")


# data=hapt: the deep models' epochs, sized to about two hours on 2 cores
# for all 129 jobs (3 seeds). CPU seconds measured on real HAPT (l20wo fold
# 0, 5 s windows at 50 Hz, 50% training overlap; 2026-12-08, a loaded 2-core
# machine, so an upper bound): per epoch DeepConvLSTM iswc22 26, Attend-and-
# Discriminate cpu 18, MOMENT cpu 43; about 12 per job besides; a forest job
# about 15. At 4 epochs: 3 x (11 x (12 + 4 x 26) + 11 x (12 + 4 x 18) +
# 10 x (12 + 4 x 43)) + 33 x 15 = 12,600 CPU s, ~105 min on 2 cores; each
# further epoch adds ~23 min. Then the training stride (half a window) and
# the UCI-HAR split's window (Anguita et al. 2013).
HAPT_EPOCHS = 4.0
HAPT_WINDOW_S = 5.0
UCI_HAR_WINDOW_S = 2.56
FOUNDATION_MODELS = ("moment", "mantis")
# Within-person runs test every person's group k (report.matched pairs all
# of l20wo's test windows).
WITHIN_ALL = (("/within/", {"protocol.within_test": "all"}),)


@dataclasses.dataclass(frozen=True)
class Part:
  """One sweep file of an experiment, its arg and the overrides its jobs get.

  ``only``: a regex on job names (``""``: all); ``job_overrides``: overrides
  for the matching jobs only, as ``((regex, {key: value}), ...)``.
  """
  sweep: str
  arg: str = ""
  overrides: Mapping[str, object] = dataclasses.field(default_factory=dict)
  only: str = ""
  job_overrides: Tuple[Tuple[str, Mapping[str, object]], ...] = ()


def plan(scale: str) -> Dict[str, List[Part]]:
  """Experiment -> the sweeps that make it at ``scale``."""
  if scale == "tiny":
    # Fold 0 only, every model family once; the three evaluation ways and
    # the within-person protocol on one.
    return {
        "A": [Part("classical.py", "tiny=True,folds=1"),
              Part("har_models.py", "tiny=True,folds=1,models=deepconvlstm"),
              # The other families on l20wo only: the within-person path
              # is the forest's and DeepConvLSTM's here.
              Part("har_models.py", "tiny=True,folds=1,ways=finetune,"
                   "models=attend_discriminate+moment+mantis+crosshar,"
                   "pretrain_on=train,protocols=l20wo")],
        # Both probes and fine-tuning: this is also the video sweep's
        # end-to-end test.
        "B": [Part("video_models.py", "tiny=True,models=videomae")],
        "C": [Part("distillation.py", "tiny=True,students=moment")],
        # The README's main job (pretraining on all workers) for one epoch
        # per stage. The transductive control's train row is
        # C's here and D's at the larger scales.
        "D": [Part("evimae.py", "tiny=True,protocols=l20wo,pretrain_on=all",
                   job_overrides=(("", TINY_D_EPOCHS),))],
        "F": [Part("scaling.py", "tiny=True,models=classical_rf+deepconvlstm,"
                   "folds=1")],
    }
  if scale == "cpu":
    return {
        # The forest on every fold, and left-one-out for each of the 30
        # people: E's difficulty covers everyone (the planted hard worker
        # included).
        "A": [Part("classical.py", "folds=5,lowo=30", CPU_IMU),
              Part("har_models.py", CPU_HAR, CPU_IMU)],
        # The video models at their tiny sizes (random weights: ViT-B
        # teachers over ~900 windows take hours on 2 cores).
        "B": [Part("video_models.py", "tiny=True,folds=3,finetune=videomae",
                   CPU_VIDEO, job_overrides=(("linear_probe|finetune",
                                              CPU_VIDEO_STEPS),))],
        # Distillation and EVI-MAE at their tiny (demo) sizes: their
        # students and encoders at CPU width still take hours.
        "C": [Part("distillation.py", "tiny=True,folds=3")],
        "D": [Part("evimae.py", "tiny=True")],
        "F": [Part("scaling.py", "cpu=True,epochs=8,folds=2,class_weights="
                   "balanced,models=classical_rf+deepconvlstm", CPU_IMU)],
    }
  if scale in ("pilot", "full"):
    counts = ",units=counts" if scale == "full" else ""
    return {
        "A": [Part("classical.py"), Part("har_models.py")],
        "B": [Part("video_models.py")],
        "C": [Part("distillation.py")],
        "D": [Part("evimae.py")],
        "F": [Part("scaling.py", "models=classical_rf+deepconvlstm" + counts)],
    }
  raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")


def plan_hapt(raw_dir: str, foundation: str = "moment",
              epochs: float = HAPT_EPOCHS) -> Dict[str, List[Part]]:
  """Experiment A on UCI HAPT at ``raw_dir`` (``A``: l20wo and within;
  ``A-uci_har``: the official split), sized for a 2-core CPU."""
  if not raw_dir:
    raise ValueError("data=hapt needs raw_dir=DIR (written by python -m "
                     "egoimu_jax.datasets hapt --out=DIR)")
  if foundation not in FOUNDATION_MODELS:
    raise ValueError(f"foundation must be one of {FOUNDATION_MODELS}, got "
                     f"{foundation!r}")
  native = {"data.raw_dir": raw_dir, "data.imu.rate_hz": 0.0}
  uci = {**native, "protocol.preset": "uci_har",
         "data.imu.window_seconds": UCI_HAR_WINDOW_S}
  deep = (f"cpu=True,epochs={epochs:g},class_weights=balanced,"
          "ways=finetune,models=deepconvlstm+attend_discriminate")
  return {
      "A": [Part("classical.py", "folds=5", native, job_overrides=WITHIN_ALL),
            Part("har_models.py", f"{deep}+{foundation},folds=5",
                 {**native, "input.train_stride_seconds": HAPT_WINDOW_S / 2},
                 job_overrides=WITHIN_ALL)],
      "A-uci_har": [
          Part("classical.py", "folds=1,protocols=fixed", uci),
          Part("har_models.py", f"{deep},folds=1,protocols=fixed",
               {**uci, "input.train_stride_seconds": UCI_HAR_WINDOW_S / 2})],
  }


def expand(experiment: str, part: Part, seeds: int = 1,
           weights: weights_lib.Weights = weights_lib.Weights()
           ) -> List[launch.Job]:
  """The part's jobs (``seeds`` replicates each; ``weights`` where its
  sweep takes them), moved under ``<experiment>/`` and tagged for the
  report."""
  extra = weights.arg() if part.sweep in WEIGHTED_SWEEPS else ""
  arg = ",".join(a for a in (part.arg, f"seeds={seeds}", extra) if a)
  path = f"launch/sweeps/{part.sweep}:{arg}"
  _, jobs = launch.load_sweep(path, overrides=dict(part.overrides),
                              only=part.only)
  out = []
  for job in jobs:
    overrides = dict(job.overrides)
    for pattern, extra in part.job_overrides:
      if re.search(pattern, job.name):
        overrides.update(extra)
    out.append(dataclasses.replace(
        job, workdir=f"{experiment}/{job.workdir}",
        name=f"{experiment}/{job.name}", overrides=overrides,
        tags={**job.tags, launch.REPORT_TAG: experiment}))
  return out


def _plan(a) -> Tuple[Dict[str, List[Part]], Tuple[str, ...]]:
  """The plan of the sweep's args and the experiments it may run."""
  if a.data == "synthetic":
    given = [k for k in ("raw_dir", "foundation", "epochs") if a[k]]
    if given:
      raise ValueError(f"{', '.join(given)}: for data=hapt only (synthetic "
                       "data at another raw_dir: --set=data.raw_dir=DIR)")
    return plan(a.scale or "tiny"), EXPERIMENTS
  if a.data != "hapt":
    raise ValueError(f"data must be synthetic or hapt, got {a.data!r}")
  if a.scale not in ("", "cpu"):
    raise ValueError(f"data=hapt runs at scale=cpu only, got {a.scale!r}")
  return plan_hapt(a.raw_dir, a.foundation or FOUNDATION_MODELS[0],
                   a.epochs or HAPT_EPOCHS), ("A",)


def sweep(arg=None):
  arg, weights = weights_lib.split(arg)
  a = launch.parse_arg(arg, scale="", experiments="", seeds=0,
                       data="synthetic", raw_dir="", foundation="",
                       epochs=0.0)
  parts_of, known = _plan(a)
  wanted = a.experiments.split("+") if a.experiments else list(known)
  unknown = sorted(set(wanted) - set(known) - {"E"})
  if unknown:
    raise ValueError(f"experiments: unknown {unknown}; known: "
                     f"{'+'.join(known)} (E comes with A)")
  seeds = a.seeds or (3 if a.data == "hapt" else 1)
  jobs, random_init = [], set()
  for experiment, parts in parts_of.items():
    group = experiment.split("-")[0]   # A-uci_har comes with A
    if group in wanted or (group == "A" and "E" in wanted):
      for part in parts:
        try:
          jobs.extend(expand(experiment, part, seeds, weights))
        except weights_lib.RandomInitError as e:   # name them all at once
          random_init.update(e.models)
  if random_init:
    raise weights_lib.RandomInitError(random_init)
  return jobs
