"""Fixtures and hooks shared across the suite."""

import dataclasses
import os
import pathlib
import shutil
import tempfile
import types

import jax
import ml_collections
import pytest

# Tests compile hundreds of tiny programs, and XLA's CPU backend spends most
# of that time optimising them: at backend optimisation level 0 a tiny run
# takes 40% less CPU (17 s -> 10 s). Set before any backend starts, so it
# holds here, in the xdist workers and in every subprocess (which inherit
# the environment; tests that set XLA_FLAGS append to it). Tests compare
# runs with each other or with references at a tolerance, never with
# numbers from an optimised build.
XLA_TEST_FLAGS = "--xla_backend_optimization_level=0"
if XLA_TEST_FLAGS not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = " ".join(
      filter(None, [os.environ.get("XLA_FLAGS"), XLA_TEST_FLAGS]))

from egoimu_jax import config_lib
from egoimu_jax import jobs
from egoimu_jax.input_pipeline import prepare
from config_testlib import load_config_module
from config_testlib import shrink_for_smoke_run

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory) -> str:
  """Cache dir holding the prepared dataset of every config's ``tiny`` run
  (``config_lib.tiny_run``), prepared once per test session: pytest-xdist's
  workers share it (the session's common temp dir; generating and preparing
  take file locks), and so do the sweeps' end-to-end tests, whose jobs
  prepare their other tiny datasets next to it."""
  base = tmp_path_factory.getbasetemp()
  if os.environ.get("PYTEST_XDIST_WORKER"):
    base = base.parent  # the session's dir, above each worker's own
  cache = str(base / "egoimu_tiny_data")
  config = config_lib.tiny_run(config_lib.base())
  config.data.cache_dir = cache
  prepare.ensure(config.data)
  return cache


# One persistent JAX compilation cache for the test session: most of a tiny
# run is compiling, and runs of one model on one dataset compile the same
# programs (14 s -> 6 s of CPU per run here), in subprocesses, in other
# pytest-xdist workers or in this process. Cached executables are the ones a
# fresh compile produces, so results are unaffected. The controller makes
# the directory (workers inherit the variable) and removes it at the end.
_SESSION_JAX_CACHE = "EGOIMU_TEST_JAX_CACHE"


def pytest_configure(config):
  if not hasattr(config, "workerinput"):  # the controller (or no xdist)
    os.environ[_SESSION_JAX_CACHE] = tempfile.mkdtemp(prefix="egoimu-jax-")
  # In-process compiles under 1 s (a test's eager ops) are not worth a file.
  jax.config.update("jax_compilation_cache_dir",
                    os.environ[_SESSION_JAX_CACHE])
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def pytest_unconfigure(config):
  if not hasattr(config, "workerinput"):
    shutil.rmtree(os.environ.pop(_SESSION_JAX_CACHE, ""), ignore_errors=True)


@pytest.fixture
def optimised_xla_env():
  """Drops ``XLA_TEST_FLAGS`` from an environment: for subprocesses that
  train long enough for optimised code to repay its compile time (the
  cross-person sweep's TENT and calibration runs: 184 s of CPU at level 0,
  83 s at the default)."""
  def without_test_flags(env: dict) -> dict:
    flags = env.get("XLA_FLAGS", "").replace(XLA_TEST_FLAGS, "").strip()
    return {**{k: v for k, v in env.items() if k != "XLA_FLAGS"},
            **({"XLA_FLAGS": flags} if flags else {})}
  return without_test_flags


@pytest.fixture(scope="session")
def jax_cache_env() -> dict:
  """Environment variables that give subprocesses running the engine the
  session's persistent JAX compilation cache (see above)."""
  return {"JAX_COMPILATION_CACHE_DIR": os.environ[_SESSION_JAX_CACHE],
          "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
          "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


@dataclasses.dataclass(frozen=True)
class TinyRun:
  """One finished smoke run of ``configs/<stem>.py:tiny``."""
  module: types.ModuleType
  config: ml_collections.ConfigDict
  workdir: pathlib.Path
  summary: object


@pytest.fixture(scope="session")
def tiny_config_run(tiny_cache, tmp_path_factory):
  """``tiny_config_run(stem) -> TinyRun``: the smoke run of a config, run
  once per session on ``tiny_cache`` and shared by the tests that read it
  (the configs smoke test, and tests that need some trained run). Readers
  must not change its workdir."""
  runs = {}

  def run(stem: str) -> TinyRun:
    if stem not in runs:
      module = load_config_module(CONFIG_DIR / f"{stem}.py")
      config = module.get_config("tiny")
      config.data.cache_dir = tiny_cache
      shrink_for_smoke_run(config)
      workdir = tmp_path_factory.mktemp(f"tiny_{stem}")
      summary = jobs.JOBS.get(config.get("job", "train"))(config, str(workdir))
      runs[stem] = TinyRun(module, config, workdir, summary)
    return runs[stem]

  return run


# The longest tests (minutes each on 2 cores: whole sweeps, multi-process
# runs), started first so that pytest-xdist's workers (``-n``) finish
# together instead of one of them starting a sweep at the end.
LONGEST = ("test_reproduce_tiny_end_to_end",
           "test_cross_person_tiny_end_to_end",
           "test_two_process_pretraining_matches_one_process",
           "test_non_pilot_dataset_runs_every_sweep_unmodified")


def pytest_collection_modifyitems(items):
  """Runs the ``LONGEST`` tests first (a stable sort: else collection order)."""
  items.sort(key=lambda item: item.name not in LONGEST)


def pytest_runtest_setup(item):
  """PyTorch references run on one thread: with its OpenMP pool on both
  cores, any other load turns spin-waits into stalls (a 1000-sample A&D
  forward took 46 s instead of 0.16 s here), and parity checks are small."""
  if item.get_closest_marker("torch") is not None:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
