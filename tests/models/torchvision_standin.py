"""A stand-in for the one torchvision name pytorchvideo's models import.

``pytorchvideo.models.head`` does ``from torchvision.ops import RoIAlign``
(used only by detection heads), and every pytorchvideo model module imports
``head``. The only torchvision wheel available here is CUDA-built and breaks
the CPU torch, so parity tests and benchmarks build pytorchvideo's SlowFast
against this stand-in instead. It is put into ``sys.modules`` only while
pytorchvideo is imported (``import_pytorchvideo``) and never when a working
torchvision is installed.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types


class RoIAlign:
  """Placeholder: classification models never build it."""

  def __init__(self, *args, **kwargs):
    del args, kwargs
    raise NotImplementedError("torchvision stand-in: RoIAlign (detection "
                              "heads) is not available")


@contextlib.contextmanager
def installed():
  """``torchvision`` and ``torchvision.ops`` stand-ins in ``sys.modules`` for
  the duration of the block, unless a real torchvision imports."""
  try:
    importlib.import_module("torchvision.ops")
    real = True
  except Exception:  # pylint: disable=broad-except
    real = False  # missing, or a build that does not match torch
    for name in [n for n in sys.modules
                 if n == "torchvision" or n.startswith("torchvision.")]:
      del sys.modules[name]
  if real:
    yield
    return
  vision = types.ModuleType("torchvision")
  ops = types.ModuleType("torchvision.ops")
  ops.RoIAlign = RoIAlign
  vision.ops = ops
  sys.modules.update({"torchvision": vision, "torchvision.ops": ops})
  try:
    yield
  finally:
    for name in ("torchvision", "torchvision.ops"):
      if sys.modules.get(name) in (vision, ops):
        del sys.modules[name]


def import_pytorchvideo(module: str = "pytorchvideo.models.slowfast"
                        ) -> types.ModuleType:
  """Imports a pytorchvideo module with the stand-in in place."""
  with installed():
    return importlib.import_module(module)
