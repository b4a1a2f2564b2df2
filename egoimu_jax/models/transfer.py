"""Moving parameters from one tree into another, for every warm start.

One model-agnostic path serves fine-tuning from a pretraining checkpoint,
converted PyTorch weights (``models/convert/*``) and any partial reuse: trees
are compared leaf by leaf on '/'-joined paths, optionally inside variable
collections (``params/...``, ``batch_stats/...``).

* ``fresh``: regexes on paths *without* the collection prefix. Matching
  target leaves keep their initialisation (e.g. a new classifier head).
* Every other target leaf must exist in the source with the same shape:
  ``transfer`` raises ``TransferError`` naming the missing and mismatched
  paths (a silent partial load is the classic warm-start bug).
* Source leaves the target does not have (decoders, mask tokens, a
  pretraining head) are dropped and counted.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Mapping, Sequence

from absl import logging
import flax
import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax import errors

COLLECTIONS = ("params", "batch_stats")
HEAD = (r"^head(_norm)?/",)   # the default fresh leaves: a classifier head


class TransferError(errors.UserError, ValueError):
  """The source does not cover the target."""


def flatten(tree: Mapping[str, Any]) -> dict[str, Any]:
  return flax.traverse_util.flatten_dict(flax.core.unfreeze(tree), sep="/")


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
  return flax.traverse_util.unflatten_dict(dict(flat), sep="/")


def bare(path: str) -> str:
  """``path`` without a leading collection name."""
  head, _, rest = path.partition("/")
  return rest if head in COLLECTIONS and rest else path


def is_fresh(path: str, fresh: Sequence[str]) -> bool:
  return any(re.search(r, bare(path)) for r in fresh)


def fresh_mask(tree: Mapping[str, Any], fresh: Sequence[str]) -> Any:
  """A tree of bools like ``tree``: True where a leaf is fresh (optimizer
  masks, e.g. a larger learning rate for the new head)."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: is_fresh("/".join(
          str(getattr(k, "key", k)) for k in path), fresh), tree)


@dataclasses.dataclass(frozen=True)
class Plan:
  """Which target paths come from the source and which stay fresh."""
  copied: tuple[str, ...]
  fresh: tuple[str, ...]
  dropped: tuple[str, ...]     # source paths with no target


def plan(source_shapes: Mapping[str, Any], target: Mapping[str, Any],
         fresh: Sequence[str] = HEAD, what: str = "source") -> Plan:
  """Matches flat ``source_shapes`` (leaves with ``.shape``) to the flat
  ``target``; raises ``TransferError`` if a non-fresh leaf is missing or
  has another shape."""
  copied, kept, missing, mismatched = [], [], [], []
  for path, leaf in target.items():
    if is_fresh(path, fresh):
      kept.append(path)
    elif path not in source_shapes:
      missing.append(path)
    elif _shape(source_shapes[path]) != _shape(leaf):
      mismatched.append(f"{path}: {what} {_shape(source_shapes[path])}, "
                        f"model {_shape(leaf)}")
    else:
      copied.append(path)
  if missing or mismatched:
    raise TransferError(
        f"{what} does not cover the model: missing {_some(missing)}; shape "
        f"mismatches {_some(mismatched)}. Leaves that should keep their "
        "initialisation need a regex in the task's `fresh` list.")
  return Plan(tuple(copied), tuple(kept),
              tuple(sorted(set(source_shapes) - set(target))))


def transfer(source: Mapping[str, Any], target: Mapping[str, Any], *,
             fresh: Sequence[str] = HEAD, what: str = "source"
             ) -> dict[str, Any]:
  """``target`` with every non-fresh leaf replaced by ``source``'s, cast to
  the target's dtype. Works on ``params`` trees or whole variable dicts
  (both sides the same kind)."""
  src, tgt = flatten(source), flatten(target)
  p = plan(src, tgt, fresh, what)
  out = dict(tgt)
  for path in p.copied:
    leaf = src[path]
    out[path] = leaf if isinstance(leaf, jax.ShapeDtypeStruct) else (
        jnp.asarray(leaf, dtype=tgt[path].dtype))
  logging.info("warm start from %s: %d leaves copied, %d fresh, %d source "
               "leaves unused", what, len(p.copied), len(p.fresh),
               len(p.dropped))
  return unflatten(out)


def _shape(x) -> tuple[int, ...]:
  return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _some(items: Sequence[str], n: int = 10) -> str:
  return f"{list(items[:n])}{' ...' if len(items) > n else ''}"
