"""Supervised fine-tuning from a pretraining run (EVI-MAE / IMU-MAE).

Training, evaluation and results are the ``supervised`` task's (cross-entropy,
Contract 5 ``results.json``); this task adds the warm start: on a fresh run
the classifier's encoder weights (and the graph encoder's BatchNorm
statistics) are restored from a pretraining checkpoint, straight into their
target shardings, and only the head keeps its initialisation.

``config.task``:

* ``pretrained``: a pretraining workdir (its ``checkpoints/``), a checkpoint
  directory, a step directory, or a step's ``state`` directory. Empty: train
  from scratch (logged as a warning).
* ``pretrained_step`` (``"latest"``): which step of a checkpoint directory;
  ``"best"`` picks the lowest validation loss recorded by the
  ``mae_pretrain`` task; an integer picks that step.
* ``fresh``: regexes (on parameter paths without the collection) of leaves
  that keep their fine-tuning initialisation; default the head
  (``head``, ``head_norm``). E.g. ``("^head", "^video_")`` to fine-tune a
  multimodal classifier from an IMU-only pretraining.
* ``head_lr_multiplier`` (1.0): the ``fresh`` leaves' updates are scaled by
  this factor (the EVI-MAE fine-tuning scripts use 100 with base lr 5e-5).

Every other classifier leaf must exist in the checkpoint with the same shape;
a missing or mismatched one is an error naming it. Pretraining-only weights
(decoders, mask tokens, graph decoder) are not read.
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping, Sequence

from absl import logging
import flax
import jax
import optax
import orbax.checkpoint as ocp

from egoimu_jax.models import evimae
from egoimu_jax.training import checkpointing
from egoimu_jax.training.tasks import supervised

COLLECTIONS = ("params", "batch_stats")


class Finetune(supervised.Supervised):
  """``supervised`` with a warm start from a pretraining checkpoint."""

  def __init__(self, config, data):
    super().__init__(config, data)
    task = config.task
    self.pretrained = str(task.get("pretrained", "") or "")
    self.pretrained_step = task.get("pretrained_step", "latest")
    self.fresh = tuple(task.get("fresh", evimae.HEAD_PATTERNS))
    self.head_lr_multiplier = float(task.get("head_lr_multiplier", 1.0))

  def optimizer(self, lr: optax.Schedule) -> optax.GradientTransformation:
    tx = super().optimizer(lr)
    if self.head_lr_multiplier == 1.0:
      return tx

    def is_fresh(params):
      return jax.tree_util.tree_map_with_path(
          lambda path, _: any(re.search(r, "/".join(
              str(getattr(k, "key", k)) for k in path)) for r in self.fresh),
          params)

    return optax.chain(tx, optax.masked(optax.scale(self.head_lr_multiplier),
                                        is_fresh))

  def warm_start(self, state):
    if not self.pretrained:
      logging.warning("finetune: config.task.pretrained is empty; training "
                      "%s from scratch", self.config.model.name)
      return state
    path = resolve_state_dir(self.pretrained, self.pretrained_step)
    variables = restore_pretrained(path, state.variables, self.fresh)
    return state.replace(
        params=variables["params"],
        model_state={**state.model_state,
                     **{k: variables[k] for k in state.model_state
                        if k in variables}})


def resolve_state_dir(source: str, step: Any = "latest") -> str:
  """The absolute ``.../<step>/state`` directory ``source`` designates."""
  source = os.path.abspath(source)  # orbax wants absolute paths
  if not os.path.isdir(source):
    raise FileNotFoundError(f"pretrained checkpoint {source!r} does not exist")
  if os.path.isdir(os.path.join(source, "checkpoints")):
    source = os.path.join(source, "checkpoints")
  if os.path.isdir(os.path.join(source, checkpointing.STATE)):
    return os.path.join(source, checkpointing.STATE)
  if os.path.basename(os.path.normpath(source)) == checkpointing.STATE:
    return source
  steps = sorted(int(d) for d in os.listdir(source) if d.isdigit())
  if not steps:
    raise FileNotFoundError(f"{source}: no checkpoint steps found")
  if step == "latest":
    chosen = steps[-1]
  elif step == "best":
    ckpt = checkpointing.Checkpointer(source, best_metric="loss",
                                      best_mode="min", async_save=False)
    chosen = ckpt.best_step()
    ckpt.close()
  else:
    chosen = int(step)
    if chosen not in steps:
      raise FileNotFoundError(f"{source}: no step {chosen} (have {steps})")
  return os.path.join(source, str(chosen), checkpointing.STATE)


def _flat(tree: Mapping[str, Any]) -> dict[str, Any]:
  return flax.traverse_util.flatten_dict(flax.core.unfreeze(tree), sep="/")


def restore_pretrained(path: str, variables: Mapping[str, Any],
                       fresh: Sequence[str] = evimae.HEAD_PATTERNS
                       ) -> dict[str, Any]:
  """``variables`` with every non-fresh leaf read from the TrainState saved
  at ``path``, restored with the sharding of the leaf it replaces."""
  checkpointer = ocp.PyTreeCheckpointer()
  item = checkpointer.metadata(path).item_metadata
  saved_tree = getattr(item, "tree", item)
  saved = {}
  for c in COLLECTIONS:
    source = (saved_tree.get("params", {}) if c == "params" else
              saved_tree.get("model_state", {}).get(c, {}))
    saved.update({f"{c}/{k}": v for k, v in _flat(source).items()})
  wanted = {p: leaf for p, leaf in _flat(variables).items()
            if p.split("/", 1)[0] in COLLECTIONS and
            not any(re.search(r, p.split("/", 1)[1]) for r in fresh)}
  missing = sorted(set(wanted) - set(saved))
  mismatched = [f"{p}: saved {tuple(saved[p].shape)}, model "
                f"{tuple(wanted[p].shape)}" for p in sorted(set(wanted) &
                                                            set(saved))
                if tuple(saved[p].shape) != tuple(wanted[p].shape)]
  if missing or mismatched:
    raise ValueError(
        f"{path}: the pretraining checkpoint does not cover the fine-tuning "
        f"model; missing {missing[:10]}{' ...' if len(missing) > 10 else ''},"
        f" shape mismatches {mismatched[:10]}. Add regexes to "
        "config.task.fresh for leaves that should start fresh.")
  target = {"params": {}, "model_state": {}}
  for p, leaf in wanted.items():
    c, rest = p.split("/", 1)
    node = target["params"] if c == "params" else target[
        "model_state"].setdefault(c, {})
    keys = rest.split("/")
    for k in keys[:-1]:
      node = node.setdefault(k, {})
    node[keys[-1]] = jax.ShapeDtypeStruct(leaf.shape, leaf.dtype,
                                          sharding=leaf.sharding)
  if not target["model_state"]:
    del target["model_state"]  # e.g. a video-only classifier: no graph stats
  restored = checkpointer.restore(path, args=ocp.args.PyTreeRestore(
      item=target,
      restore_args=ocp.checkpoint_utils.construct_restore_args(target),
      partial_restore=True))
  pretrained = {"params": restored["params"],
                **restored.get("model_state", {})}
  logging.info("finetune: restored %d leaves from %s", len(wanted), path)
  return evimae.finetune_params_from_pretrain(pretrained, variables,
                                              fresh=fresh)
