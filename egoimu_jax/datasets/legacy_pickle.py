"""Reads pandas DataFrames pickled by an old pandas, constructing no pandas.

Current pandas cannot unpickle frames written by pandas 0.x
(``object.__new__(BlockManager) is not safe``), and a plain ``pickle.load``
of package data would run whatever the file names. ``loads`` uses a
restricted unpickler instead: pandas classes become inert stubs that only
store their pickled state, the only callables it hands out are numpy's
array and dtype reconstruction (and ``bytes`` from latin-1 text, as
protocol-2 pickles store raw buffers), and any other global is refused.
``columns`` then reads a stub frame's blocks as ``{column: 1-D array}``.
"""

from __future__ import annotations

import io
import pickle
from typing import Any, Dict

import numpy as np

try:  # numpy >= 2
  from numpy._core.multiarray import _reconstruct as _np_reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
  from numpy.core.multiarray import _reconstruct as _np_reconstruct


class Stub:
  """A pandas object as pickled: its class name and its state, nothing run."""

  def __setstate__(self, state: Any) -> None:
    self.state = state


class IndexStub:
  """A pandas Index as pickled by ``_new_Index(cls, data)``."""

  def __init__(self, kind: str, data: Dict[str, Any]):
    self.kind = kind
    self.data = data


def _stub_class(name: str) -> type:
  return type(name, (Stub,), {"__module__": __name__})


def _reconstructor(cls, base, state):
  """``copyreg._reconstructor`` for stub classes only."""
  if not (isinstance(cls, type) and issubclass(cls, Stub)) or base is not object \
      or state is not None:
    raise pickle.UnpicklingError(f"refused object construction of {cls!r}")
  return cls.__new__(cls)


def _new_index(cls, data):
  if not (isinstance(cls, type) and issubclass(cls, Stub)) or \
      not isinstance(data, dict):
    raise pickle.UnpicklingError(f"refused index construction of {cls!r}")
  return IndexStub(cls.__name__, data)


def _ndarray_reconstruct(subtype, shape, dtype):
  if subtype is not np.ndarray:
    raise pickle.UnpicklingError(f"refused array subtype {subtype!r}")
  return _np_reconstruct(subtype, shape, dtype)


def _latin1_bytes(text, encoding):
  """``_codecs.encode(text, "latin1")``: how protocol 2 stores bytes."""
  if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
    raise pickle.UnpicklingError(f"refused _codecs.encode(..., {encoding!r})")
  return text.encode("latin1")


_ALLOWED = {
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("__builtin__", "slice"): slice,
    ("builtins", "slice"): slice,
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "_reconstruct"): _ndarray_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _ndarray_reconstruct,
}


class _Unpickler(pickle.Unpickler):
  """Hands out stubs for pandas and ``_ALLOWED`` only; refuses the rest."""

  def __init__(self, data: bytes):
    super().__init__(io.BytesIO(data), encoding="latin1")
    self._stubs: Dict[str, type] = {}

  def find_class(self, module: str, name: str):
    if module == "pandas" or module.startswith("pandas."):
      if name == "_new_Index":
        return _new_index
      return self._stubs.setdefault(f"{module}.{name}", _stub_class(name))
    if (module, name) in _ALLOWED:
      return _ALLOWED[(module, name)]
    raise pickle.UnpicklingError(f"refused global {module}.{name}")


def loads(data: bytes) -> Any:
  """The pickled object, with pandas objects as ``Stub`` / ``IndexStub``."""
  return _Unpickler(data).load()


def columns(frame: Any) -> Dict[str, np.ndarray]:
  """``{column name: 1-D array}`` of a stub DataFrame (pandas >= 0.14's
  BlockManager state: ``axes`` = [column Index, row index], ``blocks`` of
  ``values`` [k, n] placed at ``mgr_locs``)."""
  try:
    manager = frame.state["_data"].state
    state = next(v for v in manager if isinstance(v, dict))["0.14.1"]
    names = list(state["axes"][0].data["data"])
    out: Dict[str, np.ndarray] = {}
    for block in state["blocks"]:
      values, locs = block["values"], block["mgr_locs"]
      picked = (names[locs] if isinstance(locs, slice)
                else [names[i] for i in np.asarray(locs)])
      if len(picked) != values.shape[0]:
        raise ValueError("block size does not match its columns")
      out.update(zip(picked, values))
  except (AttributeError, KeyError, IndexError, StopIteration, TypeError,
          ValueError) as e:
    raise ValueError(f"not a pandas DataFrame state this reader knows "
                     f"({type(e).__name__}: {e})") from None
  return out
