"""The synthetic pilot generator: statistics, determinism, caching, options."""

import filecmp
import os

import numpy as np
import pytest

from egoimu_jax import config_lib
from egoimu_jax.input_pipeline import synthetic
from egoimu_jax.input_pipeline.raw import index_csv
from egoimu_jax.input_pipeline.raw import video_decode
from egoimu_jax.input_pipeline.synthetic import generator
from egoimu_jax.input_pipeline.synthetic import motion as synthetic_motion
from egoimu_jax.input_pipeline.synthetic import workers as synthetic_workers

SMALL = dict(num_workers=3, clips_per_worker=2, clip_seconds=8.0,
             video_size=(32, 48), video_fps=10.0, num_processes=1)


def test_config_rejects_unknown_keys():
  with pytest.raises(KeyError, match="num_wrokers"):
    synthetic.config(num_wrokers=3)
  assert synthetic.config(num_workers=3).clips_per_worker == (
      config_lib.data_config().synthetic.clips_per_worker)


def test_worker_fractions_follow_pilot_statistics():
  fr = np.stack([synthetic_workers.make_worker(0, i).fractions
                 for i in range(3000)])
  np.testing.assert_allclose(fr.sum(1), 1.0)
  for k, (mean, std) in enumerate(synthetic_workers.PILOT_FRACTIONS.values()):
    assert fr[:, k].mean() == pytest.approx(mean, abs=0.01)
    assert fr[:, k].std() == pytest.approx(std, abs=0.015)


def test_state_bouts_realise_the_fractions_over_time():
  rng = np.random.default_rng(0)
  p = np.array([0.8, 0.15, 0.05])
  segs = synthetic_motion.state_segments(rng, p, 2e6)
  time = np.zeros(3)
  for s, e, st in segs:
    time[st] += e - s
  np.testing.assert_allclose(time / time.sum(), p, atol=0.02)


def test_hard_workers_are_planted():
  hard = synthetic_workers.hard_assignment(100, -1)
  assert len(hard) == 3 and set(hard.values()) == {
      p[0] for p in synthetic_workers.HARD_PROFILES}
  w = synthetic_workers.make_worker(0, 5, "break_heavy")
  np.testing.assert_allclose(w.fractions, [0.25, 0.72, 0.03])
  assert synthetic_workers.hard_assignment(2, -1) == {}


def _tree(root):
  return sorted(os.path.relpath(os.path.join(d, f), root)
                for d, _, files in os.walk(root) for f in files)


@pytest.mark.parametrize("variant", ["jsonl", "wds"])
def test_same_seed_same_bytes_other_seed_differs(tmp_path, variant):
  cfg = synthetic.config(variant=variant, **SMALL)
  a = synthetic.generate(cfg, str(tmp_path / "a"))
  b = synthetic.generate(cfg, str(tmp_path / "b"))
  files = _tree(a)
  assert files == _tree(b) and "index.csv" in files
  _, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
  assert not mismatch and not errors
  c = synthetic.generate(synthetic.config(variant=variant, **dict(SMALL, seed=1)),
                         str(tmp_path / "c"))
  payload = [f for f in files if f.endswith((".jsonl", ".tar"))]
  assert payload
  _, mismatch, _ = filecmp.cmpfiles(a, c, payload, shallow=False)
  assert mismatch == payload


def test_process_parallel_generation_is_identical(tmp_path):
  cfg = dict(SMALL, num_workers=8, clips_per_worker=6, with_video=False)
  a = synthetic.generate(synthetic.config(**dict(cfg, num_processes=1)),
                         str(tmp_path / "serial"))
  b = synthetic.generate(synthetic.config(**dict(cfg, num_processes=2)),
                         str(tmp_path / "parallel"))
  files = [f for f in _tree(a) if f != "synthetic.json"]
  _, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
  assert not mismatch and not errors


def test_ensure_generates_once_and_redoes_a_crashed_run(tmp_path, monkeypatch):
  cfg = synthetic.config(**dict(SMALL, with_video=False))
  calls = []
  real = generator.generate
  monkeypatch.setattr(generator, "generate",
                      lambda c, r: calls.append(r) or real(c, r))
  root = synthetic.ensure(cfg, str(tmp_path))
  assert synthetic.ensure(cfg, str(tmp_path)) == root and len(calls) == 1
  assert os.path.exists(os.path.join(root, synthetic.COMPLETE_MARKER))
  # A crash leaves a directory without the marker: it is generated again.
  os.remove(os.path.join(root, synthetic.COMPLETE_MARKER))
  os.remove(os.path.join(root, "index.csv"))
  assert synthetic.ensure(cfg, str(tmp_path)) == root and len(calls) == 2
  assert os.path.exists(os.path.join(root, "index.csv"))
  other = synthetic.ensure(synthetic.config(**dict(SMALL, with_video=False, seed=3)),
                           str(tmp_path))
  assert other != root


def test_bad_configs_are_rejected(tmp_path):
  with pytest.raises(KeyError, match="bogus"):
    synthetic.config(bogus=1)
  with pytest.raises(ValueError, match="needs with_video"):
    synthetic.config_hash(synthetic.config(variant="wds", with_video=False))
  with pytest.raises(ValueError, match="unknown synthetic defect"):
    synthetic.generate(synthetic.config(defects="meteor", **SMALL),
                       str(tmp_path / "never"))
  assert not (tmp_path / "never").exists()  # rejected before writing anything


def test_rate_jitter_vfr_and_clip_length(tmp_path):
  root = synthetic.generate(synthetic.config(
      **dict(SMALL, imu_rate_hz=50.0, vfr=True)), str(tmp_path))
  ds = index_csv.IndexCsvSource.open(root, config_lib.data_config())
  row = ds.rows[0]
  lines = open(os.path.join(root, row.imu)).read().splitlines()
  t = np.array([int(l.split(",")[0].split(":")[1]) for l in lines])
  dt = np.diff(t)
  assert 1e6 / np.median(dt) == pytest.approx(50.0, rel=1e-3)
  assert dt.std() > 50  # jittered, not a perfect grid
  info = video_decode.probe(os.path.join(root, row.video))
  steps = np.diff(info.frame_times_us)
  assert steps.max() > 1.2 * steps.min() + 1000  # variable frame rate
  assert 7.0 < info.duration_us / 1e6 < 9.0


def test_worker_processes_are_spawned_once_jax_runs_threads(monkeypatch):
  """fork after JAX has started its runtime threads can deadlock."""
  import sys  # pylint: disable=g-import-not-at-top
  monkeypatch.setitem(sys.modules, "jax", object())
  assert generator._start_method() == "spawn"
  monkeypatch.delitem(sys.modules, "jax")
  monkeypatch.setattr(generator.threading, "active_count", lambda: 1)
  assert generator._start_method() == "fork"
