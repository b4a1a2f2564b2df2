"""MFU: peak table lookup, the meter's arithmetic, and FLOP counts reaching
the trainer through ``models.forward_flops``."""

import types

import pytest

from egoimu_jax import models
from egoimu_jax.training import mfu


def test_peak_lookup_by_device_kind_and_dtype():
  assert mfu.peak_flops("NVIDIA H100 80GB HBM3") == 989e12
  assert mfu.peak_flops("NVIDIA H200", "float32") == 494e12
  assert mfu.peak_flops("TPU v5 lite") == 197e12
  assert mfu.peak_flops("cpu") is None


def test_meter_counts_three_forward_passes_per_example():
  dev = types.SimpleNamespace(device_kind="NVIDIA A100-SXM4-40GB")
  meter = mfu.Meter(1e9, global_batch=64, devices=[dev, dev],
                    dtype="bfloat16")
  out = meter(steps_per_sec=2.0)
  assert out["model_flops_per_sec"] == pytest.approx(3 * 1e9 * 64 * 2)
  assert out["mfu"] == pytest.approx(3 * 1e9 * 64 * 2 / (2 * 312e12))
  cpu = mfu.Meter(1e9, 64, [types.SimpleNamespace(device_kind="cpu")],
                  "float32")
  assert "mfu" not in cpu(1.0) and cpu(1.0)["model_flops_per_sec"] > 0
  assert mfu.Meter(None, 64, [dev], "bfloat16")(1.0) == {}


def test_forward_flops_from_config_fields():
  pre = models.forward_flops({"name": "evimae", "variant": "tiny"})
  clf = models.forward_flops({"name": "evimae_classifier", "variant": "tiny",
                              "modalities": ("imu",),
                              "drop_modality": ""})
  assert pre > 0 and clf > 0
  assert models.forward_flops({"name": "deepconvlstm"}) is None
  # A field the count does not take is a warning, not a failed run.
  assert models.forward_flops({"name": "videomae", "variant": "tiny",
                               "no_such_field": 1}) is None
  # SlowFast's cost follows the frames it is given, not its own fields.
  small = models.forward_flops({"name": "slowfast", "variant": "tiny"},
                               {"frames": (8, 8, 32, 32, 3)})
  large = models.forward_flops({"name": "slowfast", "variant": "tiny"},
                               {"frames": (8, 8, 64, 64, 3)})
  assert 3.5 < large / small < 4.5
