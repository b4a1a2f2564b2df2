"""WebDataset tar shards: reading members, grouping samples, writing shards.

A WebDataset shard is a plain tar whose members are grouped into samples by
key: the member name up to the first dot of its base name (``a/w01_c03.mp4``
and ``a/w01_c03.imu.npy`` are the ``mp4`` and ``imu.npy`` fields of sample
``a/w01_c03``). Members of one sample are adjacent.

The raw index points at a member as ``<tar path>#<member name>`` (see
docs/data_layout.md). Tars are read as a stream, so a shard on gs:// is read
once, front to back, whatever the number of clips requested from it.
"""

from __future__ import annotations

import dataclasses
import io
import posixpath
import tarfile
from typing import Dict, Iterable, Iterator, Optional, Set, Tuple

from egoimu_jax.input_pipeline import fs
from egoimu_jax.input_pipeline.raw import storage_errors

MEMBER_SEPARATOR = "#"
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")


def split_member_ref(path: str) -> Optional[Tuple[str, str]]:
  """``"shards/a.tar#k.mp4"`` -> ``("shards/a.tar", "k.mp4")``; else None."""
  head, sep, member = path.rpartition(MEMBER_SEPARATOR)
  if sep and member and head.endswith(_TAR_SUFFIXES):
    return head, member
  return None


def member_ref(tar_path: str, member: str) -> str:
  return f"{tar_path}{MEMBER_SEPARATOR}{member}"


def split_key(name: str) -> Tuple[str, str]:
  """``"a/w01_c03.imu.npy"`` -> ``("a/w01_c03", "imu.npy")``."""
  directory, base = posixpath.split(name)
  key, _, ext = base.partition(".")
  return posixpath.join(directory, key) if directory else key, ext


@dataclasses.dataclass(frozen=True)
class NonFile:
  """A requested tar member that is no regular file (never read): what it is."""
  what: str


def _not_a_file(info: tarfile.TarInfo) -> str:
  """What a non-regular member is; its target is never followed."""
  if info.issym() or info.islnk():
    kind = "a symlink" if info.issym() else "a hard link"
    return (f"{kind} to {info.linkname!r} (links inside a tar are not "
            "followed: store the file itself)")
  return ("a directory" if info.isdir() else "a FIFO" if info.isfifo() else
          "a device" if info.isdev() else "not a regular file")


def iter_members(tar_path: str, non_files: Optional[Dict[str, str]] = None
                 ) -> Iterator[Tuple[str, bytes]]:
  """(name, bytes) of every regular member, in tar order, streaming.

  Links, devices and FIFOs are never read; ``non_files`` (if given) gets
  ``{name: what it is}`` for each. A broken tar raises ValueError (the
  data's), a read the storage failed ``storage_errors.StorageUnreachable``.
  """
  with fs.open_file(tar_path, "rb") as f:
    try:
      with tarfile.open(fileobj=f, mode="r|*") as tar:
        for info in tar:
          if info.isfile():
            yield info.name, tar.extractfile(info).read()
          elif non_files is not None:
            non_files[info.name] = _not_a_file(info)
    except (tarfile.TarError, EOFError) as e:
      raise ValueError(f"{tar_path}: unreadable tar ({e})") from e
    except Exception as e:  # pylint: disable=broad-except
      storage_errors.check(e, tar_path)
      if isinstance(e, OSError):
        raise ValueError(f"{tar_path}: unreadable tar ({e})") from e
      raise


def read_members(tar_path: str, names: Iterable[str],
                 non_files: Optional[Dict[str, str]] = None
                 ) -> Dict[str, bytes]:
  """Bytes of the named members (absent names are missing from the result).

  Stops reading once every requested member has been seen. A tar that
  breaks off midway raises ValueError naming the tar. ``non_files`` gets
  the requested names that are links or other non-regular members.
  """
  wanted: Set[str] = set(names)
  out: Dict[str, bytes] = {}
  seen: Dict[str, str] = {}
  if not wanted:
    return out
  for name, data in iter_members(tar_path, seen):
    if name in wanted:
      out[name] = data
      if len(out) == len(wanted):
        break
  if non_files is not None:
    non_files.update((n, w) for n, w in seen.items() if n in wanted)
  return out


def iter_samples(tar_path: str) -> Iterator[Tuple[str, Dict[str, bytes]]]:
  """(key, {ext: bytes}) per sample, WebDataset-style."""
  key, fields = None, {}
  for name, data in iter_members(tar_path):
    k, ext = split_key(name)
    if k != key and fields:
      yield key, fields
      fields = {}
    key = k
    fields[ext] = data
  if fields:
    yield key, fields


def write_tar(path: str, members: Iterable[Tuple[str, bytes]]) -> None:
  """Writes a deterministic tar (fixed mtime/owner), byte-identical per input."""
  buf = io.BytesIO()
  with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
    for name, data in members:
      info = tarfile.TarInfo(name)
      info.size = len(data)
      info.mtime = 0
      info.mode = 0o644
      info.uname = info.gname = ""
      tar.addfile(info, io.BytesIO(data))
  with fs.open_file(path, "wb") as f:
    f.write(buf.getvalue())
