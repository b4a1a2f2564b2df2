"""Every IMU model builds and runs on windows other than 5 s x 200 Hz.

50 Hz data kept at its native rate gives 250 samples (5 s) or 128 (2.56 s,
UCI-HAR's windows). Full-size variants are checked by shape
(``jax.eval_shape``: init and apply, no compute), tiny ones run for real.
Where a window is too short for a model or a spectrogram, the refusal is
one line saying why (``REFUSED``).
"""

import ml_collections
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jit_testlib

from egoimu_jax import errors
from egoimu_jax import models
from egoimu_jax.input_pipeline import spectrogram

LENGTHS = (250, 128)
RATE_HZ = 50.0
SPEC_FULL = dict(n_fft=256, hop=0, time_bins=160, freq_bins=128, log=True)
SPEC_TINY = dict(n_fft=62, hop=0, time_bins=32, freq_bins=32, log=True)

# name -> (full config, tiny config, batch keys); crosshar reads the window
# length in seconds (it resamples to its own rate).
IMU_MODELS = {
    "deepconvlstm": (dict(variant="paper"), dict(variant="tiny")),
    "attend_discriminate": (dict(variant="paper"), dict(variant="tiny")),
    "crosshar_classifier": (dict(variant="base"), dict(variant="tiny")),
    "moment": (dict(variant="small"), dict(variant="tiny")),
    "mantis": (dict(variant="8M"), dict(variant="tiny")),
    "imu2clip": (dict(variant="base"), dict(variant="tiny")),
    "imu_mae_classifier": (dict(variant="S"), dict(variant="tiny")),
    "evimae_classifier": (dict(variant="S", modalities=("imu",)),
                          dict(variant="tiny", modalities=("imu",))),
}
SPEC_MODELS = ("imu_mae_classifier", "evimae_classifier")
# (name, length, full variant?) -> what the one-line refusal says.
REFUSED = {
    ("imu2clip", 128, True): "need windows of at least 141 samples, got 128",
    ("imu2clip", 128, False): "need windows of at least 141 samples, got 128",
    ("imu_mae_classifier", 128, True): "does not fit 128-sample windows",
    ("evimae_classifier", 128, True): "does not fit 128-sample windows",
}


def _batch(name, length, spec_cfg, abstract):
  imu = np.random.default_rng(0).normal(size=(2, length, 6)).astype(np.float32)
  batch = {"imu": imu}
  if name in SPEC_MODELS:
    spec_cfg = ml_collections.ConfigDict(spec_cfg)
    spectrogram.check(length, spec_cfg)  # as the pipeline does on opening
    batch["spec"] = spectrogram.from_config(imu, spec_cfg)
  if abstract:
    return {k: jax.ShapeDtypeStruct(v.shape, jnp.float32)
            for k, v in batch.items()}
  return {k: jnp.asarray(v) for k, v in batch.items()}


def _model(name, fields, length):
  fields = dict(fields, name=name, num_classes=4)
  if name == "crosshar_classifier":
    fields["window_seconds"] = length / RATE_HZ
  return models.build(fields)


def _run(model, batch):
  variables = model.init({"params": jax.random.key(0),
                          "dropout": jax.random.key(1),
                          "mask": jax.random.key(2)}, batch, train=False)
  return model.apply(variables, batch, train=False)


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("name", sorted(IMU_MODELS))
def test_full_variant_shapes(name, length):
  model = _model(name, IMU_MODELS[name][0], length)

  def shapes():
    batch = _batch(name, length, SPEC_FULL, abstract=True)
    return jax.eval_shape(lambda b: _run(model, b), batch)[0].shape
  _check(shapes, (name, length, True))


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("name", sorted(IMU_MODELS))
def test_tiny_variant_runs(name, length):
  model = _model(name, IMU_MODELS[name][1], length)

  def shapes():
    # Init and apply as one program compiled fast: a third of the CPU of
    # running them op by op.
    batch = _batch(name, length, SPEC_TINY, abstract=False)
    logits, _ = jit_testlib.compile_fast(lambda b: _run(model, b), batch)(
        batch)
    assert np.isfinite(np.asarray(logits)).all()
    return logits.shape
  _check(shapes, (name, length, False))


def _check(shapes, key):
  if key in REFUSED:
    with pytest.raises(errors.UserError, match=REFUSED[key]) as e:
      shapes()
    assert "\n" not in str(e.value)
  else:
    assert shapes() == (2, 4)


def test_derived_hop_spans_the_window():
  assert spectrogram.resolve_hop(1000, 256, 6, 160) == 6   # given: kept
  assert spectrogram.resolve_hop(1000, 256, 0, 160) == 5
  assert spectrogram.resolve_hop(250, 62, 0, 32) == 7
  assert spectrogram.resolve_hop(250, 256, 0, 160) == 1
  with pytest.raises(spectrogram.SpectrogramConfigError, match="hop=0"):
    spectrogram.check(250, ml_collections.ConfigDict(
        dict(SPEC_FULL, hop=6)))
