import pytest

from egoimu_jax import durations

KW = dict(batch_size=8, steps_per_epoch=4)


@pytest.mark.parametrize("config, want", [
    ({"total_steps": 10}, 10),
    ({"total_epochs": 2.5}, 10),
    ({"total_epochs": 0.3}, 2),          # rounds up
    ({"total_examples": 20}, 3),
    ({"total_steps": 10, "total_epochs": None}, 10),
])
def test_units(config, want):
  assert durations.resolve(config, "total", **KW) == want


def test_percent_of_total_and_defaults():
  assert durations.resolve({"warmup_percent": 5}, "warmup", total_steps=100,
                           **KW) == 5
  assert durations.resolve({}, "warmup", default=0, **KW) == 0


@pytest.mark.parametrize("config, match", [
    ({"total_steps": 4, "total_epochs": 1.0}, "set exactly one"),
    ({}, "none of total_steps"),
    ({"total_steps": 2.5}, "whole number"),
    ({"total_steps": -1}, "negative"),
    ({"total_percent": 10}, "percent of what"),
])
def test_errors(config, match):
  with pytest.raises(ValueError, match=match):
    durations.resolve(config, "total", **KW)


def test_a_command_line_unit_replaces_the_config_files():
  from egoimu_jax import config_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.trainer_config()
  config.total_steps = 4
  config.eval_every_steps = 2
  config.total_epochs = 30.0     # as --config.total_epochs=30 would
  durations.prefer_overrides(config, ["total_epochs", "optim.lr"])
  assert config.total_steps is None and config.total_epochs == 30.0
  assert config.eval_every_steps == 2
  assert durations.resolve(config, "total", **KW) == 120


def test_clear_resets_every_unit_of_the_named_durations():
  from egoimu_jax import config_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.trainer_config()
  config.update(total_steps=4, warmup_percent=5.0, log_every_steps=1,
                eval_every_epochs=1.0, checkpoint_every_steps=10)
  config.optim.lr = 0.5
  durations.clear(config, prefixes=("total", "eval_every"))
  assert config.total_steps is None and config.eval_every_epochs is None
  assert (config.warmup_percent, config.log_every_steps,
          config.checkpoint_every_steps) == (5.0, 1, 10)
  durations.clear(config)
  assert all(config[f"{p}_{u}"] is None for p in durations.PREFIXES
             for u in durations.UNITS if f"{p}_{u}" in config)
  assert config.optim.lr == 0.5
  config.total_epochs = 2.0  # a placeholder set again in another unit
  assert durations.resolve(config, "total", **KW) == 8
