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

# dtype kinds read as sensor values: float, signed and unsigned int.
_NUMERIC_KINDS = "fiu"
_KIND_NAMES = {"c": "complex: the imaginary part would be lost",
               "b": "booleans", "O": "Python objects",
               "U": "text", "S": "bytes", "V": "records",
               "M": "dates", "m": "time deltas"}


def _array(data: bytes) -> np.ndarray:
  """The array in ``data``; its header's size is checked against the bytes
  first (numpy allocates what the header claims before reading)."""
  f = io.BytesIO(data)
  fmt = np.lib.format
  version = fmt.read_magic(f)
  header = (fmt.read_array_header_1_0 if version == (1, 0) else
            fmt.read_array_header_2_0)
  shape, _, dtype = header(f, max_header_size=10_000)
  if dtype.hasobject:
    raise ValueError(f"IMU array of dtype {dtype} ({_KIND_NAMES['O']}); "
                     "expected real numbers (float or int)")
  claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
  if claimed > len(data) - f.tell():
    raise ValueError(f"the header claims shape {shape} ({claimed} bytes) but "
                     f"the file holds {len(data) - f.tell()} bytes of data")
  f.seek(0)
  return fmt.read_array(f, allow_pickle=False)


def read(data: bytes, source: imu_formats.ImuSource) -> imu_formats.ImuStream:
  try:
    arr = _array(data)
  except (ValueError, OSError, EOFError, TypeError) as e:
    raise ValueError(f"unreadable .npy ({e})") from None
  if arr.dtype.kind not in _NUMERIC_KINDS:
    # astype(float64) drops an imaginary part without a word; bool, text and
    # records are no sensor readings.
    what = _KIND_NAMES.get(arr.dtype.kind, "not numbers")
    raise ValueError(f"IMU array of dtype {arr.dtype} ({what}); expected real "
                     "numbers (float or int)")
  if arr.ndim != 2 or arr.shape[1] != 6:
    raise ValueError(f"expected IMU array (N, 6), got {arr.shape}")
  meta, video = source.meta, source.video_info
  n = arr.shape[0]
  if "imu_t_us" in meta:
    t = np.asarray(meta["imu_t_us"], np.int64)  # sample_json.check'd
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
