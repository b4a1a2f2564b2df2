"""Durations written in any unit, resolved to steps once per run.

A duration named ``prefix`` is given by exactly one of ``{prefix}_steps``,
``{prefix}_epochs`` (passes over the split's training windows, as the
pipeline counts them: ``steps_per_epoch`` full global batches),
``{prefix}_examples`` or ``{prefix}_percent`` (of the total steps), as in
big_vision. Unset fields are ``None`` (``ml_collections`` placeholders), so a
config sets one and the others stay visible for command-line overrides;
an override of another unit replaces the config's (``prefer_overrides``).
A config-level module: ``config_lib`` and configs clear durations and the
trainer resolves them, so it sits outside ``training/``.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Optional, Sequence

UNITS = ("steps", "epochs", "examples", "percent")
# Every duration of a run (``config_lib.trainer_config``).
PREFIXES = ("total", "warmup", "log_every", "eval_every", "checkpoint_every")


def resolve(config: Mapping[str, Any], prefix: str, *, batch_size: int,
            steps_per_epoch: int, total_steps: Optional[int] = None,
            default: Optional[int] = None) -> int:
  """Steps for ``config.{prefix}_{unit}``; ``default`` if no unit is set
  (an error when ``default`` is None).

  Fractional results round up, so e.g. ``eval_every_epochs=1`` evaluates after
  the step that completes the epoch.
  """
  given = {u: config.get(f"{prefix}_{u}") for u in UNITS}
  given = {u: v for u, v in given.items() if v is not None}
  if len(given) > 1:
    raise ValueError(
        f"config sets {sorted(f'{prefix}_{u}' for u in given)}; set exactly "
        "one unit per duration")
  if not given:
    if default is None:
      raise ValueError(f"config sets none of "
                       f"{', '.join(f'{prefix}_{u}' for u in UNITS)}")
    return default
  (unit, value), = given.items()
  if value < 0:
    raise ValueError(f"config.{prefix}_{unit} = {value} is negative")
  if unit == "steps":
    if value != int(value):
      raise ValueError(f"config.{prefix}_steps = {value} is not a whole number")
    return int(value)
  if unit == "epochs":
    return math.ceil(value * steps_per_epoch)
  if unit == "examples":
    return math.ceil(value / batch_size)
  if total_steps is None:
    raise ValueError(f"config.{prefix}_percent: percent of what? (total_* must "
                     "be resolved first)")
  return math.ceil(value / 100 * total_steps)


def prefer_overrides(config, overridden: Iterable[str]) -> None:
  """Lets a unit given as an override replace the config file's unit.

  ``--config.total_epochs=30`` on a config that sets ``total_steps``: a
  placeholder cannot be reset to None from the command line, so ``main``
  passes the overridden field names here and the other units of the same
  duration are cleared (in place). Overriding two units of one duration
  still fails in :func:`resolve`.
  """
  for name in overridden:
    prefix, _, unit = name.rpartition("_")
    if unit in UNITS and prefix and "." not in prefix and name in config:
      for other in UNITS:
        key = f"{prefix}_{other}"
        if other != unit and key in config and key not in overridden:
          config[key] = None


def clear(config, prefixes: Sequence[str] = PREFIXES) -> None:
  """Sets every unit of the ``prefixes`` durations to None, in place, so that
  the caller (a tiny run, a stage) can give them again in units of its own."""
  for prefix in prefixes:
    for unit in UNITS:
      if f"{prefix}_{unit}" in config:
        config[f"{prefix}_{unit}"] = None
