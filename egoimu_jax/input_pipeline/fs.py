"""File access for local paths and fsspec URLs (``gs://``, ``memory://``, ...).

Everything in the input pipeline opens files through these helpers, so a raw
dataset or shard set can live on local disk or in a bucket without code
changes. ``gs://`` goes through gcsfs; point ``STORAGE_EMULATOR_HOST`` at a
local emulator to test it offline.
"""

from __future__ import annotations

import functools
import os
import posixpath
from typing import IO, List

# The newest gcsfs stalls ~60 s on a gRPC probe for hierarchical-namespace
# buckets unless this is set before gcsfs is imported (STACK_NOTES.md).
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

import fsspec  # pylint: disable=g-import-not-at-top


def is_url(path: str) -> bool:
  """True for ``scheme://...`` paths (``file://`` included)."""
  return "://" in path


def join(root: str, *parts: str) -> str:
  """Joins path parts; a part that is absolute (``/x`` or a URL) wins."""
  out = root
  for part in parts:
    if is_url(part) or part.startswith("/"):
      out = part
    elif is_url(out):
      out = out.rstrip("/") + "/" + part
    else:
      out = os.path.join(out, part)
  return out


def dirname(path: str) -> str:
  if is_url(path):
    return posixpath.dirname(path.rstrip("/"))
  return os.path.dirname(path)


@functools.lru_cache(maxsize=None)
def _filesystem(protocol: str, endpoint: str | None):
  if protocol in ("gs", "gcs"):
    import gcsfs  # pylint: disable=g-import-not-at-top
    if endpoint:  # a local emulator: no credentials
      return gcsfs.GCSFileSystem(endpoint_url=endpoint, token="anon")
    return gcsfs.GCSFileSystem()
  return fsspec.filesystem(protocol)


def filesystem(path: str):
  """Returns ``(fs, fs_path)`` for a local path or URL."""
  if not is_url(path):
    return _filesystem("file", None), path
  protocol = path.split("://", 1)[0]
  endpoint = None
  if protocol in ("gs", "gcs"):
    endpoint = os.environ.get("STORAGE_EMULATOR_HOST") or None
    if endpoint and not endpoint.startswith("http"):
      endpoint = "http://" + endpoint
  fs = _filesystem(protocol, endpoint)
  return fs, fs._strip_protocol(path)  # pylint: disable=protected-access


def open_file(path: str, mode: str = "rb", **kwargs) -> IO:
  """Opens ``path`` (local or URL). Missing files raise FileNotFoundError."""
  if not is_url(path):
    return open(path, mode, **kwargs)  # pylint: disable=unspecified-encoding
  fs, p = filesystem(path)
  return fs.open(p, mode, **kwargs)


def read_bytes(path: str) -> bytes:
  with open_file(path, "rb") as f:
    return f.read()


def read_text(path: str) -> str:
  return read_bytes(path).decode("utf-8")


def exists(path: str) -> bool:
  if not is_url(path):
    return os.path.exists(path)
  fs, p = filesystem(path)
  return fs.exists(p)


def size(path: str) -> int:
  if not is_url(path):
    return os.path.getsize(path)
  fs, p = filesystem(path)
  return int(fs.size(p))


def glob(pattern: str) -> List[str]:
  """Sorted matches, spelled like ``pattern`` (URLs stay URLs)."""
  if not is_url(pattern):
    import glob as _glob  # pylint: disable=g-import-not-at-top
    return sorted(_glob.glob(pattern))
  fs, p = filesystem(pattern)
  head, rest = pattern.split("://", 1)
  # What stripping the protocol added in front (e.g. "/" for memory://).
  lead = p[:len(p) - len(rest)] if p.endswith(rest) else ""
  return sorted(f"{head}://{m[len(lead):]}" for m in fs.glob(p))


def makedirs(path: str) -> None:
  if not is_url(path):
    os.makedirs(path, exist_ok=True)
    return
  fs, p = filesystem(path)
  fs.makedirs(p, exist_ok=True)


def default_cache_dir(data_cfg) -> str:
  """``data.cache_dir``, else ``$EGOIMU_CACHE``, else ``~/.cache/egoimu_jax``."""
  return (data_cfg.get("cache_dir") or os.environ.get("EGOIMU_CACHE") or
          os.path.join(os.path.expanduser("~"), ".cache", "egoimu_jax"))
