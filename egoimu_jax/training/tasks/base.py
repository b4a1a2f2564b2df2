"""The Task interface: what the engine asks of a training objective.

The engine (``trainer.train_and_evaluate``) owns the loop, data iterators,
mesh and shardings, ``jit``, the optimizer update, checkpoints, writers and
multi-host gathering. A task owns the model, the loss, and what evaluation
means. One engine serves supervised classification, MAE pre-training,
distillation and fine-tuning by swapping the task (``config.task.name``,
looked up in ``tasks.TASKS``).

Lifecycle, in call order::

  task = TASKS.get(config.task.name)(config, data)      # builds self.model
  variables = task.init_variables(rng, batch)  # traced (eval_shape, jit)
  tx = task.optimizer(lr_schedule)
  state = task.warm_start(state)                        # fresh runs only
  loop:
    loss, (model_state, metrics) = task.loss(params, model_state, batch, rng)
                                                        # traced, differentiated
    every eval: outputs = task.predict(variables, batch)   # traced, per example
                metrics = task.evaluate("val", gathered)   # host, numpy
  end: best state restored; task.evaluate(part, ...) for each final_parts
       task.finish(workdir, outputs, metrics)             # process 0 only

Rules for implementers:

* ``loss`` and ``predict`` are pure functions of their arguments (they run
  under ``jit`` on sharded global arrays). Training randomness comes from
  ``rng``, which the engine derives from ``config.seed`` and the step, so
  resumed runs draw the same numbers. ``predict`` gets no key: a task that
  needs randomness at evaluation derives it from the batch (``mae_pretrain``
  folds a seed with the windows' ``index``), so every evaluation is the same.
* ``model_state`` is every variable collection except ``params``
  (``batch_stats``, task-owned state such as class centres); the task returns
  its new value from ``loss``. The engine shards, donates and checkpoints it.
* Task-owned variables (projection heads, a queue) come from
  ``init_task_variables`` and live under the key ``"task"`` of their
  collection (``params/task/...``, ``batch_stats/task/...``,
  ``<collection>/task/...``), so the model's own paths are unchanged and
  fine-tuning, freeze regexes and sharding rules still match them; the
  optimizer updates ``params/task`` like any parameter. ``split_task`` /
  ``join_task`` separate and rejoin the two sets around ``model.apply``.
* ``predict`` returns per-example arrays with the batch's leading dimension.
  The engine adds the batch's ``index`` and ``mask``, gathers from all hosts,
  drops padding and hands ``evaluate`` numpy arrays in which every window
  appears exactly once.
* ``metrics`` from ``loss`` are scalars (averaged over logging steps by the
  engine); ``evaluate`` returns a JSON-able dict whose scalar entries are
  logged as ``<part>/<name>``.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from egoimu_jax import models
from egoimu_jax.training import optim

Batch = Mapping[str, jax.Array]
Metrics = Dict[str, jax.Array]
# The key of each variable collection under which task-owned variables live.
TASK = "task"


def split_task(variables: Mapping[str, Any]
               ) -> Tuple[Dict[str, Any], Dict[str, Any]]:
  """``(model's variables, task's variables)``: each collection's ``task``
  entry moved out (collections left empty are dropped on both sides)."""
  model, owned = {}, {}
  for c, tree in variables.items():
    tree = dict(tree)
    if TASK in tree:
      owned[c] = tree.pop(TASK)
    if tree:
      model[c] = tree
  return model, owned


def join_task(model: Mapping[str, Any], owned: Mapping[str, Any]
              ) -> Dict[str, Any]:
  """The inverse of ``split_task``."""
  out = {c: dict(tree) for c, tree in model.items()}
  for c, tree in owned.items():
    out.setdefault(c, {})[TASK] = tree
  return out


class Task:
  """Base class with the defaults a classifier-like task wants.

  Attributes:
    best_metric: validation metric (a key of ``evaluate``'s result) that
      picks the best checkpoint; ``None`` keeps no "best" (the final test
      uses the last checkpoint).
    best_mode: ``"max"`` or ``"min"``.
    final_parts: split parts evaluated with the best checkpoint at the end.
    rng_streams: rng collections ``model.apply`` receives in training.
  """
  best_metric: Optional[str] = None
  best_mode: str = "max"
  final_parts: Sequence[str] = ("val", "test")
  rng_streams: Sequence[str] = ("dropout",)

  def __init__(self, config: ml_collections.ConfigDict, data: Any):
    """``data`` is the run's ``input_pipeline.pipeline.InputPipeline``
    (``.split``, ``.dataset`` with classes and the record table)."""
    self.config = config
    self.data = data
    self.model = self.build_model()

  # -- construction -------------------------------------------------------

  def model_kwargs(self) -> Dict[str, Any]:
    """Constructor arguments the task adds to ``config.model`` (classes)."""
    return {}

  def build_model(self) -> nn.Module:
    """``models.build(config.model)`` plus ``model_kwargs`` and the dtype."""
    cfg = dict(self.config.model)
    extra = {**self.model_kwargs(), "dtype": jnp.dtype(self.config.dtype)}
    clash = sorted(k for k in extra if k in cfg and cfg[k] != extra[k])
    if clash:
      raise ValueError(f"config.model sets {clash}, which the {self.name} task "
                       "derives (dtype from config.dtype); remove them")
    return models.build({**cfg, **extra})

  @property
  def name(self) -> str:
    return self.config.task.name

  def init_variables(self, rng: jax.Array, batch: Batch) -> Dict[str, Any]:
    """Every variable collection of a fresh model (traced; small batch),
    with the task's own variables under ``TASK`` (``init_task_variables``)."""
    rngs = {"params": rng, **{s: jax.random.fold_in(rng, i + 1)
                              for i, s in enumerate(self.rng_streams)}}
    variables = dict(self.model.init(rngs, batch, train=False))
    owned = self.init_task_variables(
        jax.random.fold_in(rng, len(self.rng_streams) + 1), batch, variables)
    if not owned:
      return variables
    clash = sorted(c for c in variables if TASK in variables[c])
    if clash:
      raise ValueError(f"model {self.config.model.name} has a top-level "
                       f"{TASK!r} entry in {clash}, the key reserved for "
                       f"the {self.name} task's variables")
    return join_task(variables, owned)

  def init_task_variables(self, rng: jax.Array, batch: Batch,
                          variables: Mapping[str, Any]) -> Dict[str, Any]:
    """The task's own variables by collection (traced), e.g.
    ``{"params": heads, "queue": {...}}``; ``variables`` are the model's.
    Default: none."""
    del rng, batch, variables
    return {}

  def optimizer(self, lr: optax.Schedule) -> optax.GradientTransformation:
    """The update rule; override for e.g. layer-wise learning-rate decay.
    ``config.optim.freeze`` (a regex on parameter paths) keeps leaves fixed,
    e.g. ``"(?!head/).*"`` trains only the head on a frozen encoder."""
    return optim.build(self.config.optim, lr)

  def warm_start(self, state: Any) -> Any:
    """Hook after a fresh initialisation (not on resume), e.g. loading
    pre-trained weights into the sharded state. Runs on every process."""
    return state

  # -- traced -------------------------------------------------------------

  def apply(self, variables: Mapping[str, Any], batch: Batch, *, train: bool,
            rng: Optional[jax.Array] = None, mutable=False):
    """``model.apply`` with this task's rng streams."""
    rngs = None
    if rng is not None:
      rngs = {s: jax.random.fold_in(rng, i) for i, s in
              enumerate(self.rng_streams)}
    return self.model.apply(variables, batch, train=train, rngs=rngs,
                            mutable=mutable)

  def loss(self, params: Any, model_state: Mapping[str, Any], batch: Batch,
           rng: jax.Array) -> Tuple[jax.Array, Tuple[Dict[str, Any], Metrics]]:
    """Training loss: ``(loss, (new_model_state, scalar_metrics))``."""
    raise NotImplementedError

  def predict(self, variables: Mapping[str, Any], batch: Batch
              ) -> Dict[str, jax.Array]:
    """Per-example evaluation outputs, ``[b, ...]`` each."""
    raise NotImplementedError

  # -- host ---------------------------------------------------------------

  def evaluate(self, part: str, outputs: Mapping[str, np.ndarray]
               ) -> Dict[str, Any]:
    """Metrics of one split part from its gathered, unpadded outputs."""
    raise NotImplementedError

  def finish(self, workdir: str,
             outputs: Mapping[str, Mapping[str, np.ndarray]],
             metrics: Mapping[str, Mapping[str, Any]],
             extra: Mapping[str, Any]) -> Dict[str, Any]:
    """Writes the run's results (process 0 only) and returns a summary."""
    del workdir, outputs, extra
    return {"metrics": dict(metrics)}
