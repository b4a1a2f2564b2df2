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
``weights.moment`` / ``weights.mantis`` (the students' checkpoints; without
them students start random and "frozen" probes a random encoder),
``weights.timesformer`` / ``weights.clip`` (teacher checkpoints; without
them the teachers are random: a demo only); without ``tiny`` every student
and teacher with released weights needs them unless
``allow_random_init=True`` (``launch/weights.py``), ``seeds`` (each job repeated
with seeds 0..seeds-1: ``launch/seeds.py``), ``tiny``.
"""

from egoimu_jax.input_pipeline import protocols
import launch
from egoimu_jax import jobs as egoimu_jobs
from egoimu_jax import pretrain_population
from launch import weights as weights_lib

PROTOCOLS = protocols.gap_pair()   # ("l20wo", "within")
CONFIGS = {"comodo": "configs/comodo.py", "imu2clip": "configs/imu2clip.py"}
# Objective -> its teacher's weights key (launch/weights.py).
TEACHERS = {"comodo": "timesformer", "imu2clip": "clip"}
DONE_FILE = egoimu_jobs.done_file("distill_evaluate")
RUN_GLOBS = ("*/fold*/*",)


def sweep(arg=None):
  arg, weights = weights_lib.split(arg)
  a = launch.parse_arg(
      arg, tiny=False, students="moment+mantis", objectives="comodo+imu2clip",
      pretrain_on="both", ways="svm", folds=0, seeds=1)
  students, objectives = a.students.split("+"), a.objectives.split("+")
  weights.check([m for m in students + [TEACHERS.get(o, "") for o in
                                        objectives] if m in weights_lib.MODELS],
                papers_scale=not a.tiny)
  populations = pretrain_population.populations(a.pretrain_on)
  folds = tuple(range(a.folds or (1 if a.tiny else 5)))
  jobs = []
  for student in students:
    for population in populations:
      for objective in objectives:
        jobs.append(_job(a, weights, student, objective, population, folds,
                         # The baselines: once per student, with its first
                         # COMODO job.
                         baselines=(objective == "comodo" and
                                    population == populations[0])))
  return launch.with_seeds(jobs, a.seeds)


def _job(a, weights, student, objective, population, folds, baselines):
  if objective not in CONFIGS:
    raise ValueError(f"objectives: unknown {objective!r} "
                     f"({'+'.join(CONFIGS)})")
  args = [f"student={student}", f"pretrain_on={population}"]
  if weights.get(student):
    args.append(f"weights={weights.get(student)}")
  if a.tiny:
    args.append("tiny")
  overrides = {
      "job": "distill_evaluate",
      "experiment.protocols": PROTOCOLS,
      "experiment.folds": folds,
      "experiment.ways": tuple(a.ways.split("+")),
      "experiment.baselines": baselines,
  }
  overrides.update(weights_lib.teacher_overrides(TEACHERS[objective],
                                                weights))
  return launch.Job(
      config=f"{CONFIGS[objective]}:{','.join(args)}",
      workdir=f"{student}/{objective}-{population}",
      tags={"model": student, "method": objective, "pretrain_on": population},
      overrides=overrides, done_file=DONE_FILE, run_globs=RUN_GLOBS)
