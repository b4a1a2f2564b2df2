r"""EVI-MAE (configs/evimae.py, the ``pretrain_finetune`` job): self-supervised
pretraining, then per fold fine-tuning of IMU, video and IMU+video
classifiers against the same classifiers from scratch.

  python -m launch.run --sweep=launch/sweeps/evimae.py --root=runs/evimae \
      --report_dir=runs/evimae/report
  python -m launch.run --sweep=launch/sweeps/evimae.py:pretrain_on=both --executor=slurm ...

Arg:
  variant=B               model size (configs/evimae.py: B, S; --tiny: tiny).
  pretrain_on=all         ``all``: one job pretrains on every worker unlabeled
                          and fine-tunes every fold (Experiment D in the
                          README; the pretraining is shared, so the folds stay in
                          one job). ``train``: one job per fold, pretraining
                          on that fold's training workers only (what seeing
                          the unlabeled test people is worth). ``both``.
  protocols=l20wo+within  fine-tuning protocols (both give the gap).
  folds=0                 with pretrain_on=train: jobs for folds 0..folds-1
                          (0: all of protocol.num_folds).
  tiny                    the CPU demo config (one fold).

An experiment job is done when its own report table exists; its runs (for
the sweep's report) are ``<protocol>/fold<k>/<input>-<init>`` and their
test-time variants.
"""

import launch
from egoimu_jax import jobs as egoimu_jobs

CONFIG = "configs/evimae.py"
DONE_FILE = egoimu_jobs.done_file("pretrain_finetune")
RUN_GLOBS = ("*/fold*/*", "*/fold*/*/variants/*")


def sweep(arg=None):
  a = launch.parse_arg(arg, tiny=False, variant="B", pretrain_on="all",
                       protocols="l20wo+within", folds=0)
  if a.pretrain_on not in ("all", "train", "both"):
    raise ValueError(f"pretrain_on must be all, train or both, got {a.pretrain_on!r}")
  variant = "tiny" if a.tiny else a.variant
  protocols = tuple(a.protocols.split("+"))
  common = dict(config=f"{CONFIG}:{variant}", done_file=DONE_FILE, run_globs=RUN_GLOBS)
  jobs = []
  if a.pretrain_on in ("all", "both"):
    name = f"evimae-{variant}"
    jobs.append(launch.Job(
        workdir=f"{name}/pretrain_all", tags={"model": name, "pretrain_on": "all"},
        overrides={"name": name, "protocol.pretrain_on": "all",
                   "experiment.protocols": protocols}, **common))
  if a.pretrain_on in ("train", "both"):
    name = f"evimae-{variant}-pretrain_train"
    # The tiny config runs fold 0 only.
    folds = (0,) if a.tiny else range(a.folds or 5)
    for fold in folds:
      jobs.append(launch.Job(
          workdir=f"{name}/fold{fold}",
          tags={"model": name, "pretrain_on": "train", "fold": fold},
          overrides={"name": name, "protocol.pretrain_on": "train",
                     "experiment.protocols": protocols, "experiment.folds": (fold,)},
          **common))
  return jobs
