r"""Video models through the protocols (Experiment B): which modality is more
robust to person shift, video or IMU?

  python -m launch.run --sweep=launch/sweeps/video_models.py \
      --root=runs/video --report_dir=runs/video/report [--tiny]

For each video model (TimeSformer-B, VideoMAE ViT-B, SlowFast R50), on
``l20wo`` and ``within``:

* frozen teacher embedding + probe, the cheap default at scale: COMODO's
  RBF-SVM (``configs/classical.py:estimator=svm_comodo,teacher=<model>``)
  and a linear head through the trainer (``configs/video_probe.py``). The
  teacher set is extracted by whichever job needs it first (raw MP4s are
  decoded where frames were not stored) and shared by the rest;
* full fine-tuning on stored frames (``configs/<model>.py``);

plus the IMU reference on the same people and windows (the random forest on
hand-crafted features), so the report's paired tables compare video with
IMU. Every job sees the same dataset settings (video kept).

Arg: ``models=timesformer+videomae+slowfast``, ``probes=svm+linear``
(``+``-separated; ``none``), ``finetune`` (models fine-tuned; default all
listed, ``videomae`` with ``tiny``), ``imu_reference=True``, ``folds``
(default 5; 1 with ``tiny``), ``tiny``, ``seeds`` (each job repeated with
seeds 0..seeds-1: ``launch/seeds.py``), ``weights.<model>=DIR`` (the
model's released checkpoint, ``launch/weights.py``: the probes' frozen
teacher and the fine-tuning's warm start; without ``tiny`` every model needs
one unless ``allow_random_init=True``).
"""

from egoimu_jax.input_pipeline import protocols
import launch
from launch import config_paths
from launch import weights as weights_lib

PROTOCOLS = protocols.gap_pair()   # ("l20wo", "within")
# The dataset every job of the sweep uses (video kept; only the fine-tuning
# configs store frames, which does not change the windows).
SHARED_DATA = {"data.synthetic.with_video": True}


def _tiny_data():
  """The tiny teacher dataset (configs/teacher_embeddings.py:tiny) for the
  jobs whose own tiny data differs, so every job scores the same windows."""
  from egoimu_jax import config_lib  # pylint: disable=g-import-not-at-top
  ref = config_lib.tiny_run(config_lib.base())
  out = {f"data.synthetic.{k}": ref.data.synthetic[k]
         for k in ("num_workers", "clips_per_worker", "clip_seconds")}
  out["protocol.num_folds"] = ref.protocol.num_folds
  return out


def _names(text, default):
  text = text or default
  return [] if text == "none" else text.split("+")


def sweep(arg=None):
  arg, weights = weights_lib.split(arg)
  a = launch.parse_arg(arg, tiny=False, models="timesformer+videomae+slowfast",
                       probes="svm+linear", finetune="", imu_reference=True,
                       folds=0, seeds=1)
  models = _names(a.models, "")
  finetune = _names(a.finetune, "videomae" if a.tiny else a.models)
  probes = _names(a.probes, "")
  weights.check(sorted({m for m in models if probes or m in finetune}),
                papers_scale=not a.tiny)
  folds = a.folds or (1 if a.tiny else 5)
  tiny = ",tiny" if a.tiny else ""
  shared = dict(SHARED_DATA, **(_tiny_data() if a.tiny else {}))
  jobs = []
  for p in launch.product(protocol=PROTOCOLS, fold=range(folds)):
    run = lambda config, model, **ov: jobs.append(launch.protocol_job(  # noqa: E731
        config, model, p["protocol"], p["fold"], overrides={**shared, **ov}))
    for model in models:
      teacher = weights_lib.teacher_overrides(model, weights)
      if "svm" in probes:
        run(f"configs/classical.py:estimator=svm_comodo,teacher={model}{tiny}",
            f"{model}_svm_probe", name=f"{model}_svm_probe", **teacher)
      if "linear" in probes:
        run(f"configs/video_probe.py:teacher={model}{tiny}",
            f"{model}_linear_probe", name=f"{model}_linear_probe", **teacher)
      if model in finetune:
        run(config_paths.with_args(
            f"configs/{model}.py{':tiny' if a.tiny else ''}",
            **weights_lib.config_args(model, weights)),
            f"{model}_finetune", name=f"{model}_finetune")
    if a.imu_reference:
      run(f"configs/classical.py:estimator=rf{tiny}", "classical_rf")
  return launch.with_seeds(jobs, a.seeds)
