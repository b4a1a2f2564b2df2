"""How a run's name says which people its pretraining saw.

Self-supervised pretraining and distillation (``protocol.pretrain_on``) use
either every worker unlabeled (``"all"``: the test people included, a
transductive setting) or each fold's training workers only (``"train"``).
A run whose weights come from a ``train`` pretraining carries
``TRAIN_MARK`` in its name (``evimae-B-pretrain_train imu (pretrained)``,
``moment/comodo-pretrain_train/svm``); the same run from an ``all``
pretraining has the name without it. The sweeps name runs with ``mark``,
the report pairs the two with ``split`` and shows all − train.
"""

from __future__ import annotations

from typing import Tuple

POPULATIONS = ("train", "all")   # the primary row first
TRAIN_MARK = "-pretrain_train"


def mark(name: str, pretrain_on: str) -> str:
  """``name`` as a run pretrained on ``pretrain_on`` is called."""
  if pretrain_on not in POPULATIONS:
    raise ValueError(f"pretrain_on must be one of {POPULATIONS}, got "
                     f"{pretrain_on!r}")
  return name + TRAIN_MARK if pretrain_on == "train" else name


def split(name: str) -> Tuple[str, str]:
  """``(name without the mark, "train" or "all")``: the inverse of ``mark``
  (the mark may sit inside the name, before what the run adds to it)."""
  if TRAIN_MARK in name:
    return name.replace(TRAIN_MARK, "", 1), "train"
  return name, "all"


def populations(arg: str) -> Tuple[str, ...]:
  """A sweep's ``pretrain_on`` arg (``train``, ``all``, ``both``) -> the
  populations to run, the primary (``train``) first."""
  if arg == "both":
    return POPULATIONS
  if arg not in POPULATIONS:
    raise ValueError(f"pretrain_on must be train, all or both, got {arg!r}")
  return (arg,)
