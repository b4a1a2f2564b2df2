"""Shared config sections. Files in ``configs/`` start from ``base(arg)``.

``arg`` is the string after ``:`` in ``--config=configs/x.py:arg``. It is a
comma-separated list of ``key=value`` pairs, where a bare word is shorthand
for ``variant=word`` (``configs/evimae.py:tiny`` == ``...:variant=tiny``).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping

import ml_collections
from ml_collections import config_dict

from egoimu_jax import durations
from egoimu_jax import errors
from egoimu_jax.input_pipeline import protocols
# The data section is the data layer's; re-exported as the config's sections are.
from egoimu_jax.input_pipeline.data_config import data_config  # pylint: disable=unused-import


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
  """Parses ``"tiny"`` / ``"variant=S,runlocal=True"`` into a ConfigDict."""
  out: Dict[str, object] = dict(defaults)
  for part in filter(None, (arg or "").split(",")):
    key, sep, value = part.partition("=")
    if not sep:  # a bare word: the variant, or a switch (``tiny``) turned on
      switch = isinstance(defaults.get(part.strip()), bool)
      key, value = (part, "true") if switch else ("variant", part)
    key = key.strip()
    if key not in defaults:  # a typo would otherwise be dropped silently
      known = sorted(defaults)
      raise errors.ArgError(
          f"unknown argument {key!r} in {arg!r} (known: {', '.join(known)})"
          f"{errors.did_you_mean(key, known)}")
    default = out.get(key)
    if isinstance(default, bool):
      word = value.strip().lower()
      if word not in ("1", "true", "yes", "0", "false", "no"):
        raise errors.ArgError(f"argument {key}={value!r} in {arg!r} is not "
                              "a boolean (true/false)")
      out[key] = word in ("1", "true", "yes")
    elif isinstance(default, int):
      out[key] = int(value)
    elif isinstance(default, float):
      out[key] = float(value)
    else:
      out[key] = value.strip()
  return ml_collections.ConfigDict(out)


def input_config() -> ml_collections.ConfigDict:
  """The grain pipeline that feeds the trainer."""
  c = ml_collections.ConfigDict()
  c.batch_size = 64            # global; each host reads batch_size // process_count
  c.eval_batch_size = 256
  c.shuffle_seed = 0
  c.worker_count = 0           # grain worker processes per host
  c.read_threads = 2           # grain threads per process (each reads whole batches)
  c.prefetch_batches = 4       # batches buffered per process
  c.norm_max_windows = 100_000  # IMU norm stats from <= this many train windows (0: all)
  c.spectrogram = False        # add 'spec' [b, time, freq, 6] to batches
  c.frames = False             # add 'frames' [b, T, H, W, 3] (needs stored frames)
  c.num_frames = 0             # > 0: T frames sampled uniformly from those stored
  # Per-channel statistics of the video model's pretraining (frames are
  # (x / 255 - mean) / std); ImageNet's by default, TimeSformer uses 0.45/0.225.
  c.frame_mean = (0.485, 0.456, 0.406)
  c.frame_std = (0.229, 0.224, 0.225)
  # Test-time degraded video (evaluation variants; models/video_degradation.py):
  # "" | "noise" | "low_light"; severity < 0 = the kind's default.
  c.video_degradation = ""
  c.degradation_severity = -1.0
  c.degradation_seed = 0
  c.teacher = ""               # name of a stored teacher-embedding set, "" for none
  # "population": z-normalise with the training workers' statistics;
  # "person": with each worker's own (unlabeled) windows' statistics
  # (input_pipeline/person_norm.py). gravity_align rotates each worker's acc and
  # gyro so their mean gravity direction is the training population's.
  c.normalization = "population"
  c.gravity_align = False
  # Training windows every this many seconds (0: the stored non-overlapping
  # grid; validation and test always read the grid): input_pipeline/train_windows.py.
  c.train_stride_seconds = 0.0
  # Training-batch IMU augmentation (input_pipeline/augment.py); every
  # probability 0 = off. Jitter in m/s² and rad/s.
  c.augment = ml_collections.ConfigDict(dict(
      seed=0, rotation_prob=0.0, rotation_max_degrees=180.0,
      scale_prob=0.0, scale_sigma=0.1,
      jitter_prob=0.0, jitter_acc=0.05, jitter_gyro=0.005,
      time_warp_prob=0.0, time_warp_sigma=0.2, time_warp_knots=4))
  return c


def protocol_config() -> ml_collections.ConfigDict:
  """Which split a run trains and evaluates on.

  The shared fields, then every registered protocol's own ``options``
  (``input_pipeline/protocols/``), e.g. ``lowo_count`` or ``pretrain_on``.
  """
  c = ml_collections.ConfigDict()
  c.name = protocols.DEFAULT   # one of protocols.names()
  c.fold = 0
  c.num_folds = 5
  c.seed = 0
  # Folds are stratified by each worker's fraction of this class; "auto":
  # derived from the data (population.auto_stratify_label), never from names.
  c.stratify_label = "auto"
  c.scale = -1.0               # worker count / clip count or fraction for scaling protocols
  for protocol in protocols.all_protocols():
    for key, default in protocol.options.items():
      c[key] = default
  return c


def trainer_config() -> ml_collections.ConfigDict:
  """The training engine's fields (``training/trainer.py``), merged into a
  config with ``config.update(trainer_config())``.

  Durations take exactly one unit each: ``<name>_steps | _epochs | _examples
  | _percent`` (percent of the total; see ``egoimu_jax/durations.py``).
  """
  c = ml_collections.ConfigDict()
  c.job = "train"
  c.name = ""                  # row label in reports; "" = the model name
  c.task = ml_collections.ConfigDict(dict(
      name="supervised",       # training/tasks: TASKS registry
      mixup_alpha=0.0,         # > 0: mixup with Beta(alpha, alpha) (A&D: 0.8)
      mixup_keys=("imu",),
      mixup_max_lambda=True,   # lam = max(lam, 1 - lam) as the A&D authors
      center_loss_weight=0.0,  # > 0: + weight * center loss (A&D: 0.3)
      center_lr=0.001,         # centre update rate (A&D lr_cent)
      # Workers as domains (adaptation/domain_losses.py): "erm" | "coral" |
      # "groupdro" | "vrex"; dg_weight scales the CORAL / VREx penalty,
      # groupdro_eta is GroupDRO's exponentiated-gradient step.
      dg="erm", dg_weight=1.0, groupdro_eta=0.01,
  ))
  c.model = ml_collections.ConfigDict(dict(name=""))  # models.build(config.model)
  # Extra test-time evaluations of the final (best) state: name -> nested
  # overrides of this config, e.g. {"drop_video": {"model": {"drop_modality":
  # "video"}}}. Each writes <workdir>/variants/<name>/results.json.
  c.eval_variants = ml_collections.ConfigDict()
  # Per-test-person adaptation of the final state (adaptation/run.py), each
  # written to <workdir>/variants/<name>/: test-time "adabn" / "tent" (on at
  # most max_windows of the person's windows), and the few-shot calibration
  # curve (calibration_steps fine-tuning steps on a person's first k minutes,
  # "head" (params matching head_pattern) and/or "full", scored on the
  # windows after the largest k). calibration_lr 0: the run's optim.lr.
  c.adapt = ml_collections.ConfigDict(dict(
      tta=(), tent_steps=10, tent_lr=1e-3, max_windows=256,
      calibration_minutes=(), calibration_modes=("head", "full"),
      calibration_steps=20, calibration_lr=0.0, head_pattern="head",
  ))
  # job "feature_probe": the frozen model's features -> "svm_comodo" | "logreg".
  c.probe = ml_collections.ConfigDict(dict(estimator="svm_comodo"))
  c.dtype = "float32"          # compute dtype ("bfloat16"); params stay float32
  c.mesh = (("data", -1), ("fsdp", 1))
  # (regex over "collection/a/b/kernel", spec): spec is "replicate", a mesh
  # axis name (split the largest divisible dim) or a tuple of axis names/None.
  c.sharding_rules = ()
  # If set, fail unless params per device <= (1 + tol) * ideal under the mesh.
  c.params_sharded_tolerance = config_dict.placeholder(float)
  for name, unit_types in (("total", ("steps", "epochs", "examples")),
                           ("warmup", ("steps", "epochs", "percent")),
                           ("log_every", ("steps",)),
                           ("eval_every", ("steps", "epochs")),
                           ("checkpoint_every", ("steps", "epochs")),
                           ("lr_decay_every", ("steps", "epochs"))):
    for unit in unit_types:
      c[f"{name}_{unit}"] = config_dict.placeholder(
          int if unit == "steps" else float)
  c.optim = ml_collections.ConfigDict(dict(
      name="adamw", lr=1e-3, b1=0.9, b2=0.999, eps=1e-8,
      weight_decay=1e-4,
      decay_min_ndim=2,        # decay kernels, not biases / norm scales
      clip_norm=1.0,           # global-norm clipping; 0 = off
      # or "warmup_linear", "constant" (after warmup), "step_decay" (x
      # decay_factor every lr_decay_every_*), "onecycle" (torch's OneCycleLR:
      # lr / div_factor -> lr over pct_start of the run, or over the warmup
      # if one is set, then -> lr / div_factor / final_div_factor)
      schedule="warmup_cosine",
      end_lr_factor=0.0,       # cosine ends at lr * end_lr_factor
      decay_factor=0.1,
      pct_start=0.3, div_factor=25.0, final_div_factor=1e4,
      freeze="",               # regex over param paths that get no update
  ))
  # Stop after ``patience`` evaluations in a row without a validation
  # ``metric`` improvement > min_delta (training/early_stopping.py); 0 = off;
  # metric "" / mode "": the task's best-checkpoint metric and direction.
  c.early_stopping = ml_collections.ConfigDict(dict(
      patience=0, metric="", min_delta=0.0, mode=""))
  # The named training recipe a config variant follows (results.json extra).
  c.recipe = "ours"
  c.checkpoint = ml_collections.ConfigDict(dict(
      keep=2,                  # latest checkpoints kept (plus the best by val)
      async_save=True,
  ))
  return c


def tiny_run(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Shrinks data, batches and durations for a CPU smoke run, in place.

  Every config's ``tiny`` variant calls this, so they all share one small
  synthetic dataset (10 workers x 5 clips of 10 s -> 100 windows, no video;
  5 clips per worker so that the 5-fold within-person split has a clip in
  every part), prepared once per cache directory.
  """
  config.data.synthetic.update(num_workers=10, clips_per_worker=5,
                               clip_seconds=10.0, with_video=False)
  config.data.prepare.num_shards = 2
  config.data.prepare.num_processes = 1
  config.input.update(batch_size=8, eval_batch_size=8, read_threads=1,
                      prefetch_batches=1, norm_max_windows=0)
  durations.clear(config)
  config.total_steps = 4
  config.warmup_steps = 1
  config.log_every_steps = 1
  config.eval_every_steps = 2
  return config


def warm_start(config: ml_collections.ConfigDict, weights: str,
               importer: str) -> None:
  """Fine-tunes from released weights (``weights``: a directory that the
  ``importer`` of ``models.IMPORTERS`` reads; the head starts fresh), in
  place; nothing when ``weights`` is empty (random init)."""
  if weights:
    config.task.update(name="finetune", pretrained=weights,
                       pretrained_format=importer)


def video_classifier(config: ml_collections.ConfigDict, model: str, *,
                     num_frames: int, lr: float, warmup_epochs: float,
                     weight_decay: float = 0.05,
                     frame_mean: tuple[float, ...] | None = None,
                     frame_std: tuple[float, ...] | None = None,
                     ) -> ml_collections.ConfigDict:
  """Frames-only video classification on 5 s windows, in place.

  The part the video configs share: ``model`` at ``config.arg.variant``
  (run name ``<model>-<variant>``), bfloat16 compute, frames stored per
  window with ``num_frames`` sampled from them, batch 64, AdamW at ``lr`` /
  ``weight_decay`` for ``config.arg.epochs`` epochs after ``warmup_epochs``,
  evaluated every epoch, with noisy- and low-light-video test variants.
  ``frame_mean`` / ``frame_std``: the model's pretraining statistics (None:
  ImageNet's, ``input_config``'s default).
  """
  config.update(trainer_config())
  variant = config.arg.variant
  config.name = f"{model}-{variant}"
  config.model.name = model
  config.model.variant = variant
  config.dtype = "bfloat16"
  config.data.video.store_frames = True
  config.input.frames = True
  config.input.num_frames = num_frames  # of the 50 stored per window
  if frame_mean is not None:
    config.input.frame_mean = frame_mean
  if frame_std is not None:
    config.input.frame_std = frame_std
  config.input.batch_size = 64
  config.input.eval_batch_size = 64
  config.optim.update(lr=lr, weight_decay=weight_decay)
  config.total_epochs = config.arg.epochs
  config.warmup_epochs = warmup_epochs
  config.eval_every_epochs = 1.0
  config.log_every_steps = 50
  # The test set again with degraded video (models/video_degradation.py),
  # applied to the batch with this model's frame statistics.
  config.eval_variants = ml_collections.ConfigDict({
      f"video_{kind}": {"input": {"video_degradation": kind}}
      for kind in ("noise", "low_light")})
  return config


def tiny_video(config: ml_collections.ConfigDict,
               num_frames: int) -> ml_collections.ConfigDict:
  """``tiny_run`` for a video classifier, in place: float32, the shared tiny
  data set with 32^2 frames stored, ``num_frames`` sampled per window."""
  tiny_run(config)
  config.dtype = "float32"
  config.data.synthetic.with_video = True
  config.data.video.update(store_frames=True, size=32)
  config.input.num_frames = num_frames
  return config


def tiny_stages(config: ml_collections.ConfigDict
                ) -> ml_collections.ConfigDict:
  """``tiny_run`` for a staged experiment (``pretrain_finetune``), in place:
  the stages set their own durations, so the run-level ones are cleared."""
  tiny_run(config)
  durations.clear(config, prefixes=("total", "warmup", "eval_every",
                                    "checkpoint_every"))
  return config


Recipe = Callable[[ml_collections.ConfigDict], None]


def use_recipe(config: ml_collections.ConfigDict,
               recipes: Mapping[str, Recipe]) -> None:
  """Applies the training recipe ``config.arg.recipe`` names, in place, and
  records its name in ``config.recipe`` (results.json's ``extra.recipe``).

  ``ours`` is the config as it stands; every other name is one of the
  config file's ``RECIPES`` (an original paper's or code's recipe, which
  edits the config; its budget gives way to a nonzero ``config.arg.epochs``)
  and appends ``-<recipe>`` to the run's name.
  Call it before ``tiny_run``, so a tiny run of a recipe is still tiny.
  """
  name = config.arg.recipe
  if name != "ours":
    if name not in recipes:
      known = ["ours", *sorted(recipes)]
      raise errors.ArgError(f"unknown recipe {name!r} (known: "
                            f"{', '.join(known)})"
                            f"{errors.did_you_mean(name, known)}")
    recipes[name](config)
    # Its own row in reports, next to ours.
    config.name = f"{config.name or config.model.name}-{name}"
  config.recipe = name


def finish(config: ml_collections.ConfigDict,
           recipes: Mapping[str, Recipe]) -> ml_collections.ConfigDict:
  """A config's last step, in place: the recipe ``config.arg.recipe`` names
  (``use_recipe``), then ``tiny_run`` for the ``tiny`` variant."""
  use_recipe(config, recipes)
  if config.arg.variant == "tiny":
    tiny_run(config)
  return config


def imu_classifier(config: ml_collections.ConfigDict, model: str, *,
                   batch_size: int, epochs: float = 50.0,
                   ) -> ml_collections.ConfigDict:
  """An ISWC'22-benchmark IMU classifier (DeepConvLSTM, Attend and
  Discriminate), in place: ``model`` at ``config.arg.variant``, batch
  ``batch_size``, AdamW at lr 1e-3 / weight decay 1e-4 for
  ``config.arg.epochs`` epochs (0: ``epochs``) after one warm-up epoch,
  evaluated every epoch. The config file ends with ``finish``."""
  config.update(trainer_config())
  variant = config.arg.variant
  config.model.name = model
  config.model.variant = variant
  config.input.batch_size = batch_size
  config.optim.lr = 1e-3
  config.optim.weight_decay = 1e-4
  config.total_epochs = config.arg.epochs or epochs
  config.warmup_epochs = 1.0
  config.eval_every_epochs = 1.0
  config.log_every_steps = 50
  return config


def parse_folds(arg: Any, num_folds: int) -> tuple[int, ...]:
  """``"all"`` -> every fold; ``"0+3"`` -> folds 0 and 3 (a config arg)."""
  if str(arg) == "all":
    return tuple(range(num_folds))
  return tuple(int(f) for f in str(arg).split("+"))


def experiment(config: ml_collections.ConfigDict, protocols: tuple[str, ...],
               **fields: Any) -> ml_collections.ConfigDict:
  """A ``config.experiment``: the folds ``config.arg.folds`` names, the
  ``protocols``, 2,000 bootstrap resamples, every stage (``stages``: a regex
  over stage names, "" = all), then the job's own ``fields``."""
  return ml_collections.ConfigDict(dict(
      folds=parse_folds(config.arg.folds, config.protocol.num_folds),
      protocols=protocols, n_boot=2000, stages="", **fields))


def merged(config: ml_collections.ConfigDict,
           overrides: Mapping[str, Any]) -> ml_collections.ConfigDict:
  """A copy of ``config`` with nested ``overrides`` merged in.

  Dicts merge key by key (new keys allowed); any other value replaces. Used
  for a run's evaluation variants and an experiment's stages.
  """
  out = config.copy_and_resolve_references()

  nested = (Mapping, ml_collections.ConfigDict)

  def merge(dst, src):
    for key, value in src.items():
      if isinstance(value, nested) and isinstance(dst.get(key), nested):
        merge(dst[key], value)
      else:
        if isinstance(value, Mapping):
          value = ml_collections.ConfigDict(dict(value))
        with dst.ignore_type():
          dst[key] = value

  with out.unlocked():
    merge(out, overrides.to_dict() if hasattr(overrides, "to_dict")
          else overrides)
  return out


def base(arg: str | None = None, **arg_defaults) -> ml_collections.ConfigDict:
  """The sections every config shares (``data``, ``input``, ``protocol``,
  ``seed``), with the parsed ``arg`` (defaults ``arg_defaults``) as
  ``config.arg``."""
  config = ml_collections.ConfigDict()
  config.arg = parse_arg(arg, **{"variant": "", **arg_defaults})
  config.seed = 0
  # One class-weighting policy for every model and scale, deep and classical
  # (``class_weights.py``): "balanced" (n / (K n_c) on the training windows)
  # or "none" (unweighted).
  config.class_weights = "balanced"
  config.data = data_config()
  config.input = input_config()
  config.protocol = protocol_config()
  return config
