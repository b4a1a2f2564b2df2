"""A sweep's runs as power-law points, read through the report aggregation.

Training size is what the run actually trained on, read from its split
(``results.json`` -> ``split``): the length of the protocol's
``scale_field`` (training clips for ``data_scaling``, training workers for
``worker_scaling``), not the nominal ``protocol.scale``.
"""

from __future__ import annotations

from typing import Dict, Sequence, Tuple

from egoimu_jax.input_pipeline import protocols
from egoimu_jax.report import aggregate
from egoimu_jax.scaling import power_law


def training_size(run: aggregate.Run) -> int:
  field = protocols.get(run.protocol).scale_field
  items = run.results.get("split", {}).get(field)
  if not items:
    raise ValueError(f"{run.workdir}: results.json split has no {field}; cannot "
                     f"tell how much it trained on")
  return len(items)


def from_runs(runs: Sequence[aggregate.Run]
              ) -> Dict[Tuple[str, str], power_law.Points]:
  """``{(name, protocol): Points}`` for the scaling protocols among ``runs``."""
  acc: Dict[Tuple[str, str], list] = {}
  for r in runs:
    if protocols.is_scaling(r.protocol):
      acc.setdefault((r.name, r.protocol), []).append(
          (training_size(r), r.fold, r.test["macro_f1"]))
  return {k: power_law.Points.from_f1(*zip(*sorted(v))) for k, v in sorted(acc.items())}


def load(patterns: Sequence[str]) -> Dict[Tuple[str, str], power_law.Points]:
  """Points of every finished scaling run under the workdir globs ``patterns``
  (e.g. ``["runs/scaling/**"]``)."""
  return from_runs(aggregate.load_runs(patterns))
