"""Window grid on clip time and the label purity policy."""

import numpy as np
import pytest

from egoimu_jax.input_pipeline.raw import windows

W = 5_000_000  # 5 s in µs


def test_window_starts_on_clip_time():
  # 27 s at 200 Hz: last sample 26.995 s -> 5 windows.
  np.testing.assert_array_equal(
      windows.window_starts(26_995_000, W, 5000, 50_000), np.arange(5) * W)
  # A stream ending just short of 25 s still fills [20, 25) within tolerance.
  assert windows.window_starts(24_960_000, W, 5000, 50_000).size == 5
  assert windows.window_starts(24_900_000, W, 5000, 50_000).size == 4
  assert windows.window_starts(1_000_000, W, 5000, 50_000).size == 0


def test_sample_times():
  t = windows.sample_times(np.array([0, W]), 1000, 200.0)
  assert t.shape == (2, 1000)
  assert t[1, 0] == W and t[1, -1] == W + 999 * 5000


def test_label_purity_policy():
  t0 = np.arange(4) * W
  # working 0-7 s, break 7-15.5 s, (unlabelled 15.5-16 s), working 16-18 s.
  start = np.array([0, 7_000_000, 16_000_000])
  end = np.array([7_000_000, 15_500_000, 18_000_000])
  label = np.array([0, 1, 0])
  lab, pur = windows.label_windows(t0, W, start, end, label, 3)
  np.testing.assert_array_equal(lab, [0, 1, 1, 0])  # [5, 10): break 3 s
  # [10, 15): break covers 5 s; [15, 20): break 0.5 s, working 2 s.
  np.testing.assert_allclose(pur, [1.0, 0.6, 1.0, 0.4], rtol=1e-6)


def test_ties_go_to_lower_class_and_uncovered_windows_have_zero_purity():
  lab, pur = windows.label_windows(
      np.array([0, W]), W, np.array([0, 2_500_000]),
      np.array([2_500_000, 5_000_000]), np.array([2, 1]), 3)
  assert lab[0] == 1 and pur[0] == pytest.approx(0.5)
  assert pur[1] == 0.0


def test_check_segments():
  windows.check_segments(np.array([0, 5]), np.array([5, 9]))
  with pytest.raises(ValueError, match="overlap"):
    windows.check_segments(np.array([0, 4]), np.array([5, 9]))
  with pytest.raises(ValueError, match="ends at or before"):
    windows.check_segments(np.array([3]), np.array([3]))
