"""Cross-modal distillation: a frozen video teacher's window embeddings into
an IMU student (COMODO, IMU2CLIP), through the one trainer.

The student is any registered IMU model that returns ``aux["features"]``
(MOMENT, Mantis, the IMU2CLIP encoder); it is built as its classifier, whose
head this task never uses (fine-tuning replaces it), so its parameter paths
are exactly those that fine-tuning, freeze regexes and sharding rules
match. The teacher is a stored embedding set (``config.input.teacher``,
``batch["teacher"]``): no video is decoded. The task's own variables live
under the ``task`` key of their collections (``tasks.base``).

``config.task.objective``:

* ``"comodo"`` (Chen et al. 2025): teacher projector ``MLP(D -> hidden, BN,
  GELU -> out)`` randomly initialised and, as in the reference, never
  trained (its weights in the ``frozen`` collection, its BatchNorm in eval
  mode); student projector the same shape, trained. Loss and FIFO queue:
  ``models.distill_losses``. The queue (``task_state/task/queue``,
  checkpointed with the rest, so a resumed run is bitwise the same) starts
  as the projected teacher embeddings of ``queue_size`` training windows
  drawn with ``RandomState(queue_seed)``; those windows sit out the first
  epoch (no loss, not enqueued; the student projector's BatchNorm still
  sees them).
* ``"clip"`` (Moon et al. 2023): symmetric InfoNCE between the student's
  features (through a linear projection only when their size differs from
  the teacher's) and the teacher embeddings, with a learnable temperature
  (``params/task/log_temperature``, initialised at ``temperature``).

``config.task`` fields: ``objective``; COMODO: ``queue_size`` (16384),
``queue_seed`` (16349), ``teacher_temperature`` (0.1),
``student_temperature`` (0.05), ``projector_hidden`` (2048),
``projector_dim`` (128), ``train_teacher_projector`` (False: frozen, as the
reference), ``teacher_batchnorm`` (``"eval"``; ``"train"``: batch
statistics, running averages updated); CLIP: ``temperature`` (0.1),
``learn_temperature`` (True). The student's pretrained weights:
``pretrained`` / ``pretrained_format`` / ``pretrained_step`` as the
``finetune`` task reads them (empty: the student starts random).

The population is the split's: protocol ``pretrain`` distils on every
worker unlabeled (``protocol.pretrain_on="all"``) or on one fold's training
workers (``"train"``). Validation reports the objective (COMODO: each
window against the queue and its own teacher embedding; CLIP: InfoNCE
within consecutive groups of ``input.batch_size`` windows) and
``retrieval_top1`` (the student embedding's nearest teacher embedding in its
group is its own); the lowest ``loss`` is the best checkpoint. ``finish``
writes ``pretrain_results.json``, the file ``pretrain_finetune`` and the
``distill_evaluate`` job wait for.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, Mapping, Tuple

import flax.linen as nn
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import numpy as np

from egoimu_jax.models import distill_losses
from egoimu_jax.models import projection
from egoimu_jax.training.tasks import base
from egoimu_jax.training.tasks import finetune
from egoimu_jax.training.tasks import mae_pretrain

OBJECTIVES = ("comodo", "clip")
FROZEN = "frozen"          # collection of parameters no optimizer sees
STATE = "task_state"       # collection of the queue and the step counter


class Distill(base.Task):
  """An IMU student matched to frozen teacher embeddings."""
  best_metric = "loss"
  best_mode = "min"
  final_parts = ("val",)

  def __init__(self, config, data):
    super().__init__(config, data)
    self.teacher = str(config.input.get("teacher", "") or "")
    if not self.teacher:
      raise ValueError("config.input.teacher is empty: the distill task "
                       "reads a stored teacher-embedding set; name one "
                       "(configs/teacher_embeddings.py)")
    t = config.task
    self.objective = t.get("objective", "comodo")
    if self.objective not in OBJECTIVES:
      raise ValueError(f"config.task.objective={self.objective!r}; expected "
                       f"one of {OBJECTIVES}")
    if self.objective == "comodo":
      self.queue_size = int(t.get("queue_size", 16384))
      self.teacher_temperature = float(t.get("teacher_temperature", 0.1))
      self.student_temperature = float(t.get("student_temperature", 0.05))
      self.train_teacher = bool(t.get("train_teacher_projector", False))
      self.teacher_bn = t.get("teacher_batchnorm", "eval")
      if self.teacher_bn not in ("eval", "train"):
        raise ValueError(f"config.task.teacher_batchnorm={self.teacher_bn!r}"
                         "; expected 'eval' or 'train'")
      hidden = int(t.get("projector_hidden", 2048))
      dim = int(t.get("projector_dim", 128))
      self.student_proj = projection.ProjectionMLP(hidden, dim)
      self.teacher_proj = projection.ProjectionMLP(hidden, dim)
      self.queue_index = self._queue_index(int(t.get("queue_seed", 16349)))
      self.sitout = jnp.asarray(np.sort(self.queue_index), jnp.int32)
      self.steps_per_epoch = data.train_steps().steps_per_epoch
    else:
      self.temperature = float(t.get("temperature", 0.1))
      self.learn_temperature = bool(t.get("learn_temperature", True))

  def model_kwargs(self) -> Dict[str, Any]:
    return {"num_classes": len(self.data.dataset.classes)}

  def _queue_index(self, seed: int) -> np.ndarray:
    """Dataset indices of the training windows that fill the queue."""
    train = self.data.indices("train")
    if self.queue_size > len(train):
      raise ValueError(
          f"config.task.queue_size={self.queue_size} exceeds the "
          f"{len(train)} training windows with a {self.teacher} embedding")
    pick = np.random.RandomState(seed).choice(len(train), self.queue_size,
                                              replace=False)
    return train[pick]

  # -- variables ----------------------------------------------------------

  def init_task_variables(self, rng, batch, variables):
    _, aux = self.model.apply(variables, batch, train=False)
    if "features" not in aux:
      raise ValueError(f"distill needs aux['features'], but model "
                       f"{self.config.model.name} returns {sorted(aux)}")
    features = aux["features"].astype(jnp.float32)
    teacher = batch["teacher"].astype(jnp.float32)
    k_student, k_teacher = jax.random.split(rng)
    if self.objective == "clip":
      log_t = jnp.asarray(math.log(self.temperature), jnp.float32)
      owned = {"params" if self.learn_temperature else FROZEN:
               {"log_temperature": log_t}}
      if features.shape[-1] != teacher.shape[-1]:
        owned.setdefault("params", {})["student_proj"] = self._clip_projection(
            teacher.shape[-1]).init(k_student, features)["params"]
      return owned
    student = self.student_proj.init(k_student, features, train=False)
    teacher_vars = self.teacher_proj.init(k_teacher, teacher, train=False)
    owned = {"params": {"student_proj": student["params"]},
             "batch_stats": {"student_proj": student["batch_stats"],
                             "teacher_proj": teacher_vars["batch_stats"]},
             # Filled by warm_start (a fresh run) or the checkpoint.
             STATE: {"queue": jnp.zeros((self.queue_size,
                                         self.teacher_proj.out), jnp.float32),
                     "step": jnp.zeros((), jnp.int32)}}
    where = "params" if self.train_teacher else FROZEN
    owned.setdefault(where, {})["teacher_proj"] = teacher_vars["params"]
    return owned

  @staticmethod
  def _clip_projection(dim: int) -> nn.Module:
    return nn.Dense(dim, use_bias=False)

  def warm_start(self, state):
    state = self._student_weights(state)
    if self.objective != "comodo":
      return state
    embeddings = self.data.dataset.teacher(self.teacher).read(
        self.queue_index).astype(np.float32)
    _, owned = base.split_task(state.variables)
    where = "params" if self.train_teacher else FROZEN
    # The teacher projector's full values on this host (any sharding, any
    # number of processes); every process computes the same queue.
    projector = multihost_utils.process_allgather(
        {where: {"teacher_proj": owned[where]["teacher_proj"]},
         "batch_stats": {"teacher_proj": owned["batch_stats"][
             "teacher_proj"]}}, tiled=True)
    queue, _ = jax.jit(lambda o, e: self.project_teacher(o, e, train=False))(
        projector, embeddings)
    model_state = jax.tree.map(lambda x: x, state.model_state)
    old = model_state[STATE][base.TASK]["queue"]
    model_state[STATE][base.TASK]["queue"] = jax.device_put(
        np.asarray(queue, np.float32), old.sharding)
    return state.replace(model_state=model_state)

  def _student_weights(self, state):
    """The student's pretrained weights (``task.pretrained``, read as the
    ``finetune`` task does: ``pretrained_format`` names an importer, ""
    reads our checkpoints); its head is never used and stays fresh."""
    source = str(self.config.task.get("pretrained", "") or "")
    if not source:
      return state
    fmt = str(self.config.task.get("pretrained_format", "") or "")
    model_vars, owned = base.split_task(state.variables)
    if fmt:
      model_vars = finetune.import_weights(fmt, source, model_vars)
    else:
      model_vars = finetune.restore_pretrained(
          finetune.resolve_state_dir(
              source, self.config.task.get("pretrained_step", "latest")),
          model_vars)
    variables = base.join_task(model_vars, owned)
    return state.replace(params=variables.pop("params"),
                         model_state=variables)

  # -- traced -------------------------------------------------------------

  def project_teacher(self, owned: Mapping[str, Any], teacher: jax.Array, *,
                      train: bool) -> Tuple[jax.Array, Any]:
    """L2-normalised teacher projections and the projector's new BatchNorm
    statistics (unchanged unless ``teacher_batchnorm == "train"``)."""
    where = "params" if self.train_teacher else FROZEN
    variables = {"params": owned[where]["teacher_proj"],
                 "batch_stats": owned["batch_stats"]["teacher_proj"]}
    x = teacher.astype(jnp.float32)
    if train and self.teacher_bn == "train":
      z, updates = self.teacher_proj.apply(variables, x, train=True,
                                           mutable=["batch_stats"])
      stats = updates["batch_stats"]
    else:
      z = self.teacher_proj.apply(variables, x, train=False)
      stats = variables["batch_stats"]
    return distill_losses.l2_normalize(z), stats

  def _student(self, owned, features, *, train: bool):
    """Student embeddings (COMODO: projector output, unnormalised) and the
    student projector's new BatchNorm statistics (COMODO only)."""
    features = features.astype(jnp.float32)
    if self.objective == "clip":
      proj = owned.get("params", {}).get("student_proj")
      if proj is not None:
        features = self._clip_projection(proj["kernel"].shape[-1]).apply(
            {"params": proj}, features)
      return features, None
    variables = {"params": owned["params"]["student_proj"],
                 "batch_stats": owned["batch_stats"]["student_proj"]}
    if not train:
      return self.student_proj.apply(variables, features, train=False), None
    z, updates = self.student_proj.apply(variables, features, train=True,
                                         mutable=["batch_stats"])
    return z, updates["batch_stats"]

  def _log_temperature(self, owned):
    return owned["params" if self.learn_temperature else FROZEN][
        "log_temperature"]

  def loss(self, params, model_state, batch, rng):
    model_vars, owned = base.split_task({"params": params, **model_state})
    mutable = [c for c in model_vars if c != "params"]
    (_, aux), updates = self.apply(model_vars, batch, train=True, rng=rng,
                                   mutable=mutable)
    new_model = {**{c: v for c, v in model_vars.items() if c != "params"},
                 **updates}
    new_owned = {c: v for c, v in owned.items() if c != "params"}
    valid = batch["mask"].astype(bool)
    z_x, student_stats = self._student(owned, aux["features"], train=True)
    if self.objective == "clip":
      terms = distill_losses.clip_loss(z_x, batch["teacher"],
                                       self._log_temperature(owned), valid)
      metrics = {**terms, "temperature": jnp.exp(self._log_temperature(
          owned))}
      return terms["loss"], (base.join_task(new_model, new_owned), metrics)

    state = owned[STATE]
    step = state["step"]
    # The queue's own windows sit out the first epoch.
    pos = jnp.clip(jnp.searchsorted(self.sitout, batch["index"]), 0,
                   self.sitout.shape[0] - 1)
    sitting = (self.sitout[pos] == batch["index"]) & (
        step < self.steps_per_epoch)
    valid = valid & ~sitting
    z_v, teacher_stats = self.project_teacher(owned, batch["teacher"],
                                              train=True)
    loss = distill_losses.comodo_loss(
        z_x, z_v, state["queue"], valid, self.teacher_temperature,
        self.student_temperature)
    new_owned["batch_stats"] = {"student_proj": student_stats,
                                "teacher_proj": teacher_stats}
    new_owned[STATE] = {
        "queue": distill_losses.fifo_update(state["queue"], z_v, valid),
        "step": step + 1}
    metrics = {"loss": loss, "sitting_out": jnp.sum(sitting & batch[
        "mask"].astype(bool)).astype(jnp.float32)}
    return loss, (base.join_task(new_model, new_owned), metrics)

  def predict(self, variables, batch) -> Dict[str, jax.Array]:
    model_vars, owned = base.split_task(variables)
    _, aux = self.apply(model_vars, batch, train=False)
    z_x, _ = self._student(owned, aux["features"], train=False)
    out = {"student": distill_losses.l2_normalize(z_x)}
    if self.objective == "clip":
      out["teacher"] = distill_losses.l2_normalize(batch["teacher"])
      out["log_temperature"] = jnp.broadcast_to(
          self._log_temperature(owned), z_x.shape[:1])
      return out
    z_v, _ = self.project_teacher(owned, batch["teacher"], train=False)
    queue = owned[STATE]["queue"]
    one = jnp.ones((1,), bool)
    out["teacher"] = z_v
    out["loss"] = jax.vmap(lambda a, b: distill_losses.comodo_per_example(
        a[None], b[None], queue, one, self.teacher_temperature,
        self.student_temperature)[0])(z_x, z_v)
    return out

  # -- host ---------------------------------------------------------------

  def evaluate(self, part: str, outputs: Mapping[str, np.ndarray]
               ) -> Dict[str, Any]:
    student = np.asarray(outputs["student"], np.float64)
    teacher = np.asarray(outputs["teacher"], np.float64)
    group = int(self.config.input.batch_size)
    hits, clip_terms = 0, []
    for start in range(0, len(student), group):
      s, t = student[start:start + group], teacher[start:start + group]
      sim = s @ t.T
      hits += int(np.sum(np.argmax(sim, 1) == np.arange(len(s))))
      if self.objective == "clip":
        logits = sim / math.exp(float(outputs["log_temperature"][0]))
        diag = np.arange(len(s))
        s2t = _logsumexp(logits, 1) - logits[diag, diag]
        t2s = _logsumexp(logits, 0) - logits[diag, diag]
        clip_terms.append((s2t + t2s) / 2)
    if self.objective == "clip":
      loss = float(np.mean(np.concatenate(clip_terms)))
    else:
      loss = float(np.mean(np.asarray(outputs["loss"], np.float64)))
    return {"loss": loss, "retrieval_top1": hits / max(len(student), 1),
            "examples": int(len(student))}

  def finish(self, workdir, outputs, metrics, extra):
    del outputs
    summary = {"config": json.loads(self.config.to_json_best_effort()),
               "split": dict(self.data.split),
               "model": self.config.model.name, "task": self.name,
               "objective": self.objective, "teacher": self.teacher,
               "metrics": dict(metrics), "extra": dict(extra)}
    with open(os.path.join(workdir, mae_pretrain.RESULTS_FILE), "w") as f:
      json.dump(summary, f, indent=1, default=str)
    return summary


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
  m = np.max(x, axis=axis, keepdims=True)
  return np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis))
