"""What a consumer of data (trainer, feature probe, classical baseline)
reads: a prepared ``config.data.processed_dir``, checked, never made here.

Preparing and extracting are jobs of their own (``config.job=prepare``,
``extract_embeddings``); ``egoimu_jax.data_deps`` runs them first for the
jobs ``main`` starts, so a consumer called directly fails with one line.
"""

from __future__ import annotations

import os

from egoimu_jax import errors
from egoimu_jax.input_pipeline.store import embeddings
from egoimu_jax.input_pipeline.store import manifest as manifest_lib

PREPARE_COMMAND = ("python -m egoimu_jax.main --config=<config> "
                   "--config.job=prepare --workdir=<dir>")


def processed_dir(config, teacher: str = "") -> str:
  """``config.data.processed_dir``, complete, with the teacher set
  ``teacher`` (a name, ``""`` for none) in it.

  Raises:
    errors.MissingDataError: either is missing (one line, with the command
      that makes it).
  """
  path = config.data.processed_dir
  if not path:
    raise errors.MissingDataError(
        "config.data.processed_dir is empty: this job reads a prepared "
        f"dataset and prepares none; prepare one with `{PREPARE_COMMAND}` "
        "and pass its processed_dir")
  if not manifest_lib.is_complete(path):
    raise errors.MissingDataError(
        f"config.data.processed_dir={path!r} is not a prepared dataset (no "
        f"{manifest_lib.MANIFEST_FILE}); prepare it with `{PREPARE_COMMAND}` "
        f"or `python -m egoimu_jax.input_pipeline.prepare --out_dir={path}`")
  if teacher and not os.path.exists(os.path.join(
      embeddings.set_dir(path, teacher), embeddings.INDEX_FILE)):
    raise errors.MissingDataError(
        f"teacher embeddings {teacher!r} are not in {os.path.abspath(path)}; "
        "extract them with `python -m egoimu_jax.main --config=<config> "
        "--config.job=extract_embeddings --workdir=<dir>`")
  return path
