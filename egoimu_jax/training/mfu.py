"""Model FLOPs utilisation: achieved training FLOP/s over the devices' peak.

Model FLOPs come from the model's own analytic count
(``models.forward_flops``; training = 3x forward, backward ~ 2x forward), so
rematerialisation does not inflate the figure (as in PaLM's MFU). Peaks are
dense matmul rates per device from the vendors' data sheets, by compute
dtype; a device kind not in the table (e.g. a CPU) gets FLOP/s but no MFU.
"""

from __future__ import annotations

from typing import Optional, Sequence

# device_kind substring (lower case) -> (bf16/fp16, fp32 matmul) dense peak
# FLOP/s per device. fp32 on NVIDIA is TF32 tensor-core math (XLA's default
# precision for float32 matmuls on these GPUs).
PEAK_FLOPS = {
    "h200": (989e12, 494e12),
    "h100": (989e12, 494e12),     # SXM
    "a100": (312e12, 156e12),
    "l4": (121e12, 60e12),
    "v100": (125e12, 15.7e12),
    "tpu v6": (918e12, 918e12 / 4),
    "tpu v5p": (459e12, 459e12 / 4),
    "tpu v5 lite": (197e12, 197e12 / 4),
    "tpu v5e": (197e12, 197e12 / 4),
    "tpu v4": (275e12, 275e12 / 4),
}


def peak_flops(device_kind: str, dtype: str = "bfloat16") -> Optional[float]:
  """Peak FLOP/s of one device of ``device_kind`` at ``dtype``, or None."""
  kind = device_kind.lower()
  for key in sorted(PEAK_FLOPS, key=len, reverse=True):
    if key in kind:
      low, full = PEAK_FLOPS[key]
      return low if str(dtype) in ("bfloat16", "float16") else full
  return None


class Meter:
  """Turns steps/s into achieved FLOP/s and MFU for a fixed global batch."""

  def __init__(self, forward_flops: Optional[float], global_batch: int,
               devices: Sequence, dtype: str):
    self.train_flops_per_step = (3.0 * forward_flops * global_batch
                                 if forward_flops else None)
    peaks = [peak_flops(d.device_kind, dtype) for d in devices]
    self.peak = (sum(peaks) if peaks and all(p is not None for p in peaks)
                 else None)

  def __call__(self, steps_per_sec: float) -> dict[str, float]:
    if not self.train_flops_per_step:
      return {}
    achieved = self.train_flops_per_step * steps_per_sec
    out = {"model_flops_per_sec": achieved}
    if self.peak:
      out["mfu"] = achieved / self.peak
    return out
