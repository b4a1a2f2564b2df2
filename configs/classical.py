r"""Classical baseline: hand-crafted IMU features + a scikit-learn model.

  python -m egoimu_jax.main --config=configs/classical.py:estimator=rf \
      --config.protocol.name=l20wo --config.protocol.fold=0 --workdir=runs/rf_l20wo_0

Arg (comma-separated): ``estimator=rf|logreg|svm_comodo`` (default rf),
``teacher=timesformer|videomae|slowfast`` (features = that frozen video
teacher's window embeddings instead of hand-crafted IMU features; the set is
extracted on first use, see ``configs/teacher_embeddings.py``; with
``estimator=svm_comodo`` this is COMODO's frozen-embedding probe),
``teacher_variant`` (default the family's B / R50, ``tiny`` with ``tiny``),
``tiny`` (few trees, a short C grid and a small synthetic dataset: smoke
tests and laptops).
"""

from egoimu_jax import config_lib


def get_config(arg=None):
  config = config_lib.base(arg, estimator="rf", teacher="",
                           teacher_variant="")
  variant, estimator = config.arg.variant, config.arg.estimator
  if variant not in ("", "tiny"):
    raise ValueError(f"unknown variant {variant!r} (known: '', 'tiny')")
  if estimator not in ("rf", "logreg", "svm_comodo"):
    raise ValueError(f"unknown estimator {estimator!r} (known: rf, logreg, "
                     "svm_comodo)")
  tiny = variant == "tiny"
  config.job = "classical"
  # Row label in report tables; empty: "classical_<estimator>".
  config.name = ""

  # Class weights: config.class_weights, the policy every model shares.
  config.classical = dict(
      estimator=estimator,
      # "imu" (hand-crafted features) or "teacher:<name>" (frozen video
      # embeddings of config.teacher, extracted on first use).
      features="imu",
      # Cap on training windows (stratified by label, seeded); 0 = all.
      max_train_windows=0,
      # Cache the features of every record of the processed dataset under
      # <cache_dir>/features, so folds and estimators share one computation.
      cache_features=True,
      read_chunk=4096,     # windows read and featurised per step
      rf=dict(
          n_estimators=16 if tiny else 500,
          max_depth=0,                  # 0 = grow until leaves are pure
          min_samples_leaf=1,
          max_features="sqrt",
          n_jobs=-1,
      ),
      logreg=dict(
          # C is picked on the validation split (macro-F1).
          c_grid=(0.01, 1.0) if tiny else (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0),
          max_iter=200 if tiny else 2000,
      ),
  )
  if tiny:
    config.data.synthetic.num_workers = 6
    config.data.synthetic.clips_per_worker = 3
    config.data.synthetic.clip_seconds = 20.0
    config.data.synthetic.with_video = False
    config.data.prepare.num_shards = 2
    config.protocol.num_folds = 3
  if config.arg.teacher:
    _teacher_features(config, tiny)
  return config


def _teacher_features(config, tiny):
  """Frozen video-teacher embeddings as the features (video baseline)."""
  from egoimu_jax.teachers import config as teacher_config  # pylint: disable=g-import-not-at-top
  variant = config.arg.teacher_variant or ("tiny" if tiny else "")
  config.teacher = teacher_config.preset(config.arg.teacher, variant)
  config.classical.features = f"teacher:{config.teacher.name}"
  config.name = f"{config.teacher.name}_{config.classical.estimator}"
  config.data.synthetic.with_video = True
  if tiny:
    # The tiny teacher dataset of configs/teacher_embeddings.py (shared).
    config.data.synthetic.with_video = True
    config.data.video.update(store_frames=True, size=32, frames_fraction=0.5)
    config.teacher.update(batch_size=8, chunk_windows=16, log_every_s=0.0)
