"""A frozen video model as a function frames -> one vector per window.

The model comes from ``models.build(teacher.model)`` (Contract 4: ``apply``
returns ``(logits, aux)`` with ``aux["features"]`` and, for transformers,
``aux["tokens"]``). Its weights are converted PyTorch weights
(``models.IMPORTERS``), a checkpoint of one of our runs (the ``finetune``
task's readers), or a seeded random init for tests and demos. The head is
never used, so it is left out of the weight check (``transfer.HEAD``).

Batches are split over the local devices (a ``data`` mesh over
``jax.local_devices()``): hosts never wait for each other, and a padded
batch has the same shape every step (one compile).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Mapping, Optional

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax import models
from egoimu_jax.input_pipeline import pipeline
from egoimu_jax.models import transfer
from egoimu_jax.teachers import config as config_lib
from egoimu_jax.training import mesh as mesh_lib
from egoimu_jax.training import state_builder


def files_sha256(path: str) -> str:
  """sha256 over a file, or over every file under a directory (relative
  paths, sizes and bytes, in sorted path order)."""
  if os.path.isfile(path):
    files = [(os.path.basename(path), path)]
  else:
    files = sorted((os.path.relpath(os.path.join(d, f), path),
                    os.path.join(d, f))
                   for d, _, names in os.walk(path) for f in names)
  digest = hashlib.sha256()
  for rel, full in files:
    digest.update(f"{rel}\0{os.path.getsize(full)}\0".encode())
    with open(full, "rb") as f:
      for block in iter(lambda: f.read(1 << 22), b""):
        digest.update(block)
  return digest.hexdigest()


def params_sha256(variables: Mapping[str, Any]) -> str:
  """sha256 of the variables that make the vectors (paths, dtypes, shapes
  and values); the classifier head (``transfer.HEAD``) is left out."""
  digest = hashlib.sha256()
  flat = transfer.flatten(variables)
  for path in sorted(flat):
    if transfer.is_fresh(path, transfer.HEAD):
      continue
    value = np.asarray(jax.device_get(flat[path]))
    digest.update(f"{path}\0{value.dtype.str}\0{value.shape}\0".encode())
    digest.update(np.ascontiguousarray(value).tobytes())
  return digest.hexdigest()


def projection_matrix(dim: int, out_dim: int, seed: int) -> np.ndarray:
  """float32 [dim, out_dim]: orthonormal columns (out_dim <= dim) or rows
  (out_dim > dim), from a seeded Gaussian's QR (signs fixed by R)."""
  rng = np.random.default_rng(seed)
  q, r = np.linalg.qr(rng.standard_normal((max(dim, out_dim),
                                           min(dim, out_dim))))
  q = q * np.where(np.diag(r) < 0, -1.0, 1.0)
  return (q if out_dim <= dim else q.T).astype(np.float32)


def _pool(aux: Mapping[str, jax.Array], pooling: str) -> jax.Array:
  if pooling == "features":
    return aux["features"].astype(jnp.float32)
  tokens = aux["tokens"].astype(jnp.float32)
  return tokens[:, 0] if pooling == "cls" else tokens.mean(axis=1)


class Teacher:
  """A built model with its weights, placed on the local devices.

  Args:
    cfg: ``config.teacher``.
    frames_shape: ``(T, S, S, 3)`` of the frames it will be given.
  """

  def __init__(self, cfg, frames_shape: tuple[int, ...]):
    self.cfg = cfg
    self.frames_shape = tuple(frames_shape)
    self.pooling = cfg.pooling
    if self.pooling not in config_lib.POOLINGS:
      raise ValueError(f"teacher.pooling={self.pooling!r}; expected one of "
                       f"{config_lib.POOLINGS}")
    self.mean = np.asarray(cfg.frame_mean, np.float32)
    self.std = np.asarray(cfg.frame_std, np.float32)
    if self.mean.shape != (3,) or self.std.shape != (3,):
      raise ValueError("teacher.frame_mean / frame_std need 3 values "
                       f"(RGB), got {tuple(cfg.frame_mean)} / "
                       f"{tuple(cfg.frame_std)}")
    self.mesh = mesh_lib.make_mesh((("data", -1),), jax.local_devices())
    self.batch_sharding = mesh_lib.batch_sharding(self.mesh)
    devices = self.mesh.size
    self.batch_size = -(-int(cfg.batch_size) // devices) * devices
    model_cfg = dict(cfg.model)
    self.model_config = dict(model_cfg)
    model_cfg.setdefault("num_classes", 1)  # the head is not used
    model_cfg["dtype"] = jnp.dtype(cfg.dtype)
    self.model = models.build(model_cfg)
    self._check_geometry()

    example = jnp.zeros((1, *self.frames_shape), jnp.float32)

    def init(key):
      return self.model.init({"params": key, "dropout": key},
                             {"frames": example}, train=False)

    # No sharding rules: every variable replicated on the local devices.
    layout = state_builder.layout(init, jax.random.key(int(cfg.seed)),
                                  self.mesh)
    abstract = layout.abstract
    aux = jax.eval_shape(
        lambda v, f: self.model.apply(v, {"frames": f}, train=False)[1],
        abstract, example)
    self._check_pooling(abstract, aux)
    self.feature_dim = int(jax.eval_shape(
        lambda a: _pool(a, self.pooling), aux).shape[-1])
    variables = layout.create()
    self.variables, self.weights = self._load_weights(variables)
    self.weights["params_sha256"] = params_sha256(self.variables)

    self.projection: Optional[np.ndarray] = None
    self.dim = self.feature_dim

    def embed(variables, frames, projection):
      _, aux = self.model.apply(variables, {"frames": frames}, train=False)
      vectors = _pool(aux, self.pooling)
      if projection is not None:
        vectors = jnp.dot(vectors, projection,
                          precision=jax.lax.Precision.HIGHEST)
      return vectors

    self._embed = jax.jit(embed, out_shardings=self.batch_sharding)
    self._projection_device = None

  def set_projection(self, matrix: Optional[np.ndarray]) -> None:
    """Vectors are ``features @ matrix`` from now on (None: no projection)."""
    if matrix is None:
      self.projection, self._projection_device, self.dim = None, None, (
          self.feature_dim)
      return
    matrix = np.asarray(matrix, np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != self.feature_dim:
      raise ValueError(f"projection of shape {matrix.shape} does not apply "
                       f"to {self.feature_dim}-d features")
    self.projection = matrix
    self._projection_device = jax.device_put(
        matrix, mesh_lib.replicated(self.mesh))
    self.dim = matrix.shape[1]

  def _check_geometry(self) -> None:
    t, s = self.frames_shape[0], self.frames_shape[1]
    name = f"{self.model_config.get('name')}/{self.model_config.get('variant')}"
    want_t = getattr(self.model, "num_frames", None)
    want_s = getattr(self.model, "image_size", None)
    if want_t is not None and want_t != t:
      raise ValueError(f"teacher {name} takes {want_t} frames, got "
                       f"teacher.num_frames={t}")
    if want_s is not None and want_s != s:
      raise ValueError(
          f"teacher {name} takes {want_s}^2 frames, frames are {s}^2; set "
          f"teacher.frame_size={want_s} (raw MP4s are decoded at any size)")

  def _check_pooling(self, abstract, aux) -> None:
    name = self.model_config.get("name")
    if self.pooling in ("cls", "mean_tokens") and "tokens" not in aux:
      raise ValueError(f"teacher.pooling={self.pooling!r}: model {name} "
                       "returns no aux['tokens']; use 'features'")
    if self.pooling == "cls" and "cls_token" not in abstract.get("params", {}):
      raise ValueError(f"teacher.pooling='cls': model {name} has no CLS "
                       "token; use 'mean_tokens' or 'features'")
    if self.pooling == "features" and "features" not in aux:
      raise ValueError(f"teacher.pooling='features': model {name} returns "
                       "no aux['features']")

  def _load_weights(self, variables) -> tuple[Any, dict]:
    from egoimu_jax.training.tasks import finetune  # pylint: disable=g-import-not-at-top
    cfg = self.cfg
    path, fmt = str(cfg.weights or ""), str(cfg.weights_format or "")
    if not path:
      logging.warning(
          "teacher.weights is empty: %s/%s runs with RANDOM weights (seed "
          "%d). These vectors are for tests and demos only, not a teacher.",
          self.model_config.get("name"), self.model_config.get("variant"),
          int(cfg.seed))
      return variables, {"format": "random_init", "seed": int(cfg.seed)}
    if not os.path.exists(path):
      raise FileNotFoundError(f"teacher.weights {path!r} does not exist")
    if fmt:
      if fmt not in models.IMPORTERS:
        known = ", ".join(models.IMPORTERS.names())
        raise ValueError(f"teacher.weights_format={fmt!r} is not a weight "
                         f"importer; known: {known} ('' for a checkpoint of "
                         "our own runs)")
      loaded = finetune.import_weights(fmt, path, variables, transfer.HEAD)
      return loaded, {"format": fmt, "path": os.path.abspath(path),
                      "sha256": files_sha256(path)}
    state_dir = finetune.resolve_state_dir(path, cfg.weights_step)
    loaded = finetune.restore_pretrained(state_dir, variables, transfer.HEAD)
    return loaded, {"format": "orbax", "path": os.path.abspath(path),
                    "step": str(cfg.weights_step), "state_dir": state_dir,
                    "sha256": files_sha256(state_dir)}

  def normalise(self, frames: np.ndarray) -> np.ndarray:
    """uint8 frames -> the model's float32 input (the grain pipeline's)."""
    return pipeline.imagenet_normalise(frames, self.mean, self.std)

  def embed(self, frames: np.ndarray) -> jax.Array:
    """float32 [batch_size, T, S, S, 3] -> vectors [batch_size, dim] (on
    device; dispatched asynchronously)."""
    if frames.shape != (self.batch_size, *self.frames_shape):
      raise ValueError(f"batch of shape {frames.shape}, expected "
                       f"{(self.batch_size, *self.frames_shape)}")
    frames = jax.device_put(frames, self.batch_sharding)
    return self._embed(self.variables, frames, self._projection_device)
