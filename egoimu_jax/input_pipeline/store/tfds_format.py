"""tensorflow-datasets layout of our shard sets, so tfds reads them without TF.

Every shard set is a tfds dataset directory
``<processed_dir>/egoimu/<config>/<version>/`` holding ``dataset_info.json``,
``features.json`` and ``egoimu-full.array_record-0000k-of-0000n``. The whole
set is one tfds split, ``full``: splits by person are ours (Contract 2), made
from the record table, not tfds splits. Reading with tfds::

  tfds.data_source("egoimu/windows", data_dir=processed_dir, split="full")
  tfds.builder_from_directory(shard_set_dir(processed_dir, "windows"))
      .as_data_source()["full"]
"""

from __future__ import annotations

import os
from typing import Sequence

from etils import epath
import tensorflow_datasets as tfds
from tensorflow_datasets.core import dataset_info
from tensorflow_datasets.core import file_adapters
from tensorflow_datasets.core import naming
from tensorflow_datasets.core import splits as splits_lib
from tensorflow_datasets.core import utils as tfds_utils

from egoimu_jax.input_pipeline.store import records

DATASET_NAME = "egoimu"
SPLIT = "full"
VERSION = f"{records.SCHEMA_VERSION}.0.0"
WINDOWS = "windows"
FRAMES = "frames"


def teacher_config(name: str) -> str:
  """tfds config name of a teacher-embedding set."""
  if not name or not name.replace("_", "").isalnum():
    raise ValueError(f"teacher name must be [A-Za-z0-9_]+, got {name!r}")
  return f"teacher_{name}"


def shard_set_dir(processed_dir: str, config: str) -> str:
  return os.path.join(processed_dir, DATASET_NAME, config, VERSION)


def shard_filename(index: int, count: int) -> str:
  return f"{DATASET_NAME}-{SPLIT}.array_record-{index:05d}-of-{count:05d}"


def shard_path(processed_dir: str, config: str, index: int, count: int) -> str:
  return os.path.join(shard_set_dir(processed_dir, config),
                      shard_filename(index, count))


def relative_shard_path(config: str, index: int, count: int) -> str:
  """Shard path relative to the processed dir (as the manifest stores it)."""
  return "/".join((DATASET_NAME, config, VERSION, shard_filename(index, count)))


def write_dataset_info(processed_dir: str, config: str,
                       features: tfds.features.FeaturesDict,
                       shard_lengths: Sequence[int], num_bytes: int,
                       description: str) -> None:
  """Writes tfds' metadata for a complete shard set (all shards written)."""
  directory = shard_set_dir(processed_dir, config)
  identity = dataset_info.DatasetIdentity(
      name=DATASET_NAME, version=tfds_utils.Version(VERSION),
      data_dir=directory, module_name="", config_name=config,
      config_description=description)
  info = dataset_info.DatasetInfo(
      builder=identity, features=features, description=description)
  info.set_file_format(file_adapters.FileFormat.ARRAY_RECORD)
  template = naming.ShardedFileTemplate(
      data_dir=epath.Path(directory),
      template=naming.DEFAULT_FILENAME_TEMPLATE, dataset_name=DATASET_NAME,
      split=SPLIT, filetype_suffix="array_record")
  info.set_splits(splits_lib.SplitDict([splits_lib.SplitInfo(
      name=SPLIT, shard_lengths=[int(n) for n in shard_lengths],
      num_bytes=int(num_bytes), filename_template=template)]))
  info.write_to_directory(directory)


def data_source(processed_dir: str, config: str = WINDOWS):
  """The shard set as a tfds random-access source (decodes via tfds)."""
  builder = tfds.builder_from_directory(shard_set_dir(processed_dir, config))
  return builder.as_data_source(split=SPLIT)
