"""Model presets: a family's ``VARIANTS`` table read by the name a config gives.

Every model file keeps its sizes as ``VARIANTS`` (name -> preset) and builds
through ``pick`` so that an unknown name fails the same way everywhere;
spec-based families (EVI-MAE, CrossHAR) check their overrides with
``make_spec``. Configs give sequences as lists: ``with_tuples`` makes them
tuples, which keep a module hashable (jit static args). ``as_dtype`` turns a
config's dtype string into a dtype.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional

import jax.numpy as jnp


def pick(variants: Mapping[str, Any], variant: str, family: str,
         error: type[Exception] = ValueError) -> Any:
  """``variants[variant]``; ``error`` naming the known ones if absent."""
  if variant not in variants:
    raise error(f"unknown {family} variant {variant!r}; known: "
                f"{sorted(variants)}")
  return variants[variant]


def make_spec(spec_cls: type, variants: Mapping[str, Mapping[str, Any]],
              variant: str, family: str, overrides: Mapping[str, Any]) -> Any:
  """``spec_cls`` (a dataclass) from a preset and field overrides; unknown
  variants raise KeyError, unknown fields TypeError."""
  preset = pick(variants, variant, family, KeyError)
  fields = {f.name for f in dataclasses.fields(spec_cls)}
  unknown = sorted(set(overrides) - fields)
  if unknown:
    raise TypeError(f"unknown {family} spec fields {unknown}")
  return spec_cls(**{**preset, **overrides})


def with_tuples(fields: Mapping[str, Any], *names: str,
                cast: Optional[Callable[[Any], Any]] = None) -> dict[str, Any]:
  """``fields`` with each of ``names`` that is present made a tuple (of
  ``cast(v)`` when given)."""
  out = dict(fields)
  for name in names:
    if name in out:
      out[name] = tuple(out[name] if cast is None else map(cast, out[name]))
  return out


def divisibility_errors(obj: Any, *pairs: tuple[str, str]) -> list[str]:
  """``"a=6 not divisible by b=4"`` for each ``(a, b)`` of ``obj``'s field
  names whose values do not divide."""
  out = []
  for a, b in pairs:
    va, vb = getattr(obj, a), getattr(obj, b)
    if va % vb:
      out.append(f"{a}={va} not divisible by {b}={vb}")
  return out


def as_dtype(d: Any) -> Any:
  """A dtype from a config value (``"bfloat16"``); other values unchanged."""
  return jnp.dtype(d) if isinstance(d, str) else d
