"""A model's state on a mesh: shapes first, then shardings, then a sharded
init (or a restore), so the full parameters never sit on one device.

  layout = state_builder.layout(init, key, mesh, config.sharding_rules)
  state = layout.create()                 # or a restore into layout.abstract

or, in one call, ``build_state(init, key, mesh, rules, warm_start=...)``.
``init(key)`` returns a ``TrainState`` (the trainer, the feature probe:
``train_state_init``) or a plain variables dict (a frozen teacher); its
leaves are sharded by ``sharding.py``'s rules (no rules: replicated).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax.training import sharding
from egoimu_jax.training import train_state


@dataclasses.dataclass(frozen=True)
class StateLayout:
  """Where every leaf of ``init(key)``'s output lives, before any is made."""
  init: Callable[[jax.Array], Any]
  key: jax.Array
  shardings: Any
  abstract: Any  # ShapeDtypeStructs carrying their shardings

  def create(self) -> Any:
    """A fresh state, each leaf initialised on its own devices."""
    return jax.jit(self.init, out_shardings=self.shardings)(self.key)


def layout(init: Callable[[jax.Array], Any], key: jax.Array, mesh,
           rules: Sequence[sharding.Rule] = ()) -> StateLayout:
  """Shapes of ``init(key)`` (``jax.eval_shape``) and their shardings."""
  shapes = jax.eval_shape(init, key)
  if isinstance(shapes, train_state.TrainState):
    shardings = sharding.state_shardings(shapes, rules, mesh)
  else:
    shardings = sharding.variable_shardings(shapes, rules, mesh)
  abstract = jax.tree.map(
      lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
      shapes, shardings)
  return StateLayout(init, key, shardings, abstract)


def build_state(init: Callable[[jax.Array], Any], key: jax.Array, mesh,
                rules: Sequence[sharding.Rule] = (), *,
                restore: Optional[Callable[[Any], Any]] = None,
                warm_start: Optional[Callable[[Any], Any]] = None
                ) -> Tuple[Any, StateLayout]:
  """``(state, layout)``: ``restore(layout.abstract)`` when given, else a
  fresh sharded init passed through ``warm_start`` (e.g. pretrained
  weights)."""
  lay = layout(init, key, mesh, rules)
  if restore is not None:
    return restore(lay.abstract), lay
  state = lay.create()
  return (warm_start(state) if warm_start is not None else state), lay


def train_state_init(task, example: Mapping[str, jax.ShapeDtypeStruct],
                     tx) -> Callable[[jax.Array], train_state.TrainState]:
  """``init(key)``: the task's variables on a zero batch shaped like
  ``example``, as a step-0 ``TrainState`` with ``tx``'s optimizer state."""

  def init(key):
    batch = {k: jnp.zeros(s.shape, s.dtype) for k, s in example.items()}
    return train_state.from_variables(task.init_variables(key, batch), tx)

  return init


def init_batch(pipe) -> Dict[str, jax.ShapeDtypeStruct]:
  """Shapes of a one-example batch, read from the first training batch."""
  first = next(iter(pipe.train_dataset()))
  return {k: jax.ShapeDtypeStruct(
      (1,) + np.shape(v)[1:],
      jax.dtypes.canonicalize_dtype(np.asarray(v).dtype))
          for k, v in first.items()}
