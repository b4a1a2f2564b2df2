"""grain pipeline: a split's windows → process-local batches (Contract 3).

  pipe = pipeline.InputPipeline(processed_dir, split, config.input,
                                workdir=workdir, data_config=config.data)
  it = pipe.train_iterator()          # grain DatasetIterator, infinite
  batch = next(it)                    # {"imu", "label", "worker", "index", "mask", ...}
  state = it.get_state(); it.set_state(state)   # or grain.checkpoint + orbax
  for batch in pipe.eval_batches("test"): ...   # padded, masked, same steps on every host

How batches are made (one grain element is one whole batch):
  * Train: epoch ``e`` is a permutation of the split's records drawn from
    ``(seed, e)``; global step ``s`` of the epoch takes the slice
    ``[s·B, (s+1)·B)`` of it and host ``p`` of ``P`` reads the ``p``-th
    ``B/P`` of that slice. So the union of the hosts' batches is the same
    global batch for any ``P``, every epoch is reshuffled, and the last
    ``n mod B`` records of each epoch's order are skipped (different ones
    each epoch). The grain iterator's state is the next step, so a restored
    iterator continues on exactly the next batch. A split with fewer than
    ``B`` records (a small worker- or data-scaling subset) has one step per
    epoch whose batch is the first ``B`` of ``ceil(B / n)`` permutations in
    a row, so records repeat within the batch (a warning says so).
  * Eval: records in index order, ``ceil(n / B)`` steps on every host, the
    tail padded with ``mask=False`` (``index=-1``, zeros elsewhere); every
    record appears exactly once over all hosts and steps.
  * A batch is read with one batched ArrayRecord read per shard touched and
    decoded straight from the proto (``records.decode_tensor_batch``), then
    normalised; labels, workers and indices come from the record table.
"""

from __future__ import annotations

import functools
import logging
from typing import Mapping, Optional

import grain
import numpy as np

from egoimu_jax.input_pipeline import augment as augment_lib
from egoimu_jax.input_pipeline import normalization
from egoimu_jax.input_pipeline import train_windows
from egoimu_jax.input_pipeline.store import processed
from egoimu_jax.input_pipeline.store import records

IMAGENET_MEAN = np.asarray([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.asarray([0.229, 0.224, 0.225], np.float32)


def imagenet_normalise(frames: np.ndarray, mean=IMAGENET_MEAN,
                       std=IMAGENET_STD) -> np.ndarray:
  """uint8 ``[..., S, 3]`` → float32 ``(x / 255 - mean) / std`` per channel.

  ``mean``/``std`` default to ImageNet's; video models with other statistics
  (TimeSformer's 0.45 / 0.225) pass theirs (``input.frame_mean/frame_std``).

  One float32 copy, scaled and shifted in place over rows of ``S * 3`` values
  (broadcasting against a length-3 axis is several times slower).
  """
  # C order, so that the reshape below is a view (any input layout).
  out = frames.astype(np.float32, order="C")
  rows = out.reshape(-1, frames.shape[-2] * 3)
  width = frames.shape[-2]
  mean = np.asarray(mean, np.float32)
  std = np.asarray(std, np.float32)
  rows *= np.tile(1 / (255 * std), width)
  rows -= np.tile(mean / std, width)
  return out


def _process_index_and_count(process_index, process_count):
  if process_index is None or process_count is None:
    import jax  # pylint: disable=g-import-not-at-top
    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
  if not 0 <= process_index < process_count:
    raise ValueError(f"bad process index/count {process_index}/{process_count}")
  return process_index, process_count


def local_batch_size(batch_size: int, process_count: int) -> int:
  if batch_size % process_count:
    raise ValueError(f"batch size {batch_size} is not divisible by the "
                     f"process count {process_count}")
  return batch_size // process_count


class BatchReader:
  """Builds a Contract-3 batch from positions into a split's record list.

  Holds only what a batch needs (per-split arrays and shard paths), so it is
  cheap to pickle into grain worker processes.
  """

  def __init__(self, dataset: processed.ProcessedDataset, indices: np.ndarray,
               norm: normalization.NormStats, *, spectrogram=None,
               frames: bool = False, num_frames: int = 0,
               frame_mean=IMAGENET_MEAN, frame_std=IMAGENET_STD,
               teacher: Optional[str] = None,
               items: Optional[train_windows.TrainWindows] = None,
               augment: Optional[augment_lib.Augmenter] = None):
    table = dataset.table
    self.index = np.asarray(indices, np.int64)
    self.label = table.label[self.index]
    self.worker = table.worker[self.index]
    self.shard = table.shard[self.index]
    self.offset = table.offset[self.index]
    self.windows = dataset.windows
    self.window_length = dataset.window_length
    self.norm = norm
    self.spectrogram = spectrogram
    self.frames = dataset.frames if frames else None
    self.frames_shape = dataset.frames_shape
    self.frames_offset = table.frames_offset[self.index] if frames else None
    self.frame_mean = np.asarray(frame_mean, np.float32)
    self.frame_std = np.asarray(frame_std, np.float32)
    # Uniform temporal subsampling of the stored frames before they are
    # normalised and copied (e.g. 50 stored -> the 16 a video model takes).
    stored = self.frames_shape[0] if frames and self.frames_shape else 0
    if frames and num_frames > stored:
      raise ValueError(f"input.num_frames={num_frames} exceeds the "
                       f"{stored} frames stored per window")
    self.frame_index = (np.round(np.linspace(0, stored - 1, num_frames)
                                 ).astype(np.int64)
                        if frames and 0 < num_frames < stored else None)
    self.teacher = dataset.teacher(teacher) if teacher else None
    self.teacher_rows = (self.teacher.positions(self.index) if teacher
                         else None)
    # Training only: overlapping windows (train_windows) and augmentation.
    self.items = items
    self.augment = augment

  def __len__(self) -> int:
    return len(self.items) if self.items is not None else len(self.index)

  def _read_imu(self, p: np.ndarray) -> np.ndarray:
    """Raw (unnormalised) IMU of the records at positions ``p``."""
    return records.decode_tensor_batch(
        self.windows.read(self.shard[p], self.offset[p]), "imu", np.float32,
        (self.window_length, records.IMU_CHANNELS))

  def __call__(self, positions: np.ndarray, step: int = 0,
               rows: Optional[np.ndarray] = None) -> dict[str, np.ndarray]:
    """``positions`` int64 [b] into the record list (the training items
    with ``items``); -1 marks padding. ``step`` and ``rows`` (each position's
    row in the global batch) seed the augmentation."""
    positions = np.asarray(positions, np.int64)
    mask = positions >= 0
    full = bool(mask.all())
    p = positions if full else positions[mask]

    def place(values: np.ndarray, fill=0) -> np.ndarray:
      if full:
        return values
      out = np.full((len(positions),) + values.shape[1:], fill, values.dtype)
      out[mask] = values
      return out

    if self.items is not None:
      raw = train_windows.read(self._read_imu, self.items, p,
                               self.window_length)
      p = self.items.first[p]
    else:
      raw = self._read_imu(p)
    if self.augment is not None:
      rows = np.arange(len(positions)) if rows is None else np.asarray(rows)
      raw = self.augment(raw, step, rows[mask])
    imu = self.norm.apply_batch(raw, self.worker[p])
    batch = {
        "imu": place(imu),
        "label": place(self.label[p]),
        "worker": place(self.worker[p]),
        "index": place(self.index[p], -1),
        "mask": mask,
    }
    if self.spectrogram is not None:
      batch["spec"] = place(self.spectrogram(imu))
    if self.frames is not None:
      frames = records.decode_tensor_batch(
          self.frames.read(self.shard[p], self.frames_offset[p]), "frames",
          np.uint8, self.frames_shape)
      if self.frame_index is not None:
        frames = frames[:, self.frame_index]
      batch["frames"] = place(imagenet_normalise(frames, self.frame_mean,
                                                 self.frame_std))
    if self.teacher is not None:
      batch["teacher"] = place(self.teacher.read_rows(self.teacher_rows[p]))
    return batch


class TrainSteps:
  """Global step → this host's positions (see the module docstring)."""

  def __init__(self, num_records: int, batch_size: int, process_index: int,
               process_count: int, seed: int):
    self.num_records = num_records
    self.batch_size = batch_size
    self.local = local_batch_size(batch_size, process_count)
    self.start = process_index * self.local
    self.seed = seed
    if not num_records:
      raise ValueError("no training records")
    self.steps_per_epoch = max(1, num_records // batch_size)
    self.repeats = -(-batch_size // num_records)  # 1 unless n < B
    if self.repeats > 1 and process_index == 0:
      logging.warning("pipeline: %d training records are fewer than one "
                      "global batch of %d; each step's batch repeats them "
                      "(%d permutations in a row)", num_records, batch_size,
                      self.repeats)
    self._cache = (-1, None)  # (epoch, permutation), swapped atomically

  def permutation(self, epoch: int) -> np.ndarray:
    cached_epoch, perm = self._cache  # grain may call from several threads
    if cached_epoch != epoch:
      rng = np.random.default_rng([self.seed, epoch])
      perm = np.concatenate([rng.permutation(self.num_records)
                             for _ in range(self.repeats)])
      self._cache = (epoch, perm)
    return perm

  def __call__(self, step: int) -> np.ndarray:
    epoch, k = divmod(int(step), self.steps_per_epoch)
    begin = k * self.batch_size + self.start
    return self.permutation(epoch)[begin:begin + self.local]


class EvalSteps:
  """Eval step → this host's positions, -1 past the end (padding)."""

  def __init__(self, num_records: int, batch_size: int, process_index: int,
               process_count: int):
    self.num_records = num_records
    self.batch_size = batch_size
    self.local = local_batch_size(batch_size, process_count)
    self.start = process_index * self.local
    self.num_steps = -(-num_records // batch_size)

  def __call__(self, step: int) -> np.ndarray:
    positions = (int(step) * self.batch_size + self.start +
                 np.arange(self.local, dtype=np.int64))
    return np.where(positions < self.num_records, positions, -1)


class _ReadBatch(grain.transforms.Map):
  """Step → batch: a picklable grain transform."""

  def __init__(self, steps, reader: BatchReader):
    self.steps = steps
    self.reader = reader

  def map(self, step: int) -> dict[str, np.ndarray]:
    positions = self.steps(step)
    return self.reader(positions, step,
                       self.steps.start + np.arange(len(positions)))


def _to_iter(ds: grain.MapDataset, worker_count: int, read_threads: int,
             prefetch: int) -> grain.IterDataset:
  it = ds.to_iter_dataset(grain.ReadOptions(
      num_threads=read_threads, prefetch_buffer_size=prefetch))
  if worker_count > 0:
    # grain's worker processes read absl flags; outside an ``app.run`` main
    # (notebooks, tests) nothing has parsed them, so take the defaults.
    from absl import flags  # pylint: disable=g-import-not-at-top
    if not flags.FLAGS.is_parsed():
      flags.FLAGS.mark_as_parsed()
    it = it.mp_prefetch(grain.MultiprocessingOptions(
        num_workers=worker_count, per_worker_buffer_size=prefetch))
  return it


class EvalBatches:
  """Re-iterable eval batches of one split part: ``len()`` steps per pass."""

  def __init__(self, dataset: grain.MapDataset, num_steps: int,
               num_records: int, worker_count: int, read_threads: int,
               prefetch: int):
    self._dataset = dataset
    self.num_steps = num_steps
    self.num_records = num_records
    self._options = (worker_count, read_threads, prefetch)

  def __len__(self) -> int:
    return self.num_steps

  def __iter__(self):
    return iter(_to_iter(self._dataset, *self._options))


class InputPipeline:
  """The trainer's data: one split of one processed dataset, on this host."""

  def __init__(self, processed_dir: str, split: Mapping, input_config, *,
               workdir: Optional[str] = None, data_config=None,
               process_index: Optional[int] = None,
               process_count: Optional[int] = None):
    self.config = input_config
    self.split = split
    self.process_index, self.process_count = _process_index_and_count(
        process_index, process_count)
    self.dataset = processed.ProcessedDataset.open(processed_dir)
    self.norm = normalization.for_split(workdir, self.dataset, split,
                                        input_config)
    self.spectrogram = None
    if input_config.get("spectrogram", False):
      if data_config is None:
        raise ValueError("input.spectrogram needs data_config "
                         "(config.data.spectrogram)")
      from egoimu_jax.input_pipeline import spectrogram  # pylint: disable=g-import-not-at-top
      spectrogram.check(self.dataset.window_length, data_config.spectrogram)
      self.spectrogram = functools.partial(
          spectrogram.from_config, spec_cfg=data_config.spectrogram)
    self._indices = {}
    self._totals = {}
    self._items = {}

  def indices(self, part: str) -> np.ndarray:
    """The part's record indices this pipeline serves.

    With ``input.frames`` / ``input.teacher``, only records that have stored
    frames / a teacher embedding (the others cannot make a batch).
    """
    if part not in self._indices:
      idx = self.dataset.split_indices(self.split, part)
      total = len(idx)
      if self.config.get("frames", False):
        idx = idx[self.dataset.has_frames(idx)]
      teacher = self.config.get("teacher", "")
      if teacher:
        idx = idx[self.dataset.teacher(teacher).positions(idx) >= 0]
      if len(idx) < total:
        logging.warning("pipeline: %s uses %d of %d records (the others have "
                        "no stored frames / teacher embedding); recorded in "
                        "results.json as coverage", part, len(idx), total)
      self._indices[part] = idx
      self._totals[part] = total
    return self._indices[part]

  def coverage(self, part: str) -> dict:
    """How much of the split's ``part`` this pipeline serves, and a digest
    of exactly which records: runs compared on a test set must agree on it
    (``report`` refuses to pair runs whose test windows differ)."""
    return processed.coverage(self.indices(part), self._totals[part])

  def _reader(self, part: str) -> BatchReader:
    return self.batch_reader(self.indices(part))

  def train_items(self, part: str = "train") -> train_windows.TrainWindows:
    """The part's training windows at ``input.train_stride_seconds``."""
    if part not in self._items:
      idx = self.indices(part)
      manifest = self.dataset.manifest
      length = self.dataset.window_length
      stride = train_windows.stride_samples(
          float(self.config.get("train_stride_seconds", 0.0)),
          float(manifest["rate_hz"]), length)
      if stride and (self.config.get("frames", False) or
                     self.config.get("teacher", "")):
        raise train_windows.StrideError(
            "input.train_stride_seconds > 0 cuts IMU windows only; it cannot "
            "be combined with input.frames or input.teacher")
      table = self.dataset.table
      window_us = int(round(float(manifest["window_seconds"]) * 1e6))
      self._items[part] = train_windows.cut(
          table.clip[idx], table.t0_us[idx], table.label[idx], window_us,
          length, stride)
      if stride and self.process_index == 0:
        logging.info("pipeline: %s: %d windows at a stride of %d samples "
                     "(%d on the grid)", part, len(self._items[part]),
                     stride, len(idx))
    return self._items[part]

  def _train_reader(self, part: str) -> BatchReader:
    items = self.train_items(part)
    aug = self.config.get("augment", None)
    return self.batch_reader(
        self.indices(part),
        items=items if len(items) > len(self.indices(part)) else None,
        augment=augment_lib.Augmenter(aug) if augment_lib.enabled(aug)
        else None)

  def batch_reader(self, indices: np.ndarray, **train) -> BatchReader:
    """A reader of the records ``indices`` (positions index into them),
    normalised and shaped like this pipeline's batches; ``train``: the
    training reader's ``items`` and ``augment``."""
    return BatchReader(
        self.dataset, indices, self.norm,
        spectrogram=self.spectrogram, frames=self.config.get("frames", False),
        num_frames=self.config.get("num_frames", 0),
        frame_mean=self.config.get("frame_mean", IMAGENET_MEAN),
        frame_std=self.config.get("frame_std", IMAGENET_STD),
        teacher=self.config.get("teacher", "") or None, **train)

  def _io_options(self) -> tuple[int, int, int]:
    c = self.config
    return (c.get("worker_count", 0), c.get("read_threads", 2),
            c.get("prefetch_batches", 4))

  @property
  def local_batch_size(self) -> int:
    return local_batch_size(self.config.batch_size, self.process_count)

  def train_steps(self, part: str = "train") -> TrainSteps:
    return TrainSteps(len(self.train_items(part)), self.config.batch_size,
                      self.process_index, self.process_count,
                      self.config.shuffle_seed)

  def train_dataset(self, part: str = "train") -> grain.IterDataset:
    steps = self.train_steps(part)
    ds = grain.MapDataset.range(np.iinfo(np.int64).max).map(
        _ReadBatch(steps, self._train_reader(part)))
    return _to_iter(ds, *self._io_options())

  def train_iterator(self, part: str = "train") -> grain.DatasetIterator:
    """Infinite, checkpointable (``get_state``/``set_state``; grain's orbax
    handlers) iterator of this host's training batches."""
    return iter(self.train_dataset(part))

  def eval_batches(self, part: str) -> EvalBatches:
    steps = EvalSteps(len(self.indices(part)), self.config.eval_batch_size,
                      self.process_index, self.process_count)
    ds = grain.MapDataset.range(steps.num_steps).map(
        _ReadBatch(steps, self._reader(part)))
    return EvalBatches(ds, steps.num_steps, steps.num_records,
                       *self._io_options())
