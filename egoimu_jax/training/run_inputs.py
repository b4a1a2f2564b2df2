"""A run's data: the prepared dataset, the run's split, the grain pipeline.

Reads ``config.data.processed_dir`` (and the teacher set ``input.teacher``)
as prepared; preparing is ``data_deps``' job. Shared files (the split, the
normalisation statistics) are written by process 0 first.
"""

from __future__ import annotations

from egoimu_jax.input_pipeline import pipeline as pipeline_lib
from egoimu_jax.input_pipeline import prepared
from egoimu_jax.input_pipeline import splits
from egoimu_jax.input_pipeline.store import manifest as manifest_lib
from egoimu_jax.training import distributed


def input_pipeline(config, workdir: str) -> pipeline_lib.InputPipeline:
  """The run's split of the prepared data, as a grain pipeline.

  Raises:
    errors.MissingDataError: the processed dataset or the teacher set it
      reads is missing.
  """
  processed_dir = prepared.processed_dir(
      config, config.input.get("teacher", "") or "")
  manifest = manifest_lib.load(processed_dir)
  split = distributed.process0_first(
      lambda: splits.load_or_create_split(workdir, config.protocol, manifest),
      "split")
  return distributed.process0_first(lambda: pipeline_lib.InputPipeline(
      processed_dir, split, config.input, workdir=workdir,
      data_config=config.data), "pipeline")
