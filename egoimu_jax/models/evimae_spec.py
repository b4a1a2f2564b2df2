"""EVI-MAE's spec: architecture, input geometry and masking, and its presets.

``EVIMAESpec`` is the one frozen dataclass every EVI-MAE-family module
(``evimae``, ``imu_mae``, ``flops``) reads its sizes from; ``VARIANTS`` are
the presets ``make_spec`` starts from.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

from egoimu_jax.models import masking
from egoimu_jax.models import presets


@dataclasses.dataclass(frozen=True)
class EVIMAESpec:
  """Architecture, input geometry and masking of an EVI-MAE model.

  ``width`` is the video tower's and the unified block's width.
  """
  # Video input [b, num_frames, image_size, image_size, 3].
  num_frames: int = 16
  image_size: int = 224
  video_patch: int = 16
  tubelet: int = 2
  # IMU spectrogram input [b, spec_time, spec_freq, spec_channels].
  spec_time: int = 160
  spec_freq: int = 128
  spec_channels: int = 6
  imu_patch: tuple[int, int] = (16, 16)
  # Channel groups embedded as separate token sequences (graph nodes).
  imu_groups: tuple[tuple[int, ...], ...] = ((0, 1, 2), (3, 4, 5))
  # Towers.
  width: int = 384
  video_depth: int = 12
  video_heads: int = 6
  imu_width: int = 768
  imu_depth: int = 11
  imu_heads: int = 12
  unified_heads: int = 6
  mlp_ratio: float = 4.0
  decoder_width: int = 192
  decoder_depth: int = 8
  decoder_heads: int = 3
  # IMU graph branch.
  use_graph: bool = True
  graph_hidden: int = 512
  graph_layers: int = 2
  graph_dropout: float = 0.2
  graph_learn_eps: bool = False
  graph_target_stop_gradient: bool = False
  # Masking.
  video_mask_ratio: float = 0.9
  video_mask_mode: str = "tube"
  imu_mask_ratio: float = 0.75
  imu_mask_mode: str = "random"
  graph_mask_ratio: float = 0.5
  norm_pix_loss: bool = True
  # Regularisation and implementation.
  dropout: float = 0.0
  drop_path: float = 0.0
  norm_eps: float = 1e-6
  remat: bool = False
  attention_impl: str | None = None

  def __post_init__(self):
    errors = []
    for name, w, h in (("width", self.width, self.video_heads),
                       ("width", self.width, self.unified_heads),
                       ("imu_width", self.imu_width, self.imu_heads),
                       ("decoder_width", self.decoder_width,
                        self.decoder_heads)):
      if w % h:
        errors.append(f"{name}={w} not divisible by {h} heads")
    errors += presets.divisibility_errors(
        self, ("image_size", "video_patch"), ("num_frames", "tubelet"))
    if self.spec_time % self.imu_patch[0] or self.spec_freq % self.imu_patch[1]:
      errors.append(f"spectrogram {self.spec_time}x{self.spec_freq} not "
                    f"divisible by imu_patch={self.imu_patch}")
    if self.imu_width % self.width:
      errors.append(f"imu_width={self.imu_width} must be a multiple of "
                    f"width={self.width} (IMU tokens are pooled to it)")
    sizes = {len(g) for g in self.imu_groups}
    if not self.imu_groups or len(sizes) != 1:
      errors.append(f"imu_groups={self.imu_groups} must be non-empty groups "
                    "of equal size (they share one patch embedding)")
    used = [c for g in self.imu_groups for c in g]
    if any(not 0 <= c < self.spec_channels for c in used):
      errors.append(f"imu_groups={self.imu_groups} name channels outside "
                    f"0..{self.spec_channels - 1}")
    if self.use_graph and len(self.imu_groups) < 2:
      errors.append("use_graph needs at least two imu_groups (graph nodes)")
    if self.imu_mask_mode not in masking.IMU_MASK_MODES:
      errors.append(f"imu_mask_mode={self.imu_mask_mode!r} not in "
                    f"{masking.IMU_MASK_MODES}")
    if self.video_mask_mode not in masking.VIDEO_MASK_MODES:
      errors.append(f"video_mask_mode={self.video_mask_mode!r} not in "
                    f"{masking.VIDEO_MASK_MODES}")
    if errors:
      raise ValueError("invalid EVI-MAE spec: " + "; ".join(errors))

  # Derived geometry.
  @property
  def video_grid(self) -> tuple[int, int, int]:
    g = self.image_size // self.video_patch
    return (self.num_frames // self.tubelet, g, g)

  @property
  def video_patch_shape(self) -> tuple[int, int, int]:
    return (self.tubelet, self.video_patch, self.video_patch)

  @property
  def imu_grid(self) -> tuple[int, int]:
    return (self.spec_time // self.imu_patch[0],
            self.spec_freq // self.imu_patch[1])

  @property
  def num_tokens(self) -> dict[str, int]:
    return {"imu": math.prod(self.imu_grid),
            "video": math.prod(self.video_grid)}

  @property
  def patch_dim(self) -> dict[str, int]:
    return {"imu": math.prod(self.imu_patch) * self.spec_channels,
            "video": math.prod(self.video_patch_shape) * 3}

  def mlp_dim(self, width: int) -> int:
    return int(width * self.mlp_ratio)


VARIANTS: dict[str, dict[str, Any]] = {
    # The authors' configuration: VideoMAE ViT-S video tower, ViT-B-width IMU
    # tower with 11 blocks (+1 unified), decoder 192 wide and 8 deep.
    "S": dict(width=384, video_depth=12, video_heads=6, imu_width=768,
              imu_depth=11, imu_heads=12, unified_heads=6, decoder_width=192,
              decoder_depth=8, decoder_heads=3),
    # The benchmark's ViT-B video tower (VideoMAE-B weights import into it);
    # decoder at VideoMAE-B's decoder width, the authors' depth.
    "B": dict(width=768, video_depth=12, video_heads=12, imu_width=768,
              imu_depth=11, imu_heads=12, unified_heads=12, decoder_width=384,
              decoder_depth=8, decoder_heads=6),
    # CPU tests: small inputs are part of the variant (override as needed).
    "tiny": dict(width=64, video_depth=2, video_heads=2, imu_width=64,
                 imu_depth=2, imu_heads=2, unified_heads=2, decoder_width=32,
                 decoder_depth=1, decoder_heads=2, graph_hidden=32,
                 num_frames=8, image_size=32, video_patch=8, spec_time=32,
                 spec_freq=32, imu_patch=(8, 8)),
}


def _normalise_overrides(kw: Mapping[str, Any]) -> dict[str, Any]:
  """Config values may arrive as lists (command line, JSON): make tuples."""
  out = dict(kw)
  if "imu_patch" in out:
    out["imu_patch"] = tuple(int(p) for p in out["imu_patch"])
  if "imu_groups" in out:
    out["imu_groups"] = tuple(tuple(int(c) for c in g)
                              for g in out["imu_groups"])
  return out


def make_spec(variant: str = "S", variants: Mapping[str, Mapping] = VARIANTS,
              **overrides) -> EVIMAESpec:
  return presets.make_spec(EVIMAESpec, variants, variant, "EVI-MAE",
                           _normalise_overrides(overrides))
