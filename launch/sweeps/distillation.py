r"""Cross-modal distillation under person shift (RQ3, Experiment C): for
each IMU student, COMODO and IMU2CLIP distillation, each followed by the
student's evaluation per fold on leave-20%-workers-out and within-person,
against the supervised student and the frozen pretrained student.

  python -m launch.run --sweep=launch/sweeps/distillation.py --root=runs/rq3 \
      --report_dir=runs/rq3/report
  python -m launch.run --sweep=launch/sweeps/distillation.py --tiny ...

One ``distill_evaluate`` job (``experiments/distill_evaluate.py``) per
student and objective: ``configs/comodo.py`` (with the supervised and
frozen baselines) and ``configs/imu2clip.py:student=<student>`` (the same
student with IMU2CLIP's objective and CLIP image targets). The report's
``distillation`` table (``report/distillation.py``) answers RQ3 per
student: within- and cross-person macro-F1, the gap, and each method's
cross-person difference to the supervised student with paired tests.

Arg: ``students=moment+mantis`` (``imu2clip``: IMU2CLIP's own encoder as a
student too), ``objectives=comodo+imu2clip``, ``pretrain_on=both``
(``train``: distil on each fold's training workers only, the primary row,
its runs named ``<student>/<method>-pretrain_train/<way>``; ``all``: on
every worker unlabeled, the test people included, as the papers do;
``both``: the two, one job each, and the report's transductive table shows
all − train; the baselines run once, with the first),
``ways=svm`` (``+linear+finetune``), ``folds`` (0: all 5; tiny: 1),
``moment_weights`` / ``mantis_weights`` (the students' checkpoints; without
them students start random and "frozen" probes a random encoder),
``timesformer_weights`` / ``clip_weights`` (teacher checkpoints; without
them the teachers are random: a demo only), ``seeds`` (each job repeated
with seeds 0..seeds-1: ``launch/seeds.py``), ``tiny``.
"""

from egoimu_jax.input_pipeline import protocols
import launch
from egoimu_jax import jobs as egoimu_jobs
from egoimu_jax import pretrain_population

PROTOCOLS = protocols.gap_pair()   # ("l20wo", "within")
CONFIGS = {"comodo": "configs/comodo.py", "imu2clip": "configs/imu2clip.py"}
TEACHER_WEIGHTS = {"comodo": ("timesformer_weights", "timesformer"),
                   "imu2clip": ("clip_weights", "clip")}
DONE_FILE = egoimu_jobs.done_file("distill_evaluate")
RUN_GLOBS = ("*/fold*/*",)


def sweep(arg=None):
  a = launch.parse_arg(
      arg, tiny=False, students="moment+mantis", objectives="comodo+imu2clip",
      pretrain_on="both", ways="svm", folds=0, moment_weights="",
      mantis_weights="", timesformer_weights="", clip_weights="", seeds=1)
  populations = pretrain_population.populations(a.pretrain_on)
  folds = tuple(range(a.folds or (1 if a.tiny else 5)))
  jobs = []
  for student in a.students.split("+"):
    for population in populations:
      for objective in a.objectives.split("+"):
        jobs.append(_job(a, student, objective, population, folds,
                         # The baselines: once per student, with its first
                         # COMODO job.
                         baselines=(objective == "comodo" and
                                    population == populations[0])))
  return launch.with_seeds(jobs, a.seeds)


def _job(a, student, objective, population, folds, baselines):
  if objective not in CONFIGS:
    raise ValueError(f"objectives: unknown {objective!r} "
                     f"({'+'.join(CONFIGS)})")
  args = [f"student={student}", f"pretrain_on={population}"]
  weights = a.get(f"{student}_weights", "")
  if weights:
    args.append(f"weights={weights}")
  if a.tiny:
    args.append("tiny")
  overrides = {
      "job": "distill_evaluate",
      "experiment.protocols": PROTOCOLS,
      "experiment.folds": folds,
      "experiment.ways": tuple(a.ways.split("+")),
      "experiment.baselines": baselines,
  }
  field, fmt = TEACHER_WEIGHTS[objective]
  if a.get(field, ""):
    overrides.update({"teacher.weights": a.get(field),
                      "teacher.weights_format": fmt})
  return launch.Job(
      config=f"{CONFIGS[objective]}:{','.join(args)}",
      workdir=f"{student}/{objective}-{population}",
      tags={"model": student, "method": objective, "pretrain_on": population},
      overrides=overrides, done_file=DONE_FILE, run_globs=RUN_GLOBS)
