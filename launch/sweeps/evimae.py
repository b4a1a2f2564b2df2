r"""EVI-MAE (configs/evimae.py, the ``pretrain_finetune`` job): self-supervised
pretraining, then per fold fine-tuning of IMU, video and IMU+video
classifiers against the same classifiers from scratch.

  python -m launch.run --sweep=launch/sweeps/evimae.py --root=runs/evimae \
      --report_dir=runs/evimae/report
  python -m launch.run --sweep=launch/sweeps/evimae.py:pretrain_on=train --executor=slurm ...

Arg:
  variant=B               model size (configs/evimae.py: B, S; --tiny: tiny).
  pretrain_on=both        ``train`` (the primary row): one job per fold,
                          pretraining on that fold's training workers only,
                          runs named ``evimae-<variant>-pretrain_train ...``.
                          ``all``: one job pretrains on every worker unlabeled
                          (the test people included, as the paper does) and
                          fine-tunes every fold (the pretraining is shared,
                          so the folds stay in one job). ``both``: the two,
                          and the report's transductive table shows
                          all − train (what seeing the unlabeled test people
                          is worth).
  protocols=l20wo+within  fine-tuning protocols (both give the gap).
  folds=0                 with pretrain_on=train: jobs for folds 0..folds-1
                          (0: all of protocol.num_folds).
  seeds=1                 each job repeated with seeds 0..seeds-1
                          (launch/seeds.py).
  tiny                    the CPU demo config (one fold).

An experiment job is done when its own report table exists; its runs (for
the sweep's report) are ``<protocol>/fold<k>/<input>-<init>`` and their
test-time variants.
"""

import launch
from egoimu_jax import jobs as egoimu_jobs
from egoimu_jax import pretrain_population

CONFIG = "configs/evimae.py"
DONE_FILE = egoimu_jobs.done_file("pretrain_finetune")
RUN_GLOBS = ("*/fold*/*", "*/fold*/*/variants/*")


def sweep(arg=None):
  a = launch.parse_arg(arg, tiny=False, variant="B", pretrain_on="both",
                       protocols="l20wo+within", folds=0, seeds=1)
  variant = "tiny" if a.tiny else a.variant
  protocols = tuple(a.protocols.split("+"))
  common = dict(config=f"{CONFIG}:{variant}", done_file=DONE_FILE, run_globs=RUN_GLOBS)
  jobs = []
  for population in pretrain_population.populations(a.pretrain_on):
    name = pretrain_population.mark(f"evimae-{variant}", population)
    overrides = {"name": name, "protocol.pretrain_on": population,
                 "experiment.protocols": protocols}
    tags = {"model": name, "pretrain_on": population}
    if population == "all":
      jobs.append(launch.Job(workdir=f"{name}/pretrain_all", tags=tags,
                             overrides=overrides, **common))
      continue
    # The tiny config runs fold 0 only.
    for fold in (0,) if a.tiny else range(a.folds or 5):
      jobs.append(launch.Job(
          workdir=f"{name}/fold{fold}", tags={**tags, "fold": fold},
          overrides={**overrides, "experiment.folds": (fold,)}, **common))
  return launch.with_seeds(jobs, a.seeds)
