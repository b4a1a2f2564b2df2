"""A checkpoint directory that turns read-only or full mid-run: the save
fails at once with one line, and no step that is not whole looks complete."""

import errno
import logging
import os
import sys
import threading

import grain
import jax.numpy as jnp
import pytest

from egoimu_jax import cli
from egoimu_jax import errors
from egoimu_jax import logs
from egoimu_jax.training import checkpointing

_TIMEOUT_S = 30  # a save that hangs fails the test instead of hanging it


def _iterator():
  return iter(grain.MapDataset.range(100).to_iter_dataset())


def _state(step):
  return {"w": jnp.full((3,), float(step)), "step": jnp.asarray(step)}


def _in_thread(fn):
  """``fn()``'s exception (None if it returned); fails if it hangs."""
  outcome = {}

  def target():
    try:
      fn()
    except BaseException as e:  # pylint: disable=broad-except
      outcome["error"] = e

  thread = threading.Thread(target=target, daemon=True)
  thread.start()
  thread.join(_TIMEOUT_S)
  if thread.is_alive():
    pytest.fail(f"hung for {_TIMEOUT_S} s")
  return outcome.get("error")


def _deny_under(monkeypatch, root, code, name):
  """``os.<name>`` (path first) fails with ``code`` for paths under root."""
  original = getattr(os, name)

  def denied(path, *args, **kwargs):
    if os.fspath(path).startswith(root):
      raise OSError(code, os.strerror(code), os.fspath(path))
    return original(path, *args, **kwargs)

  monkeypatch.setattr(os, name, denied)


@pytest.mark.parametrize("async_save", [True, False])
@pytest.mark.parametrize("code,name", [(errno.EROFS, "makedirs"),
                                       (errno.EACCES, "makedirs"),
                                       (errno.ENOSPC, "rename")])
def test_unwritable_directory_fails_in_one_line(tmp_path, monkeypatch,
                                                async_save, code, name):
  root = str(tmp_path / "checkpoints")
  ckpt = checkpointing.Checkpointer(root, keep=3, async_save=async_save)
  it = _iterator()
  ckpt.save(1, _state(1), it)
  ckpt.wait()
  _deny_under(monkeypatch, root, code, name)

  def save_and_wait():
    ckpt.save(2, _state(2), it)
    ckpt.wait()

  error = _in_thread(save_and_wait)
  assert isinstance(error, checkpointing.CheckpointWriteError), repr(error)
  assert isinstance(error, errors.UserError)
  message = errors.one_line(error)
  assert os.strerror(code) in message and root in message
  assert "last whole checkpoint is step 1" in message
  assert _in_thread(ckpt.close) is None
  monkeypatch.undo()
  # A rerun trusts only the whole step.
  again = checkpointing.Checkpointer(root, keep=3)
  assert again.all_steps() == [1]
  again.close()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_workdir_is_one_line(tmp_path, capsys, code):
  # The metrics file, the config or results.json: any write of the run.
  path = str(tmp_path / "metrics.jsonl")
  with pytest.raises(SystemExit) as exit_info:
    with cli.exit_on_user_error():
      raise OSError(code, os.strerror(code), path)
  assert exit_info.value.code == errors.EXIT_CODE
  stderr = capsys.readouterr().err
  assert stderr.count("\n") == 1 and "Traceback" not in stderr
  assert os.strerror(code) in stderr and path in stderr
  # Any other OSError is not the user's: it keeps its traceback.
  with pytest.raises(OSError):
    with cli.exit_on_user_error():
      raise OSError(errno.EIO, os.strerror(errno.EIO), path)


def test_a_library_thread_error_is_logged_as_one_line():
  # orbax's save threads log each failed write with its traceback: five
  # tracebacks for one full disk, before our one-line error.
  try:
    raise ValueError("RESOURCE_EXHAUSTED: Failed writing: No space left")
  except ValueError:
    exc_info = sys.exc_info()
  path = "/venv/site-packages/orbax/checkpoint/_src/futures/future.py"
  record = logging.LogRecord("absl", logging.ERROR, path, 1,
                             "save thread raised: %s", ("No space",), exc_info)
  assert logs.OwnCodeFilter().filter(record)
  text = logging.Formatter().format(record)
  assert text == "save thread raised: No space"
