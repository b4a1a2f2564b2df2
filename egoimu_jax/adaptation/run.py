"""Per-test-person adaptation of a trained classifier (``config.adapt``).

The ``adaptation`` evaluator (``training/evaluators.py``): the trainer runs
it after the final evaluation, on the best state. Each result is written
like an evaluation variant, to ``<workdir>/variants/<name>/results.json``
with the name ``"<run> / <name>"``:

* ``adabn``, ``tent`` (``adapt.tta``): for each test person, the model is
  adapted on that person's unlabeled test windows (``tta``) and scored on
  all of them — the same windows as the unadapted run, so the two pair.
  A model without BatchNorm gets AdaBN as a no-op, said in the results'
  ``extra.adaptation.note``.
* ``calib_k0`` and ``calib_<mode>_k<k>`` (``adapt.calibration_minutes``,
  ``calibration_modes`` "head" | "full"): for each test person, the model
  fine-tuned on their first ``k`` labelled minutes (``calibration``) with
  the trainer's own train step and the task's loss, then scored on the
  windows after the largest ``k`` (the same for every ``k``).

Compile cost: every person's batches are padded (or drawn) to fixed shapes,
so each jitted function (AdaBN, TENT, one train step per mode, predict) is
compiled once per run, not once per person.
"""

from __future__ import annotations

import copy
import logging
import os
from typing import Any, Dict, List, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import optax

from egoimu_jax.adaptation import calibration
from egoimu_jax.adaptation import tta as tta_lib
from egoimu_jax.evaluation import results as results_lib
from egoimu_jax.input_pipeline.store import processed

TTA_METHODS = ("adabn", "tent")
MODES = ("head", "full")


def enabled(config) -> bool:
  adapt = config.get("adapt", {})
  return bool(adapt and (adapt.get("tta") or adapt.get("calibration_minutes")))


def adapt_and_evaluate(config, task, pipe, state, workdir: str,
                       extra: Mapping[str, Any], make_train_step) -> List[str]:
  """Runs every configured adaptation; returns the variant names written.

  ``make_train_step`` is the engine's (``trainer.make_train_step``), passed
  in so the calibration fine-tunes with the one training step.
  """
  if not enabled(config):
    return []
  validate(config, task)
  runner = _Runner(config, task, pipe, state, make_train_step)
  written = []
  for method in config.adapt.tta:
    outputs, info = runner.tta(method)
    written.append(_write(config, task, pipe, workdir, method, outputs,
                          {**extra, "adaptation": info}))
  if config.adapt.calibration_minutes:
    for name, outputs, info in runner.calibration():
      cov = {**extra.get("coverage", {}),
             "test": processed.coverage(outputs["index"], info.pop("total"))}
      written.append(_write(config, task, pipe, workdir, name, outputs,
                            {**extra, "coverage": cov, "adaptation": info}))
  return written


def validate(config, task) -> None:
  """One-line errors for a bad ``config.adapt`` (before training)."""
  if not enabled(config):
    return
  cfg = config.adapt
  unknown = sorted(set(cfg.tta) - set(TTA_METHODS))
  if unknown:
    raise ValueError(f"config.adapt.tta: unknown {unknown}; known "
                     f"{TTA_METHODS}")
  bad_modes = sorted(set(cfg.calibration_modes) - set(MODES))
  if bad_modes:
    raise ValueError(f"config.adapt.calibration_modes: unknown {bad_modes}; "
                     f"known {MODES}")
  if not hasattr(task, "model_variables"):
    raise ValueError(f"config.adapt needs a classifier task (supervised, "
                     f"finetune), not {config.task.name!r}")
  if jax.process_count() > 1:
    raise ValueError("config.adapt runs in a single process; evaluate the "
                     "trained workdir on one host")
  if min(cfg.calibration_minutes or (0,)) < 0:
    raise ValueError(f"config.adapt.calibration_minutes must be >= 0, got "
                     f"{list(cfg.calibration_minutes)}")


class Adaptation:
  """Evaluator (``training/evaluators.py``) of ``config.adapt``."""

  def wanted(self, config) -> bool:
    return enabled(config)

  def validate(self, config, task) -> None:
    validate(config, task)

  def run(self, ctx) -> List[str]:
    return adapt_and_evaluate(ctx.config, ctx.task, ctx.pipe, ctx.state,
                              ctx.workdir, ctx.extra, ctx.make_train_step)


EVALUATOR = Adaptation()


def _write(config, task, pipe, workdir, name, outputs, extra) -> str:
  variant = copy.deepcopy(config)
  with variant.unlocked():
    variant.name = f"{config.name or config.model.name} / {name}"
  writer = type(task)(variant, pipe)
  writer.finish(os.path.join(workdir, results_lib.VARIANTS_DIR, name), {"test": outputs},
                {}, extra={**extra, "variant": name})
  logging.info("adaptation %s written", name)
  return name


class _Runner:
  """The test persons' windows and the jitted pieces, built once."""

  def __init__(self, config, task, pipe, state, make_train_step):
    self.config, self.task, self.pipe, self.state = config, task, pipe, state
    self.make_train_step = make_train_step
    self.size = int(config.adapt.max_windows)
    self.seed = int(config.seed)
    table = pipe.dataset.table
    test = pipe.indices("test")
    self.persons = {int(w): test[table.worker[test] == w]
                    for w in np.unique(table.worker[test])}
    self.variables = task.model_variables(state.params, state.model_state)
    self._predict = jax.jit(task.predict)

  # -- data -----------------------------------------------------------------

  def _batches(self, indices: np.ndarray):
    """Fixed-size padded batches of the records ``indices``."""
    reader = self.pipe.batch_reader(indices)
    for start in range(0, len(indices), self.size):
      pos = np.arange(start, start + self.size)
      yield reader(np.where(pos < len(indices), pos, -1))

  def _adapt_batch(self, indices: np.ndarray, person: int):
    """One padded batch of at most ``size`` of ``indices`` (a seeded
    subset when there are more)."""
    if len(indices) > self.size:
      rng = np.random.default_rng([self.seed, person])
      indices = np.sort(rng.choice(indices, self.size, replace=False))
    return next(self._batches(indices))

  def _predict_all(self, variables, indices) -> Dict[str, np.ndarray]:
    outs = []
    for b in self._batches(indices):
      out = jax.device_get(self._predict(variables, _jnp(b)))
      keep = b["mask"]
      outs.append({**{k: np.asarray(v)[keep] for k, v in out.items()},
                   "index": b["index"][keep]})
    return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}

  # -- test-time adaptation -------------------------------------------------

  def tta(self, method: str):
    task, cfg = self.task, self.config.adapt
    has_bn = tta_lib.has_batch_norm(self.variables)
    adabn = jax.jit(
        lambda v, b: tta_lib.adabn_stats(task.apply, v, b, b["mask"]))
    tent = None
    if method == "tent":
      first = next(iter(self.persons))
      example = _jnp(self._adapt_batch(self.persons[first], first))
      trainable = tta_lib.norm_param_mask(task.model, self.variables, example)
      if not any(jax.tree.leaves(trainable)):
        raise ValueError(f"TENT: model {self.config.model.name} has no "
                         "normalisation layer parameters to adapt")
      tent = jax.jit(tta_lib.make_tent(
          task.apply, tta_lib.tent_optimizer(cfg.tent_lr, trainable),
          int(cfg.tent_steps)))
    outputs, entropy = [], {}
    for person, indices in self.persons.items():
      variables = dict(self.variables)
      batch = _jnp(self._adapt_batch(indices, person))
      if has_bn:
        variables["batch_stats"] = adabn(variables, batch)
      if tent is not None:
        params, history = tent(variables, batch, batch["mask"])
        variables["params"] = params
        h = np.asarray(history)
        entropy[self.pipe.dataset.workers[person]] = [float(h[0]),
                                                      float(h[-1])]
      outputs.append(self._predict_all(variables, indices))
    info = {"method": method, "persons": len(self.persons),
            "max_windows": self.size, "batch_norm": has_bn}
    if method == "adabn" and not has_bn:
      info["note"] = (f"no-op: model {self.config.model.name} has no "
                      "BatchNorm, so AdaBN leaves it unchanged")
    if tent is not None:
      info.update(steps=int(cfg.tent_steps), lr=float(cfg.tent_lr),
                  entropy_before_after=entropy)
    return _concat(outputs), info

  # -- few-shot calibration -------------------------------------------------

  def _split(self):
    ds = self.pipe.dataset
    window_us = int(round(1e6 * (ds.manifest.get("window_seconds") or
                                 ds.window_length / ds.manifest["rate_hz"])))
    minutes = self.config.adapt.calibration_minutes
    out, skipped = {}, []
    for person, indices in self.persons.items():
      adapt, evaluate = calibration.minute_split(
          ds.table.clip[indices], ds.table.t0_us[indices], window_us, minutes)
      if len(evaluate):
        out[person] = ({k: np.sort(indices[p]) for k, p in adapt.items()},
                       np.sort(indices[evaluate]))
      else:
        skipped.append(ds.workers[person])
    if not out:
      raise ValueError(f"config.adapt.calibration_minutes={list(minutes)}: "
                       "no test person has windows after the largest budget")
    return out, skipped

  def _fine_tune_step(self, mode: str):
    """``(tx, jitted train step)`` of one mode (compiled on first use)."""
    config = copy.deepcopy(self.config)
    with config.unlocked():
      config.optim.freeze = (f"(?!{config.adapt.head_pattern}).*"
                             if mode == "head" else "")
    lr = optax.constant_schedule(float(self.config.adapt.calibration_lr or
                                       self.config.optim.lr))
    # The task's own update rule (e.g. finetune's head multiplier), frozen
    # for "head"; the trainer's step with the task's loss.
    tx = type(self.task)(config, self.pipe).optimizer(lr)
    step = jax.jit(self.make_train_step(
        self.task, tx, lr, jax.random.key(self.seed + 17)))
    return tx, step

  def calibration(self):
    split, skipped = self._split()
    minutes = sorted(float(k) for k in self.config.adapt.calibration_minutes)
    total = int(sum(len(e) for _, e in split.values()))
    batch_size = int(self.config.input.batch_size)
    steps = int(self.config.adapt.calibration_steps)
    common = {"minutes": minutes, "persons": len(split),
              "skipped_persons": skipped, "eval_windows": total,
              "total": len(self.pipe.indices("test"))}
    fine_tune = {m: self._fine_tune_step(m)
                 for m in self.config.adapt.calibration_modes}
    for k in minutes:
      modes = ("",) if k == 0 else tuple(self.config.adapt.calibration_modes)
      for mode in modes:
        tx, step = fine_tune[mode] if mode else (None, None)
        outputs, used = [], {}
        for person, (adapt, evaluate) in split.items():
          variables = self.variables
          if k > 0 and len(adapt[k]):
            state = self.state.replace(step=jnp.zeros((), jnp.int32),
                                       opt_state=tx.init(self.state.params))
            reader = self.pipe.batch_reader(adapt[k])
            rng = np.random.default_rng([self.seed, person, int(k * 1000)])
            for _ in range(steps):
              b = reader(rng.integers(0, len(adapt[k]), batch_size))
              state, _ = step(state, _jnp(b))
            variables = self.task.model_variables(state.params,
                                                  state.model_state)
          used[self.pipe.dataset.workers[person]] = int(len(adapt[k]))
          outputs.append(self._predict_all(variables, evaluate))
        name = f"calib_{mode}_k{k:g}" if mode else "calib_k0"
        info = {**common, "method": "calibration", "mode": mode or "none",
                "k_minutes": k, "steps": steps if k else 0,
                "adapt_windows": used}
        yield name, _concat(outputs), info


def _jnp(batch: Mapping[str, np.ndarray]) -> Dict[str, jax.Array]:
  return {k: jnp.asarray(v) for k, v in batch.items()}


def _concat(outputs: List[Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
  return {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}
