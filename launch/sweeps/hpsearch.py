r"""An equal, small hyperparameter search on validation people: the same
number of trials for the forest and for each deep model, every trial on the
same l20wo folds, the winner picked by validation macro-F1 only.

  python -m launch.run --sweep=launch/sweeps/hpsearch.py:trials=6 \
      --root=runs/hpsearch
  python -m launch.sweeps.hpsearch --root=runs/hpsearch   # the selection

Each model's ``SPACES`` entry is a small grid; ``trials`` points are drawn
from it without replacement (seeded by ``search_seed``, so the sweep is the
same on every expansion). A trial runs as ``<model>-trial<k>`` on every fold
(workdir ``<model>-trial<k>/l20wo/fold<f>``). :func:`select` then averages
each trial's validation macro-F1 over its folds and keeps the best per model;
the winner's test macro-F1 is reported beside it, never used to choose. Only
trials finished on every fold compete.

Arg: ``models`` (``+``-separated, default
``classical_rf+deepconvlstm+attend_discriminate``; also ``moment``,
``mantis``), ``trials`` (per model, default 6), ``folds`` (default 5, or 3
for tiny), ``tiny``, ``cpu`` (the CPU layouts of ``launch/config_paths``),
``epochs`` (deep models; 0: each config's own), ``patience`` (deep models'
``early_stopping.patience``; 0: off), ``class_weights`` (one policy for
every job, default ``balanced``), ``search_seed``, ``seeds``.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import itertools
import json
import os
import random
import re
import statistics
import sys
from typing import Any, Dict, List, Mapping, Optional

import launch
from launch import config_paths
from launch.config_paths import config_for

PROTOCOL = "l20wo"
# Model -> {config key: values}: a few values around each config's own.
SPACES: Dict[str, Dict[str, tuple]] = {
    "classical_rf": {"classical.rf.n_estimators": (100, 300, 500),
                     "classical.rf.max_depth": (0, 10, 30),
                     "classical.rf.min_samples_leaf": (1, 3, 10),
                     "classical.rf.max_features": ("sqrt", "log2")},
    "deepconvlstm": {"optim.lr": (3e-4, 1e-3, 3e-3),
                     "optim.weight_decay": (0.0, 1e-4, 1e-2),
                     "input.batch_size": (64, 128)},
    "attend_discriminate": {"optim.lr": (3e-4, 1e-3, 3e-3),
                            "optim.weight_decay": (0.0, 1e-4, 1e-2),
                            "task.mixup_alpha": (0.0, 0.8),
                            "task.center_loss_weight": (0.0, 0.3)},
    "moment": {"optim.lr": (1e-5, 3e-5, 1e-4, 3e-4),
               "optim.weight_decay": (0.0, 0.01, 0.05)},
    "mantis": {"optim.lr": (5e-5, 2e-4, 1e-3),
               "optim.weight_decay": (0.0, 0.05),
               "input.batch_size": (64, 128)},
}
SELECTION_FILE = "hpsearch_selection.json"
_RUN = re.compile(r"(?:^|/)(?P<model>[^/]+)-trial(?P<trial>\d+)/" + PROTOCOL
                  + r"/fold(?P<fold>\d+)(?:-seed(?P<seed>\d+))?"
                  r"/results\.json$")


def trials(model: str, count: int, seed: int = 0) -> List[Dict[str, Any]]:
  """``count`` distinct points of ``SPACES[model]``, seeded."""
  space = SPACES[model]
  grid = [dict(zip(space, values))
          for values in itertools.product(*space.values())]
  if count > len(grid):
    raise ValueError(f"trials={count}: {model}'s grid has only {len(grid)} "
                     "points")
  return random.Random(f"{seed}:{model}").sample(grid, count)


def sweep(arg=None):
  a = launch.parse_arg(
      arg, tiny=False, cpu=False,
      models="classical_rf+deepconvlstm+attend_discriminate", trials=6,
      folds=0, epochs=0.0, patience=0, class_weights="balanced",
      search_seed=0, seeds=1)
  folds = a.folds or (3 if a.tiny else 5)
  jobs = []
  for model in a.models.split("+"):
    if model not in SPACES:
      raise ValueError(f"models: no search space for {model!r} (known: "
                       f"{', '.join(SPACES)})")
    deep = not model.startswith("classical_")
    config = config_for(model, a.tiny, cpu=a.cpu)
    common: Dict[str, Any] = {"class_weights": a.class_weights}
    if deep:
      config = config_paths.with_args(config, epochs=a.epochs)
      if a.patience:
        common["early_stopping.patience"] = a.patience
    for k, point in enumerate(trials(model, a.trials, a.search_seed)):
      name = f"{model}-trial{k}"
      for fold in range(folds):
        job = launch.protocol_job(config, name, PROTOCOL, fold,
                                  overrides={**common, **point, "name": name})
        jobs.append(dataclasses.replace(
            job, tags={**job.tags, "search_model": model, "trial": k}))
  return launch.with_seeds(jobs, a.seeds)


def _get(config: Mapping[str, Any], dotted: str) -> Any:
  for part in dotted.split("."):
    config = config[part]
  return config


def _mean(trial_runs: Mapping[Any, dict], part: str) -> float:
  return statistics.fmean(r["metrics"][part]["macro_f1"]
                          for r in trial_runs.values())


def select(root: str) -> Dict[str, Dict[str, Any]]:
  """Per model, the trial with the best mean validation macro-F1 over its
  runs (folds x seeds; only trials finished on every run that model's
  trials reached), with its hyperparameters and, reported only, its mean
  test macro-F1."""
  runs: Dict[str, Dict[int, Dict[tuple, dict]]] = {}
  for path in glob.glob(os.path.join(root, "**", "results.json"),
                        recursive=True):
    m = _RUN.search(os.path.relpath(path, root).replace(os.sep, "/"))
    if m and m["model"] in SPACES:
      with open(path, encoding="utf-8") as f:
        run = json.load(f)
      runs.setdefault(m["model"], {}).setdefault(int(m["trial"]), {})[
          (int(m["fold"]), int(m["seed"] or 0))] = run
  out = {}
  for model, by_trial in sorted(runs.items()):
    keys = set().union(*by_trial.values())
    complete = {k: r for k, r in by_trial.items() if set(r) == keys}
    if not complete:
      continue
    best = max(sorted(complete), key=lambda k: _mean(complete[k], "val"))
    first = next(iter(complete[best].values()))
    out[model] = {
        "trial": best, "folds": sorted({f for f, _ in keys}),
        "seeds": sorted({s for _, s in keys}),
        "hparams": {key: _get(first["config"], key) for key in SPACES[model]},
        "val_macro_f1": _mean(complete[best], "val"),
        "test_macro_f1": _mean(complete[best], "test"),
        "trials_complete": len(complete), "trials_seen": len(by_trial)}
  return out


def table(selection: Mapping[str, Mapping[str, Any]]) -> str:
  lines = ["| model | trial | val macro-F1 (chosen on) | test macro-F1 | "
           "hyperparameters |", "| --- | --- | --- | --- | --- |"]
  for model, s in selection.items():
    hp = ", ".join(f"{k}={v}" for k, v in s["hparams"].items())
    lines.append(f"| {model} | {s['trial']} ({s['trials_complete']} of "
                 f"{s['trials_seen']}) | {s['val_macro_f1']:.4f} | "
                 f"{s['test_macro_f1']:.4f} | {hp} |")
  return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--root", required=True, help="the sweep's --root")
  args = parser.parse_args(argv)
  selection = select(args.root)
  if not selection:
    sys.exit(f"no finished hpsearch trials under {args.root}")
  with open(os.path.join(args.root, SELECTION_FILE), "w",
            encoding="utf-8") as f:
    json.dump(selection, f, indent=1)
  print(table(selection))


if __name__ == "__main__":
  main()
