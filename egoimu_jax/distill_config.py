"""Config sections shared by the distillation configs (``configs/comodo.py``,
``configs/imu2clip.py``): student, teacher set, protocol, durations, the
``distill_evaluate`` experiment section and the tiny variant.

Only ml_collections and config modules here, so configs stay cheap to list.
"""

from __future__ import annotations

import ml_collections

from egoimu_jax import config_lib
from egoimu_jax import durations
from egoimu_jax.teachers import config as teacher_config

STUDENTS = ("moment", "mantis", "imu2clip")


def student_model(student: str, tiny: bool) -> dict:
  """``config.model`` of a student (its classifier; the head is unused)."""
  if student == "moment":
    return dict(name="moment", variant="tiny" if tiny else "small",
                input_length="native", head_reduction="concat")
  if student == "mantis":
    return dict(name="mantis", variant="tiny" if tiny else "8M",
                head="batchnorm_linear", output_token="cls")
  if student == "imu2clip":
    return dict(name="imu2clip", variant="tiny" if tiny else "base")
  raise ValueError(f"student={student!r}; expected one of {STUDENTS}")


# The trained evaluations (linear probe, fine-tuning, the supervised
# baseline) of each student: its own classification recipe (configs/moment.py,
# configs/mantis.py; IMU2CLIP's downstream head: Adam 5e-4, 10 epochs).
EVAL_RECIPES = {
    "moment": dict(optim=dict(lr=1e-4, weight_decay=0.01,
                              schedule="warmup_cosine"),
                   input=dict(batch_size=64), total_epochs=10.0,
                   warmup_epochs=1.0, eval_every_epochs=1.0),
    "mantis": dict(optim=dict(lr=2e-4, weight_decay=0.05, decay_min_ndim=0,
                              schedule="warmup_cosine"),
                   input=dict(batch_size=128), total_epochs=50.0,
                   warmup_epochs=5.0, eval_every_epochs=1.0),
    "imu2clip": dict(optim=dict(lr=5e-4, weight_decay=0.0,
                                schedule="constant"),
                     input=dict(batch_size=128), total_epochs=10.0,
                     warmup_steps=0, eval_every_epochs=1.0),
}


def base(arg, objective: str, student: str,
         teacher: str) -> ml_collections.ConfigDict:
  """A distillation config of ``objective``, ``teacher`` to ``student`` by
  default (config args), before the objective's own settings."""
  config = config_lib.base(arg, student=student, weights="", teacher=teacher,
                           teacher_variant="", pretrain_on="all", epochs=20.0,
                           folds="all")
  config.update(config_lib.trainer_config())
  return distill_config(config, objective)


def distill_config(config, objective: str) -> ml_collections.ConfigDict:
  """The parts COMODO and IMU2CLIP share, in place: student, teacher set,
  protocol, durations and the ``distill_evaluate`` experiment section."""
  a = config.arg
  tiny = a.variant == "tiny"
  config.name = f"{objective}-{a.student}"
  config.model = ml_collections.ConfigDict(student_model(a.student, tiny))
  config.task.name = "distill"
  config.task.objective = objective
  if a.weights:
    config.task.pretrained = a.weights
    config.task.pretrained_format = a.student
  config.teacher = teacher_config.preset(a.teacher, a.teacher_variant or
                                         ("tiny" if tiny else ""))
  config.input.teacher = config.teacher.name
  config.data.synthetic.with_video = True
  config.protocol.name = "pretrain"
  config.protocol.pretrain_on = a.pretrain_on
  config.input.batch_size = 128
  config.input.eval_batch_size = 256
  config.total_epochs = a.epochs
  config.eval_every_epochs = 1.0
  config.log_every_steps = 50
  config.checkpoint.keep = 1
  config.finetune = ml_collections.ConfigDict(EVAL_RECIPES[a.student])
  config.experiment = config_lib.experiment(
      config, ("l20wo", "within"), ways=("svm",), baselines=True,
      student=a.student, method=objective)
  return config


def tiny(config):
  """The CPU smoke run: the shared tiny teacher data set (video, frames
  stored for half of the clips; configs/teacher_embeddings.py), short."""
  config_lib.tiny_run(config)
  config.data.synthetic.with_video = True
  config.data.video.update(store_frames=True, size=32, frames_fraction=0.5)
  config.teacher.update(batch_size=8, chunk_windows=16, decode_threads=2,
                        log_every_s=0.0)
  durations.clear(config)
  config.total_steps = 12
  config.warmup_steps = 1
  config.eval_every_steps = 6
  config.log_every_steps = 2
  config.experiment.update(folds=(0,), n_boot=100)
  durations.clear(config.finetune)
  config.finetune.input.batch_size = 8
  config.finetune.update(total_steps=8, warmup_steps=1, eval_every_steps=4,
                         log_every_steps=4)
