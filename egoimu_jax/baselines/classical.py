"""The ``classical`` job: fixed features + a scikit-learn model.

Features (``config.classical.features``): ``"imu"``, hand-crafted IMU
features; or ``"teacher:<name>"``, a frozen video teacher's embeddings of
the windows (the teacher set ``<name>`` written by ``extract_embeddings``):
the cheap video baseline at scale (frozen embedding + probe).

``run(config, workdir)`` follows the same protocol as every deep model:

1. read the prepared dataset ``config.data.processed_dir`` (the job's
   ``data_deps`` wrapper prepares it, and the teacher set, when missing);
2. build or re-check the run's split (``splits.load_or_create_split``, which
   writes ``split.json`` into the workdir);
3. featurise the train / val / test windows (``features.window_features``,
   from raw, un-normalised IMU; cached per dataset, see below);
4. fit a random forest (``rf``), a standardised logistic regression
   (``logreg``, C picked on validation macro-F1 via ``probes.linear_probe``)
   or COMODO's RBF-SVM protocol (``svm_comodo``, ``probes.comodo_svm_probe``),
   each weighted by the run's class-weighting policy
   (``config.class_weights``, ``evaluation/class_weights.py``);
5. write ``results.json`` + ``predictions.npz`` with ``results.write``.

With teacher features, only windows that have an embedding are scored; the
coverage of each part is recorded in ``results.json`` (``extra.coverage``),
so ``report`` never pairs runs scored on different test windows.

Feature cache: the features of every record depend only on the windows, so
they are computed once per processed dataset (fingerprint) and feature
version into ``<cache_dir>/features/`` and shared by all folds, protocols and
estimators. No statistic is fitted there, so nothing can leak across splits;
scaling is fitted on the training part only (inside logreg).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from typing import Any, Dict

import numpy as np
from sklearn import ensemble

from egoimu_jax.baselines import features as features_lib
from egoimu_jax.evaluation import class_weights
from egoimu_jax.evaluation import probes
from egoimu_jax.evaluation import results as results_lib
from egoimu_jax.input_pipeline import fs
from egoimu_jax.input_pipeline import prepared
from egoimu_jax.input_pipeline import splits
from egoimu_jax.input_pipeline.store import processed

PARTS = ("train", "val", "test")
ESTIMATORS = ("rf", "logreg", "svm_comodo")
TEACHER_PREFIX = "teacher:"


def teacher_set(config) -> str:
  """Checks ``config.classical``; the teacher set its features read
  (``""`` for IMU features)."""
  cfg = config.classical
  if cfg.estimator not in ESTIMATORS:
    raise ValueError(f"config.classical.estimator must be one of "
                     f"{ESTIMATORS}, got {cfg.estimator!r}")
  source = str(cfg.get("features", "imu"))
  teacher = (source[len(TEACHER_PREFIX):]
             if source.startswith(TEACHER_PREFIX) else "")
  if source != "imu" and not teacher:
    raise ValueError(f"config.classical.features must be 'imu' or "
                     f"'teacher:<name>', got {source!r}")
  if teacher and "teacher" in config and config.teacher.name != teacher:
    raise ValueError(f"config.classical.features names teacher {teacher!r} "
                     f"but config.teacher.name is {config.teacher.name!r}")
  return teacher


def run(config, workdir: str) -> Dict[str, Any]:
  """Trains and evaluates the classical baseline; returns the results dict."""
  cfg = config.classical
  estimator = cfg.estimator
  teacher = teacher_set(config)
  source = str(cfg.get("features", "imu"))
  t_start = time.time()
  cache_dir = fs.default_cache_dir(config.data)
  processed_dir = prepared.processed_dir(config, teacher)
  ds = processed.ProcessedDataset.open(processed_dir)
  split = splits.load_or_create_split(workdir, config.protocol, ds.manifest)
  indices = {p: ds.split_indices(split, p) for p in PARTS}
  totals = {p: len(idx) for p, idx in indices.items()}
  if teacher:
    table = ds.teacher(teacher)
    indices = {p: idx[table.positions(idx) >= 0] for p, idx in indices.items()}
  for p in ("train", "test"):
    if not len(indices[p]):
      raise ValueError(f"{workdir}: split has no {p} windows")
  rate_hz = float(ds.manifest.get("rate_hz", config.data.imu.rate_hz))

  if teacher:
    feats = {p: table.read(idx) for p, idx in indices.items()}
  elif cfg.cache_features:
    all_features = _cached_features(ds, cache_dir, rate_hz, cfg.read_chunk)
    feats = {p: all_features[idx] for p, idx in indices.items()}
  else:
    feats = {p: _featurise(ds, idx, rate_hz, cfg.read_chunk)
             for p, idx in indices.items()}
  labels = {p: ds.table.label[idx].astype(np.int64) for p, idx in indices.items()}
  t_features = time.time()

  train_pos = _subsample(labels["train"], cfg.max_train_windows, config.seed)
  x_train, y_train = feats["train"][train_pos], labels["train"][train_pos]
  num_classes = len(ds.classes)
  weighting = class_weights.policy(config)
  extra: Dict[str, Any] = {"estimator": estimator, "features": source,
                           "class_weights": weighting,
                           "n_features": int(x_train.shape[1]),
                           "n_train_windows": int(len(y_train)),
                           "processed_dir": processed_dir,
                           "coverage": {p: processed.coverage(idx, totals[p])
                                        for p, idx in indices.items()}}
  eval_parts = [p for p in ("val", "test") if len(indices[p])]
  if estimator == "rf":
    rf = cfg.rf
    model = ensemble.RandomForestClassifier(
        n_estimators=rf.n_estimators, max_depth=rf.max_depth or None,
        min_samples_leaf=rf.min_samples_leaf, max_features=rf.max_features,
        class_weight=class_weights.sklearn(weighting, forest=True),
        n_jobs=rf.n_jobs,
        random_state=config.seed)
    model.fit(x_train, y_train)
    probs = {p: _full_probs(model.predict_proba(feats[p]), model.classes_,
                            num_classes) for p in eval_parts}
    extra["params"] = {k: v for k, v in rf.items()}
  elif estimator == "svm_comodo":
    probe = probes.comodo_svm_probe(
        x_train, y_train, np.concatenate([feats[p] for p in eval_parts]),
        num_classes=num_classes,
        class_weight=class_weights.sklearn(weighting), seed=config.seed)
    bounds = np.cumsum([0] + [len(feats[p]) for p in eval_parts])
    probs = {p: probe.probs[bounds[i]:bounds[i + 1]]
             for i, p in enumerate(eval_parts)}
    extra["params"] = probe.params
  else:
    lr = cfg.logreg
    has_val = "val" in eval_parts
    probe = probes.linear_probe(
        x_train, y_train, np.concatenate([feats[p] for p in eval_parts]),
        num_classes=num_classes,
        val_x=feats["val"] if has_val else None,
        val_y=labels["val"] if has_val else None,
        c_grid=tuple(lr.c_grid), max_iter=lr.max_iter,
        class_weight=class_weights.sklearn(weighting), seed=config.seed)
    bounds = np.cumsum([0] + [len(feats[p]) for p in eval_parts])
    probs = {p: probe.probs[bounds[i]:bounds[i + 1]]
             for i, p in enumerate(eval_parts)}
    extra["params"] = probe.params
  t_fit = time.time()

  meta = {p: ds.read(indices[p], fields=("window_id", "worker_id"))
          for p in eval_parts}
  predictions = {
      p: results_lib.Predictions.from_probs(
          index=indices[p], window_id=meta[p]["window_id"],
          worker_id=meta[p]["worker_id"], label=labels[p], probs=probs[p])
      for p in eval_parts}
  extra["seconds"] = {"features": round(t_features - t_start, 2),
                      "fit_predict": round(t_fit - t_features, 2)}
  model_name = (f"{teacher}_{estimator}" if teacher else
                f"classical_{estimator}")
  out = results_lib.write(
      workdir, config=config, split=split, model=model_name,
      name=config.get("name") or model_name, classes=ds.classes,
      predictions=predictions, extra=extra,
      train_classes=results_lib.seen_classes(ds.table,
                                             indices["train"][train_pos]),
      selection=probes.selection(extra.get("params")))
  logging.info("classical %s on %s, %s fold %s: test macro-F1 %.4f (%s)",
               estimator, source,
               split["protocol"], split["fold"],
               out["metrics"]["test"]["macro_f1"], workdir)
  return out


def _featurise(ds: processed.ProcessedDataset, indices: np.ndarray,
               rate_hz: float, chunk: int) -> np.ndarray:
  out = np.empty((len(indices), len(features_lib.feature_names())), np.float32)
  for start in range(0, len(indices), chunk):
    idx = indices[start:start + chunk]
    out[start:start + len(idx)] = features_lib.window_features(
        ds.read_imu(idx), rate_hz=rate_hz)
  return out


def feature_version(rate_hz: float) -> str:
  """Identifies the feature definition (names, bands, rate)."""
  blob = json.dumps([features_lib.feature_names(), rate_hz,
                     [list(b) for b in features_lib.BANDS_HZ]])
  return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _cached_features(ds: processed.ProcessedDataset, cache_dir: str,
                     rate_hz: float, chunk: int) -> np.ndarray:
  """Features of every record of ``ds``, computed once and memory-mapped."""
  fingerprint = str(ds.fingerprint).replace(":", "-").replace("/", "-")
  path = os.path.join(cache_dir, "features",
                      f"{fingerprint}-{feature_version(rate_hz)}.npy")
  if os.path.exists(path):
    feats = np.load(path, mmap_mode="r")
    if feats.shape == (len(ds), len(features_lib.feature_names())):
      return feats
    logging.warning("%s has shape %s, expected %d records; recomputing",
                    path, feats.shape, len(ds))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  feats = _featurise(ds, np.arange(len(ds)), rate_hz, chunk)
  tmp = f"{path}.tmp{os.getpid()}.npy"
  np.save(tmp, feats)
  os.replace(tmp, path)    # concurrent runs write identical bytes; last wins
  logging.info("classical: cached %s features of %d records at %s",
               feats.shape[1], len(ds), path)
  return feats


def _subsample(labels: np.ndarray, max_windows: int, seed: int) -> np.ndarray:
  """Positions of at most ``max_windows`` windows, stratified by label."""
  n = len(labels)
  if not max_windows or n <= max_windows:
    return np.arange(n)
  rng = np.random.default_rng(seed)
  keep = []
  for c in np.unique(labels):
    pos = np.flatnonzero(labels == c)
    take = max(1, int(round(max_windows * len(pos) / n)))
    keep.append(rng.choice(pos, min(take, len(pos)), replace=False))
  return np.sort(np.concatenate(keep))


def _full_probs(probs: np.ndarray, seen: np.ndarray, num_classes: int) -> np.ndarray:
  out = np.zeros((probs.shape[0], num_classes), np.float32)
  out[:, np.asarray(seen, np.int64)] = probs
  return out

