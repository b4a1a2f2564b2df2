r"""Pretrained weights in sweeps: ``weights.<model>=DIR``, and no silent random
initialisation at the papers' scale.

Every sweep that trains, probes or distils a model with released weights
takes one directory per model in its arg (docs/pretrained_weights.md)::

  --sweep=launch/sweeps/har_models.py:weights.moment=/ckpt/MOMENT-1-small,\
weights.mantis=/ckpt/Mantis-8M
  --sweep=launch/sweeps/reproduce.py:scale=pilot,weights.moment=...,...

The keys are the importers of ``models.IMPORTERS`` (``MODELS``); the
directory reaches the model's config (``weights=``: the ``finetune`` task's
``pretrained`` with that importer) or the teacher's
(``teacher.weights`` / ``weights_format``). ``<model>_weights=DIR`` (the
older spelling) is read the same way.

At the papers' scale (a sweep run without ``tiny`` or ``cpu``: ``reproduce``'s
``pilot`` and ``full``) a model without its weights is refused
(``RandomInitError``, naming the model and the arg) unless
``allow_random_init=True``; at the tiny and CPU scales random init stays
allowed. Either way ``results.json`` records the init and the report marks
random-init rows (``egoimu_jax/init_record.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, Optional, Tuple

from egoimu_jax import errors

# Weight keys: the models.IMPORTERS names (clip: IMU2CLIP's CLIP teacher).
MODELS = ("clip", "mantis", "moment", "slowfast", "timesformer", "videomae")
PREFIX = "weights."
ALLOW = "allow_random_init"
DOCS = "docs/pretrained_weights.md"


class RandomInitError(errors.UserError):
  """A model with released weights would start from random ones at the
  papers' scale."""

  def __init__(self, models: Iterable[str]):
    self.models = tuple(sorted(set(models)))
    args = ",".join(f"{PREFIX}{m}=DIR" for m in self.models)
    super().__init__(
        f"{', '.join(self.models)} would start from random weights at the "
        f"papers' scale: pass {args} (how to get them: {DOCS}), or "
        f"{ALLOW}=True to run (and mark) random init")


@dataclasses.dataclass(frozen=True)
class Weights:
  """The weights directories of a sweep's arg, and whether random init is
  allowed where they are missing."""
  dirs: Tuple[Tuple[str, str], ...] = ()
  allow_random_init: bool = False

  def get(self, model: str) -> str:
    return dict(self.dirs).get(model, "")

  def check(self, models: Iterable[str], papers_scale: bool) -> None:
    """Raises ``RandomInitError`` for the ``models`` without a directory,
    at the papers' scale unless random init is allowed."""
    missing = [m for m in models if not self.get(m)]
    if missing and papers_scale and not self.allow_random_init:
      raise RandomInitError(missing)

  def arg(self) -> str:
    """The sweep-arg form (``weights.moment=DIR,...``), to pass on."""
    parts = [f"{PREFIX}{m}={d}" for m, d in self.dirs]
    return ",".join(parts + ([f"{ALLOW}=True"] if self.allow_random_init
                             else []))


def split(arg: Optional[str]) -> Tuple[str, Weights]:
  """``arg`` without its weights parts, and those parts as ``Weights``."""
  rest, dirs, allow = [], {}, False
  for part in filter(None, (arg or "").split(",")):
    key, sep, value = (s.strip() for s in part.partition("="))
    legacy = key[:-len("_weights")] if key.endswith("_weights") else ""
    model = (key[len(PREFIX):] if key.startswith(PREFIX) else
             legacy if legacy in MODELS else None)
    if key == ALLOW:
      allow = _boolean(value if sep else "true", arg)
    elif model is not None and sep:
      if model not in MODELS:
        raise errors.ArgError(
            f"{key}: no weights for {model!r} (known: {', '.join(MODELS)})"
            f"{errors.did_you_mean(model, MODELS)}")
      dirs[model] = value
    else:
      rest.append(part)
  kept = tuple((m, d) for m, d in sorted(dirs.items()) if d)
  return ",".join(rest), Weights(kept, allow)


def config_args(model: str, weights: Weights) -> Dict[str, str]:
  """The config arg carrying ``model``'s weights (``{"weights": DIR}``), or
  nothing for a model without released weights or without a directory."""
  return {"weights": weights.get(model)} if model in MODELS else {}


def teacher_overrides(model: str, weights: Weights) -> Dict[str, str]:
  """Config overrides giving a frozen teacher its weights, if any."""
  path = weights.get(model)
  return ({"teacher.weights": path, "teacher.weights_format": model}
          if path else {})


def _boolean(value: str, arg: Optional[str]) -> bool:
  word = value.lower()
  if word not in ("1", "true", "yes", "0", "false", "no"):
    raise errors.ArgError(f"{ALLOW}={value!r} in {arg!r} is not a boolean")
  return word in ("1", "true", "yes")
