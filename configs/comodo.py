r"""COMODO (Chen et al. 2025): a frozen video teacher distilled into an IMU
foundation-model student with a queue of teacher embeddings (RQ3, README).

  python -m egoimu_jax.main --config=configs/comodo.py --workdir=DIR
  ...comodo.py:student=mantis              # Mantis-8M instead of MOMENT
  ...comodo.py:weights=/ckpt/MOMENT-1-small  # the pretrained student
  ...comodo.py:pretrain_on=train           # one fold's training workers
  ...comodo.py:tiny                        # CPU smoke run
  --config.job=distill_evaluate            # + probes, baselines per fold

One ``distill`` run (``training/tasks/distill.py``) on protocol ``pretrain``:
every worker unlabeled (``pretrain_on=all``) or fold ``protocol.fold``'s
training workers (``pretrain_on=train``), so what seeing the test people's
unlabeled data is worth can be measured. Teacher: TimeSformer-B window
embeddings (8 frames, mean over all tokens; ``configs/teacher_embeddings.py``,
extracted on first use, ``teacher=videomae|slowfast`` for the others).

Student: MOMENT-small (``concat`` features, 1000-sample windows as COMODO
feeds them) or Mantis-8M (each channel resized to 512, CLS per channel,
concatenated), fully trainable; ``weights`` imports the released checkpoint
(``models.IMPORTERS``), without it the student starts random. Projectors
MLP(-> 2048, BN, GELU -> 128); teacher projector random and frozen.

Recipe (the reference's): AdamW lr 3e-4 (torch's default weight decay
0.01, on kernels), linear warmup over 10% then linear decay, 20 epochs,
batch 128, queue 16384, temperatures 0.1 (teacher) / 0.05 (student).

With ``--config.job=distill_evaluate`` (``experiments/distill_evaluate.py``)
the run is followed, per ``experiment.protocols`` x ``experiment.folds``,
by the paper's evaluation of the distilled student (projector removed:
RBF-SVM on L2-normalised, standardised features; ``experiment.ways`` adds
a linear probe and full fine-tuning) and, with ``experiment.baselines``,
the frozen student without distillation and the supervised student.
"""

from egoimu_jax import distill_config


def get_config(arg=None):
  config = distill_config.base(arg, "comodo", student="moment",
                               teacher="timesformer")
  config.task.update(queue_size=16384, queue_seed=16349,
                     teacher_temperature=0.1, student_temperature=0.05,
                     projector_hidden=2048, projector_dim=128,
                     train_teacher_projector=False, teacher_batchnorm="eval")
  config.optim.update(lr=3e-4, weight_decay=0.01, schedule="warmup_linear",
                      clip_norm=0.0)
  config.warmup_percent = 10.0
  if config.arg.variant == "tiny":
    distill_config.tiny(config)
    config.task.update(queue_size=32, projector_hidden=32, projector_dim=16)
  return config
