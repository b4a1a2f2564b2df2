"""What a split protocol is: its attributes and how it builds a split.

A protocol is one subclass of ``Protocol`` in its own file plus one line in
``protocols/__init__.py``'s registry. Everything else (validation, report,
export, submission, scaling, sweeps) reads its attributes.
"""

from __future__ import annotations

import types
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from egoimu_jax.input_pipeline import folds
from egoimu_jax.input_pipeline.population import Population
from egoimu_jax.input_pipeline.population import SplitError

PARTS = ("train", "val", "test")


class Protocol:
  """A way of cutting a ``Population`` into train / val / test.

  Attributes:
    name: ``config.protocol.name``.
    title: a human name, for figure panels.
    cross_person: train, val and test people must be disjoint; the report's
      generalisation gap, significance and distillation tables use these.
    tested: has a test part (``pretrain`` has none).
    scale_unit: what ``protocol.scale`` counts ("workers" or "clips"), or
      None for a protocol that is not a scaling protocol.
    options: ``protocol.*`` fields of this protocol only, with their
      defaults (``config_lib.protocol_config`` holds them all).
    test_part: how the report names the people tested, e.g. in the hard
      cases section.
    pairs_with: the cross-person protocol whose fold k tests the same
      people as this one's fold k, or None; the two give the paired
      generalisation gap (``gap_pair``).
    bundle_scales: for a scaling protocol, the export bundle setting that
      lists the scales its bundle holds (one split per scale and fold).
  """

  name: str = ""
  title: str = ""
  cross_person: bool = False
  tested: bool = True
  scale_unit: Optional[str] = None
  options: Mapping[str, Any] = types.MappingProxyType({})
  test_part: str = ""
  pairs_with: Optional[str] = None
  bundle_scales: Optional[str] = None

  @property
  def scale_field(self) -> Optional[str]:
    """The split field ``protocol.scale`` sizes: ``train_workers`` or
    ``train_clips``; None for an unscaled protocol."""
    return None if self.scale_unit is None else f"train_{self.scale_unit}"

  def make(self, pop: Population, cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """The split's parts (``parts(...)``) for ``cfg``.

    ``cfg`` is ``config.protocol`` with ``fold``, ``seed``, ``num_folds``
    (ints), ``scale`` (float) and this protocol's ``options`` filled in.
    """
    raise NotImplementedError(self.name)

  def bundle_variants(self, num_folds: int, settings: Mapping[str, Any],
                      num_workers: int) -> List[Dict[str, Any]]:
    """The ``protocol.*`` overrides of the splits an export bundle holds."""
    del num_workers
    if self.bundle_scales:
      return [dict(fold=f, scale=float(x))
              for x in settings[self.bundle_scales] for f in range(num_folds)]
    return [dict(fold=f) for f in range(num_folds)]


class ScalingProtocol(Protocol):
  """A scaling protocol: l20wo fold k's val and test people, and for
  training the first n of an order of fold k's training pool's workers or
  clips (``scale_unit``), n from ``protocol.scale``. The subsets are thus
  nested across scales."""

  cross_person = True

  def order(self, pop: Population, pool: List[str], fold: int,
            seed: int) -> List[str]:
    """Every worker or clip (``scale_unit``) of the training ``pool``, in
    the order that subsets take them."""
    raise NotImplementedError(self.name)

  def train_part(self, pop: Population, pool: List[str], chosen: List[str]
                 ) -> Tuple[Iterable[str], Optional[List[str]]]:
    """The training workers and their clips (None: all of them) of the
    ``chosen`` first n of ``order``; ``chosen`` are workers here."""
    del pop, pool
    return chosen, None

  def make(self, pop: Population, cfg: Mapping[str, Any]) -> Dict[str, Any]:
    fold, seed = cfg["fold"], cfg["seed"]
    pool, val, test = folds.cross_fold(pop, fold, cfg["num_folds"], seed)
    order = self.order(pop, pool, fold, seed)
    n = resolve_scale(cfg["scale"], len(order), self.scale_unit, fold)
    workers, clips = self.train_part(pop, pool, order[:n])
    return parts(workers, val, test, {"train": clips})


def parts(train: Iterable[str], val: Iterable[str], test: Iterable[str],
          clips: Optional[Mapping[str, Optional[List[str]]]] = None,
          **extra: Any) -> Dict[str, Any]:
  """The part fields of a split dict, in file order: workers (sorted), the
  clips of each part (None: every clip of its workers), then ``extra``."""
  clips = clips or {}
  out: Dict[str, Any] = {f"{p}_workers": sorted(w)
                         for p, w in zip(PARTS, (train, val, test))}
  out.update({f"{p}_clips": clips.get(p) for p in PARTS})
  out.update(extra)
  return out


def resolve_scale(scale: float, pool: int, what: str, fold: int) -> int:
  """Turns ``protocol.scale`` (count, fraction or < 0 for all) into a count."""
  if scale < 0:
    return pool
  if scale == 0:
    raise SplitError(f"protocol.scale must be > 0 (or < 0 for all), got {scale}")
  if scale <= 1:
    return max(1, round(scale * pool))
  if scale != int(scale):
    raise SplitError(f"protocol.scale {scale} > 1 must be a whole count of {what}")
  if scale > pool:
    raise SplitError(
        f"protocol.scale asks for {int(scale)} training {what}, but fold {fold}'s "
        f"pool has only {pool}; use a fraction in (0, 1], or more folds "
        f"(protocol.num_folds) for a larger training pool")
  return int(scale)
