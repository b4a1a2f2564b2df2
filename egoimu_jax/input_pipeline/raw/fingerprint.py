"""What ``data.verify`` adds to a raw dataset's fingerprint for its clip files.

"" adds nothing (the tables alone), "stat" every clip file's size and
modification time, "hash" its content (reads all data). With "hash", the
digest of unchanged local files is kept in memory keyed by their stat
identities (inode, size, mtime, ctime: any write or utime changes ctime), so
``ensure()`` + ``prepare()`` read the data once.
"""

from __future__ import annotations

import collections
import errno
import hashlib
import os
import stat
from typing import Optional, Sequence

from egoimu_jax.input_pipeline import fs
from egoimu_jax.input_pipeline.raw import storage_errors

# data.verify: what the fingerprint covers besides the tables.
VERIFY_MODES = ("", "stat", "hash")

_CONTENT_DIGESTS: "collections.OrderedDict[str, str]" = (
    collections.OrderedDict())
_MAX_CONTENT_DIGESTS = 4


def check_mode(verify: str) -> str:
  if verify not in VERIFY_MODES:
    raise ValueError(f"data.verify={verify!r}: expected one of "
                     f"{list(VERIFY_MODES)}")
  return verify


def _local_problem(path: str) -> Optional[str]:
  """Why a local clip file cannot be read ("missing", "not a regular file",
  "unreadable: <error>"), or None. Ingest quarantines such a clip; the
  fingerprint only records it (a directory, a FIFO, chmod 000 or a symlink
  loop aborted the run)."""
  try:
    st = os.stat(path)
  except FileNotFoundError:
    return "missing"
  except OSError as e:
    return f"unreadable: {os.strerror(e.errno) if e.errno else e}"
  if not stat.S_ISREG(st.st_mode):
    return f"not a regular file: {stat.S_IFMT(st.st_mode):o}"
  if not os.access(path, os.R_OK):
    return f"unreadable: {os.strerror(errno.EACCES)}"
  return None


def _stat_signature(path: str) -> str:
  """A file's size and modification time ("missing" if absent)."""
  try:
    if not fs.is_url(path):
      st = os.stat(path)
      return f"{st.st_size}:{st.st_mtime_ns}"
    fsys, p = fs.filesystem(path)
    info = fsys.info(p)
  except FileNotFoundError:
    return "missing"
  except Exception as e:  # pylint: disable=broad-except
    storage_errors.check(e, path)
    if not isinstance(e, OSError):
      raise
    return f"unreadable: {os.strerror(e.errno) if e.errno else e}"
  keys = ("mtime", "updated", "LastModified", "last_modified", "generation",
          "ETag", "etag", "md5Hash", "crc32c", "created")
  return f"{info.get('size')}:" + ":".join(
      str(info[k]) for k in keys if info.get(k) is not None)


def _content_hash(path: str) -> str:
  """sha256 of a file's bytes ("missing" if absent)."""
  h = hashlib.sha256()
  problem = None if fs.is_url(path) else _local_problem(path)
  if problem:
    return problem
  try:
    with fs.open_file(path, "rb") as f:
      for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
  except FileNotFoundError:
    return "missing"
  except Exception as e:  # pylint: disable=broad-except
    storage_errors.check(e, path)
    raise
  return h.hexdigest()


def _local_identity(paths: Sequence[str]) -> Optional[str]:
  """Digest of local files' stat identities; None if any path is a URL."""
  h = hashlib.sha256()
  for path in paths:
    if fs.is_url(path):
      return None
    try:
      st = os.stat(path)
      ident = f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
    except OSError as e:
      ident = f"missing:{e.errno}"
    h.update(f"{path}\0{ident}\n".encode())
  return h.hexdigest()


def files_digest(paths: Sequence[str], verify: str) -> str:
  """What data.verify adds to the fingerprint for these clip files."""
  key = _local_identity(paths) if verify == "hash" else None
  if key is not None and key in _CONTENT_DIGESTS:
    return _CONTENT_DIGESTS[key]
  sign = _stat_signature if verify == "stat" else _content_hash
  h = hashlib.sha256(f"verify={verify}\n".encode())
  for path in paths:
    h.update(f"{path}\0{sign(path)}\n".encode())
  if key is not None:
    _CONTENT_DIGESTS[key] = h.hexdigest()
    while len(_CONTENT_DIGESTS) > _MAX_CONTENT_DIGESTS:
      _CONTENT_DIGESTS.popitem(last=False)
  return h.hexdigest()


def with_files(table_digest: str, paths: Sequence[str], verify: str) -> str:
  """The fingerprint: the tables' digest, plus the clip files per ``verify``."""
  if not verify:
    return table_digest
  return hashlib.sha256(
      f"{table_digest}:{files_digest(paths, verify)}".encode()).hexdigest()
