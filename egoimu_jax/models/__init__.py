"""Model registries, by the name in ``config.model.name``.

* ``MODELS``: the constructor; other ``config.model`` fields are its
  arguments (``build``).
* ``FLOPS`` (optional): forward FLOPs per example from the same fields, for
  MFU logging (``forward_flops``; see ``models/flops.py``).
* ``IMPORTERS``: readers of pretrained PyTorch weights (``models/convert``)
  that return a variables dict in our layout; the ``finetune`` task's
  ``pretrained_format`` names one.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any, Mapping, Optional

from absl import logging

from egoimu_jax import errors
from egoimu_jax.registry import Registry

# name -> "module:attribute". Keep these tables sorted; one line per entry.
MODELS = Registry("model", lazy={
    "attend_discriminate": "egoimu_jax.models.attend_discriminate:create",
    "clip_vision": "egoimu_jax.models.clip_vision:create",
    "crosshar": "egoimu_jax.models.crosshar:create",
    "crosshar_classifier": "egoimu_jax.models.crosshar:create_classifier",
    "deepconvlstm": "egoimu_jax.models.deepconvlstm:create",
    "embedding_probe": "egoimu_jax.models.embedding_probe:create",
    "evimae": "egoimu_jax.models.evimae:create",
    "evimae_classifier": "egoimu_jax.models.evimae:create_classifier",
    "imu2clip": "egoimu_jax.models.imu2clip:create",
    "imu_mae": "egoimu_jax.models.imu_mae:create",
    "imu_mae_classifier": "egoimu_jax.models.imu_mae:create_classifier",
    "mantis": "egoimu_jax.models.mantis:create",
    "moment": "egoimu_jax.models.moment:create",
    "slowfast": "egoimu_jax.models.slowfast:create",
    "timesformer": "egoimu_jax.models.timesformer:create",
    "videomae": "egoimu_jax.models.videomae:create",
})

FLOPS = Registry("FLOP count", lazy={
    "crosshar": "egoimu_jax.models.crosshar:pretrain_flops",
    "crosshar_classifier": "egoimu_jax.models.crosshar:classifier_flops",
    "evimae": "egoimu_jax.models.flops:evimae_pretrain",
    "evimae_classifier": "egoimu_jax.models.flops:evimae_finetune",
    "imu_mae": "egoimu_jax.models.flops:imu_mae_pretrain",
    "imu_mae_classifier": "egoimu_jax.models.flops:evimae_finetune",
    "slowfast": "egoimu_jax.models.slowfast:forward_flops",
    "mantis": "egoimu_jax.models.mantis:forward_flops",
    "moment": "egoimu_jax.models.moment:forward_flops",
    "timesformer": "egoimu_jax.models.timesformer:forward_flops",
    "videomae": "egoimu_jax.models.videomae:forward_flops",
})

IMPORTERS = Registry("weight importer", lazy={
    "clip": "egoimu_jax.models.convert.clip:load",
    "slowfast": "egoimu_jax.models.convert.slowfast:load",
    "mantis": "egoimu_jax.models.convert.mantis:load",
    "moment": "egoimu_jax.models.convert.moment:load",
    "timesformer": "egoimu_jax.models.convert.timesformer:load",
    "videomae": "egoimu_jax.models.convert.videomae:load_classifier",
})


def check_variant(model_config: Mapping[str, Any]) -> None:
  """Raises ``errors.ArgError`` if ``config.model.variant`` names no preset
  of its model's ``VARIANTS``: checked before any data is prepared for a run
  that could never build its model."""
  name, variant = model_config.get("name"), model_config.get("variant")
  if not name or not variant or name not in MODELS:
    return
  module = sys.modules[MODELS.get(name).__module__]
  known = getattr(module, "VARIANTS", None)
  if known is None and hasattr(module, "make_spec"):  # sizes in a spec module
    known = getattr(sys.modules[module.make_spec.__module__], "VARIANTS", None)
  if known is not None and variant not in known:
    raise errors.ArgError(
        f"config.model.variant={variant!r} is not a {name} variant (known: "
        f"{', '.join(sorted(known))}){errors.did_you_mean(variant, known)}")


def build(model_config: Mapping[str, Any]):
  """Builds a Flax module from ``config.model`` (a ConfigDict or dict)."""
  cfg = dict(model_config)
  name = cfg.pop("name")
  return MODELS.get(name)(**cfg)


def forward_flops(model_config: Mapping[str, Any],
                  input_shapes: Optional[Mapping[str, Any]] = None
                  ) -> Optional[float]:
  """Forward FLOPs per example of ``config.model``, None if not counted.

  ``input_shapes`` (batch key -> shape with the batch axis) fills the count
  function's explicit ``num_frames`` / ``image_size`` parameters, for models
  whose cost depends on the input rather than on their own fields."""
  cfg = dict(model_config)
  name = cfg.pop("name")
  if name not in FLOPS:
    return None
  fn = FLOPS.get(name)
  params = inspect.signature(fn).parameters
  frames = (input_shapes or {}).get("frames")
  if frames is not None:
    for key, value in (("num_frames", frames[1]), ("image_size", frames[2])):
      if key in params and key not in cfg:
        cfg[key] = int(value)
  try:
    return float(fn(**cfg))
  except (TypeError, ValueError) as e:  # a logging aid: never stop a run
    logging.warning("no FLOP count for model %r (%s); MFU not logged",
                    name, e)
    return None
