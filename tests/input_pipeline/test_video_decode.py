"""MP4 decoding sampled by presentation time (CFR and VFR), resize/crop, errors."""

import numpy as np
import pytest

from egoimu_jax.input_pipeline.raw import video_decode
from egoimu_jax.input_pipeline.synthetic import video as synthetic_video


def _video(times_s, size=(48, 64), fps=30.0):
  """Frame i (< 100) shows i // 10 in its top half and i % 10 in its bottom."""
  frames = np.zeros((len(times_s), *size, 3), np.uint8)
  for i in range(len(times_s)):
    frames[i, :size[0] // 2] = 20 + 20 * (i // 10)
    frames[i, size[0] // 2:] = 20 + 20 * (i % 10)
  return synthetic_video.encode(frames, np.asarray(times_s), fps)


def _index_of(frames):
  """Decodes the frame index from [..., 32, 32, 3] frames."""
  top = np.round((frames[..., 8, 16, 1].astype(int) - 20) / 20)
  bottom = np.round((frames[..., 24, 16, 1].astype(int) - 20) / 20)
  return (10 * top + bottom).astype(int)


def _check(mp4, frame_times_s, targets_us):
  frames, valid = video_decode.sample_frames(mp4, targets_us, size=32)
  assert frames.shape == (*targets_us.shape, 32, 32, 3)
  assert frames.dtype == np.uint8 and valid.all()
  expected = np.searchsorted(frame_times_s * 1e6, targets_us + 500,
                             side="right") - 1
  got = _index_of(frames)
  np.testing.assert_array_equal(got, expected)


def test_cfr_probe_and_10fps_sampling():
  t = np.arange(90) / 30.0
  mp4 = _video(t)
  info = video_decode.probe(mp4)
  assert info.num_frames == 90 and (info.width, info.height) == (64, 48)
  np.testing.assert_allclose(info.frame_times_us, t * 1e6, atol=100)
  assert info.fps == pytest.approx(30.0, rel=1e-3)
  targets = (np.arange(2)[:, None] * 1_000_000 +
             np.arange(10)[None, :] * 100_000).astype(np.int64)
  _check(mp4, t, targets)


def test_vfr_sampling_uses_presentation_times():
  rng = np.random.default_rng(0)
  t = np.concatenate([[0.0], np.cumsum(rng.uniform(0.02, 0.09, 60))])
  mp4 = _video(t)
  info = video_decode.probe(mp4)
  np.testing.assert_allclose(info.frame_times_us, t * 1e6, atol=100)
  # Frame index and time are unrelated here: 10 fps by time, not every k-th.
  targets = np.arange(int(t[-1] * 10)).astype(np.int64)[None, :] * 100_000
  _check(mp4, t, targets)


def test_targets_beyond_the_video_are_invalid():
  t = np.arange(30) / 30.0  # 1 s
  mp4 = _video(t)
  targets = np.array([[0, 500_000], [900_000, 1_200_000]], np.int64)
  _, valid = video_decode.sample_frames(mp4, targets, size=16)
  np.testing.assert_array_equal(valid, [True, False])


def test_short_side_resize_then_centre_crop():
  frames = np.zeros((3, 96, 128, 3), np.uint8)
  frames[:, :, :16] = (255, 0, 0)     # left stripe: cropped away
  frames[:, :, 56:72] = (0, 255, 0)   # centre stripe: kept
  mp4 = synthetic_video.encode(frames, np.arange(3) / 10.0, 10.0)
  out, valid = video_decode.sample_frames(mp4, np.array([[0, 100_000]]), 48)
  assert out.shape == (1, 2, 48, 48, 3) and valid.all()
  img = out[0, 0].astype(int)
  assert img[24, 24, 1] > 200 and img[24, 24, 0] < 60   # green centre
  assert img[24, 0, 0] < 60                              # no red at the edge


def test_truncated_and_garbage_mp4_raise():
  mp4 = _video(np.arange(30) / 30.0)
  with pytest.raises(ValueError, match="MP4"):
    video_decode.probe(mp4[:len(mp4) // 2])
  with pytest.raises(ValueError, match="MP4"):
    video_decode.sample_frames(b"not a video", np.zeros((1, 1), np.int64), 8)
