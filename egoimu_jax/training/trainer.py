"""The training engine: ``train_and_evaluate(config, workdir)``.

One loop for every model and task (``config.task.name``):

1. data: the prepared ``config.data.processed_dir`` (``data_deps`` prepares
   it for the ``train`` job; the trainer prepares nothing and fails with one
   line if it is missing) → ``split.json`` → grain ``InputPipeline``
   (process 0 first, so shared files are written once; ``run_inputs.py``);
2. durations (``*_steps | *_epochs | *_examples | *_percent``) resolved
   against the split's training size;
3. ``jax.eval_shape(init)`` → shardings from ``config.sharding_rules`` →
   ``jax.jit(init, out_shardings=...)``, or a restore of the latest
   checkpoint (state and data-iterator position) from ``workdir``
   (``state_builder.build_state``);
4. ``jit`` train step over the mesh with the state donated; metrics, speed,
   model FLOP/s and MFU (``mfu.py``, for models that count their FLOPs) and
   ETA logged every ``log_every`` steps on process 0;
5. validation every ``eval_every`` steps; each evaluation is checkpointed
   with its metric so the best one is kept, and ``early_stopping.py`` may
   end the loop there (``config.early_stopping.patience`` > 0);
6. at the end, the best checkpoint is restored, ``task.final_parts`` are
   evaluated (predictions gathered from all hosts, padding masked out) and
   the task writes its results (``results.json`` for classifiers);
7. the post-training evaluators the config asks for (``evaluators.py``:
   test-time variants, per-person adaptation) run on the best state, each
   writing into ``variants/<name>/``, before the run's own results file.

A SIGTERM (or, multi-host, JAX's preemption notice) checkpoints the current
step and raises ``preemption.Preempted``; rerunning in the same workdir
resumes from the latest checkpoint, whatever stopped the run.

Randomness: the init key is ``fold_in(key(seed), 0)``; the key of step ``s``
is ``fold_in(fold_in(key(seed), 1), s)``, computed inside the step, so a
resumed run is bitwise the same as an uninterrupted one on the same mesh.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any, Callable, Dict, List, Mapping

from absl import logging
from clu import metrics as clu_metrics
import jax
from jax.experimental import multihost_utils
import ml_collections
import numpy as np
import optax

from egoimu_jax import durations
from egoimu_jax import models
from egoimu_jax.training import checkpointing
from egoimu_jax.training import distributed
from egoimu_jax.training import early_stopping
from egoimu_jax.training import evaluators as evaluators_lib
from egoimu_jax.training import mesh as mesh_lib
from egoimu_jax.training import mfu as mfu_lib
from egoimu_jax.training import optim
from egoimu_jax.training import predict as predict_lib
from egoimu_jax.training import preemption
from egoimu_jax.training import progress as progress_lib
from egoimu_jax.training import run_inputs
from egoimu_jax.training import sharding
from egoimu_jax.training import state_builder
from egoimu_jax.training import tasks
from egoimu_jax.training import writers


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str) -> Dict[str, Any]:
  """Trains ``config`` in ``workdir`` (resuming if it holds checkpoints).

  Returns the task's summary (for classifiers, the results.json dict; on
  processes other than 0, ``{"metrics": ...}``).

  Raises:
    errors.MissingDataError: ``config.data.processed_dir`` (or the teacher
      set ``input.teacher``) is not prepared.
    preemption.Preempted: a preemption notice (SIGTERM) arrived; the step
      it stopped at is checkpointed.
  """
  distributed.process0_first(lambda: os.makedirs(workdir, exist_ok=True),
                             "workdir")
  pipe = run_inputs.input_pipeline(config, workdir)
  mesh = mesh_lib.make_mesh(config.mesh)
  task = tasks.TASKS.get(config.task.name)(config, pipe)
  hooks = evaluators_lib.for_config(config)
  for hook in hooks:
    hook.validate(config, task)
  plan = _plan(config, pipe)
  lr = optim.schedule(config.optim, plan["total"], plan["warmup"],
                      plan["lr_decay_every"])
  tx = task.optimizer(lr)
  base_key = jax.random.key(config.seed)
  init_key, train_key = (jax.random.fold_in(base_key, i) for i in (0, 1))

  # Shapes first, then shardings, then a sharded init: the full parameters
  # never sit on one device.
  example = state_builder.init_batch(pipe)
  layout = state_builder.layout(state_builder.train_state_init(
      task, example, tx), init_key, mesh, config.sharding_rules)
  abstract, state_sh = layout.abstract, layout.shardings
  param_figures = sharding.params_per_device(
      abstract.params, state_sh.params, mesh,
      config.get("params_sharded_tolerance"))
  batch_sh = mesh_lib.batch_sharding(mesh)

  ckpt = checkpointing.Checkpointer(
      os.path.join(workdir, checkpointing.CHECKPOINT_DIR),
      keep=config.checkpoint.keep,
      best_metric=task.best_metric, best_mode=task.best_mode,
      async_save=config.checkpoint.async_save)
  train_iter = pipe.train_iterator()
  latest = ckpt.latest_step()
  if latest is None:
    state = task.warm_start(layout.create())
  else:
    state = ckpt.restore(latest, abstract, train_iter)
  start = int(jax.device_get(state.step))
  logging.info("%s parameters (%s per device), mesh %s; step %d of %d; "
               "steps per epoch %d, eval every %d", f"{param_figures['params']:,}",
               f"{param_figures['params_per_device']:,}", dict(mesh.shape),
               start, plan["total"], plan["steps_per_epoch"], plan["eval_every"])

  p_train = jax.jit(make_train_step(task, tx, lr, train_key),
                    in_shardings=(state_sh, batch_sh),
                    out_shardings=(state_sh, mesh_lib.replicated(mesh)),
                    donate_argnums=(0,))

  def predict(state, eval_task, part, transform=None):
    p_eval = jax.jit(predict_lib.make_eval_step(eval_task, transform),
                     in_shardings=(state_sh, batch_sh), out_shardings=batch_sh)
    return predict_lib.predict(p_eval, state, pipe.eval_batches(part),
                               batch_sh)

  p_eval = jax.jit(predict_lib.make_eval_step(task),
                   in_shardings=(state_sh, batch_sh), out_shardings=batch_sh)

  def evaluate(state, part):
    outputs = predict_lib.predict(p_eval, state, pipe.eval_batches(part),
                                  batch_sh)
    return task.evaluate(part, outputs), outputs

  # What an earlier attempt logged after the restored step is replayed now:
  # cut it (everything, when no checkpoint was restored).
  writer = writers.create(workdir,
                          purge_step=0 if latest is None else start + 1)
  if start == 0:
    writer.write_hparams(_flat(config.to_dict()))
    if jax.process_index() == 0:
      with open(os.path.join(workdir, "config.json"), "w") as f:
        f.write(config.to_json_best_effort(indent=1, sort_keys=True))
  stopper = early_stopping.from_config(config, task.best_metric,
                                       task.best_mode)
  stopped = early_stopping.resume(stopper, workdir, start)
  stop_step = start if stopped else plan["total"]
  watch = preemption.Watch()
  progress = progress_lib.Progress(plan["total"], start)
  meter = mfu_lib.Meter(models.forward_flops(
      config.model, {k: v.shape for k, v in example.items()}),
                        config.input.batch_size, jax.devices(),
                        config.get("dtype", "float32"))
  try:
    pending: List[Dict[str, jax.Array]] = []
    last_val = None  # (step, metrics, outputs) of the latest validation
    for step in range(start + 1, stop_step + 1):
      with jax.profiler.StepTraceAnnotation("train", step_num=step):
        batch = sharding.global_batch(next(train_iter), batch_sh)
        state, metrics = p_train(state, batch)
      pending.append(metrics)
      last = step == plan["total"]
      if step % plan["log_every"] == 0 or last:
        _log_train(writer, step, plan["total"], pending, progress, meter)
        pending = []
      evaluate_now = step % plan["eval_every"] == 0 or last
      preempted = watch.reached(step)  # every process, every step
      save_now = (evaluate_now or preempted or
                  step % plan["checkpoint_every"] == 0)
      if save_now:
        # Finish the queued steps first, so that only evaluation and saving
        # count as paused time in the speed figures.
        jax.block_until_ready(state)
      val = None
      if evaluate_now:
        with progress.paused():
          val, val_outputs = evaluate(state, "val")
        last_val = (step, val, val_outputs)
        writer.write_scalars(step, _scalars("val", val))
        logging.info("step %d: val %s", step,
                     writers.brief(val, task.best_metric))
        if stopper is not None:
          stopped = early_stopping.agreed(
              stopper.update(early_stopping.value_of(stopper, val)))
      if save_now:
        with progress.paused():
          ckpt.save(step, state, train_iter, metrics=val)
      writer.flush()
      if preempted:
        ckpt.wait()
        raise preemption.Preempted(step)
      if stopped:
        if pending:
          _log_train(writer, step, plan["total"], pending, progress, meter)
        logging.info("step %d: early stopping, no %s improvement for %d "
                     "evaluations", step, stopper.metric, stopper.patience)
        stop_step = step
        break
    ckpt.wait()

    # The final evaluation uses the best checkpoint (by the task's metric).
    best = ckpt.best_step() if task.best_metric else ckpt.latest_step()
    if best != int(jax.device_get(state.step)):
      state = ckpt.restore(best, abstract)
    final, final_outputs = {}, {}
    for part in task.final_parts:
      if part == "val" and last_val and last_val[0] == best:
        _, final[part], final_outputs[part] = last_val
      else:
        final[part], final_outputs[part] = evaluate(state, part)
      writer.write_scalars(plan["total"],
                           _scalars(f"final/{part}", final[part]))
      logging.info("best step %s, %s: %s", best, part,
                   writers.brief(final[part], task.best_metric))
    extra = {"best_step": best, "total_steps": plan["total"], "steps": plan,
             "class_weights": config.get("class_weights", "balanced"),
             "recipe": config.get("recipe", ""),
             "early_stopping": (stopper.settings() if stopper
                                else {"patience": 0}),
             "stopped_early": stop_step < plan["total"],
             "stop_step": stop_step,
             **param_figures, "mesh": dict(mesh.shape),
             "process_count": jax.process_count(),
             "processed_dir": pipe.dataset.processed_dir,
             "coverage": {part: pipe.coverage(part)
                          for part in task.final_parts}}
    # Evaluators first: the run's own results file marks it finished.
    ctx = evaluators_lib.Context(
        config=config, task=task, pipe=pipe, state=state, workdir=workdir,
        extra=extra, predict=functools.partial(predict, state),
        make_train_step=make_train_step)
    for hook in hooks:
      hook.run(ctx)
    summary = {"metrics": final}
    if jax.process_index() == 0:
      summary = task.finish(workdir, final_outputs, final, extra=extra)
  finally:
    watch.close()
    writer.close()
    ckpt.close()
  multihost_utils.sync_global_devices("train_and_evaluate:end")
  return summary



def make_train_step(task, tx: optax.GradientTransformation,
                    lr: optax.Schedule, train_key: jax.Array) -> Callable:
  """``(state, batch) -> (state, metrics)``: one optimizer update."""

  def train_step(state, batch):
    rng = jax.random.fold_in(train_key, state.step)
    grad_fn = jax.value_and_grad(task.loss, has_aux=True)
    (_, (model_state, metrics)), grads = grad_fn(
        state.params, state.model_state, batch, rng)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {**metrics, "grad_norm": optax.tree.norm(grads),
               "lr": lr(state.step)}
    return state.replace(step=state.step + 1, params=params,
                         opt_state=opt_state, model_state=model_state), metrics

  return train_step


def _log_train(writer, step: int, total: int,
               pending: List[Mapping[str, jax.Array]],
               progress: progress_lib.Progress, meter: mfu_lib.Meter) -> None:
  """Means of the steps' metrics since the last log, speed, MFU and ETA."""
  means = {f"train/{k}": float(v)
           for k, v in _average(jax.device_get(pending)).items()}
  speed = progress.report(step)
  means["train/steps_per_sec"] = speed["steps_per_sec"]
  utilisation = meter(speed["steps_per_sec"])
  means.update({f"train/{k}": v for k, v in utilisation.items()})
  writer.write_scalars(step, means)
  mfu = f", MFU {utilisation['mfu']:.1%}" if "mfu" in utilisation else ""
  logging.info("step %d/%d: loss %.4f, %.2f steps/s%s, ETA %s", step, total,
               means.get("train/loss", float("nan")), speed["steps_per_sec"],
               mfu, progress_lib.format_duration(speed["eta_s"]))


def _average(steps: List[Mapping[str, Any]]) -> Dict[str, Any]:
  """Per-metric means over the logged steps, as a ``clu.metrics``
  collection of ``Average`` metrics merged step by step."""
  collection = clu_metrics.Collection.create(
      **{k: clu_metrics.Average.from_output(k) for k in steps[0]})
  merged = functools.reduce(
      lambda a, b: a.merge(b),
      (collection.single_from_model_output(**m) for m in steps))
  return merged.compute()


def _plan(config, pipe) -> Dict[str, int]:
  """Every duration in steps."""
  batch_size = config.input.batch_size
  for name in ("batch_size", "eval_batch_size"):
    n = config.input[name]
    if n % jax.device_count():
      raise ValueError(f"config.input.{name}={n} is not divisible by the "
                       f"{jax.device_count()} devices")
  per_epoch = pipe.train_steps().steps_per_epoch
  kw = dict(batch_size=batch_size, steps_per_epoch=per_epoch)
  total = durations.resolve(config, "total", **kw)
  kw["total_steps"] = total
  plan = {"total": total, "steps_per_epoch": per_epoch}
  plan["warmup"] = durations.resolve(config, "warmup", default=0, **kw)
  plan["log_every"] = durations.resolve(config, "log_every", default=50, **kw)
  plan["lr_decay_every"] = durations.resolve(config, "lr_decay_every",
                                             default=0, **kw)
  plan["eval_every"] = durations.resolve(config, "eval_every",
                                         default=per_epoch, **kw)
  plan["checkpoint_every"] = durations.resolve(
      config, "checkpoint_every", default=plan["eval_every"], **kw)
  for k in ("total", "log_every", "eval_every", "checkpoint_every"):
    if plan[k] < 1:
      raise ValueError(f"config: {k} resolves to {plan[k]} steps; must be >= 1")
  return plan


def _scalars(prefix: str, metrics: Mapping[str, Any]) -> Dict[str, float]:
  return {f"{prefix}/{k}": float(v) for k, v in metrics.items()
          if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)}


def _flat(d: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
  out = {}
  for k, v in d.items():
    if isinstance(v, Mapping):
      out.update(_flat(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v if v is None or isinstance(
          v, (int, float, str, bool)) else json.dumps(v, default=str)
  return out
