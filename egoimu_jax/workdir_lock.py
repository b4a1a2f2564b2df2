"""One run per workdir: ``main`` holds an exclusive lock on it while it runs.

Two runs in one workdir would both write its checkpoints, ``metrics.jsonl``
and ``results.json``, and the last to finish would win with a mix of both.
The lock is ``flock`` on ``<workdir>/.egoimu.lock`` (the file records the
holder's pid and start time, for the message): the kernel drops it when the
holder exits, however it ends, so a killed run never leaves a stale lock. A
multi-process run locks on process 0 only (the others share its workdir). A
remote workdir (``gs://``) is not locked: object stores have no such lock.
"""

from __future__ import annotations

import fcntl
import os
import time
from typing import Optional

from egoimu_jax import errors

LOCK_FILE = ".egoimu.lock"


class WorkdirBusy(errors.UserError):
  """Another run holds the workdir."""


class WorkdirLock:
  """The held lock of one workdir (release it, or let the process end)."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, LOCK_FILE)
    os.makedirs(workdir, exist_ok=True)
    self._fd: Optional[int] = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = os.read(self._fd, 200).decode(errors="replace").strip()
      os.close(self._fd)
      self._fd = None
      raise WorkdirBusy(
          f"workdir {workdir} is in use by another run ({holder or 'unknown'})"
          "; wait for it to end or give another --workdir") from None
    os.ftruncate(self._fd, 0)
    os.write(self._fd, f"pid {os.getpid()}, since "
                       f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())

  def release(self, remove: bool = False) -> None:
    """Drops the lock; ``remove``: also the lock file (a run that created
    its workdir and failed before writing anything leaves nothing)."""
    if self._fd is None:
      return
    if remove:
      os.unlink(self.path)
    os.close(self._fd)  # closing the descriptor drops the flock
    self._fd = None


def acquire(workdir: str, process_index: int = 0) -> Optional[WorkdirLock]:
  """The workdir's lock for this run (None: not locked, see module doc);
  raises :class:`WorkdirBusy` if another run holds it."""
  if process_index != 0 or "://" in workdir:
    return None
  return WorkdirLock(workdir)
