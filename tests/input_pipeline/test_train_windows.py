"""Overlapping training windows: cut at read time, never into other parts."""

import numpy as np
import pytest

from egoimu_jax.input_pipeline import pipeline
from egoimu_jax.input_pipeline import train_windows
from egoimu_jax.input_pipeline.raw import ingest

import storage_testlib as lib

LENGTH = 100          # samples per 0.5 s window at 200 Hz (lib.data_config)
WINDOW_US = 500_000


def _continuous_clips(num_workers=4, windows=6):
  """Each clip a continuous ramp-like signal cut into grid windows; labels
  constant except one change in the middle of every clip."""
  clips = []
  for w in range(num_workers):
    clip_id = f"w{w:02d}_c00"
    signal = (np.arange(windows * LENGTH)[:, None] * 0.01
              + np.arange(6)[None, :] + w).astype(np.float32)
    label = np.where(np.arange(windows) < windows // 2, 0, 1).astype(np.int32)
    clips.append(ingest.ClipWindows(
        clip_id=clip_id, worker_id=f"w{w:02d}",
        imu=signal.reshape(windows, LENGTH, 6),
        t0_us=np.arange(windows, dtype=np.int64) * WINDOW_US, label=label,
        purity=np.ones(windows, np.float32), frames=None,
        native_rate_hz=200.0, dropped={}, notes={}))
  return clips


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  clips = _continuous_clips()
  out = lib.prepare_memory(tmp_path_factory.mktemp("p"), clips)
  return out, {c.clip_id: c for c in clips}


SPLIT = lib.split(["w00", "w01"], ["w02"], ["w03"])


def test_stride_in_samples_and_refusals():
  assert train_windows.stride_samples(0.0, 200.0, 100) == 0
  assert train_windows.stride_samples(0.25, 200.0, 100) == 50
  assert train_windows.stride_samples(0.5, 200.0, 100) == 0  # = the grid
  for bad in (-0.1, 0.0025, 0.6):
    with pytest.raises(train_windows.StrideError, match="train_stride"):
      train_windows.stride_samples(bad, 200.0, 100)


def test_cut_never_reaches_windows_outside_the_part():
  # One clip, grid windows 0..5; window 3 is a test window (not in the
  # training part), so only the pairs (0, 1), (1, 2) and (4, 5) are cut.
  t0 = np.array([0, 1, 2, 4, 5]) * WINDOW_US
  items = train_windows.cut(np.zeros(5, np.int32), t0, np.zeros(5, np.int32),
                            WINDOW_US, LENGTH, 25)
  shifted = items.offset > 0
  pairs = {(int(a), int(b)) for a, b in zip(items.first[shifted],
                                            items.second[shifted])}
  assert pairs == {(0, 1), (1, 2), (3, 4)}  # positions: t0 4 -> pos 3
  assert sorted(set(items.offset[shifted].tolist())) == [25, 50, 75]
  assert len(items) == 5 + 3 * 3


def test_cut_needs_equal_labels_and_the_same_clip():
  t0 = np.array([0, 1, 0, 1]) * WINDOW_US
  clip = np.array([0, 0, 1, 1])
  items = train_windows.cut(clip, t0, np.array([0, 1, 2, 2]), WINDOW_US,
                            LENGTH, 50)
  assert items.first[items.offset > 0].tolist() == [2]
  assert items.second[items.offset > 0].tolist() == [3]


def test_overlapping_batches_hold_the_continuous_signal(data):
  out, clips = data
  pipe = pipeline.InputPipeline(out, SPLIT, lib.input_config(
      batch_size=4, train_stride_seconds=0.25), process_index=0,
      process_count=1)
  items = pipe.train_items()
  grid = len(pipe.indices("train"))
  # Two clips of 6 windows, one label change each: 4 same-label pairs each.
  assert len(items) == grid + 2 * 4
  ds = pipe.dataset
  seen = 0
  it = pipe.train_iterator()
  for _ in range(pipe.train_steps().steps_per_epoch):
    batch = next(it)
    raw = pipe.norm.invert(batch["imu"])
    ref = ds.read(batch["index"], ("clip_id", "t0_us", "label"))
    for k in range(len(raw)):
      clip = clips[ref["clip_id"][k]]
      signal = clip.imu.reshape(-1, 6)
      start = int(ref["t0_us"][k]) // 5000
      found = [s for s in range(start, min(start + LENGTH,
                                               len(signal) - LENGTH + 1))
               if np.allclose(signal[s:s + LENGTH], raw[k], atol=1e-4)]
      assert found, "a training window is not a span of its clip"
      seen += found[0] != start
      assert batch["label"][k] == ref["label"][k]
  assert seen > 0
  # Validation and test read the grid exactly as with stride 0.
  base = pipeline.InputPipeline(out, SPLIT, lib.input_config(batch_size=4),
                                process_index=0, process_count=1)
  for part in ("val", "test"):
    np.testing.assert_array_equal(pipe.indices(part), base.indices(part))
    for a, b in zip(pipe.eval_batches(part), base.eval_batches(part)):
      np.testing.assert_array_equal(a["imu"], b["imu"])
      np.testing.assert_array_equal(a["index"], b["index"])


def test_stride_zero_is_todays_grid(data):
  out, _ = data
  pipe = pipeline.InputPipeline(out, SPLIT, lib.input_config(batch_size=4),
                                process_index=0, process_count=1)
  assert len(pipe.train_items()) == len(pipe.indices("train"))
  assert pipe._train_reader("train").items is None


def test_stride_refuses_frames_and_teacher(data):
  out, _ = data
  pipe = pipeline.InputPipeline(out, SPLIT, lib.input_config(
      train_stride_seconds=0.25, teacher="x"), process_index=0,
      process_count=1)
  pipe._indices["train"] = np.arange(4)  # skip the (absent) teacher set
  with pytest.raises(train_windows.StrideError, match="input.teacher"):
    pipe.train_items()
