"""Train/val/test splits of workers (and clips), as data (Contract 2).

A split is a JSON dict written into the run's workdir as ``split.json``::

  {"protocol": "l20wo", "fold": 0, "seed": 0, "num_folds": 5, "scale": -1.0,
   "dataset_fingerprint": "...",
   "train_workers": [...], "val_workers": [...], "test_workers": [...],
   "train_clips": null, "val_clips": null, "test_clips": null}

``*_clips`` is null where a part is "every clip of its workers" (the
pipeline selects records with ``record_table.split_indices``;
``split_format.members`` is the same rule as a predicate). A within-person
split of people with few long recordings also lists time ranges of clips
(``*_ranges``, ``guard_us``; see ``protocols/within.py``). ``num_folds`` and
``scale`` (and ``pretrain_*`` for ``pretrain``) extend Contract 2's fields:
they change the content, so a reloaded split is checked against them too.

Every split is a pure function of a ``Population`` (workers, their clips,
break fractions and clip labels), the protocol config and a seed. Orders are
drawn from keyed hashes (``orders.py``), not from a NumPy generator, so a
split does not change with the NumPy version.

The protocols (``config.protocol.name``; K = ``protocol.num_folds``, default
5) are registered objects, one file each under ``protocols/``. The rest
lives in ``population.py`` (what splits are built from), ``folds.py``
(worker folds, clip groups) and ``split_format.py`` (fields, validation,
membership, read/write). This module builds and loads a run's split.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Mapping

from egoimu_jax.input_pipeline import protocols
from egoimu_jax.input_pipeline.population import AUTO
from egoimu_jax.input_pipeline.population import from_manifest
from egoimu_jax.input_pipeline.population import Population
from egoimu_jax.input_pipeline.population import SplitError
from egoimu_jax.input_pipeline.protocols.base import PARTS
from egoimu_jax.input_pipeline.split_format import DERIVED_FIELDS
from egoimu_jax.input_pipeline.split_format import read_split
from egoimu_jax.input_pipeline.split_format import SPLIT_FILE
from egoimu_jax.input_pipeline.split_format import validate_split
from egoimu_jax.input_pipeline.split_format import write_split


def make_split(protocol_cfg: Mapping[str, Any], manifest: Any) -> Dict[str, Any]:
  """Builds the split a protocol config asks for.

  Args:
    protocol_cfg: ``config.protocol`` (name, fold, num_folds, seed, scale,
      stratify_label and the protocol's own options); a ConfigDict or a dict.
    manifest: a ``Population``, or a manifest dict (see ``from_manifest``).

  Returns:
    The split dict (Contract 2), validated.
  """
  cfg = dict(protocol_cfg)
  pop = manifest if isinstance(manifest, Population) else from_manifest(
      manifest, cfg.get("stratify_label", AUTO))
  name = cfg.get("name", protocols.DEFAULT)
  protocol = protocols.get(name)
  resolved = {**protocol.options, **cfg,
              "fold": int(cfg.get("fold", 0)), "seed": int(cfg.get("seed", 0)),
              "num_folds": int(cfg.get("num_folds", 5)),
              "scale": float(cfg.get("scale", -1.0))}
  split = {
      "protocol": name, "fold": resolved["fold"], "seed": resolved["seed"],
      "num_folds": resolved["num_folds"], "scale": resolved["scale"],
      "dataset_fingerprint": pop.fingerprint(),
      **protocol.make(pop, resolved),
  }
  validate_split(split, pop)
  return split


def load_or_create_split(workdir: str, protocol_cfg: Mapping[str, Any],
                         manifest: Any) -> Dict[str, Any]:
  """Returns the run's split: creates ``workdir/split.json``, or re-checks it.

  An existing file must match the config (protocol, fold, seed, num_folds,
  scale), the dataset (fingerprint) and be exactly what ``make_split`` builds
  now; anything else is a ``SplitError`` naming the file and the difference.
  """
  expected = make_split(protocol_cfg, manifest)
  path = os.path.join(workdir, SPLIT_FILE)
  if not os.path.exists(path):
    os.makedirs(workdir, exist_ok=True)
    write_split(path, expected)
    return expected
  found = read_split(path)
  if found["dataset_fingerprint"] != expected["dataset_fingerprint"]:
    raise SplitError(
        f"{path} was made for dataset {found['dataset_fingerprint']}, but the "
        f"dataset now is {expected['dataset_fingerprint']}; use a fresh workdir")
  # Config-like fields first (protocol, fold, seed, ..., pretrain_on), for a
  # clear message; then the id lists.
  for key in [k for k in expected if not isinstance(expected[k], (list, dict))
              and k not in ("dataset_fingerprint",) + DERIVED_FIELDS]:
    if found.get(key) != expected[key]:
      raise SplitError(f"{path}: {key} is {found.get(key)!r} but the config asks for "
                       f"{expected[key]!r}; use a fresh workdir")
  # Equal to a freshly built (hence validated) split: valid for this dataset.
  diff = [k for k in expected if found.get(k) != expected[k]]
  if diff:
    raise SplitError(
        f"{path}: same dataset and config but different content in {diff}; it was "
        f"written by another version of the split code or edited by hand")
  return found
