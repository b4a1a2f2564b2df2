"""Frames of windows from stored shards vs decoded from the raw MP4s."""

import numpy as np
import pytest

from egoimu_jax.input_pipeline.store import processed
from egoimu_jax.teachers import frame_source
from egoimu_jax.teachers import parts


@pytest.mark.parametrize("variant", ["jsonl", "wds"])
def test_decoded_frames_equal_the_stored_ones(variant, teacher_data):
  data = teacher_data(variant=variant)
  ds = processed.ProcessedDataset.open(data.processed)
  indices = np.arange(len(ds))[::-1]  # any order, clips interleaved
  stored_all = ds.read_frames(indices)  # the 50 prepare stored
  for num_frames in (4, 50):
    with frame_source.FrameSource(ds, "raw", num_frames, raw_root=data.raw,
                                  threads=2) as raw, \
        frame_source.FrameSource(ds, "stored", num_frames) as stored:
      a, b = raw.load(indices), stored.load(indices)
    assert (a.source == frame_source.RAW).all() and not a.missing
    assert (b.source == frame_source.STORED).all() and not b.missing
    np.testing.assert_array_equal(a.frames, b.frames)
    # The grain pipeline's rule: round(linspace(0, 49, T)) of those stored.
    index = np.round(np.linspace(0, 49, num_frames)).astype(int)
    np.testing.assert_array_equal(a.frames, stored_all[:, index])
  assert a.frames.std() > 10  # real images, not zeros


def test_auto_uses_stored_frames_where_kept_and_decodes_the_rest(
    teacher_data):
  data = teacher_data(frames_fraction=0.5)
  ds = processed.ProcessedDataset.open(data.processed)
  kept = ds.has_frames(np.arange(len(ds)))
  assert kept.any() and not kept.all()
  indices = np.arange(len(ds))
  with frame_source.FrameSource(ds, "auto", 4, raw_root=data.raw) as auto, \
      frame_source.FrameSource(ds, "raw", 4, raw_root=data.raw) as raw:
    a, b = auto.load(indices), raw.load(indices)
    np.testing.assert_array_equal(a.source, np.where(
        kept, frame_source.STORED, frame_source.RAW))
    np.testing.assert_array_equal(a.frames, b.frames)
    stored = frame_source.FrameSource(ds, "stored", 4).load(indices)
  assert [m.kind for m in stored.missing] == ["no_stored_frames"] * int(
      (~kept).sum())
  np.testing.assert_array_equal(stored.ok, kept)
  # At another size than stored, "auto" decodes everything.
  with frame_source.FrameSource(ds, "auto", 4, size=24,
                                raw_root=data.raw) as other:
    frames = other.load(indices[:3])
  assert frames.frames.shape == (3, 4, 24, 24, 3)
  assert (frames.source == frame_source.RAW).all()


def test_raw_frames_need_the_matching_raw_dataset(teacher_data):
  data = teacher_data(store_frames=False)
  ds = processed.ProcessedDataset.open(data.processed)
  with pytest.raises(ValueError, match="stores no frames"):
    frame_source.FrameSource(ds, "stored", 4)
  with frame_source.FrameSource(ds, "auto", 4) as source:
    with pytest.raises(ValueError, match="set teacher.raw_dir"):
      source.submit([0])
  other = teacher_data(variant="wds")
  with frame_source.FrameSource(ds, "raw", 4, raw_root=other.raw) as source:
    with pytest.raises(ValueError, match="is not the one the processed"):
      source.submit([0])


def test_chunks_are_whole_clips_of_at_least_chunk_windows():
  clip = np.repeat([0, 1, 2, 3, 4, 5, 6], [3, 1, 1, 4, 2, 1, 1])
  bounds = parts.chunk_bounds(clip, 3)
  np.testing.assert_array_equal(bounds, [0, 3, 9, 12, 13])
  assert set(bounds[1:-1]) <= set(np.flatnonzero(np.diff(clip)) + 1)
  np.testing.assert_array_equal(parts.chunk_bounds(clip, 100), [0, 13])
  np.testing.assert_array_equal(parts.chunk_bounds(clip, 1),
                                [0, 3, 4, 5, 9, 11, 12, 13])
  with pytest.raises(ValueError, match="chunk_windows=0"):
    parts.chunk_bounds(clip, 0)
