"""IMU normalisation statistics come from the split's training workers only."""

import json

import numpy as np
import pytest

from egoimu_jax.input_pipeline import normalization
from egoimu_jax.input_pipeline import pipeline
from egoimu_jax.input_pipeline.store import processed

import storage_testlib as lib

SPLIT = lib.split(["w00", "w01"], ["w02"], ["w05"])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  clips = lib.memory_clips(num_workers=6, clips_per_worker=2)
  return lib.prepare_memory(tmp_path_factory.mktemp("p"), clips), clips


def _numpy_stats(clips, workers):
  x = np.concatenate([c.imu for c in clips if c.worker_id in workers])
  x = x.reshape(-1, 6).astype(np.float64)
  return x.mean(0), x.std(0)


def test_stats_use_train_workers_only(data):
  out, clips = data
  ds = processed.ProcessedDataset.open(out)
  stats = normalization.load_or_compute(None, ds, SPLIT)
  mean, std = _numpy_stats(clips, {"w00", "w01"})
  np.testing.assert_allclose(stats.mean, mean, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(stats.std, std, rtol=1e-5)
  # Worker w has mean w and scale 1 + w: other workers would move both.
  all_mean, _ = _numpy_stats(clips, {c.worker_id for c in clips})
  assert np.abs(stats.mean - all_mean).min() > 1
  # Chunked (streaming) moments equal the one-shot numpy ones.
  chunked, info = normalization.compute(
      ds, ds.split_indices(SPLIT, "train"), chunk=3)
  np.testing.assert_allclose(chunked.mean, mean, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(chunked.std, std, rtol=1e-5)
  assert info["num_samples"] == sum(
      c.imu.shape[0] * c.imu.shape[1] for c in clips
      if c.worker_id in ("w00", "w01"))


def test_saved_in_workdir_and_reloaded(data, tmp_path):
  out, _ = data
  pipe = pipeline.InputPipeline(out, SPLIT, lib.input_config(),
                                workdir=str(tmp_path), process_index=0,
                                process_count=1)
  path = tmp_path / normalization.NORM_FILE
  saved = json.loads(path.read_text())
  np.testing.assert_array_equal(saved["mean"], pipe.norm.mean)
  # A restart loads the file instead of recomputing it.
  saved["mean"] = [0.0] * 6
  path.write_text(json.dumps(saved))
  again = pipeline.InputPipeline(out, SPLIT, lib.input_config(),
                                 workdir=str(tmp_path), process_index=0,
                                 process_count=1)
  np.testing.assert_array_equal(again.norm.mean, np.zeros(6))
  batch = next(iter(again.eval_batches("val")))
  raw = processed.read_windows(out, batch["index"], ("imu",))["imu"]
  np.testing.assert_allclose(batch["imu"], raw / again.norm.std, rtol=1e-6)
  # Stats of another training set are refused.
  other = lib.split(["w00", "w03"], ["w02"], ["w05"])
  with pytest.raises(ValueError, match="another training set"):
    pipeline.InputPipeline(out, other, lib.input_config(),
                           workdir=str(tmp_path), process_index=0,
                           process_count=1)


def test_subsampled_stats_are_seeded(data):
  out, _ = data
  ds = processed.ProcessedDataset.open(out)
  train = ds.split_indices(SPLIT, "train")
  a, info = normalization.compute(ds, train, max_windows=5, seed=0)
  b, _ = normalization.compute(ds, train, max_windows=5, seed=0)
  c, _ = normalization.compute(ds, train, max_windows=5, seed=1)
  assert info["num_windows"] == 5
  np.testing.assert_array_equal(a.mean, b.mean)
  assert not np.array_equal(a.mean, c.mean)


def test_constant_channel_is_centred_not_scaled():
  class Constant:
    def read_imu(self, indices):
      x = np.random.default_rng(len(indices)).normal(size=(len(indices), 10, 6))
      x[..., 5] = 3.0  # a dead gyro axis
      return x.astype(np.float32)

  stats, _ = normalization.compute(Constant(), np.arange(7), chunk=2)
  assert stats.std[5] == 1.0 and stats.mean[5] == pytest.approx(3.0)
  x = Constant().read_imu(np.arange(3))
  assert np.isfinite(stats.apply(x)).all()
  np.testing.assert_allclose(stats.invert(stats.apply(x)), x, atol=1e-5)


def test_strategy_is_picked_by_input_normalization(data, monkeypatch):
  """``input.normalization`` names a ``NORMALIZATIONS`` strategy: the
  pipeline normalises with what the named one returns."""
  out, _ = data
  ds = processed.ProcessedDataset.open(out)
  person = normalization.for_split(None, ds, SPLIT,
                                   lib.input_config(normalization="person"))
  assert person.mean.shape == (len(ds.workers), 6)  # per-worker statistics
  population = normalization.for_split(None, ds, SPLIT, lib.input_config())
  assert isinstance(population, normalization.NormStats)
  seen = []

  def halve(workdir, dataset, split, input_config):
    seen.append((workdir, dataset.processed_dir, input_config.normalization))
    return normalization.NormStats(np.zeros(6, np.float32),
                                   np.full(6, 2.0, np.float32))

  monkeypatch.setitem(normalization.NORMALIZATIONS._entries, "halve", halve)  # pylint: disable=protected-access
  pipe = pipeline.InputPipeline(out, SPLIT,
                                lib.input_config(normalization="halve"),
                                process_index=0, process_count=1)
  assert seen == [(None, out, "halve")]
  batch = next(iter(pipe.eval_batches("val")))
  raw = processed.read_windows(out, batch["index"], ("imu",))["imu"]
  np.testing.assert_allclose(batch["imu"], raw / 2.0, rtol=1e-6)
  with pytest.raises(ValueError, match="input.normalization must be one of"):
    normalization.for_split(None, ds, SPLIT,
                            lib.input_config(normalization="per_clip"))
