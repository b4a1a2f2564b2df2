"""The window record (architecture Contract 1): schema, encoding, fast decoding.

A record is a ``tf.train.Example`` proto written by a tensorflow-datasets
``FeaturesDict`` whose tensors use ``Encoding.BYTES`` (the raw little-endian
buffer in one ``bytes_list`` entry). tfds can therefore read the shards without
TensorFlow, and our pipeline can skip tfds' per-example decoding: it parses the
proto once and takes the tensor buffers with ``np.frombuffer``.

Three record kinds share these rules, each in its own shard set:
  * windows: ids, label, purity and the raw IMU of one window;
  * frames: ``window_id`` + uint8 video frames, for the subset of windows whose
    clip stores frames (kept apart so IMU-only reads never touch video bytes);
  * embeddings: ``window_id`` + one float32 vector per window (frozen teachers).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import tensorflow_datasets as tfds
from tensorflow_datasets.proto import tf_example_pb2

# Bump when a field is added, removed or changes meaning; it is part of the
# prepare config hash, so processed caches are rebuilt.
SCHEMA_VERSION = 1

IMU_CHANNELS = 6
_BYTES = tfds.features.Encoding.BYTES


def window_id(clip_id: str, t0_us: int) -> str:
  """``"{clip_id}/{t0_ms:08d}"``: unique, sorts in time order within a clip."""
  return f"{clip_id}/{int(t0_us) // 1000:08d}"


def window_features(classes: Sequence[str],
                    window_length: int) -> tfds.features.FeaturesDict:
  return tfds.features.FeaturesDict({
      "window_id": tfds.features.Text(),
      "worker_id": tfds.features.Text(),
      "clip_id": tfds.features.Text(),
      "t0_us": tfds.features.Scalar(np.int64),
      "label": tfds.features.ClassLabel(names=list(classes)),
      "purity": tfds.features.Scalar(np.float32),
      "imu": tfds.features.Tensor(
          shape=(window_length, IMU_CHANNELS), dtype=np.float32,
          encoding=_BYTES),
  })


def frames_features(num_frames: int, size: int) -> tfds.features.FeaturesDict:
  return tfds.features.FeaturesDict({
      "window_id": tfds.features.Text(),
      "frames": tfds.features.Tensor(
          shape=(num_frames, size, size, 3), dtype=np.uint8, encoding=_BYTES),
  })


def embedding_features(dim: int) -> tfds.features.FeaturesDict:
  return tfds.features.FeaturesDict({
      "window_id": tfds.features.Text(),
      "embedding": tfds.features.Tensor(
          shape=(dim,), dtype=np.float32, encoding=_BYTES),
  })


def encode(features: tfds.features.FeaturesDict, example: dict) -> bytes:
  """Serialises one example with tfds' own encoder (validates shape/dtype).

  ``deterministic=True`` fixes the order of the proto's feature map, which is
  otherwise per-process (hash order), so that identical prepare runs write
  identical shard bytes.
  """
  encoded = features.encode_example(example)
  # pylint: disable-next=protected-access
  proto = features._example_serializer.get_tf_example(encoded)
  return proto.SerializeToString(deterministic=True)


def _parse(serialized: bytes):
  return tf_example_pb2.Example.FromString(serialized).features.feature


def decode_tensor_batch(serialized: Sequence[bytes], key: str, dtype,
                        shape: Sequence[int]) -> np.ndarray:
  """Stacks the BYTES-encoded tensor ``key`` of each record: ``[n, *shape]``.

  One proto parse and one buffer copy per record; no tfds or TF involved.
  """
  dtype = np.dtype(dtype)
  out = np.empty((len(serialized), *shape), dtype)
  flat = out.reshape(len(serialized), int(np.prod(shape)))
  nbytes = flat.shape[1] * dtype.itemsize
  for i, record in enumerate(serialized):
    buf = _parse(record)[key].bytes_list.value[0]
    if len(buf) != nbytes:
      raise ValueError(
          f"record field {key!r} has {len(buf)} bytes, expected {nbytes} for "
          f"{dtype}{tuple(shape)}")
    flat[i] = np.frombuffer(buf, dtype)
  return out


def decode_text_batch(serialized: Iterable[bytes], key: str) -> list[str]:
  return [_parse(r)[key].bytes_list.value[0].decode() for r in serialized]
