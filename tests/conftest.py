"""Fixtures and hooks shared across the suite."""

import pytest

from egoimu_jax import config_lib
from egoimu_jax.input_pipeline import prepare


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory) -> str:
  """Cache dir holding the prepared dataset of every config's ``tiny`` run
  (``config_lib.tiny_run``), prepared once per test session."""
  cache = str(tmp_path_factory.getbasetemp() / "egoimu_tiny_data")
  config = config_lib.tiny_run(config_lib.base())
  config.data.cache_dir = cache
  prepare.ensure(config.data)
  return cache


def pytest_runtest_setup(item):
  """PyTorch references run on one thread: with its OpenMP pool on both
  cores, any other load turns spin-waits into stalls (a 1000-sample A&D
  forward took 46 s instead of 0.16 s here), and parity checks are small."""
  if item.get_closest_marker("torch") is not None:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
