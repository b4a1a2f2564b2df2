"""String-keyed registries with lazy imports.

A registry maps a name (as written in a config) to a callable. Entries are
either registered eagerly with the ``register`` decorator or declared lazily as
``"package.module:attribute"`` so that importing the registry stays cheap and a
heavy model file is only imported when a config asks for it. A table of lazy
entries is declared at once: ``Registry("model", lazy={"name": "mod:attr"})``.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Tuple


class Registry:
  """A named table of constructors, e.g. models, tasks or executors."""

  def __init__(self, kind: str, lazy: Optional[Mapping[str, str]] = None):
    """``lazy``: name -> ``"module:attribute"``, each declared as ``lazy``."""
    self.kind = kind
    self._entries: Dict[str, Any] = {}
    self._lazy: Dict[str, str] = {}
    for name, target in (lazy or {}).items():
      self.lazy(name, target)

  def register(self, name: str) -> Callable[[Any], Any]:
    """Decorator: ``@MODELS.register("deepconvlstm")``."""

    def deco(obj):
      if name in self._entries and self._entries[name] is not obj:
        raise KeyError(f"{self.kind} {name!r} is registered twice")
      self._entries[name] = obj
      return obj

    return deco

  def lazy(self, name: str, target: str) -> None:
    """Declares ``name`` to resolve to ``"module:attribute"`` on first use."""
    if ":" not in target:
      raise ValueError(f"lazy target must be 'module:attribute', got {target!r}")
    self._lazy[name] = target

  def get(self, name: str) -> Any:
    if name not in self._entries and name in self._lazy:
      module, attr = self._lazy[name].split(":")
      self._entries[name] = getattr(importlib.import_module(module), attr)
    if name not in self._entries:
      raise KeyError(
          f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
    return self._entries[name]

  def registered(self) -> Tuple[str, ...]:
    """The eagerly registered names, in the order they were registered."""
    return tuple(self._entries)

  def names(self) -> Iterable[str]:
    return sorted(set(self._entries) | set(self._lazy))

  def __contains__(self, name: str) -> bool:
    return name in self._entries or name in self._lazy
