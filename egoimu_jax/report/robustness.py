"""Test-time variants against their clean runs (the robustness table).

A variant (``variants/<name>``: degraded video, a missing modality, a
test-time adaptation) scores a trained model another way; it is an axis of
that model, so it is compared with the clean run of the same model, fold
and seed, never ranked among models.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np

from egoimu_jax.evaluation import metrics as metrics_lib
from egoimu_jax.report import aggregate
from egoimu_jax.report import table_model


def robustness_table(groups: Mapping[aggregate.GroupKey, List[aggregate.Run]]
                     ) -> Optional[table_model.Table]:
  """Δ macro-F1 (variant − clean, paired by fold and seed) per model,
  variant and protocol; None without variant runs."""
  clean: Dict[Tuple, aggregate.Run] = {}
  variants: Dict[Tuple[str, str, str], List[aggregate.Run]] = {}
  for rs in groups.values():
    for r in rs:
      if r.scale is not None:
        continue
      if r.variant:
        variants.setdefault((r.base_name, r.variant, r.protocol), []).append(r)
      else:
        clean[(r.name, r.protocol, r.fold, r.seed)] = r
  rows = []
  for (name, variant, proto), rs in sorted(variants.items()):
    pairs = [(r, clean.get((name, proto, r.fold, r.seed))) for r in rs]
    pairs = [(v, c) for v, c in pairs if c is not None]
    if not pairs:
      continue
    delta = [v.test["macro_f1"] - c.test["macro_f1"] for v, c in pairs]
    d = metrics_lib.mean_std(delta)
    rows.append([name, variant, proto,
                 float(np.mean([c.test["macro_f1"] for _, c in pairs])),
                 float(np.mean([v.test["macro_f1"] for v, _ in pairs])),
                 table_model.ValueSE(d["mean"], d["std"] / np.sqrt(d["n"]),
                                     True, n=d["n"]), d["n"]])
  if not rows:
    return None
  return table_model.Table(
      "Test-time variants against the clean run",
      ["model", "variant", "protocol", "clean macro-F1", "variant macro-F1",
       "Δ (variant − clean)", "runs"], rows,
      "Each variant scores the same trained model (same fold and seed) "
      "another way; Δ ± standard error over those pairs (†: paired). "
      "Variants are not models: they are absent from the main table, the "
      "significance tests and the hard-case difficulty.")
