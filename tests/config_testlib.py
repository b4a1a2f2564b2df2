"""Test helpers for ``configs/*.py``: load one as a module, cut a tiny
config to its smoke run. A module of its own (not ``conftest``): test files
in any folder import it by one unambiguous name."""

import importlib.util
import pathlib
import types

import ml_collections

from egoimu_jax import durations


def load_config_module(path: pathlib.Path) -> types.ModuleType:
  """A ``configs/*.py`` file as a module (configs are not a package)."""
  spec = importlib.util.spec_from_file_location(f"configs_{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _two_steps(config):
  durations.clear(config)
  config.total_steps = 2
  config.eval_every_steps = 1
  config.log_every_steps = 1


def shrink_for_smoke_run(config: ml_collections.ConfigDict) -> None:
  """A ``tiny`` config cut to its smoke run, in place: ``train`` jobs for 2
  steps; ``pretrain_finetune`` every stage for 2 steps and one fine-tuning,
  on the config's last input (EVI-MAE: IMU+video, so the missing-modality
  and degraded-video variants run too); other jobs as their tiny variant
  defines."""
  job = config.get("job", "train")
  if job == "train":
    _two_steps(config)
  if job == "pretrain_finetune":
    for stage in (config.pretrain, config.finetune):
      _two_steps(stage)
    config.experiment.update(modalities=config.experiment.modalities[-1:],
                             scratch=False, n_boot=50)
    config.data.synthetic.update(num_workers=10, clips_per_worker=2,
                                 clip_seconds=15.0)
