"""IMU file formats, keyed by file suffix: one table, one line per format.

A reader is ``read(data: bytes, source: ImuSource) -> ImuStream``: the
file's bytes (already decompressed) in, timestamps and the 6 raw channels
out. It raises ``ValueError`` with the problem; ingest adds the file path
and quarantines the clip. Compression is a second suffix (``x.jsonl.gz``)
and is undone here, for every format.

Adding a format (CSV per clip, Parquet, ...) is one reader module plus one
line in ``_READERS``.
"""

from __future__ import annotations

import dataclasses
import gzip
from typing import Any, Callable, Dict, Mapping, Optional

import numpy as np

from egoimu_jax.registry import Registry

# suffix -> "module:function". Keep sorted; one line per suffix.
_READERS = {
    ".json": "egoimu_jax.input_pipeline.raw.imu_jsonl:read",
    ".jsonl": "egoimu_jax.input_pipeline.raw.imu_jsonl:read",
    ".ndjson": "egoimu_jax.input_pipeline.raw.imu_jsonl:read",
    ".npy": "egoimu_jax.input_pipeline.raw.imu_npy:read",
}
# compression suffix -> (name, decompress)
_DECOMPRESS: Dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    ".gz": ("gzip", gzip.decompress)}

READERS = Registry("IMU file suffix")
for _suffix, _target in _READERS.items():
  READERS.lazy(_suffix, _target)


@dataclasses.dataclass
class ImuStream:
  """One clip's IMU as read: timestamps, channels and source line numbers."""
  t_us: np.ndarray               # int64 [n], on the file's clock
  values: np.ndarray             # float64 [n, 6]: acc xyz, gyro xyz, as stored
  line: Optional[np.ndarray]     # int [n] 1-based file line of each row, or None


@dataclasses.dataclass
class ImuSource:
  """What a reader may need besides the bytes."""
  path: str                                  # for messages
  meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  imu_cfg: Any = None                        # config.data.imu
  video_info: Any = None                     # video_decode.VideoInfo or None
  notes: Dict[str, int] = dataclasses.field(default_factory=dict)
  warnings: list = dataclasses.field(default_factory=list)
  # (line or None, notes key, what) per repaired defect, e.g. a dropped line.
  repairs: list = dataclasses.field(default_factory=list)


def _split(path: str) -> tuple[str, str]:
  """``(format suffix, compression suffix or "")`` of ``path``."""
  name = path.lower()
  compression = next((c for c in _DECOMPRESS if name.endswith(c)), "")
  name = name[:len(name) - len(compression)]
  suffix = next((s for s in sorted(READERS.names(), key=len, reverse=True)
                 if name.endswith(s)), "")
  return suffix, compression


def format_of(path: str) -> str:
  """The reader suffix of ``path`` (``".jsonl"``, ...); ValueError if none."""
  suffix, _ = _split(path)
  if not suffix:
    raise ValueError(
        f"unknown IMU file type {path!r} (known suffixes: "
        f"{', '.join(READERS.names())}, optionally + "
        f"{', '.join(_DECOMPRESS)})")
  return suffix


# Leading bytes of compressed or archived files (a file named for its
# content but holding these fails to parse with a message about text).
_MAGIC = {b"\x1f\x8b": "gzip-compressed (name it .gz)",
          b"\x28\xb5\x2f\xfd": "zstd-compressed",
          b"BZh": "bzip2-compressed", b"PK\x03\x04": "a zip archive"}


def read(data: bytes, source: ImuSource, fmt: str = "") -> ImuStream:
  """Decompresses ``data`` by ``source.path``'s suffix and parses it."""
  suffix, compression = _split(source.path)
  fmt = fmt or suffix
  if not compression:
    what = next((w for m, w in _MAGIC.items() if data.startswith(m)), None)
    if what is not None:
      raise ValueError(f"the file is {what}, but its name says "
                       f"{suffix or 'an uncompressed file'}")
  if compression:
    try:
      name, decompress = _DECOMPRESS[compression]
      data = decompress(data)
    except (OSError, EOFError) as e:
      raise ValueError(f"bad {name} ({e})") from None
  if fmt not in READERS:
    format_of(source.path)  # raises with the known suffixes
  return READERS.get(fmt)(data, source)
