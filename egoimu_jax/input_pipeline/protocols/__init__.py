"""The split protocols (``config.protocol.name``), one file each.

A new protocol is a ``base.Protocol`` subclass in a new file plus one line
below; report, export, submission, scaling and sweeps read its attributes.
Registration order is the order of the export bundle and of ``names()``.
"""

from __future__ import annotations

from typing import Tuple

from egoimu_jax import registry
from egoimu_jax.input_pipeline.population import SplitError
from egoimu_jax.input_pipeline.protocols import base
from egoimu_jax.input_pipeline.protocols import data_scaling
from egoimu_jax.input_pipeline.protocols import fixed
from egoimu_jax.input_pipeline.protocols import l20wo
from egoimu_jax.input_pipeline.protocols import lowo
from egoimu_jax.input_pipeline.protocols import pretrain
from egoimu_jax.input_pipeline.protocols import within
from egoimu_jax.input_pipeline.protocols import worker_scaling

DEFAULT = "l20wo"   # config.protocol.name when a config names none
PROTOCOLS = registry.Registry("protocol")
PROTOCOLS.register("l20wo")(l20wo.L20wo())
PROTOCOLS.register("within")(within.Within())
PROTOCOLS.register("lowo")(lowo.Lowo())
PROTOCOLS.register("worker_scaling")(worker_scaling.WorkerScaling())
PROTOCOLS.register("data_scaling")(data_scaling.DataScaling())
PROTOCOLS.register("pretrain")(pretrain.Pretrain())
PROTOCOLS.register("fixed")(fixed.Fixed())


def names() -> Tuple[str, ...]:
  """Every protocol's name, in registration order."""
  return PROTOCOLS.registered()


def get(name: str) -> base.Protocol:
  """The protocol called ``name``, or a ``SplitError``."""
  if name not in PROTOCOLS:
    raise SplitError(f"unknown protocol.name {name!r}; known: {names()}")
  return PROTOCOLS.get(name)


def all_protocols() -> Tuple[base.Protocol, ...]:
  return tuple(PROTOCOLS.get(n) for n in names())


def cross_person_protocols() -> Tuple[str, ...]:
  """The protocols whose train and test people are disjoint, in order."""
  return tuple(p.name for p in all_protocols() if p.cross_person)


def scaling_protocols() -> Tuple[str, ...]:
  """The protocols that train on a ``protocol.scale``-sized subset."""
  return tuple(p.name for p in all_protocols() if p.scale_unit is not None)


def gap_pair() -> Tuple[str, str]:
  """(cross-person, within-person): the first protocol that pairs with a
  cross-person one by fold, and that one; the main protocols of a sweep."""
  for p in all_protocols():
    if p.pairs_with is not None:
      return p.pairs_with, p.name
  raise LookupError("no registered protocol pairs with a cross-person one")


def is_scaling(name: str) -> bool:
  """Whether ``name`` is a scaling protocol (False for an unknown name)."""
  return name in scaling_protocols()
