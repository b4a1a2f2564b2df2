"""Ingest of whole clips: defects, variants, rates, frame alignment, purity."""

import json
import os

import numpy as np
import pytest

import raw_testlib as lib
from egoimu_jax import config_lib
from egoimu_jax.input_pipeline.raw import ingest
from egoimu_jax.input_pipeline.synthetic import defects as synthetic_defects
from egoimu_jax.input_pipeline.synthetic import generator as synthetic
from egoimu_jax.input_pipeline.synthetic import video as synthetic_video

SMALL = dict(clip_seconds=27.0, video_size=(32, 48), video_fps=10.0,
             num_processes=1)


@pytest.mark.parametrize("variant", ["jsonl", "wds"])
def test_every_planted_defect_is_caught_and_clean_clips_pass(
    tmp_path_factory, variant):
  root = lib.synthetic_root(tmp_path_factory, num_workers=10, clips_per_worker=3,
                            variant=variant, defects="all", **SMALL)
  defects = json.load(open(os.path.join(root, "defects.json")))
  kinds = [d["kind"] for d in defects]
  assert sorted(kinds) == sorted(synthetic_defects.parse_kinds("all", variant, True))
  results = lib.ingest_all(root)
  for d in defects:
    res = results[d["clip_id"]]
    what = (f"{d['kind']}: " + (res.reason if isinstance(res, ingest.Quarantined)
                                 else f"{res.notes} {res.dropped} {res.warnings}"))
    if d["expect"] == "quarantine":
      assert isinstance(res, ingest.Quarantined), what
      assert d["match"] in res.reason and d["path"] in res.reason, what
      assert res.reason.startswith(res.path), what
    else:
      assert isinstance(res, ingest.ClipWindows), what
      if d["expect"] == "note":
        assert res.notes.get(d["note"], 0) >= 1, what
        assert any(d["match"] in w and d["path"] in w for w in res.warnings), what
      else:
        assert res.dropped.get(d["reason"], 0) >= 1, what
  damaged = {d["clip_id"] for d in defects}
  for clip_id, res in results.items():
    if clip_id not in damaged:
      assert isinstance(res, ingest.ClipWindows), (clip_id, res.reason)
      assert res.notes == {} and res.warnings == [], (clip_id, res.warnings)
      assert set(res.dropped) <= {"impure"}, (clip_id, res.dropped)


def _arrays(results):
  return {k: v for k, v in results.items() if isinstance(v, ingest.ClipWindows)}


def test_jsonl_and_wds_with_timestamps_give_the_same_windows(tmp_path_factory):
  cfg = dict(num_workers=3, clips_per_worker=2, with_video=False, **SMALL)
  a = _arrays(lib.ingest_all(lib.synthetic_root(tmp_path_factory, **cfg)))
  b = _arrays(lib.ingest_all(lib.synthetic_root(
      tmp_path_factory, variant="wds", wds_imu="native", **cfg)))
  assert sorted(a) == sorted(b) and len(a) == 6
  for k in a:
    np.testing.assert_array_equal(a[k].t0_us, b[k].t0_us)
    np.testing.assert_array_equal(a[k].label, b[k].label)
    np.testing.assert_array_equal(a[k].purity, b[k].purity)
    # JSONL carries 4 decimals, the npy float32: equal to that rounding.
    np.testing.assert_allclose(a[k].imu, b[k].imu, atol=1.5e-4, rtol=1e-6)


def _smooth(x, n=20):
  k = np.ones(n) / n
  return np.apply_along_axis(lambda v: np.convolve(v, k, "valid"), -2, x)


def test_wds_frame_synced_imu_matches_jsonl_within_resampling_tolerance(
    tmp_path_factory):
  cfg = dict(num_workers=3, clips_per_worker=2, **dict(SMALL, video_fps=30.0))
  a = _arrays(lib.ingest_all(lib.synthetic_root(tmp_path_factory, **cfg)))
  b = _arrays(lib.ingest_all(lib.synthetic_root(tmp_path_factory, variant="wds",
                                                **cfg)))
  assert sorted(a) == sorted(b)
  for k in a:
    assert b[k].native_rate_hz == pytest.approx(30.0, rel=1e-3)
    np.testing.assert_array_equal(a[k].t0_us, b[k].t0_us)
    np.testing.assert_array_equal(a[k].label, b[k].label)
    # 200 Hz rows vs one row per 30 fps frame, each with its own noise:
    # compare the motion (100 ms moving average), not the noise.
    sa, sb = _smooth(a[k].imu), _smooth(b[k].imu)
    err = np.sqrt(np.mean((sa - sb) ** 2, axis=(0, 1)))
    spread = np.std(sa, axis=(0, 1))
    assert (err < 0.1 + 0.15 * spread).all(), (k, err, spread)


@pytest.mark.parametrize("rate", [30.0, 50.0, 200.0])
def test_any_native_rate_gives_correct_200hz_windows(tmp_path_factory, rate):
  cfg = synthetic.config(num_workers=2, clips_per_worker=2, with_video=False,
                         imu_rate_hz=rate, **SMALL)
  root = lib.synthetic_root(tmp_path_factory, **cfg.to_dict())
  results = _arrays(lib.ingest_all(root))
  assert len(results) == 4
  full = synthetic._full(cfg)  # pylint: disable=protected-access
  workers = synthetic._workers(full)  # pylint: disable=protected-access
  for res in results.values():
    assert res.native_rate_hz == pytest.approx(rate, rel=2e-3)
    assert res.imu.shape == (len(res), 1000, 6) and res.imu.dtype == np.float32
    w, c = int(res.clip_id[1:5]), int(res.clip_id.split("_c")[1])
    _, _, clip = synthetic._plan_clip(full, workers[w], w, c)  # pylint: disable=protected-access
    times = (res.t0_us[:, None] + np.arange(1000) * 5000) / 1e6
    acc, gyro = clip.sample(times.ravel())  # noise-free truth
    truth = np.concatenate([acc, gyro], 1).reshape(res.imu.shape)
    err = np.sqrt(np.mean((res.imu - truth) ** 2, axis=(0, 1)))
    wk = workers[w]
    # Within ~1.5x the sensor noise: resampling adds little error.
    assert (err[:3] < 1.5 * wk.acc_noise + 0.02).all(), (rate, err, wk.acc_noise)
    assert (err[3:] < 1.5 * wk.gyro_noise + 0.01).all(), (rate, err, wk.gyro_noise)


def _coded_video(seconds, fps=30.0, size=(48, 64)):
  """Frame i shows (i // 10) % 10 in its top half and i % 10 in its bottom."""
  n = int(seconds * fps)
  frames = np.zeros((n, *size, 3), np.uint8)
  for i in range(n):
    frames[i, :size[0] // 2] = 20 + 20 * ((i // 10) % 10)
    frames[i, size[0] // 2:] = 20 + 20 * (i % 10)
  return synthetic_video.encode(frames, np.arange(n) / fps, fps)


def test_frames_are_aligned_with_imu_windows_by_time(tmp_path):
  t, v = lib.still_imu(16.0, 100.0)
  root = lib.write_dataset(str(tmp_path / "ds"), [dict(
      clip_id="a", worker_id="w1", t_us=t, values=v, video=_coded_video(12.0),
      segments=[(0, 16, "working")])])
  cfg = config_lib.data_config()
  cfg.video.size = 32
  res = lib.ingest_all(root, cfg, store_frames=lambda c: True)["a"]
  # IMU covers 16 s but the video only 12 s: the third window is video_short.
  np.testing.assert_array_equal(res.t0_us, [0, 5_000_000])
  assert res.dropped == {"video_short": 1}
  assert res.frames.shape == (2, 50, 32, 32, 3) and res.frames.dtype == np.uint8
  top = np.round((res.frames[..., 8, 16, 1].astype(int) - 20) / 20)
  bottom = np.round((res.frames[..., 24, 16, 1].astype(int) - 20) / 20)
  got = (10 * top + bottom).astype(int)
  slot_t = (res.t0_us[:, None] + np.arange(50) * 100_000) / 1e6
  want = np.floor(slot_t * 30 + 1e-6).astype(int) % 100
  np.testing.assert_array_equal(got, want)


def test_purity_policy_and_custom_clock_offset(tmp_path):
  t, v = lib.still_imu(20.0, 50.0)
  root = lib.write_dataset(str(tmp_path / "ds"), [dict(
      clip_id="a", worker_id="w1", t_us=t + 10**15, values=v, imu_t0=10**15,
      # [0,5) working; [5,10) half/half; [10,15) break 4.5 s; [15,20) none.
      segments=[(0, 7.5, "working"), (7.5, 14.5, "break")])])
  cfg = config_lib.data_config()
  res = lib.ingest_all(root, cfg)["a"]
  assert res.native_rate_hz == pytest.approx(50.0)
  np.testing.assert_array_equal(res.t0_us, [0, 10_000_000])
  np.testing.assert_array_equal(res.label, [0, 1])
  np.testing.assert_allclose(res.purity, [1.0, 0.9])
  assert res.dropped == {"impure": 1, "unlabeled": 1}
  cfg.imu.min_purity = 0.5
  res = lib.ingest_all(root, cfg)["a"]
  np.testing.assert_array_equal(res.t0_us, [0, 5_000_000, 10_000_000])


def test_a_clip_without_usable_windows_is_quarantined(tmp_path):
  t, v = lib.still_imu(12.0, 50.0)
  root = lib.write_dataset(str(tmp_path / "ds"), [
      dict(clip_id="short", worker_id="w1", t_us=t[:150], values=v[:150],
           segments=[(0, 3, "working")]),
      dict(clip_id="impure", worker_id="w1", t_us=t, values=v,
           segments=[(0, 2.5, "working"), (2.5, 5, "break"),
                     (5, 7.5, "working"), (7.5, 10, "break")]),
      dict(clip_id="overlap", worker_id="w2", t_us=t, values=v,
           segments=[(0, 6, "working"), (5, 10, "break")])])
  res = lib.ingest_all(root)
  assert "shorter than one 5.0 s window" in res["short"].reason
  assert "no usable window: 2 dropped as impure" in res["impure"].reason
  assert "segments.csv" in res["overlap"].reason and "overlap" in res["overlap"].reason


def test_missing_tar_quarantines_its_rows(tmp_path_factory, tmp_path):
  src = lib.synthetic_root(tmp_path_factory, num_workers=2, clips_per_worker=2,
                           variant="wds", **SMALL)
  import shutil  # pylint: disable=g-import-not-at-top
  root = str(tmp_path / "copy")
  shutil.copytree(src, root)
  os.remove(os.path.join(root, "shards", "pilot-00000.tar"))
  res = lib.ingest_all(root)
  assert all(isinstance(r, ingest.Quarantined) for r in res.values())
  assert all("pilot-00000.tar: file not found" in r.reason for r in res.values())


def test_frames_selector_is_a_stable_fraction():
  cfg = config_lib.data_config()
  assert not ingest.frames_selector(cfg)("x")
  cfg.video.store_frames = True
  cfg.video.frames_fraction = 0.25
  sel = ingest.frames_selector(cfg)
  picks = [sel(f"clip{i}") for i in range(4000)]
  assert 0.22 < np.mean(picks) < 0.28
  assert picks == [ingest.frames_selector(cfg)(f"clip{i}") for i in range(4000)]
