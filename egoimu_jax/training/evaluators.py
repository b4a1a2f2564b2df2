"""Post-training evaluators: hooks the trainer runs on the best state.

An evaluator is an object with

* ``wanted(config) -> bool``: whether the config asks for it;
* ``validate(config, task)``: one-line config errors, before training;
* ``run(ctx)``: after the final evaluation and before the run's own
  results file (which marks the run finished); it writes its results under
  ``<workdir>/variants/<name>/``.

Registered below by name, in the order they run; each is imported only when
a run asks for it. Today: ``variants`` (``config.eval_variants``: the test
part again with changed model/task fields, a batch transform such as
degraded video; ``eval_variants.py``) and ``adaptation`` (``config.adapt``:
per-test-person AdaBN / TENT / few-shot calibration; ``adaptation/run.py``).
A new one is a module with such an object plus one line in ``_TARGETS``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, List, Mapping

import numpy as np

from egoimu_jax.registry import Registry

# name -> "module:attribute", in the order they run.
_TARGETS = {
    "variants": "egoimu_jax.training.eval_variants:EVALUATOR",
    "adaptation": "egoimu_jax.adaptation.run:EVALUATOR",
}
EVALUATORS = Registry("evaluator", lazy=_TARGETS)
ORDER = tuple(_TARGETS)


@dataclasses.dataclass(frozen=True)
class Context:
  """What an evaluator gets from the trainer after the final evaluation.

  ``predict(task, part, transform)`` evaluates ``state`` with ``task``'s
  ``predict`` on the pipeline's ``part`` over the mesh (all hosts, padding
  removed), ``transform(batch) -> batch`` applied first inside the step;
  ``make_train_step(task, tx, lr, key)`` is the engine's update step;
  ``extra`` is the run's ``results.json`` ``extra``.
  """
  config: Any
  task: Any
  pipe: Any
  state: Any
  workdir: str
  extra: Mapping[str, Any]
  predict: Callable[..., Dict[str, np.ndarray]]
  make_train_step: Callable[..., Callable]


def for_config(config) -> List[Any]:
  """The evaluators ``config`` asks for, in run order (``ORDER``)."""
  return [e for e in map(EVALUATORS.get, ORDER) if e.wanted(config)]
