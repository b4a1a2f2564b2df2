"""Errors in what the user asked for: reported in one line, no traceback.

Every module's user-facing error derives from :class:`UserError` (and from
the builtin it stands for, e.g. ``ValueError``). Entry points print it as
one line on stderr and exit with :data:`EXIT_CODE` (``egoimu_jax/cli.py``);
any other exception is a bug and keeps its traceback. This module imports
nothing of the package, so any module may import it.
"""

from __future__ import annotations

import difflib
import errno
from typing import Iterable

EXIT_CODE = 2  # as argparse's usage errors; 1 stays "crashed", 75 "preempted"
# A full or read-only disk is the user's to fix, not a bug: one line too.
UNWRITABLE_STORAGE = (errno.ENOSPC, errno.EROFS, errno.EDQUOT)


class UserError(Exception):
  """A config field, flag or path given by the user is wrong."""


class ArgError(UserError, ValueError):
  """A config's or sweep's ``:arg`` names something it does not take."""


class MissingDataError(UserError, FileNotFoundError):
  """A dataset the config points at does not exist or is incomplete."""


def unwritable_storage(error: BaseException) -> bool:
  """``error`` says a disk is full or read-only (:data:`UNWRITABLE_STORAGE`)."""
  return isinstance(error, OSError) and error.errno in UNWRITABLE_STORAGE


def did_you_mean(name: str, choices: Iterable[str]) -> str:
  """``"; did you mean 'x'?"`` for the closest of ``choices``, else ``""``."""
  close = difflib.get_close_matches(name, [str(c) for c in choices], n=1,
                                    cutoff=0.6)
  return f"; did you mean {close[0]!r}?" if close else ""


def one_line(error: BaseException) -> str:
  """The error's message on one line (a KeyError's without its quotes)."""
  if isinstance(error, KeyError) and len(error.args) == 1:
    text = str(error.args[0])
  else:
    text = str(error)
  return "; ".join(part.strip() for part in text.splitlines() if part.strip())
