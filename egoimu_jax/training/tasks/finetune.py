"""Supervised fine-tuning from pretrained weights.

Training, evaluation and results are the ``supervised`` task's (cross-entropy,
Contract 5 ``results.json``); this task adds the warm start: on a fresh run
every leaf but the ``fresh`` ones (the head) is taken from pretrained
weights (``models.transfer``), and only the head keeps its initialisation.
The weights come from either

* a pretraining run of ours (EVI-MAE / IMU-MAE): restored straight into
  their target shardings, BatchNorm statistics included; or
* converted PyTorch weights (``pretrained_format`` names an importer of
  ``models.IMPORTERS``, e.g. ``timesformer`` for a transformers checkpoint
  directory): read on the host, then placed with the state's shardings.

``config.task``:

* ``pretrained``: a pretraining workdir (its ``checkpoints/``), a checkpoint
  directory, a step directory, or a step's ``state`` directory; with
  ``pretrained_format``, whatever that importer reads. Empty: train from
  scratch (logged as a warning).
* ``pretrained_format`` (``""``): ``""`` for our orbax checkpoints, else an
  importer name (``models.IMPORTERS``).
* ``from_scratch`` (False): an intended from-scratch baseline; silences the
  warning an empty ``pretrained`` gives.
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
from typing import Any, Mapping, Sequence

from absl import logging
import jax
import optax
import orbax.checkpoint as ocp

from egoimu_jax import models
from egoimu_jax.models import transfer
from egoimu_jax.training import checkpointing
from egoimu_jax.training.tasks import supervised


class Finetune(supervised.Supervised):
  """``supervised`` with a warm start from a pretraining checkpoint."""

  def __init__(self, config, data):
    super().__init__(config, data)
    task = config.task
    self.pretrained = str(task.get("pretrained", "") or "")
    self.pretrained_step = task.get("pretrained_step", "latest")
    self.pretrained_format = str(task.get("pretrained_format", "") or "")
    self.fresh = tuple(task.get("fresh", transfer.HEAD))
    self.head_lr_multiplier = float(task.get("head_lr_multiplier", 1.0))

  def optimizer(self, lr: optax.Schedule) -> optax.GradientTransformation:
    tx = super().optimizer(lr)
    if self.head_lr_multiplier == 1.0:
      return tx

    return optax.chain(tx, optax.masked(
        optax.scale(self.head_lr_multiplier),
        lambda params: transfer.fresh_mask(params, self.fresh)))

  def warm_start(self, state):
    if not self.pretrained:
      # A from-scratch baseline says so (task.from_scratch); otherwise an
      # empty path is more likely a forgotten one.
      log = (logging.info if self.config.task.get("from_scratch", False)
             else logging.warning)
      log("finetune: no pretrained weights; training %s from scratch",
          self.config.model.name)
      return state
    if self.pretrained_format:
      variables = import_weights(self.pretrained_format, self.pretrained,
                                 state.variables, self.fresh)
    else:
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


def import_weights(fmt: str, source: str, variables: Mapping[str, Any],
                   fresh: Sequence[str] = transfer.HEAD) -> dict[str, Any]:
  """``variables`` with every non-fresh leaf from converted weights.

  ``models.IMPORTERS.get(fmt)(source)`` returns a variables dict in our
  layout (``{"params": ..., "batch_stats": ...}``); leaves are placed with
  the sharding of the leaf they replace.
  """
  imported = models.IMPORTERS.get(fmt)(source)
  wanted = {c: variables[c] for c in variables if c in imported}
  merged = transfer.transfer(imported, wanted, fresh=fresh,
                             what=f"{fmt} weights {source}")
  shardings = jax.tree.map(lambda x: x.sharding, wanted)
  return {**variables, **jax.device_put(merged, shardings)}


def restore_pretrained(path: str, variables: Mapping[str, Any],
                       fresh: Sequence[str] = transfer.HEAD
                       ) -> dict[str, Any]:
  """``variables`` with every non-fresh leaf read from the TrainState saved
  at ``path``, restored with the sharding of the leaf it replaces."""
  checkpointer = ocp.PyTreeCheckpointer()
  item = checkpointer.metadata(path).item_metadata
  saved_tree = getattr(item, "tree", item)
  saved = {}
  for c in transfer.COLLECTIONS:
    source = (saved_tree.get("params", {}) if c == "params" else
              saved_tree.get("model_state", {}).get(c, {}))
    saved.update({f"{c}/{k}": v for k, v in transfer.flatten(source).items()})
  target = {p: leaf for p, leaf in transfer.flatten(variables).items()
            if p.split("/", 1)[0] in transfer.COLLECTIONS}
  plan = transfer.plan(saved, target, fresh, what=f"checkpoint {path}")
  item = {"params": {}, "model_state": {}}
  for p in plan.copied:
    c, rest = p.split("/", 1)
    node = item["params"] if c == "params" else item[
        "model_state"].setdefault(c, {})
    keys = rest.split("/")
    for k in keys[:-1]:
      node = node.setdefault(k, {})
    leaf = target[p]
    node[keys[-1]] = jax.ShapeDtypeStruct(leaf.shape, leaf.dtype,
                                          sharding=leaf.sharding)
  if not item["model_state"]:
    del item["model_state"]  # e.g. a video-only classifier: no graph stats
  restored = checkpointer.restore(path, args=ocp.args.PyTreeRestore(
      item=item,
      restore_args=ocp.checkpoint_utils.construct_restore_args(item),
      partial_restore=True))
  pretrained = {"params": restored["params"],
                **restored.get("model_state", {})}
  logging.info("finetune: restored %d leaves from %s", len(plan.copied), path)
  return transfer.transfer(pretrained, variables, fresh=fresh,
                           what=f"checkpoint {path}")
