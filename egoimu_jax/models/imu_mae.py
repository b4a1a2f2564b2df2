"""IMU-only masked autoencoder: EVI-MAE's IMU branch without video.

The model is the EVI-MAE IMU path on its own: sensor-group spectrogram
tokens, masked IMU tower, unified block on its ``imu`` stream (+
``norm_imu``), pixel decoder for the spectrogram patches, and the GraphMAE
branch over sensor groups. Its loss is ``alpha * mse_imu + beta * graph``
(``mae_losses.losses``; no contrastive pair without video).

Parameter names are those of ``evimae.EVIMAE``, so an IMU-MAE checkpoint
initialises ``IMUMAEClassifier`` (== ``EVIMAEClassifier`` in IMU-only mode)
through ``models.transfer``, and an EVI-MAE checkpoint
initialises an IMU-only classifier the same way.

Variants are EVI-MAE's (``S``: 768-wide IMU tower pooled to a 384 unified
block; ``B``: 768 throughout; ``tiny`` for CPU); the video fields of the spec
are unused.
"""

from __future__ import annotations

from typing import Any, Sequence

from egoimu_jax.models import evimae
from egoimu_jax.models import presets
from egoimu_jax.models.evimae_spec import make_spec

IMU_ONLY = ("imu",)


class IMUMAE(evimae.EVIMAE):
  """``evimae.EVIMAE`` restricted to the IMU branch (see there for outputs)."""
  modalities: tuple[str, ...] = IMU_ONLY

  def setup(self):
    if tuple(self.modalities) != IMU_ONLY:
      raise ValueError(f"IMUMAE is IMU-only; got modalities={self.modalities}")
    super().setup()


class IMUMAEClassifier(evimae.EVIMAEClassifier):
  """IMU-only fine-tuning classifier (unified ``imu`` stream + graph)."""
  modalities: tuple[str, ...] = IMU_ONLY

  def setup(self):
    if tuple(self.modalities) != IMU_ONLY:
      raise ValueError("IMUMAEClassifier is IMU-only; got "
                       f"modalities={self.modalities}")
    super().setup()


def create(variant: str = "S", dtype: Any = "float32",
           param_dtype: Any = "float32", **spec_overrides) -> IMUMAE:
  """``imu_mae``: the IMU-only pretraining model."""
  return IMUMAE(spec=make_spec(variant, **spec_overrides),
                dtype=presets.as_dtype(dtype),
                param_dtype=presets.as_dtype(param_dtype))


def create_classifier(variant: str = "S", num_classes: int = 3,
                      modalities: Sequence[str] = ("imu",),
                      dtype: Any = "float32", param_dtype: Any = "float32",
                      **spec_overrides) -> IMUMAEClassifier:
  """``imu_mae_classifier``: IMU-only fine-tuning / from-scratch classifier.

  ``modalities`` is accepted so that experiment configs can set it for any
  classifier of the EVI-MAE family; here it must be ``("imu",)``.
  """
  if tuple(modalities) != ("imu",):
    raise ValueError(f"imu_mae_classifier classifies from IMU only, got "
                     f"modalities={tuple(modalities)}")
  return IMUMAEClassifier(spec=make_spec(variant, **spec_overrides),
                          dtype=presets.as_dtype(dtype),
                          param_dtype=presets.as_dtype(param_dtype),
                          num_classes=num_classes)
