"""What a public dataset converter provides (one file per dataset).

A converter is a ``PublicDataset`` subclass: its class sets, its units,
its people and, per person, its recordings with per-sample labels.
``layout_writer.write`` turns that into the raw layout of
docs/data_layout.md; ``python -m egoimu_jax.datasets`` is its command line.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Dict, Iterator, Mapping, Tuple

import numpy as np

from egoimu_jax import errors


class DatasetError(errors.UserError, ValueError):
  """A public dataset cannot be converted: not installed, or not as known."""


@dataclasses.dataclass
class Recording:
  """One continuous recording of one person: a clip of the raw layout."""
  clip_id: str
  worker_id: str
  imu: np.ndarray        # float32 [n, 6]: acc xyz, gyro xyz in ``units``
  rate_hz: float         # sample i is at i / rate_hz seconds of clip time
  labels: np.ndarray     # int [n]: index into the class set, -1 unlabelled
  extra: Dict[str, str] = dataclasses.field(default_factory=dict)  # index.csv


class PublicDataset:
  """A converter: subclass it in ``datasets/<name>.py``, register it in
  ``datasets/__init__.py``.

  Attributes:
    name: what ``python -m egoimu_jax.datasets NAME`` calls it.
    title: a human name.
    class_sets: ``--classes`` choices -> class names (label-index order);
      the first is the default.
    units: ``dataset.json`` units of the recordings (``acc_unit``,
      ``gyro_unit``).
    rate_hz: the native IMU rate of every recording, ``dataset.json``'s
      ``rate_hz`` (what ``data.imu.rate_hz=0`` keeps); 0: none declared.
    anchors: published results on this dataset, written to
      ``dataset.json``'s ``about.anchors`` for the report to print next to
      ours: each ``{"source", "what", "protocol", "preset", "metric",
      "low", "high"}`` (``low == high`` for one figure).
  """

  name: str = ""
  title: str = ""
  class_sets: Mapping[str, Tuple[str, ...]] = types.MappingProxyType({})
  units: Mapping[str, str] = types.MappingProxyType({})
  rate_hz: float = 0.0
  anchors: Tuple[Mapping[str, Any], ...] = ()

  def about(self) -> Dict[str, Any]:
    """Provenance written to ``dataset.json``'s ``about``."""
    raise NotImplementedError(self.name)

  def people(self) -> Dict[str, Dict[str, Any]]:
    """Subject key (as ``--subjects`` spells it) -> ``workers.csv`` row,
    with ``worker_id``; in the order ``--people=N`` takes them."""
    raise NotImplementedError(self.name)

  def recordings(self, subject: str, classes: Tuple[str, ...]
                 ) -> Iterator[Recording]:
    """The recordings of ``subject``, labelled with indices into
    ``classes`` (samples of classes not in it: -1)."""
    raise NotImplementedError(self.name)
