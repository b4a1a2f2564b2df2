"""Library INFO chatter is filtered; our lines and real warnings are not."""

import logging
import os

from egoimu_jax import logs


def _record(path, level, msg="x"):
  return logging.LogRecord("absl", level, path, 1, msg, None, None)


def test_own_code_passes_and_library_info_is_dropped():
  f = logs.OwnCodeFilter()
  ours = os.path.join(os.path.dirname(logs.__file__), "training", "trainer.py")
  lib = "/usr/lib/python3/site-packages/orbax/checkpoint/checkpoint_manager.py"
  assert f.filter(_record(ours, logging.INFO))
  assert not f.filter(_record(lib, logging.INFO))
  assert f.filter(_record(lib, logging.WARNING, "disk almost full"))
  assert not f.filter(_record(
      lib, logging.WARNING, "Metadata file does not exist: x/_CHECKPOINT_METADATA"))
  assert f.filter(_record(lib, logging.ERROR, "_CHECKPOINT_METADATA"))


def test_quiet_libraries_is_idempotent_and_reversible(monkeypatch):
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  handler = absl_logging.get_absl_handler()
  logs.quiet_libraries(True)
  logs.quiet_libraries(True)
  assert sum(isinstance(x, logs.OwnCodeFilter) for x in handler.filters) == 1
  logs.quiet_libraries(False)
  assert not any(isinstance(x, logs.OwnCodeFilter) for x in handler.filters)
  monkeypatch.setenv(logs.ENV, "1")
  logs.quiet_libraries()
  assert not any(isinstance(x, logs.OwnCodeFilter) for x in handler.filters)
