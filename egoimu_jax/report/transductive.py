"""The transductive control: what pretraining on the test people is worth.

Self-supervised pretraining and distillation run twice: on each fold's
training workers (``protocol.pretrain_on=train``, the primary row: no test
person seen) and on every worker unlabeled (``all``, the transductive
setting of the papers). Their runs differ only by the mark in the name
(``pretrain_population``): ``evimae-B-pretrain_train imu (pretrained)`` and
``evimae-B imu (pretrained)``, ``moment/comodo-pretrain_train/svm`` and
``moment/comodo/svm``. This table pairs them per protocol and fold and shows
all − train: a positive difference is what seeing the unlabeled test
people bought, not more data in general.
"""

from __future__ import annotations

from typing import List, Mapping, Optional, Tuple

from egoimu_jax import pretrain_population
from egoimu_jax.report import aggregate
from egoimu_jax.report import comparisons
from egoimu_jax.report import table_model
from egoimu_jax.report import tables

Groups = Mapping[aggregate.GroupKey, List[aggregate.Run]]


def pairs(groups: Groups) -> List[Tuple[aggregate.GroupKey,
                                        aggregate.GroupKey]]:
  """``(train, all)`` group pairs: the same run name but for the mark, one
  protocol, no scale; from-scratch fine-tunings (no pretraining behind
  them) and test-time variants left out."""
  out = []
  for key, rs in groups.items():
    name, protocol, scale = key
    base, population = pretrain_population.split(name)
    if population != "train" or scale is not None:
      continue
    if any(r.init == "scratch" or r.variant is not None for r in rs):
      continue
    partner = (base, protocol, scale)
    if partner in groups:
      out.append((key, partner))
  return sorted(out, key=lambda ab: tables.key_order(ab[1]))


def transductive_table(groups: Groups, n_boot: int = 2000, seed: int = 0
                       ) -> Optional[table_model.Table]:
  """All − train per run pair, paired by fold; None when no run has both."""
  found = pairs(groups)
  if not found:
    return None
  rows, skipped = [], []
  for train, every in found:
    row = comparisons.paired_row(groups[every], groups[train], n_boot, seed)
    if isinstance(row, str):
      skipped.append(f"{every[0]} ({every[1]}{row})")
      continue
    f1 = lambda key: table_model.mean_std(  # noqa: E731
        [r.test["macro_f1"] for r in groups[key]])
    rows.append([train[1], every[0], f1(train), f1(every)] + row)
  note = ("Δ = pretrained on all workers (test people included, unlabeled) − "
          "pretrained on each fold's training workers only (the primary "
          "row). " + comparisons.PAIRED_NOTE)
  if skipped:
    note += " Not comparable: " + ", ".join(skipped) + "."
  return table_model.Table(
      "Transductive control: pretraining on all workers − on training "
      "workers only",
      *comparisons.with_q_values(
          ["protocol", "run", "train macro-F1", "all macro-F1"] +
          comparisons.PAIRED_COLUMNS, rows), note)
