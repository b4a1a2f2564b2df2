"""IMU as a ``.npy`` array ``(N, 6)`` (WebDataset members ``<key>.imu.npy``).

Timestamps come, in order of preference, from the sample's json
(``imu_t_us``: one per row; or ``imu_rate_hz``), else from the MP4: the
vendor layout has one IMU row per video frame, stamped with the frame's
presentation time.
"""

from __future__ import annotations

import io

import numpy as np

from egoimu_jax.input_pipeline.raw import imu_formats


def read(data: bytes, source: imu_formats.ImuSource) -> imu_formats.ImuStream:
  try:
    arr = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
  except (ValueError, OSError, EOFError) as e:
    raise ValueError(f"unreadable .npy ({e})") from None
  if arr.ndim != 2 or arr.shape[1] != 6:
    raise ValueError(f"expected IMU array (N, 6), got {arr.shape}")
  meta, video = source.meta, source.video_info
  n = arr.shape[0]
  if "imu_t_us" in meta:
    t = np.asarray(meta["imu_t_us"], np.int64)
    if t.shape != (n,):
      raise ValueError(f"{n} IMU rows but {t.size} timestamps in the "
                       "sample's json 'imu_t_us'")
  elif "imu_rate_hz" in meta:
    t = np.round(np.arange(n) * 1e6 / float(meta["imu_rate_hz"])).astype(
        np.int64)
  elif video is not None:
    if n != video.num_frames:
      raise ValueError(
          f"{n} IMU rows but the MP4 has {video.num_frames} frames; rows must "
          "match frames one to one when the sample's json has no 'imu_t_us'")
    t = video.frame_times_us
  else:
    raise ValueError("no IMU timestamps: the sample's json has no 'imu_t_us' "
                     "or 'imu_rate_hz' and the clip has no MP4 to take frame "
                     "times from")
  return imu_formats.ImuStream(t, arr.astype(np.float64), None)
