r"""The ``feature_probe`` job: a frozen model's features + a scikit-learn probe.

  python -m egoimu_jax.main --config=configs/moment.py \
      --config.job=feature_probe --config.task.name=finetune \
      --config.task.pretrained=/ckpt/MOMENT-1-small \
      --config.task.pretrained_format=moment --workdir=DIR

Any registered model (IMU or video), with its weights from where the
``finetune`` task's warm start takes them (a pretraining run of ours, a
fine-tuning run, or converted PyTorch weights: ``task.pretrained`` and
``task.pretrained_format``), embeds every window of the split's train, val
and test parts (the model's ``aux["features"]``, eval mode). The features
go to ``probe.estimator``: COMODO's RBF-SVM (``"svm_comodo"``, default) or
the logistic-regression probe (``"logreg"``, C picked on val macro-F1),
weighted by the run's class-weighting policy (``config.class_weights``). The
run writes ``results.json`` like any other, so ``report`` sets a model's
frozen probe beside its fine-tuned and linear-probed runs.

It lives next to the engine, whose state building (``state_builder``) and
sharded prediction (``predict``) it uses; ``evaluation/`` (metrics, probes,
results files) imports nothing from ``training/``.
"""

from __future__ import annotations

import logging
from typing import Any, Dict

import jax
import jax.numpy as jnp
import numpy as np
import optax

from egoimu_jax.evaluation import class_weights
from egoimu_jax.evaluation import probes
from egoimu_jax.evaluation import results as results_lib
from egoimu_jax.training import mesh as mesh_lib
from egoimu_jax.training import predict as predict_lib
from egoimu_jax.training import run_inputs
from egoimu_jax.training import state_builder
from egoimu_jax.training import tasks

PARTS = ("train", "val", "test")
ESTIMATORS = ("svm_comodo", "logreg")
MODEL_COLLECTIONS = ("params", "batch_stats")


def run(config, workdir: str) -> Dict[str, Any]:
  cfg = config.get("probe", {})
  estimator = cfg.get("estimator", "svm_comodo")
  if estimator not in ESTIMATORS:
    raise ValueError(f"config.probe.estimator must be one of {ESTIMATORS}, "
                     f"got {estimator!r}")
  pipe = run_inputs.input_pipeline(config, workdir)
  mesh = mesh_lib.make_mesh(config.mesh)
  task = tasks.TASKS.get(config.task.name)(config, pipe)
  init = state_builder.train_state_init(task, state_builder.init_batch(pipe),
                                        optax.identity())
  key = jax.random.fold_in(jax.random.key(config.seed), 0)
  state, layout = state_builder.build_state(
      init, key, mesh, config.sharding_rules, warm_start=task.warm_start)
  state_sh = layout.shardings
  batch_sh = mesh_lib.batch_sharding(mesh)

  def embed(state, batch):
    variables = {k: v for k, v in state.variables.items()
                 if k in MODEL_COLLECTIONS}
    _, aux = task.model.apply(variables, batch, train=False)
    return {"features": aux["features"].astype(jnp.float32),
            "label": batch["label"], "index": batch["index"],
            "mask": batch["mask"]}

  p_embed = jax.jit(embed, in_shardings=(state_sh, batch_sh),
                    out_shardings=batch_sh)
  parts = [p for p in PARTS if len(pipe.indices(p))]
  out = {p: predict_lib.predict(p_embed, state, pipe.eval_batches(p), batch_sh)
         for p in parts}
  num_classes = len(pipe.dataset.classes)
  eval_parts = [p for p in ("val", "test") if p in out]
  test_x = np.concatenate([out[p]["features"] for p in eval_parts])
  weighting = class_weights.policy(config)
  if estimator == "svm_comodo":
    probe = probes.comodo_svm_probe(
        out["train"]["features"], out["train"]["label"], test_x,
        num_classes=num_classes, class_weight=class_weights.sklearn(weighting),
        seed=config.seed)
  else:
    has_val = "val" in out
    probe = probes.linear_probe(
        out["train"]["features"], out["train"]["label"], test_x,
        num_classes=num_classes,
        val_x=out["val"]["features"] if has_val else None,
        val_y=out["val"]["label"] if has_val else None,
        class_weight=class_weights.sklearn(weighting), seed=config.seed)
  bounds = np.cumsum([0] + [len(out[p]["label"]) for p in eval_parts])
  predictions = {}
  for i, p in enumerate(eval_parts):
    ids = pipe.dataset.read(out[p]["index"], fields=("window_id",
                                                     "worker_id"))
    predictions[p] = results_lib.Predictions.from_probs(
        index=out[p]["index"], window_id=ids["window_id"],
        worker_id=ids["worker_id"], label=out[p]["label"],
        probs=probe.probs[bounds[i]:bounds[i + 1]])
  name = config.get("name") or f"{config.model.name}_{estimator}"
  extra = {"estimator": estimator, "features": "model",
           "class_weights": weighting,
           "n_features": int(out["train"]["features"].shape[1]),
           "params": probe.params,
           "processed_dir": pipe.dataset.processed_dir,
           "pretrained": str(config.task.get("pretrained", "") or ""),
           "coverage": {p: pipe.coverage(p) for p in parts}}
  res = results_lib.write(
      workdir, config=config, split=pipe.split, model=config.model.name,
      name=name, classes=pipe.dataset.classes, predictions=predictions,
      extra=extra, train_classes=results_lib.seen_classes(
          pipe.dataset.table, out["train"]["index"]),
      selection=probes.selection(probe.params))
  logging.info("feature_probe %s (%s) %s fold %s: test macro-F1 %.4f", name,
               estimator, pipe.split["protocol"], pipe.split["fold"],
               res["metrics"]["test"]["macro_f1"])
  return res
