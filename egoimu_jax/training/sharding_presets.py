"""Named sharding-rule presets that configs put in ``config.sharding_rules``.

Rules are ``(regex, PartitionSpec as a tuple)`` on '/'-joined parameter
paths (with or without a leading ``params/``); the first match wins
(``training/sharding.py``). A preset is a plain list, so a config can extend
or reorder it.
"""

from __future__ import annotations


def vit_fsdp(axis: str = "fsdp") -> list[tuple[str, tuple]]:
  """FSDP over mesh axis ``axis`` for the ViT-style models built from
  ``models/layers.py`` (EVI-MAE, IMU-MAE, VideoMAE, TimeSformer).

  Attention and MLP kernels, patch embeddings, the pixel decoder's
  projections, the GIN branch's dense layers and the head are sharded;
  everything else (norms, biases, embeddings, BN vectors) is replicated.
  Every sharded dimension of EVI-MAE's B and S variants is a multiple of 64.
  """
  return [
      (r".*/(query|key|value)/kernel$", (axis, None)),
      (r".*/attn/out/kernel$", (None, axis)),
      (r".*/mlp/fc1/kernel$", (None, axis)),
      (r".*/mlp/fc2/kernel$", (axis, None)),
      (r".*video_tokens/patch_embed/proj/kernel$", (None, None, None, None,
                                                    axis)),
      (r".*imu_tokens/patch_embed/proj/kernel$", (None, None, None, axis)),
      (r".*decoder/(embed|pred_imu|pred_video)/kernel$", (None, axis)),
      (r".*graph/(.*/)?(fc1|fc2|encoder_to_decoder)/kernel$", (None, axis)),
      (r".*head/kernel$", (axis, None)),
      (r".*", ()),
  ]
