"""Shared parts of the flax-vs-torch benchmark scripts.

Scripts run as ``python benchmarks/x.py``, which puts this folder on
``sys.path``, and ``import timing``. It imports nothing heavy:
``pin_threads`` has to run before jax or torch is imported.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from typing import Any, Callable, Iterator, Mapping


def add_args(parser: argparse.ArgumentParser, rounds: int, warmup: int,
             rounds_help: str = "timed rounds",
             rounds_flag: str = "--rounds") -> None:
  """``rounds_flag`` (timed rounds, default ``rounds``), ``--warmup``
  (untimed ones first), ``--threads`` (default: every core this process may
  use) and ``--json``."""
  parser.add_argument(rounds_flag, type=int, default=rounds, help=rounds_help)
  parser.add_argument("--warmup", type=int, default=warmup)
  parser.add_argument("--threads", type=int,
                      default=len(os.sched_getaffinity(0)))
  parser.add_argument("--json", default=None, help="also write results here")


def pin_threads(threads: int, omp: bool = False) -> None:
  """Pins this process to its first ``threads`` cores (and sets
  ``OMP_NUM_THREADS`` if ``omp``). Call it before importing jax or torch:
  XLA:CPU sizes its intra-op pool from the affinity mask."""
  os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
  if omp:
    os.environ["OMP_NUM_THREADS"] = str(threads)


@contextlib.contextmanager
def work_dir(path: str, prefix: str) -> Iterator[str]:
  """``path`` (a ``--work_dir`` flag), or a fresh temp dir named ``prefix...``
  that is removed afterwards when ``path`` is empty."""
  work = path or tempfile.mkdtemp(prefix=prefix)
  try:
    yield work
  finally:
    if not path:
      shutil.rmtree(work, ignore_errors=True)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
  """``(fn(), seconds it took)``."""
  t0 = time.perf_counter()
  out = fn()
  return out, time.perf_counter() - t0


def alternate(fns: Mapping[str, Callable[[], Any]], rounds: int,
              warmup: int = 0) -> dict[str, list[float]]:
  """Seconds per call of each of ``fns`` over ``rounds`` rounds, after
  ``warmup`` untimed ones. Each round calls every function once, in turn, so
  that load from other processes hits all of them alike."""
  for _ in range(warmup):
    for fn in fns.values():
      fn()
  times = {name: [] for name in fns}
  for _ in range(rounds):
    for name, fn in fns.items():
      times[name].append(timed(fn)[1])
  return times


def rates(times: list[float], items: float) -> dict[str, float]:
  """min / median / max of ``items / t`` over the times ``t``."""
  per_s = [items / t for t in times]
  return {"min": min(per_s), "median": statistics.median(per_s),
          "max": max(per_s)}


def rates_line(r: Mapping[str, float], unit: str, precision: int = 2) -> str:
  """``"<unit> min ...  median ...  max ..."`` of a ``rates`` dict."""
  return (f"{unit} min {r['min']:7.{precision}f}  median "
          f"{r['median']:7.{precision}f}  max {r['max']:7.{precision}f}")


def flax_torch_entries(times: Mapping[str, list[float]], compile_s: float,
                       times_key: str = "step_s") -> dict[str, Any]:
  """The entries every flax-vs-torch result holds: flax's compile seconds,
  each side's seconds per round (as ``times_key``) and the jax and torch
  versions. The caller has imported jax and torch by then."""
  import jax  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  return {"flax_compile_s": compile_s,
          times_key: {k: [round(t, 4) for t in v] for k, v in times.items()},
          "jax": jax.__version__, "torch": torch.__version__}


def write_json(result: Mapping[str, Any], path: str | None) -> None:
  """``result`` as JSON at ``path``; nothing if ``path`` is empty."""
  if path:
    with open(path, "w") as f:
      json.dump(result, f, indent=1)


def prepare_figures(config, raw: str, out: str) -> dict[str, float]:
  """``prepare`` of ``raw`` into ``out`` in this process: its seconds and
  the peak RSS (MiB) of this process and of its children (worker
  processes), for a benchmark's child process to print."""
  from egoimu_jax.input_pipeline import prepare  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  prepare.prepare(config, raw, out)
  seconds = time.perf_counter() - start
  own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
  return {"seconds": seconds, "self_mib": own, "children_mib": kids}
