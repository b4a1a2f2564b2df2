"""The vectorised IMU JSONL parser agrees with per-line json.loads and finds bad lines."""

import json

import numpy as np
import pytest

from egoimu_jax.input_pipeline.raw import imu_jsonl


def _rows(n=500, seed=0):
  rng = np.random.default_rng(seed)
  t = 1_780_000_000_000_000 + np.arange(n) * 5000 + rng.integers(-100, 100, n)
  v = rng.normal(size=(n, 6)) * [3, 3, 9.8, 1, 1, 1]
  return t.astype(np.int64), v


def _assert_same(a, b):
  np.testing.assert_array_equal(a.t_us, b.t_us)
  np.testing.assert_array_equal(a.values, b.values)
  np.testing.assert_array_equal(a.line, b.line)
  assert a.bad_lines == b.bad_lines
  assert a.num_lines == b.num_lines


def test_roundtrip_matches_naive_and_source():
  t, v = _rows()
  data = imu_jsonl.dumps(t, v)
  fast = imu_jsonl.parse(data)
  _assert_same(fast, imu_jsonl.parse_naive(data))
  np.testing.assert_array_equal(fast.t_us, t)
  np.testing.assert_allclose(fast.values, v, atol=5e-7)
  assert fast.bad_lines == []


@pytest.mark.parametrize("order", [("gyro", "t_us", "acc"), ("acc", "gyro", "t_us")])
def test_other_key_order_and_spacing(order):
  t, v = _rows(50)
  lines = []
  for ti, vi in zip(t.tolist(), v.tolist()):
    obj = {"t_us": ti, "acc": vi[:3], "gyro": vi[3:]}
    lines.append(json.dumps({k: obj[k] for k in order}, separators=(",", ":")))
  data = ("\r\n".join(lines) + "\r\n").encode()
  fast = imu_jsonl.parse(data)
  _assert_same(fast, imu_jsonl.parse_naive(data))
  np.testing.assert_array_equal(fast.t_us, t)
  np.testing.assert_allclose(fast.values, v)


def test_bad_lines_are_reported_with_line_numbers():
  t, v = _rows(200)
  lines = imu_jsonl.dumps(t, v).split(b"\n")
  lines[9] = lines[9][:30]                                   # truncated
  lines[19] = b'{"t_us": 5, "acc": [NaN, 1, 2], "gyro": [0, 0, 0]}'
  lines[29] = b""                                            # blank: skipped
  lines[39] = b'{"t_us": 1-2, "acc": [1, 2, 3], "gyro": [1, 2, 3]}'
  lines[49] = b'{"t_us": 7.5, "acc": [1, 2, 3], "gyro": [1, 2, 3]}'
  lines[59] = b'{"t_us": 8, "acc": [1, 2], "gyro": [1, 2, 3]}'
  lines[69] = b'{"t_us": 9, "acc": [1, 2, 3], "gyro": [1, 2, 3], "mag": [0]}'
  lines[79] = b'{"t_us": 10, "acc": [1e999, 2, 3], "gyro": [1, 2, 3]}'
  data = b"\n".join(lines)
  fast = imu_jsonl.parse(data)
  _assert_same(fast, imu_jsonl.parse_naive(data))
  bad = dict(fast.bad_lines)
  assert sorted(bad) == [10, 20, 40, 50, 60, 80]
  assert "invalid JSON" in bad[10]
  assert "non-finite" in bad[20] and "non-finite" in bad[80]
  assert "integer" in bad[50]
  assert "acc must be a list of 3" in bad[60]
  # The extra key is allowed and read on the slow path.
  assert 70 in fast.line.tolist()
  assert fast.num_lines == 199  # the blank line is not counted


def test_empty_and_all_garbage():
  assert imu_jsonl.parse(b"").num_lines == 0
  p = imu_jsonl.parse(b"garbage\nmore garbage\n")
  assert [n for n, _ in p.bad_lines] == [1, 2] and p.t_us.size == 0


def test_extra_numeric_keys_take_the_fast_path(monkeypatch):
  t, v = _rows(100)
  lines = [json.dumps({"temperature": 21.5 + i % 3, "t_us": ti, "acc": vi[:3],
                       "mag": [1e-05, -2.5e3, 0], "gyro": vi[3:]})
           for i, (ti, vi) in enumerate(zip(t.tolist(), v.tolist()))]
  data = ("\n".join(lines) + "\n").encode()
  expected = imu_jsonl.parse_naive(data)

  def no_slow_path(line):
    raise AssertionError(f"slow path used for {line!r}")

  monkeypatch.setattr(imu_jsonl, "_parse_line", no_slow_path)
  fast = imu_jsonl.parse(data)
  _assert_same(fast, expected)
  np.testing.assert_array_equal(fast.t_us, t)
  np.testing.assert_allclose(fast.values, v)


def test_bulk_reader_is_bitwise_json_over_wide_range():
  """The bulk number reader (Arrow's CSV reader) rounds every double as
  ``json.loads`` does, from 1e-300 to 1e300, integers and signed zeros too."""
  rng = np.random.default_rng(1)
  n = 20000
  t = 1_780_000_000_000_000 + np.arange(n) * 5000
  v = rng.standard_normal((n, 6)) * 10.0 ** rng.integers(-300, 300, (n, 6))
  v[::7, 2] = rng.integers(-5, 5, len(v[::7]))
  v[::11, 4] = -0.0
  data = "".join(json.dumps({"t_us": ti, "acc": vi[:3], "gyro": vi[3:]}) + "\n"
                 for ti, vi in zip(t.tolist(), v.tolist())).encode()
  fast = imu_jsonl.parse(data)
  _assert_same(fast, imu_jsonl.parse_naive(data))
  np.testing.assert_array_equal(fast.values, v)
  np.testing.assert_array_equal(np.signbit(fast.values), np.signbit(v))
  assert fast.bad_lines == []
