"""A raw source: what ``prepare`` and the teachers read a raw dataset through.

``config.data.layout`` names the source; ``open_source(root, data_cfg)``
opens it. A source is opened once per process from its root; it lists its
clips (``rows``: one index row each), their workers and the class
vocabulary, fingerprints its content, groups rows into work units and
ingests them into windows (one result per row, never raising for a bad
clip); ``video_ref`` says where a row's video is, for teachers decoding
frames later.

A new raw layout is one file with a ``RawSource`` subclass plus one
``RAW_SOURCES`` line below.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import (TYPE_CHECKING, Callable, Iterator, List, Mapping, Optional,
                    Sequence, Tuple)

from egoimu_jax import errors
from egoimu_jax import registry

if TYPE_CHECKING:
  from egoimu_jax.input_pipeline.raw import ingest as ingest_lib

DEFAULT_LAYOUT = "index_csv"


@dataclasses.dataclass(frozen=True, slots=True)
class ClipRow:
  """One clip of a source. ``video``/``imu`` are as written in its index."""
  row: int
  clip_id: str
  worker_id: str
  video: str
  imu: str
  extra: dict


class RawSource(abc.ABC):
  """A raw dataset, opened: its clips, workers and classes; clips ingested."""

  root: str
  classes: Tuple[str, ...]
  rows: Sequence[ClipRow]        # row ``i`` has ``row == i``
  workers: Mapping[str, dict]    # worker id -> metadata (may be empty)
  # "path: problem" for suspicious but usable content, and counts by kind.
  warnings: Sequence[str] = ()
  warning_counts: Mapping[str, int] = {}
  # Whether the root alone opens the source again (in another process, or
  # for teachers reading videos after prepare).
  reopenable = True
  # The native IMU rate the dataset declares (dataset.json); 0: none.
  declared_rate_hz = 0.0

  @classmethod
  @abc.abstractmethod
  def open(cls, root: str, data_cfg) -> "RawSource":
    """Reads and checks the source's tables; dataset errors raise."""

  @abc.abstractmethod
  def fingerprint(self) -> str:
    """A digest that changes when what ``ingest`` returns may change."""

  @abc.abstractmethod
  def work_units(self) -> List[List[int]]:
    """Row numbers to ingest together, each row in exactly one unit."""

  @abc.abstractmethod
  def ingest(self, rows: Sequence[int], data_cfg,
             store_frames: Callable[[str], bool]
             ) -> Iterator["ingest_lib.ClipWindows | ingest_lib.Quarantined"]:
    """Ingests rows; yields exactly one result per row, in order."""

  def video_ref(self, row: int) -> Tuple[str, Optional[Tuple[str, str]]]:
    """(display path, (tar path, member) or None) of a row's video; ("",
    None) when it has none."""
    del row
    return "", None

  def __len__(self) -> int:
    return len(self.rows)


RAW_SOURCES = registry.Registry("raw source")
RAW_SOURCES.lazy("index_csv",
                 "egoimu_jax.input_pipeline.raw.index_csv:IndexCsvSource")
RAW_SOURCES.lazy("memory",
                 "egoimu_jax.input_pipeline.raw.memory_dataset:MemoryDataset")


def source_class(data_cfg) -> type:
  """The ``RawSource`` subclass ``data.layout`` names."""
  layout = data_cfg.get("layout", DEFAULT_LAYOUT) or DEFAULT_LAYOUT
  try:
    return RAW_SOURCES.get(layout)
  except KeyError as e:
    raise errors.UserError(f"config.data.layout: {e.args[0]}") from None


def open_source(root: str, data_cfg) -> RawSource:
  """The raw dataset at ``root``, read by the source ``data.layout`` names."""
  return source_class(data_cfg).open(root, data_cfg)
