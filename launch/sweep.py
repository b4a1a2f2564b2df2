"""Sweep definitions: Python files that expand into a list of ``Job``.

A sweep file defines ``sweep(arg: str | None) -> list[Job]``; ``arg`` is what
follows ``:`` in ``--sweep=launch/sweeps/x.py:arg`` (parsed like a config arg:
``"tiny"``, ``"folds=2,tiny=True"``). For example::

  def sweep(arg=None):
    arg = launch.parse_arg(arg, tiny=False)
    return [launch.protocol_job("configs/classical.py", "classical", p["protocol"], p["fold"])
            for p in launch.product(protocol=["l20wo", "within"], fold=range(5))]

``load_sweep`` imports the file, calls ``sweep`` and validates the jobs before
anything runs: config files exist, names and workdirs are unique, every
override names an existing config field of a compatible type, and what a job
waits for (``Job.after``, e.g. the prepare and extraction jobs of ``launch.data_first``)
is a job of the sweep.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import dataclasses
import importlib.util
import itertools
import os
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from absl import logging

from egoimu_jax import errors
from launch import job_graph
from launch.job import Job

# Config paths in jobs are relative to the repository root; jobs run there.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class SweepError(errors.UserError, ValueError):
  """A sweep file or one of its jobs is invalid."""


def parse_arg(arg: Optional[str], **defaults):
  """``"tiny,folds=2"`` -> ConfigDict, typed by ``defaults`` (config_lib rules)."""
  from egoimu_jax import config_lib  # pylint: disable=g-import-not-at-top
  return config_lib.parse_arg(arg, **defaults)


def parse_override(text: str) -> Tuple[str, Any]:
  """``"a.b=value"`` -> ("a.b", value); value is a Python literal if it
  parses as one (``3``, ``0.5``, ``True``, ``('x', 'y')``), else the string."""
  key, sep, value = text.partition("=")
  if not sep or not key.strip():
    raise SweepError(f"override {text!r} is not key=value")
  try:
    parsed = ast.literal_eval(value)
  except (ValueError, SyntaxError):
    parsed = value
  return key.strip(), parsed


def product(**axes: Iterable[Any]) -> List[Dict[str, Any]]:
  """Every combination: ``product(a=[1, 2], b="xy")`` -> 4 dicts, last axis fastest."""
  names = list(axes)
  return [dict(zip(names, values))
          for values in itertools.product(*(list(axes[n]) for n in names))]


def zip_axes(**axes: Iterable[Any]) -> List[Dict[str, Any]]:
  """Axes of equal length taken together: ``zip_axes(a=[1, 2], b="xy")`` -> 2 dicts."""
  lists = {n: list(v) for n, v in axes.items()}
  lengths = {n: len(v) for n, v in lists.items()}
  if len(set(lengths.values())) > 1:
    raise SweepError(f"zip_axes needs axes of one length, got {lengths}")
  return [dict(zip(lists, values)) for values in zip(*lists.values())]


def scale_tag(scale: float) -> str:
  """A path-safe, readable scale: count ``n800``, fraction ``f0.25``, ``all``."""
  if scale is None or scale < 0:
    return "all"
  if scale > 1:
    return f"n{int(scale)}"
  return f"f{scale:g}"


def protocol_job(config: str, model: str, protocol: str, fold: int,
                 scale: Optional[float] = None,
                 overrides: Optional[Mapping[str, Any]] = None,
                 prefix: str = "", **job_kwargs) -> Job:
  """A job of ``model`` on one fold (and scale) of a protocol.

  The workdir is ``[prefix/]model/protocol[/scale]/fold<k>``, e.g.
  ``classical/l20wo/fold0`` or ``deepconvlstm/worker_scaling/n200/fold3``.
  """
  ov = {"protocol.name": protocol, "protocol.fold": int(fold)}
  parts = [prefix, model, protocol]
  tags = {"model": model, "protocol": protocol, "fold": int(fold)}
  if scale is not None:
    ov["protocol.scale"] = float(scale)
    parts.append(scale_tag(scale))
    tags["scale"] = float(scale)
  parts.append(f"fold{int(fold)}")
  ov.update(overrides or {})
  workdir = "/".join(p for p in parts if p)
  return Job(config=config, workdir=workdir, overrides=ov, tags=tags, **job_kwargs)


def load_sweep(spec: str, extra_arg: str = "",
               overrides: Optional[Mapping[str, Any]] = None,
               only: str = "") -> Tuple[str, List[Job]]:
  """Imports ``path[:arg]``, calls its ``sweep(arg)``, validates the jobs.

  Args:
    spec: ``"launch/sweeps/classical.py:tiny"``.
    extra_arg: appended to the arg (e.g. ``"tiny=True"`` from ``--tiny``).
    overrides: config overrides added to every job (they win over the
      sweep's), e.g. ``{"data.raw_dir": "gs://bucket/pilot"}``.
    only: a regex on job names: only the matching jobs are kept (before the
      overrides are applied and checked, so an override may fit only them);
      they do not wait for the jobs left out.

  Returns:
    (sweep name: the file's stem, jobs).
  """
  path, _, arg = spec.partition(":")
  arg = ",".join(a for a in (arg, extra_arg) if a) or None
  full = path if os.path.isabs(path) else os.path.join(REPO_ROOT, path)
  if not os.path.isfile(full):
    raise SweepError(f"sweep file {path} does not exist")
  name = os.path.splitext(os.path.basename(path))[0]
  mod_spec = importlib.util.spec_from_file_location(f"launch_sweep_{name}", full)
  module = importlib.util.module_from_spec(mod_spec)
  mod_spec.loader.exec_module(module)
  if not callable(getattr(module, "sweep", None)):
    raise SweepError(f"{path}: defines no sweep(arg) function")
  try:
    jobs = list(module.sweep(arg))
  except (ValueError, KeyError) as e:  # a bad sweep arg: one line, no traceback
    raise SweepError(f"{path}:{arg or ''}: {e}") from e
  if only:
    jobs = [j for j in jobs if re.search(only, j.name)]
    if not jobs:
      raise SweepError(f"{path}: --only={only!r} matches no job")
    kept = {j.name for j in jobs}
    jobs = [dataclasses.replace(j, after=[d for d in j.after if d in kept])
            for j in jobs]
  if overrides:
    jobs = [dataclasses.replace(j, overrides={**j.overrides, **overrides})
            for j in jobs]
  validate(jobs, source=path)
  return name, jobs


def validate(jobs: Sequence[Job], source: str = "sweep",
             check_overrides: bool = True) -> None:
  """Fails early, naming the sweep and job, on anything that would fail later."""
  if not jobs:
    raise SweepError(f"{source}: expands to no jobs")
  for kind in ("name", "workdir"):
    seen: Dict[str, int] = {}
    for j in jobs:
      seen[getattr(j, kind)] = seen.get(getattr(j, kind), 0) + 1
    dup = sorted(k for k, n in seen.items() if n > 1)
    if dup:
      raise SweepError(f"{source}: {len(dup)} duplicate job {kind}s, e.g. {dup[0]!r}")
  try:
    job_graph.check(jobs)
  except job_graph.DependencyError as e:
    raise SweepError(f"{source}: {e}") from None
  configs: Dict[str, Any] = {}
  for j in jobs:
    full = os.path.join(REPO_ROOT, j.config_path)
    if not os.path.isfile(full):
      raise SweepError(f"{source}: job {j.name}: config file {j.config_path} "
                       f"does not exist (under {REPO_ROOT})")
    for key in j.overrides:
      if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", key):
        raise SweepError(f"{source}: job {j.name}: bad override key {key!r}")
    if not check_overrides:
      continue
    if j.config not in configs:
      configs[j.config] = _load_config(j, source)
    if configs[j.config] is not None:
      with_overrides(configs[j.config], j, source)


def _load_config(job: Job, source: str):
  full = os.path.join(REPO_ROOT, job.config_path)
  spec = importlib.util.spec_from_file_location("launch_config_check", full)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
    return module.get_config(job.config_arg) if job.config_arg is not None else (
        module.get_config())
  except ModuleNotFoundError as e:
    if (e.name or "egoimu_jax").split(".")[0] == "egoimu_jax":
      raise SweepError(f"{source}: job {job.name}: config {job.config} fails to "
                       f"load: {e}") from e
    # A launcher environment without the job's stack (e.g. an XManager venv
    # without jax): the file exists, its overrides cannot be checked here.
    logging.warning("%s: config %s imports %s, missing here; its overrides are "
                    "not checked before the run", source, job.config, e.name)
    return None
  except Exception as e:  # pylint: disable=broad-except
    raise SweepError(f"{source}: job {job.name}: config {job.config} fails to "
                     f"load: {_why(e)}") from e


def job_config(job: Job, source: str = "sweep"):
  """The config ``job`` runs with (its file's, overrides applied), or None
  where the file imports what this environment lacks (see ``_load_config``)."""
  config = _load_config(job, source)
  return None if config is None else with_overrides(config, job, source)


def with_overrides(config, job: Job, source: str):
  """A copy of ``config`` with the job's overrides, applied as
  ``--config.k=v`` would; raises SweepError where one does not fit.

  A deep copy keeps placeholders (``config_dict.placeholder(int)``) typed, so
  a string for an int placeholder fails here as it would on the command line.
  """
  config = copy.deepcopy(config)
  for key, value in job.overrides.items():
    *parents, leaf = key.split(".")
    node = config
    try:
      for p in parents:
        node = node[p]
      if leaf not in node:
        raise KeyError(leaf)
      if isinstance(node[leaf], tuple) and isinstance(value, list):
        value = tuple(value)
      with node.unlocked() if hasattr(node, "unlocked") else contextlib.nullcontext():
        node[leaf] = value
    except (KeyError, AttributeError, TypeError) as e:
      raise SweepError(f"{source}: job {job.name}: override {key}={value!r} does "
                       f"not fit config {job.config}: {_why(e)}") from None
  return config


def _why(error: Exception) -> str:
  """``no field <name>`` for a missing config field (a KeyError, or the
  AttributeError with ``ml_collections``' "did you mean"), else the error."""
  if isinstance(error, (KeyError, AttributeError)):
    return f"no field {errors.one_line(error)}"
  return f"{type(error).__name__}: {error}"
