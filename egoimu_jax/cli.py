"""The one error path of every command line: a user mistake is one line.

Each entry point (``egoimu_jax.main``, ``.input_pipeline.prepare``,
``.export``, ``.evaluate``, ``.report``, ``launch.run``) ends with
``cli.run(main)``. A user mistake then prints ``<prog>: error: <message>``
on stderr and exits with status 2 (:data:`errors.EXIT_CODE`), without a
traceback; a user mistake is

* an :class:`errors.UserError` (every module's user-facing error derives
  from it) or an ``absl.app.UsageError``,
* a flag that does not parse (unknown, missing, bad value), a misspelt
  ``--config.a.b=v`` override (with the closest field), or a config file that
  does not exist,
* an ``OSError`` of a full or read-only disk
  (:func:`errors.unwritable_storage`),
* whatever else the entry point names (``run(main, user_errors=...)``).

Anything else is a bug and keeps its traceback. ``--traceback`` (or
``EGOIMU_TRACEBACK=1``) shows user errors with their traceback too, for
developers. A process of a multi-process job exits at once (``os._exit``)
so that the others stop too.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Callable, Iterator, NoReturn, Optional, Sequence

from absl import app
from absl import flags
from absl import logging

from egoimu_jax import errors

TRACEBACK_ENV = "EGOIMU_TRACEBACK"
_TRACEBACK = flags.DEFINE_bool(
    "traceback", False, "Show a user error with its traceback instead of one "
    f"line (also: {TRACEBACK_ENV}=1).")


def run(main: Callable[[Sequence[str]], Optional[int]],
        user_errors: tuple[type[BaseException], ...] = ()) -> None:
  """``app.run(main)`` with the error path above; ``main`` takes no
  positional arguments (one is a usage error)."""

  def checked(argv):
    with exit_on_user_error(user_errors):
      if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
      return main(argv)

  app.run(checked, flags_parser=parse_flags)


@contextlib.contextmanager
def exit_on_user_error(user_errors: tuple[type[BaseException], ...] = (),
                       multi_process: bool = False) -> Iterator[None]:
  """Inside, a user mistake (see the module doc) exits with one line."""
  try:
    yield
  except (errors.UserError, app.UsageError, *user_errors) as e:
    if wants_traceback():
      raise
    _fail(errors.one_line(e), multi_process=multi_process)
  except OSError as e:
    if not errors.unwritable_storage(e) or wants_traceback():
      raise
    _fail(errors.one_line(e), multi_process=multi_process)


def _fail(message: str, multi_process: bool = False) -> NoReturn:
  """Prints ``<prog>: error: <message>`` on stderr and exits with status 2;
  ``multi_process``: at once, as ``training.distributed.fail_fast`` does."""
  print(f"{prog()}: error: {message}", file=sys.stderr, flush=True)
  if multi_process:
    logging.flush()
    sys.stdout.flush()
    os._exit(errors.EXIT_CODE)  # pylint: disable=protected-access
  sys.exit(errors.EXIT_CODE)


def prog() -> str:
  """The running entry point as ``python -m`` names it."""
  spec = getattr(sys.modules.get("__main__"), "__spec__", None)
  if spec is None:
    return os.path.basename(sys.argv[0])
  return spec.name.removesuffix(".__main__")


def wants_traceback(argv: Sequence[str] = ()) -> bool:
  """``--traceback`` was given (in ``argv`` before flags are parsed) or
  ``EGOIMU_TRACEBACK`` is set to anything but 0."""
  if os.environ.get(TRACEBACK_ENV, "0") not in ("", "0"):
    return True
  if flags.FLAGS.is_parsed():
    return _TRACEBACK.value
  return any(a in ("--traceback", "-traceback") for a in argv)


def parse_flags(argv: Sequence[str]) -> list[str]:
  """absl's flag parsing with one-line errors (``app.run``'s flags_parser)."""
  try:
    argv = flags.FLAGS(argv)
  except flags.Error as e:  # unknown flag, missing required flag, bad value
    if wants_traceback(argv):
      raise
    _fail(_config_user_error(e) or errors.one_line(e))
  except (AttributeError, KeyError):  # ml_collections: a misspelt override
    message = _override_error(argv)
    if message is None or wants_traceback(argv):
      raise
    _fail(message)
  except OSError as e:  # a config file that does not load, with overrides
    if wants_traceback(argv):
      raise
    _fail(_load_error(e, _unloadable_config_flag(argv)))
  for name in _config_flags():
    try:  # ml_collections defers "config file not found" to the first use.
      getattr(flags.FLAGS[name].value, "keys", None)
    except OSError as e:
      if wants_traceback(argv):
        raise
      _fail(_load_error(e, name))
  return argv


def _config_user_error(e: flags.Error) -> Optional[str]:
  """A user error raised by a config file's ``get_config`` (a bad ``:arg``),
  as ``flag --config=...: <its message>``; ml_collections re-raises it with
  the whole traceback as its text, and absl wraps that in ``e``."""
  cause = e.__cause__ or e.__context__
  while cause is not None and not isinstance(cause, errors.UserError):
    cause = cause.__cause__ or cause.__context__
  if cause is None:
    return None
  last = str(cause).strip().splitlines()[-1]
  name = f"{type(cause).__module__}.{type(cause).__name__}: "
  return f"{str(e).partition(': Error whilst')[0]}: {last.removeprefix(name)}"


def _load_error(e: OSError, name: str) -> str:
  """ml_collections' error for config flag ``name`` that did not load, as
  one line (its last line names the file and the reason)."""
  lines = str(e.__cause__ or e).strip().splitlines()
  return f"--{name}: {lines[-1].strip()}"


def _unloadable_config_flag(argv: Sequence[str]) -> str:
  """The config flag of ``argv`` whose file does not exist (else the first
  config flag's name)."""
  names = _config_flags() or ["config"]
  for name in names:
    for a in argv:
      if a.startswith(f"--{name}="):
        path = a.partition("=")[2].partition(":")[0]
        if not os.path.isfile(path):
          return name
  return names[0]


def _config_flags() -> list[str]:
  """Names of the ``ml_collections`` config flags (none unless the entry
  point imported ``config_flags``: ``launch.run`` runs without it)."""
  config_flags = sys.modules.get("ml_collections.config_flags.config_flags")
  if config_flags is None:
    return []
  return [name for name in flags.FLAGS
          if config_flags.is_config_flag(flags.FLAGS[name])
          and flags.FLAGS[name].name == name]


def _override_error(argv: Sequence[str]) -> Optional[str]:
  """The first ``--<config>.a.b=v`` of ``argv`` naming no field of its
  config (with the closest field), or None."""
  for name in _config_flags():
    prefix = f"--{name}."
    paths = [a[len(prefix):].partition("=")[0] for a in argv
             if a.startswith(prefix)]
    spec = [a.partition("=")[2] for a in argv if a.startswith(f"--{name}=")]
    if not paths or not spec:
      continue
    node = flags.FLAGS[name].parser.parse(spec[-1])
    for path in paths:
      node_path, node_now = name, node
      for part in path.split("."):
        if hasattr(node_now, "keys") and part in node_now:
          node_now, node_path = node_now[part], f"{node_path}.{part}"
          continue
        fields = list(node_now.keys()) if hasattr(node_now, "keys") else []
        return (f"{prefix}{path}: {node_path} has no field {part!r}"
                f"{errors.did_you_mean(part, fields)}")
  return None
