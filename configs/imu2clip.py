r"""IMU2CLIP (Moon et al. 2023): an IMU encoder aligned with frozen CLIP
image embeddings of the window's middle frame by symmetric InfoNCE (RQ3).

  python -m egoimu_jax.main --config=configs/imu2clip.py --workdir=DIR
  ...imu2clip.py:student=moment            # the CLIP objective on MOMENT
  ...imu2clip.py:pretrain_on=train         # one fold's training workers
  ...imu2clip.py:tiny                      # CPU smoke run
  --config.teacher.weights=/ckpt/clip-vit-base-patch32 \
  --config.teacher.weights_format=clip     # the real CLIP (else random)
  --config.job=distill_evaluate            # + probes, baselines per fold

One ``distill`` run (``objective="clip"``) on protocol ``pretrain``, on every
worker unlabeled or one fold's training workers (``pretrain_on``). Student:
IMU2CLIP's encoder (``models/imu2clip.py``: GroupNorm, three dilated convs
with max-pooling, a GRU whose last hidden state is the 512-d embedding);
``student=moment|mantis`` trains a foundation-model student with the same
objective (a linear projection to CLIP's 512). Teacher: CLIP ViT-B/32's
image embedding (``teacher=clip_vision``), extracted
once by the teacher job from 3 uniformly sampled frames of which the middle
one is embedded. There are no narrations in our data, so there is no text
target.

Recipe: Adam (no weight decay) lr 2e-4, constant, learnable temperature
initialised at 0.1 (the reference's). Batch 128 and 20 epochs are not the
reference's (it trains on Ego4D narration windows); they match COMODO's so
the two objectives see the same data for the same number of steps.
"""

from egoimu_jax import distill_config


def get_config(arg=None):
  config = distill_config.base(arg, "clip", student="imu2clip",
                               teacher="clip_vision")
  config.task.update(temperature=0.1, learn_temperature=True)
  config.optim.update(lr=2e-4, weight_decay=0.0, schedule="constant",
                      clip_norm=0.0)
  config.warmup_steps = 0
  if config.arg.variant == "tiny":
    distill_config.tiny(config)
    config.warmup_steps = 0
  return config
