"""What a training run carries from step to step, as one pytree.

``model_state`` holds every variable collection other than ``params``
(BatchNorm ``batch_stats``, Attend-and-Discriminate's class ``centers``, ...),
so the engine treats them all alike: they are passed to ``apply`` as mutable
collections, returned updated by the task's loss, sharded by the same rules
and checkpointed with the rest. The step's random key is not stored: it is
``fold_in(key(config.seed), step)``, so a resumed run draws the same numbers.
"""

from __future__ import annotations

from typing import Any, Dict

import flax
from flax import struct
import jax
import jax.numpy as jnp


@struct.dataclass
class TrainState:
  step: jax.Array          # int32 scalar: updates applied so far
  params: Any
  opt_state: Any
  model_state: Dict[str, Any]

  @property
  def variables(self) -> Dict[str, Any]:
    """``{"params": ..., **model_state}``, as ``model.apply`` takes them."""
    return {"params": self.params, **self.model_state}


def from_variables(variables: Dict[str, Any], tx) -> TrainState:
  """A step-0 state from ``model.init`` output."""
  variables = flax.core.unfreeze(variables)
  params = variables.pop("params")
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    opt_state=tx.init(params), model_state=variables)
