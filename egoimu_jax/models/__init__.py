"""Model registry. ``config.model.name`` selects an entry; other fields of
``config.model`` are passed to the constructor (see ``build``)."""

from __future__ import annotations

from typing import Any, Mapping

from egoimu_jax.registry import Registry

MODELS = Registry("model")
# name -> "module:attribute". Keep this table sorted; one line per model.
_LAZY = {
    "attend_discriminate": "egoimu_jax.models.attend_discriminate:create",
    "deepconvlstm": "egoimu_jax.models.deepconvlstm:create",
    "evimae": "egoimu_jax.models.evimae:create",
    "evimae_classifier": "egoimu_jax.models.evimae:create_classifier",
    "imu_mae": "egoimu_jax.models.imu_mae:create",
    "imu_mae_classifier": "egoimu_jax.models.imu_mae:create_classifier",
}
for _name, _target in _LAZY.items():
  MODELS.lazy(_name, _target)


def build(model_config: Mapping[str, Any]):
  """Builds a Flax module from ``config.model`` (a ConfigDict or dict)."""
  cfg = dict(model_config)
  name = cfg.pop("name")
  return MODELS.get(name)(**cfg)
