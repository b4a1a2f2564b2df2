r"""Linear probe on a frozen video teacher's window embeddings (Experiment B,
the cheap video baseline at scale), trained by the one trainer.

  python -m egoimu_jax.main --config=configs/video_probe.py:teacher=timesformer \
      --config.protocol.name=l20wo --config.protocol.fold=0 --workdir=DIR
  ...video_probe.py:teacher=videomae | teacher=slowfast
  ...video_probe.py:tiny                     # CPU smoke run (tiny teacher)
  --config.teacher.weights=/ckpt/timesformer-base-finetuned-k400 \
  --config.teacher.weights_format=timesformer   # the real teacher's weights

The teacher set (``config.teacher``: model, frames, statistics, pooling; see
``configs/teacher_embeddings.py``) is extracted on first use into the
processed dataset and shared by every fold and protocol. The model is
``embedding_probe``: L2-normalised, standardised embedding -> linear head,
trained with balanced class weights. COMODO's
RBF-SVM probe on the same embeddings is
``configs/classical.py:estimator=svm_comodo,teacher=<model>``.
"""

from egoimu_jax import config_lib
from egoimu_jax.teachers import config as teacher_config


def get_config(arg=None):
  config = config_lib.base(arg, variant="", teacher="timesformer",
                           teacher_variant="", epochs=30.0)
  config.update(config_lib.trainer_config())
  tiny = config.arg.variant == "tiny"
  variant = config.arg.teacher_variant or ("tiny" if tiny else "")
  config.teacher = teacher_config.preset(config.arg.teacher, variant)
  config.name = f"{config.teacher.name}_linear_probe"
  config.model.name = "embedding_probe"
  config.model.normalize = True
  config.input.teacher = config.teacher.name
  config.input.batch_size = 256
  config.input.eval_batch_size = 512
  config.optim.lr = 1e-3
  config.optim.weight_decay = 1e-4
  config.total_epochs = config.arg.epochs
  config.warmup_epochs = 1.0
  config.eval_every_epochs = 1.0
  config.log_every_steps = 100
  config.data.synthetic.with_video = True
  if tiny:
    config_lib.tiny_run(config)
    # The tiny teacher dataset of configs/teacher_embeddings.py (shared).
    config.data.synthetic.with_video = True
    config.data.video.update(store_frames=True, size=32, frames_fraction=0.5)
    config.teacher.update(batch_size=8, chunk_windows=16, log_every_s=0.0)
  return config
