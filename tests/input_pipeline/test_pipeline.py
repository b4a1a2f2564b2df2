"""grain pipeline: batches, shuffling, host sharding, eval padding, restore."""

import numpy as np
import pytest

from egoimu_jax.input_pipeline import pipeline
from egoimu_jax.input_pipeline.store import embeddings
from egoimu_jax.input_pipeline.store import processed

import storage_testlib as lib

TRAIN = ["w00", "w01", "w02", "w03"]
SPLIT = lib.split(TRAIN, ["w04"], ["w05"])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  clips = lib.memory_clips(num_workers=6, clips_per_worker=3)
  out = lib.prepare_memory(tmp_path_factory.mktemp("p"), clips)
  return out, {c.clip_id: c for c in clips}


def _pipe(out, split=SPLIT, process_index=0, process_count=1, **kw):
  return pipeline.InputPipeline(out, split, lib.input_config(**kw),
                                process_index=process_index,
                                process_count=process_count)


def _take(iterator, n):
  return [next(iterator) for _ in range(n)]


def test_batch_contract(data):
  out, clips = data
  pipe = _pipe(out)
  batch = next(pipe.train_iterator())
  assert {k: (v.dtype.name, v.shape) for k, v in batch.items()} == {
      "imu": ("float32", (8, 100, 6)), "label": ("int32", (8,)),
      "worker": ("int32", (8,)), "index": ("int64", (8,)),
      "mask": ("bool", (8,))}
  assert batch["mask"].all()
  ds = processed.ProcessedDataset.open(out)
  ref = ds.read(batch["index"], ("imu", "label", "worker", "clip_id",
                                 "worker_id", "t0_us"))
  np.testing.assert_allclose(pipe.norm.invert(batch["imu"]), ref["imu"],
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_array_equal(batch["label"], ref["label"])
  np.testing.assert_array_equal(batch["worker"], ref["worker"])
  assert set(ref["worker_id"]) <= set(TRAIN)
  for k, clip_id in enumerate(ref["clip_id"]):  # ...and equal the source.
    clip = clips[clip_id]
    j = int(np.flatnonzero(clip.t0_us == ref["t0_us"][k])[0])
    np.testing.assert_array_equal(ref["imu"][k], clip.imu[j])


def test_epochs_are_reshuffled_permutations(data):
  out, _ = data
  pipe = _pipe(out)
  steps = pipe.train_steps()
  n = len(pipe.indices("train"))
  assert steps.steps_per_epoch == n // 8
  epochs = []
  it = pipe.train_iterator()
  for _ in range(2):
    idx = np.concatenate([b["index"] for b in _take(it, steps.steps_per_epoch)])
    assert len(set(idx)) == len(idx) == steps.steps_per_epoch * 8
    assert set(idx) <= set(pipe.indices("train"))
    epochs.append(idx)
  assert not np.array_equal(epochs[0], epochs[1])


def test_split_smaller_than_a_batch_repeats_its_records(data):
  out, _ = data
  n = len(_pipe(out).indices("train"))
  batch = 2 * n + 3  # a small scaling subset: fewer records than one batch
  pipe = _pipe(out, batch_size=batch)
  assert pipe.train_steps().steps_per_epoch == 1
  batches = [b["index"] for b in _take(pipe.train_iterator(), 2)]
  for idx in batches:
    assert len(idx) == batch
    counts = np.unique(idx, return_counts=True)[1]
    assert len(counts) == n and set(counts) <= {2, 3}  # every record, evenly
  assert not np.array_equal(batches[0], batches[1])  # reshuffled per step


def test_same_seed_same_batches_other_seed_differs(data):
  out, _ = data
  a = [b["index"] for b in _take(_pipe(out).train_iterator(), 4)]
  b = [b["index"] for b in _take(_pipe(out).train_iterator(), 4)]
  c = [b["index"] for b in _take(_pipe(out, shuffle_seed=1).train_iterator(), 4)]
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)


@pytest.mark.parametrize("process_count", [2, 4])
def test_hosts_partition_the_global_batch(data, process_count):
  out, _ = data
  steps = 6  # crosses an epoch boundary
  single = [b["index"] for b in _take(_pipe(out).train_iterator(), steps)]
  hosts = [[b["index"] for b in _take(
      _pipe(out, process_index=p, process_count=process_count)
      .train_iterator(), steps)] for p in range(process_count)]
  for s in range(steps):
    parts = [h[s] for h in hosts]
    assert all(len(p) == 8 // process_count for p in parts)
    union = np.concatenate(parts)
    assert len(set(union)) == len(union)  # disjoint
    assert sorted(union) == sorted(single[s])  # same global batch


@pytest.mark.parametrize("process_count", [1, 2, 4])
def test_eval_covers_each_record_once_with_padding(data, process_count):
  out, _ = data
  hosts = [_pipe(out, process_index=p, process_count=process_count,
                 eval_batch_size=8) for p in range(process_count)]
  expected = hosts[0].indices("test")
  # The tail is padded; at 4 hosts the last one's final batch is all padding.
  assert len(expected) % 8 == 6
  seen = []
  num_steps = -(-len(expected) // 8)
  for h in hosts:
    batches = h.eval_batches("test")
    assert len(batches) == num_steps
    batches = list(batches)
    assert len(batches) == num_steps  # every host runs the same steps
    for b in batches:
      assert b["imu"].shape[0] == 8 // process_count
      assert (b["index"][~b["mask"]] == -1).all()
      assert (b["imu"][~b["mask"]] == 0).all()
      seen.extend(b["index"][b["mask"]].tolist())
  assert sorted(seen) == expected.tolist()
  again = [b["index"] for b in hosts[0].eval_batches("test")]
  first = [b["index"] for b in hosts[0].eval_batches("test")]
  np.testing.assert_array_equal(np.concatenate(again), np.concatenate(first))


def test_restore_resumes_on_the_next_batch(data):
  out, _ = data
  pipe = _pipe(out)
  it = pipe.train_iterator()
  _take(it, 3)
  state = it.get_state()
  expected = _take(it, 4)
  restored = _pipe(out).train_iterator()
  restored.set_state(state)
  for want, got in zip(expected, _take(restored, 4)):
    for key in want:
      np.testing.assert_array_equal(want[key], got[key])


def test_orbax_checkpoint_of_iterator(data, tmp_path):
  ocp = pytest.importorskip("orbax.checkpoint")
  import grain  # pylint: disable=g-import-not-at-top
  out, _ = data
  it = _pipe(out).train_iterator()
  _take(it, 5)
  with ocp.CheckpointManager(str(tmp_path / "ckpt")) as mngr:
    mngr.save(5, args=ocp.args.Composite(
        iter=grain.checkpoint.CheckpointSave(it)))
    mngr.wait_until_finished()
  want = next(it)
  restored = _pipe(out).train_iterator()
  with ocp.CheckpointManager(str(tmp_path / "ckpt")) as mngr:
    mngr.restore(5, args=ocp.args.Composite(
        iter=grain.checkpoint.CheckpointRestore(restored)))
  np.testing.assert_array_equal(next(restored)["index"], want["index"])


def test_within_person_split_selects_clips(data):
  out, clips = data
  chosen = ["w00_c00", "w01_c02"]
  split = lib.split(["w00", "w01"], [], ["w00"],
                    clips={"train": chosen, "val": [], "test": ["w00_c01"]})
  pipe = _pipe(out, split=split)
  ds = processed.ProcessedDataset.open(out)
  got = set(ds.read(pipe.indices("train"), ("clip_id",))["clip_id"])
  assert got == set(chosen)
  assert len(pipe.indices("train")) == sum(len(clips[c]) for c in chosen)


def test_read_windows_for_non_jax_consumers(data):
  out, clips = data
  idx = processed.split_record_indices(out, SPLIT, "val")
  arrays = processed.read_windows(out, idx[::-1], ("imu", "label", "index",
                                                   "window_id", "worker_id"))
  assert set(arrays["worker_id"]) == {"w04"}
  np.testing.assert_array_equal(arrays["index"], idx[::-1])
  for k, wid in enumerate(arrays["window_id"]):
    clip_id, t0_ms = wid.rsplit("/", 1)
    j = int(np.flatnonzero(clips[clip_id].t0_us // 1000 == int(t0_ms))[0])
    np.testing.assert_array_equal(arrays["imu"][k], clips[clip_id].imu[j])
    assert arrays["label"][k] == clips[clip_id].label[j]


def test_teacher_embeddings_by_window_id(data, tmp_path):
  import shutil  # pylint: disable=g-import-not-at-top
  out = str(tmp_path / "p")
  shutil.copytree(data[0], out)
  ds = processed.ProcessedDataset.open(out)
  idx = np.arange(len(ds))[::2]  # embeddings for half of the windows
  wids = ds.read(idx, ("window_id",))["window_id"].tolist()
  vectors = np.random.default_rng(0).normal(size=(len(idx), 5)).astype(
      np.float32)
  order = np.random.default_rng(1).permutation(len(idx))
  with embeddings.EmbeddingWriter(out, "toy", dim=5, records_per_shard=7) as w:
    w.add([wids[i] for i in order[:10]], vectors[order[:10]])
    w.add([wids[i] for i in order[10:]], vectors[order[10:]])
  table = embeddings.EmbeddingSet.open(out, "toy")
  np.testing.assert_array_equal(table.read(idx), vectors)
  assert (table.positions(np.arange(len(ds))[1::2]) == -1).all()
  pipe = _pipe(out, teacher="toy")
  assert set(pipe.indices("train")) <= set(idx)
  batch = next(pipe.train_iterator())
  np.testing.assert_array_equal(
      batch["teacher"], vectors[np.searchsorted(idx, batch["index"])])
  with pytest.raises(KeyError, match="not in this processed dataset"):
    embeddings.EmbeddingWriter(out, "bad", dim=5).add(["nope/00000000"],
                                                      np.zeros((1, 5)))


def test_spectrogram_of_normalised_imu(data):
  from egoimu_jax import config_lib  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline import spectrogram  # pylint: disable=g-import-not-at-top
  out, _ = data
  dcfg = config_lib.data_config()
  dcfg.spectrogram.update(n_fft=32, hop=4, time_bins=20, freq_bins=16)
  pipe = pipeline.InputPipeline(out, SPLIT, lib.input_config(spectrogram=True),
                                data_config=dcfg, process_index=0,
                                process_count=1)
  batch = next(iter(pipe.eval_batches("val")))
  assert batch["spec"].shape == (8, 20, 16, 6)
  np.testing.assert_allclose(
      batch["spec"], spectrogram.from_config(batch["imu"], dcfg.spectrogram),
      rtol=1e-6)


@pytest.mark.slow
def test_grain_worker_processes_give_the_same_batches(data):
  out, _ = data
  want = [b["index"] for b in _take(_pipe(out).train_iterator(), 5)]
  it = _pipe(out, worker_count=2).train_iterator()
  got = [b["index"] for b in _take(it, 3)]
  state = it.get_state()
  it.close()
  restored = _pipe(out, worker_count=2).train_iterator()
  restored.set_state(state)
  got += [b["index"] for b in _take(restored, 2)]
  restored.close()
  np.testing.assert_array_equal(got, want)


def _frames_dataset(path, frames: int, fraction: float) -> str:
  """Six one-clip workers with ``frames`` 4 x 4 frames a window, stored for
  ``fraction`` of the windows, prepared at ``path``."""
  clips = lib.memory_clips(num_workers=6, clips_per_worker=1,
                           frames_shape=(frames, 4, 4, 3))
  config = lib.data_config(num_shards=2, store_frames=True,
                           frames_fraction=fraction, frames_per_window=frames,
                           size=4)
  return lib.prepare_memory(path, clips, config)


def test_frames_are_imagenet_normalised(tmp_path):
  out = _frames_dataset(tmp_path / "p", frames=2, fraction=0.6)
  pipe = _pipe(out, frames=True, batch_size=2, eval_batch_size=2)
  ds = processed.ProcessedDataset.open(out)
  train = pipe.indices("train")
  assert 0 < len(train) < len(ds.split_indices(SPLIT, "train"))
  assert ds.has_frames(train).all()
  batch = next(pipe.train_iterator())
  raw = ds.read(batch["index"], ("frames",))["frames"]
  mean = np.array([0.485, 0.456, 0.406], np.float32)
  std = np.array([0.229, 0.224, 0.225], np.float32)
  assert batch["frames"].dtype == np.float32
  np.testing.assert_allclose(batch["frames"], (raw / 255 - mean) / std,
                             rtol=1e-5, atol=1e-5)


def test_frames_are_subsampled_uniformly(tmp_path):
  out = _frames_dataset(tmp_path / "p", frames=5, fraction=1.0)
  batch = next(_pipe(out, frames=True, num_frames=3, batch_size=2,
                     eval_batch_size=2).train_iterator())
  full = next(_pipe(out, frames=True, batch_size=2,
                    eval_batch_size=2).train_iterator())
  assert batch["frames"].shape[1] == 3 and full["frames"].shape[1] == 5
  np.testing.assert_array_equal(batch["index"], full["index"])
  # round(linspace(0, 4, 3)) = frames 0, 2, 4, as the models sample.
  np.testing.assert_array_equal(batch["frames"], full["frames"][:, [0, 2, 4]])
  # Without frames, num_frames is ignored (IMU-only runs of a video config).
  imu_only = next(_pipe(out, num_frames=3, batch_size=2,
                        eval_batch_size=2).train_iterator())
  assert "frames" not in imu_only
  with pytest.raises(ValueError, match="num_frames=6 exceeds the 5 frames"):
    next(_pipe(out, frames=True, num_frames=6, batch_size=2,
               eval_batch_size=2).train_iterator())
