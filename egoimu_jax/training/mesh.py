"""The device mesh, from ``config.mesh = (('data', -1), ('fsdp', 1))``.

Axis sizes multiply to the global device count; one axis may be ``-1`` and
takes what is left. The batch is split over every axis (``batch_spec``):
under FSDP each device still sees its own slice of the batch, and parameters
are split over the non-data axes by the sharding rules (``sharding.py``).
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import jax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def resolve_shape(axes: Sequence[Tuple[str, int]],
                  num_devices: int) -> Tuple[Tuple[str, ...], Tuple[int, ...]]:
  """Axis names and sizes: ``(('data', -1), ('fsdp', 2))`` on 8 devices is
  ``(('data', 'fsdp'), (4, 2))``."""
  names = tuple(str(a) for a, _ in axes)
  sizes = [int(s) for _, s in axes]
  if len(set(names)) != len(names):
    raise ValueError(f"config.mesh names an axis twice: {names}")
  if not names:
    raise ValueError("config.mesh is empty")
  free = [i for i, s in enumerate(sizes) if s == -1]
  if len(free) > 1 or any(s == 0 or s < -1 for s in sizes):
    raise ValueError(f"config.mesh {tuple(axes)}: sizes must be positive, with "
                     "at most one -1")
  fixed = math.prod(s for s in sizes if s != -1)
  if free:
    if num_devices % fixed:
      raise ValueError(f"config.mesh {tuple(axes)}: {num_devices} devices are "
                       f"not divisible by the fixed axes' product {fixed}")
    sizes[free[0]] = num_devices // fixed
  if math.prod(sizes) != num_devices:
    raise ValueError(f"config.mesh {tuple(axes)} has {math.prod(sizes)} "
                     f"devices, but there are {num_devices}")
  return names, tuple(sizes)


def make_mesh(axes: Sequence[Tuple[str, int]],
              devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
  """A mesh over all (global) devices with Auto axis types."""
  devices = list(jax.devices() if devices is None else devices)
  names, sizes = resolve_shape(axes, len(devices))
  return jax.make_mesh(sizes, names, axis_types=(AxisType.Auto,) * len(names),
                       devices=devices)


def batch_spec(mesh: Mesh) -> P:
  """Leading (batch) dimension over every mesh axis."""
  return P(mesh.axis_names)


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, batch_spec(mesh))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())
