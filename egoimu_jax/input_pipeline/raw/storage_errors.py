"""Bad data or unreachable storage: what quarantines a clip, what stops a run.

A clip whose file is missing, may not be read, or holds bad bytes is the
data's problem: ingest quarantines it with the reason. A read that failed
because the storage could not be reached (a refused, reset or timed-out
connection, a DNS failure, a bucket's server error 5xx, 408 or 429, a disk's
I/O error) says nothing about the clip. Recorded as a quarantine, it would
end in a prepared set that counts as complete without the clip; such a read
raises :class:`StorageUnreachable` instead, one line naming the file: the
run stops, and a rerun resumes once the storage answers.
"""

from __future__ import annotations

import errno
import socket

from egoimu_jax import errors
from egoimu_jax.input_pipeline import fs

# OS errors of a connection or a failing disk, not of the file's content.
_TRANSIENT_ERRNOS = frozenset({
    errno.EIO, errno.ETIMEDOUT, errno.ECONNREFUSED, errno.ECONNRESET,
    errno.ECONNABORTED, errno.EHOSTUNREACH, errno.ENETUNREACH,
    errno.ENETDOWN, errno.ESTALE, errno.EAGAIN})
# What a file's own state explains (quarantined, never retried).
_PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError,
              NotADirectoryError)
# HTTP statuses worth a retry (gcsfs ``HttpError.code``, aiohttp ``status``).
_TRANSIENT_HTTP = frozenset({408, 429})
# Libraries whose own exception types are network failures.
_NETWORK_MODULES = ("aiohttp.", "requests.", "urllib3.", "google.auth.",
                    "google.api_core.")


class StorageUnreachable(errors.UserError, ConnectionError):
  """A file could not be read for a reason that is not its content."""


def transient(error: BaseException, path: str) -> bool:
  """``error`` from reading ``path`` is the storage's (see the module doc)."""
  if isinstance(error, _PERMANENT):
    return False
  if isinstance(error, (ConnectionError, TimeoutError, socket.gaierror)):
    return True
  status = getattr(error, "code", None) or getattr(error, "status", None)
  if isinstance(status, int) and 400 <= status < 600:
    return status >= 500 or status in _TRANSIENT_HTTP
  if any((t.__module__ + ".").startswith(_NETWORK_MODULES)
         for t in type(error).__mro__):
    return True
  if isinstance(error, OSError):
    # On a URL, any other OSError is the connection's; on a disk, few are.
    return fs.is_url(path) or error.errno in _TRANSIENT_ERRNOS
  return False


def unreachable(path: str, error: BaseException) -> StorageUnreachable:
  """The one-line error for a transient failure reading ``path``."""
  what = errors.one_line(error) or type(error).__name__
  return StorageUnreachable(
      f"{path}: could not be read ({type(error).__name__}: {what}): the "
      "storage failed, not the data, so the run stopped instead of "
      "quarantining it; rerun when it is reachable")


def check(error: BaseException, path: str) -> None:
  """Raises :class:`StorageUnreachable` if ``error`` is one or is
  :func:`transient`."""
  if isinstance(error, StorageUnreachable):
    raise error
  if transient(error, path):
    raise unreachable(path, error) from error


def exists(path: str) -> bool:
  """``fs.exists`` that tells "absent" from "could not ask": fsspec's
  ``exists`` answers False for any error, a network failure included."""
  if not fs.is_url(path):
    return fs.exists(path)
  fsys, p = fs.filesystem(path)
  try:
    fsys.info(p)
  except FileNotFoundError:
    return False
  except Exception as e:  # pylint: disable=broad-except
    check(e, path)
    raise
  return True


def read_bytes(path: str) -> bytes:
  """``fs.read_bytes``; a transient failure as :class:`StorageUnreachable`."""
  try:
    return fs.read_bytes(path)
  except FileNotFoundError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    check(e, path)
    raise
