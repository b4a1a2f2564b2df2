"""EVI-MAE: masked video + body-worn IMU autoencoder (Zhang et al., ECCV 2024).

Two towers, a unified block, a pixel decoder and an IMU graph branch:

* **Video tower**: VideoMAE ViT with joint space-time attention. Frames
  ``[b, T, S, S, 3]`` -> tubelet patches ``(tubelet, p, p)`` -> fixed 1-D
  sincos position table + a learned modality embedding -> ``video_encoder``
  on the visible tokens only. Tube masking (90%): one spatial mask repeated
  over all tubelets.
* **IMU tower**: ViT on log-STFT patches. ``spec [b, time, freq, C]`` is
  split into sensor groups (``imu_groups``; default acc xyz and gyro xyz),
  each group is patch-embedded by the same ``(16, 16)`` conv (EVI-MAE embeds
  every IMU device's 3 axes this way), and the group token sequences are
  averaged into one sequence, masked (75%, unstructured by default) and
  encoded by ``imu_encoder``. The tower's width may be a multiple of the
  unified width; tokens are then average-pooled over adjacent channels
  (the authors' ViT-S setup: IMU 768 -> 384).
* **Unified block**: one transformer block over the concatenated visible
  tokens, with shared attention/MLP and stream-specific LayerNorms
  (``joint`` / ``imu`` / ``video``), followed by ``norm_<stream>``.
  The joint stream feeds the decoder; the per-modality streams, mean-pooled,
  are the contrastive features.
* **Pixel decoder**: ``embed`` to the decoder width, mask tokens, un-shuffle,
  decoder sincos positions + modality embeddings, ``decoder_depth`` blocks
  over both modalities' full token sets, one linear head per modality. The
  targets are the input patches, per-patch normalised (``norm_pix_loss``).
  The IMU head predicts all ``C`` spectrogram channels of a patch.
* **IMU graph** (GraphMAE): nodes are sensor groups (EVI-MAE: IMU devices),
  fully connected. A node's feature is the mean of ``imu_encoder``'s output
  over that group's full (unmasked) token sequence; this is what the
  authors' code feeds the graph. 50% of the batch's nodes are replaced by a
  learned mask token, encoded by a 2-layer GIN (hidden 512, BN, PReLU),
  mapped by ``encoder_to_decoder``, re-masked to zero and decoded by a
  1-layer GIN back to the node features; loss: (scaled) cosine on the masked
  nodes.

Batch keys (Contract 3): ``spec`` float32 ``[b, time, freq, C]``, ``frames``
float32 ``[b, T, S, S, 3]``. Storage holds T = 50 frames at 10 fps; the model
uses ``num_frames`` (16) of them. ``sample_frames`` takes them uniformly over
the window (indices ``round(linspace(0, T - 1, num_frames))``), which the model
does itself when given more frames; pipelines should subsample before the
host-to-device copy to move 16/50 of the bytes.

Pretraining returns ``(outputs, aux)`` with ``outputs`` a dict (see
``EVIMAE``); the losses are pure functions in ``mae_losses``. Fine-tuning
uses ``EVIMAEClassifier`` (decoders dropped), whose parameter names match the
pretraining model's; ``models.transfer`` hands weights over.

Differences from the authors' code, on purpose:

* IMU-only models (``modalities=("imu",)``) decode from the unified block's
  ``imu`` stream (``norm_imu``), the same path IMU-only fine-tuning uses;
  the authors' IMU-only pretraining decoded the raw IMU tower output.
* The authors' contrastive loss is one-directional; ``mae_losses`` makes it
  symmetric by default (configurable).
* The authors' code generates tube masks in the loader but the model then
  draws unstructured video masks; here ``video_mask_mode`` chooses (default
  tube, as the paper and VideoMAE).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax.models import gin
from egoimu_jax.models import layers
from egoimu_jax.models import masking

Dtype = Any
MODALITIES = ("imu", "video")


@dataclasses.dataclass(frozen=True)
class EVIMAESpec:
  """Architecture, input geometry and masking of an EVI-MAE model.

  ``width`` is the video tower's and the unified block's width.
  """
  # Video input [b, num_frames, image_size, image_size, 3].
  num_frames: int = 16
  image_size: int = 224
  video_patch: int = 16
  tubelet: int = 2
  # IMU spectrogram input [b, spec_time, spec_freq, spec_channels].
  spec_time: int = 160
  spec_freq: int = 128
  spec_channels: int = 6
  imu_patch: tuple[int, int] = (16, 16)
  # Channel groups embedded as separate token sequences (graph nodes).
  imu_groups: tuple[tuple[int, ...], ...] = ((0, 1, 2), (3, 4, 5))
  # Towers.
  width: int = 384
  video_depth: int = 12
  video_heads: int = 6
  imu_width: int = 768
  imu_depth: int = 11
  imu_heads: int = 12
  unified_heads: int = 6
  mlp_ratio: float = 4.0
  decoder_width: int = 192
  decoder_depth: int = 8
  decoder_heads: int = 3
  # IMU graph branch.
  use_graph: bool = True
  graph_hidden: int = 512
  graph_layers: int = 2
  graph_dropout: float = 0.2
  graph_learn_eps: bool = False
  graph_target_stop_gradient: bool = False
  # Masking.
  video_mask_ratio: float = 0.9
  video_mask_mode: str = "tube"
  imu_mask_ratio: float = 0.75
  imu_mask_mode: str = "random"
  graph_mask_ratio: float = 0.5
  norm_pix_loss: bool = True
  # Regularisation and implementation.
  dropout: float = 0.0
  drop_path: float = 0.0
  norm_eps: float = 1e-6
  remat: bool = False
  attention_impl: str | None = None

  def __post_init__(self):
    errors = []
    for name, w, h in (("width", self.width, self.video_heads),
                       ("width", self.width, self.unified_heads),
                       ("imu_width", self.imu_width, self.imu_heads),
                       ("decoder_width", self.decoder_width,
                        self.decoder_heads)):
      if w % h:
        errors.append(f"{name}={w} not divisible by {h} heads")
    if self.image_size % self.video_patch:
      errors.append(f"image_size={self.image_size} not divisible by "
                    f"video_patch={self.video_patch}")
    if self.num_frames % self.tubelet:
      errors.append(f"num_frames={self.num_frames} not divisible by "
                    f"tubelet={self.tubelet}")
    if self.spec_time % self.imu_patch[0] or self.spec_freq % self.imu_patch[1]:
      errors.append(f"spectrogram {self.spec_time}x{self.spec_freq} not "
                    f"divisible by imu_patch={self.imu_patch}")
    if self.imu_width % self.width:
      errors.append(f"imu_width={self.imu_width} must be a multiple of "
                    f"width={self.width} (IMU tokens are pooled to it)")
    sizes = {len(g) for g in self.imu_groups}
    if not self.imu_groups or len(sizes) != 1:
      errors.append(f"imu_groups={self.imu_groups} must be non-empty groups "
                    "of equal size (they share one patch embedding)")
    used = [c for g in self.imu_groups for c in g]
    if any(not 0 <= c < self.spec_channels for c in used):
      errors.append(f"imu_groups={self.imu_groups} name channels outside "
                    f"0..{self.spec_channels - 1}")
    if self.use_graph and len(self.imu_groups) < 2:
      errors.append("use_graph needs at least two imu_groups (graph nodes)")
    if self.imu_mask_mode not in masking.IMU_MASK_MODES:
      errors.append(f"imu_mask_mode={self.imu_mask_mode!r} not in "
                    f"{masking.IMU_MASK_MODES}")
    if self.video_mask_mode not in masking.VIDEO_MASK_MODES:
      errors.append(f"video_mask_mode={self.video_mask_mode!r} not in "
                    f"{masking.VIDEO_MASK_MODES}")
    if errors:
      raise ValueError("invalid EVI-MAE spec: " + "; ".join(errors))

  # Derived geometry.
  @property
  def video_grid(self) -> tuple[int, int, int]:
    g = self.image_size // self.video_patch
    return (self.num_frames // self.tubelet, g, g)

  @property
  def video_patch_shape(self) -> tuple[int, int, int]:
    return (self.tubelet, self.video_patch, self.video_patch)

  @property
  def imu_grid(self) -> tuple[int, int]:
    return (self.spec_time // self.imu_patch[0],
            self.spec_freq // self.imu_patch[1])

  @property
  def num_tokens(self) -> dict[str, int]:
    return {"imu": math.prod(self.imu_grid),
            "video": math.prod(self.video_grid)}

  @property
  def patch_dim(self) -> dict[str, int]:
    return {"imu": math.prod(self.imu_patch) * self.spec_channels,
            "video": math.prod(self.video_patch_shape) * 3}

  def mlp_dim(self, width: int) -> int:
    return int(width * self.mlp_ratio)


VARIANTS: dict[str, dict[str, Any]] = {
    # The authors' configuration: VideoMAE ViT-S video tower, ViT-B-width IMU
    # tower with 11 blocks (+1 unified), decoder 192 wide and 8 deep.
    "S": dict(width=384, video_depth=12, video_heads=6, imu_width=768,
              imu_depth=11, imu_heads=12, unified_heads=6, decoder_width=192,
              decoder_depth=8, decoder_heads=3),
    # The benchmark's ViT-B video tower (VideoMAE-B weights import into it);
    # decoder at VideoMAE-B's decoder width, the authors' depth.
    "B": dict(width=768, video_depth=12, video_heads=12, imu_width=768,
              imu_depth=11, imu_heads=12, unified_heads=12, decoder_width=384,
              decoder_depth=8, decoder_heads=6),
    # CPU tests: small inputs are part of the variant (override as needed).
    "tiny": dict(width=64, video_depth=2, video_heads=2, imu_width=64,
                 imu_depth=2, imu_heads=2, unified_heads=2, decoder_width=32,
                 decoder_depth=1, decoder_heads=2, graph_hidden=32,
                 num_frames=8, image_size=32, video_patch=8, spec_time=32,
                 spec_freq=32, imu_patch=(8, 8)),
}


def _normalise_overrides(kw: Mapping[str, Any]) -> dict[str, Any]:
  """Config values may arrive as lists (command line, JSON): make tuples."""
  out = dict(kw)
  if "imu_patch" in out:
    out["imu_patch"] = tuple(int(p) for p in out["imu_patch"])
  if "imu_groups" in out:
    out["imu_groups"] = tuple(tuple(int(c) for c in g)
                              for g in out["imu_groups"])
  return out


def make_spec(variant: str = "S", variants: Mapping[str, Mapping] = VARIANTS,
              **overrides) -> EVIMAESpec:
  if variant not in variants:
    raise KeyError(f"unknown EVI-MAE variant {variant!r}; known: "
                   f"{sorted(variants)}")
  fields = {f.name for f in dataclasses.fields(EVIMAESpec)}
  unknown = sorted(set(overrides) - fields)
  if unknown:
    raise TypeError(f"unknown EVI-MAE spec fields {unknown}")
  return EVIMAESpec(**{**variants[variant], **_normalise_overrides(overrides)})


def as_dtype(d: Any) -> Any:
  return jnp.dtype(d) if isinstance(d, str) else d


def sample_frames(frames: jax.Array, num_frames: int) -> jax.Array:
  """Uniform temporal subsampling ``[b, T, ...] -> [b, num_frames, ...]``."""
  t = frames.shape[1]
  if t == num_frames:
    return frames
  if t < num_frames:
    raise ValueError(f"batch['frames'] has {t} frames; the model needs "
                     f"num_frames={num_frames}")
  idx = np.round(np.linspace(0, t - 1, num_frames)).astype(np.int32)
  return frames[:, idx]


def pool_width(x: jax.Array, width: int) -> jax.Array:
  """Average adjacent channels down to ``width`` (identity if equal)."""
  d = x.shape[-1]
  if d == width:
    return x
  return x.reshape(*x.shape[:-1], width, d // width).mean(-1)


# --------------------------------------------------------------------------
# Building blocks.


class VideoTokens(nn.Module):
  """Frames ``[b, T, S, S, 3]`` -> tokens ``[b, N, width]`` (all tubelets)."""
  spec: EVIMAESpec
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, frames: jax.Array) -> jax.Array:
    s = self.spec
    x = layers.PatchEmbed(s.width, s.video_patch_shape, self.dtype,
                          self.param_dtype, name="patch_embed")(frames)
    pos = layers.sincos_1d(x.shape[1], s.width)
    modality = self.param("modality", nn.initializers.normal(0.02),
                          (s.width,), self.param_dtype)
    return x + jnp.asarray(pos, x.dtype) + modality.astype(x.dtype)


class IMUTokens(nn.Module):
  """Spectrogram ``[b, time, freq, C]`` -> per-group tokens ``[b, G, N, d]``."""
  spec: EVIMAESpec
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, spec_x: jax.Array) -> jax.Array:
    s = self.spec
    b = spec_x.shape[0]
    g = jnp.stack([spec_x[..., list(c)] for c in s.imu_groups], axis=1)
    g = g.reshape((-1,) + g.shape[2:])
    x = layers.PatchEmbed(s.imu_width, s.imu_patch, self.dtype,
                          self.param_dtype, name="patch_embed")(g)
    pos = layers.sincos_1d(x.shape[1], s.imu_width)
    modality = self.param("modality", nn.initializers.normal(0.02),
                          (s.imu_width,), self.param_dtype)
    x = x + jnp.asarray(pos, x.dtype) + modality.astype(x.dtype)
    return x.reshape(b, len(s.imu_groups), x.shape[1], s.imu_width)


class IMUGraph(nn.Module):
  """GraphMAE over sensor-group nodes ``[b, G, d]``.

  Without ``node_mask`` only the encoder runs (fine-tuning); with it, the
  masked-feature reconstruction path runs too. Returns
  ``(encoded [b, G, hidden], reconstruction [b, G, d] or None)``.
  """
  spec: EVIMAESpec
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, nodes: jax.Array, train: bool = False,
               node_mask: jax.Array | None = None):
    s = self.spec
    adjacency = jnp.asarray(gin.fully_connected(nodes.shape[1]))
    encoder = gin.GIN(s.graph_hidden, s.graph_hidden, s.graph_layers,
                      encoding=True, dropout=s.graph_dropout,
                      learn_eps=s.graph_learn_eps, dtype=self.dtype,
                      param_dtype=self.param_dtype, name="encoder")
    if node_mask is None:
      return encoder(nodes, adjacency, train), None
    m = node_mask[..., None]
    token = self.param("mask_token", nn.initializers.zeros_init(),
                       (nodes.shape[-1],), self.param_dtype)
    enc = encoder(jnp.where(m, token.astype(nodes.dtype), nodes), adjacency,
                  train)
    rep = nn.Dense(s.graph_hidden, use_bias=False,
                   kernel_init=layers.dense_init, dtype=self.dtype,
                   param_dtype=self.param_dtype,
                   name="encoder_to_decoder")(enc)
    rep = jnp.where(m, jnp.zeros_like(rep), rep)
    recon = gin.GIN(s.graph_hidden, nodes.shape[-1], 1, encoding=False,
                    dropout=s.graph_dropout, learn_eps=s.graph_learn_eps,
                    dtype=self.dtype, param_dtype=self.param_dtype,
                    name="decoder")(rep, adjacency, train)
    return enc, recon


class PixelDecoder(nn.Module):
  """MAE decoder over the full token sets of ``modalities``."""
  spec: EVIMAESpec
  modalities: tuple[str, ...]
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, latents: Mapping[str, jax.Array],
               masks: Mapping[str, masking.TokenMask],
               train: bool = False) -> dict[str, jax.Array]:
    s = self.spec
    dw = s.decoder_width
    embed = nn.Dense(dw, kernel_init=layers.dense_init, dtype=self.dtype,
                     param_dtype=self.param_dtype, name="embed")
    mask_token = self.param("mask_token", nn.initializers.normal(0.02), (dw,),
                            self.param_dtype)
    seqs, lengths = [], []
    for m in self.modalities:
      x = masking.restore_tokens(embed(latents[m]), mask_token,
                                 masks[m].ids_restore)
      emb = self.param(f"modality_{m}", nn.initializers.normal(0.02), (dw,),
                       self.param_dtype)
      x = x + jnp.asarray(layers.sincos_1d(x.shape[1], dw), x.dtype)
      seqs.append(x + emb.astype(x.dtype))
      lengths.append(x.shape[1])
    x = jnp.concatenate(seqs, axis=1)
    x = layers.Encoder(s.decoder_depth, s.decoder_heads, s.mlp_dim(dw),
                       s.dropout, 0.0, True, s.norm_eps, s.remat,
                       s.attention_impl, self.dtype, self.param_dtype,
                       name="blocks")(x, train)
    x = nn.LayerNorm(epsilon=s.norm_eps, dtype=self.dtype,
                     param_dtype=self.param_dtype, name="norm")(x)
    out, start = {}, 0
    for m, n in zip(self.modalities, lengths):
      out[m] = nn.Dense(s.patch_dim[m], kernel_init=layers.dense_init,
                        dtype=self.dtype, param_dtype=self.param_dtype,
                        name=f"pred_{m}")(x[:, start:start + n])
      start += n
    return out


class _Towers(nn.Module):
  """Tokenisers, towers, graph encoder and unified block shared by the
  pretraining and fine-tuning models (same parameter names in both)."""
  spec: EVIMAESpec = EVIMAESpec()
  modalities: tuple[str, ...] = MODALITIES
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  def setup(self):
    s = self.spec
    bad = [m for m in self.modalities if m not in MODALITIES]
    if bad or not self.modalities or len(set(self.modalities)) != len(
        self.modalities):
      raise ValueError(f"modalities={self.modalities}: a non-empty subset of "
                       f"{MODALITIES}")
    kw = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    enc = lambda depth, heads, width: layers.Encoder(  # noqa: E731
        depth, heads, s.mlp_dim(width), s.dropout, s.drop_path, True,
        s.norm_eps, s.remat, s.attention_impl, **kw)
    if "video" in self.modalities:
      self.video_tokens = VideoTokens(s, **kw)
      self.video_encoder = enc(s.video_depth, s.video_heads, s.width)
    if "imu" in self.modalities:
      self.imu_tokens = IMUTokens(s, **kw)
      self.imu_encoder = enc(s.imu_depth, s.imu_heads, s.imu_width)
      if s.use_graph:
        self.graph = IMUGraph(s, **kw)
    self.unified = layers.EncoderBlock(
        s.unified_heads, s.mlp_dim(s.width), s.dropout, s.drop_path, True,
        s.norm_eps, s.attention_impl, **kw)
    norm = lambda: nn.LayerNorm(epsilon=s.norm_eps, **kw)  # noqa: E731
    self.norm_joint = norm()
    self.norm_imu = norm()
    self.norm_video = norm()

  @property
  def multimodal(self) -> bool:
    return len(self.modalities) == 2

  def _spec_input(self, batch) -> jax.Array:
    x = batch["spec"]
    s = self.spec
    want = (s.spec_time, s.spec_freq, s.spec_channels)
    if x.ndim != 4 or tuple(x.shape[1:]) != want:
      raise ValueError(f"batch['spec'] has shape {x.shape}; the model expects "
                       f"[b, {want[0]}, {want[1]}, {want[2]}] (spec_time, "
                       "spec_freq, spec_channels)")
    return x

  def _frames_input(self, batch) -> jax.Array:
    x = batch["frames"]
    s = self.spec
    if x.ndim != 5 or tuple(x.shape[2:]) != (s.image_size, s.image_size, 3):
      raise ValueError(f"batch['frames'] has shape {x.shape}; the model "
                       f"expects [b, T, {s.image_size}, {s.image_size}, 3]")
    return sample_frames(x, s.num_frames)

  def imu_nodes(self, tokens: jax.Array, train: bool) -> jax.Array:
    """Graph node features: mean IMU-tower output per group ``[b, G, d]``."""
    b, g, n, d = tokens.shape
    h = self.imu_encoder(tokens.reshape(b * g, n, d), train)
    return h.mean(axis=1).reshape(b, g, d)

  def encode_imu(self, tokens: jax.Array, train: bool,
                 mask: masking.TokenMask | None = None) -> jax.Array:
    """Group-averaged IMU tokens (visible ones if masked) at unified width."""
    x = tokens.mean(axis=1)
    if mask is not None:
      x = masking.gather_tokens(x, mask.ids_keep)
    return pool_width(self.imu_encoder(x, train), self.spec.width)

  def encode_video(self, frames: jax.Array, train: bool = False,
                   mask: masking.TokenMask | None = None) -> jax.Array:
    """Video tower output (no final norm) ``[b, N or n_keep, width]``."""
    x = self.video_tokens(frames)
    if mask is not None:
      x = masking.gather_tokens(x, mask.ids_keep)
    return self.video_encoder(x, train)

  def unify(self, tokens: Mapping[str, jax.Array], train: bool,
            stream: str) -> jax.Array:
    """Unified block on the given modalities' tokens, ``stream`` norms."""
    x = jnp.concatenate([tokens[m] for m in MODALITIES if m in tokens], 1)
    x = self.unified(x, train, stream)
    return {"joint": self.norm_joint, "imu": self.norm_imu,
            "video": self.norm_video}[stream](x)


# --------------------------------------------------------------------------
# Models.


class EVIMAE(_Towers):
  """Pretraining model. ``apply(variables, batch, train=..., rngs={"masking":
  k1, "dropout": k2}, mutable=["batch_stats"])`` (``batch_stats`` when the
  graph branch is on: its BatchNorm).

  Returns ``(outputs, aux)``; ``outputs`` has, per present modality ``m``,
  ``outputs[m] = {"pred", "target", "mask"}`` (``[b, N, P]``, ``[b, N, P]``
  float32, bool ``[b, N]``), ``outputs["features"] = {m: [b, width]}``
  (mean-pooled per-modality unified streams, the contrastive pair) and, with
  the graph branch, ``outputs["graph"] = {"pred", "target", "mask"}``
  (``[b, G, d]``, ``[b, G, d]``, bool ``[b, G]``). ``aux["features"]`` is the
  mean of the decoder's input latent ``[b, width]``.
  """

  def setup(self):
    super().setup()
    present = tuple(m for m in MODALITIES if m in self.modalities)
    self.decoder = PixelDecoder(self.spec, present, self.dtype,
                                self.param_dtype)

  def __call__(self, batch: Mapping[str, jax.Array], train: bool = False):
    s = self.spec
    k_video, k_imu, k_graph = jax.random.split(self.make_rng("masking"), 3)
    outputs: dict[str, Any] = {}
    visible: dict[str, jax.Array] = {}
    masks: dict[str, masking.TokenMask] = {}

    if "imu" in self.modalities:
      x = self._spec_input(batch)
      b = x.shape[0]
      tokens = self.imu_tokens(x)
      masks["imu"] = masking.imu_mask(k_imu, b, s.imu_grid, s.imu_mask_ratio,
                                      s.imu_mask_mode)
      visible["imu"] = self.encode_imu(tokens, train, masks["imu"])
      outputs["imu"] = {"target": self._target(x, s.imu_patch),
                        "mask": masks["imu"].mask}
      if s.use_graph:
        nodes = self.imu_nodes(tokens, train)
        node_mask = masking.node_mask(k_graph, b, nodes.shape[1],
                                      s.graph_mask_ratio)
        _, recon = self.graph(nodes, train, node_mask)
        target = (jax.lax.stop_gradient(nodes)
                  if s.graph_target_stop_gradient else nodes)
        outputs["graph"] = {"pred": recon.astype(jnp.float32),
                            "target": target.astype(jnp.float32),
                            "mask": node_mask}

    if "video" in self.modalities:
      frames = self._frames_input(batch)
      masks["video"] = masking.video_mask(k_video, frames.shape[0],
                                          s.video_grid, s.video_mask_ratio,
                                          s.video_mask_mode)
      visible["video"] = self.encode_video(frames, train, masks["video"])
      outputs["video"] = {"target": self._target(frames, s.video_patch_shape),
                          "mask": masks["video"].mask}

    streams = {m: self.unify({m: visible[m]}, train, m) for m in visible}
    if self.multimodal:
      joint = self.unify(visible, train, "joint")
      n_imu = visible["imu"].shape[1]
      latents = {"imu": joint[:, :n_imu], "video": joint[:, n_imu:]}
    else:
      joint = streams[self.modalities[0]]
      latents = dict(streams)
    preds = self.decoder(latents, masks, train)
    for m, p in preds.items():
      outputs[m]["pred"] = p.astype(jnp.float32)
    outputs["features"] = {m: h.mean(axis=1).astype(jnp.float32)
                           for m, h in streams.items()}
    aux = {"features": joint.mean(axis=1).astype(jnp.float32)}
    return outputs, aux

  def _target(self, x: jax.Array, patch) -> jax.Array:
    t = layers.patchify(x.astype(jnp.float32), patch)
    return layers.normalize_patches(t) if self.spec.norm_pix_loss else t


class EVIMAEClassifier(_Towers):
  """Fine-tuning / from-scratch classifier: decoders dropped, no masking.

  ``modalities`` picks the mode: ``("imu", "video")`` (IMU+video: joint
  stream over all tokens), ``("imu",)`` or ``("video",)`` (the modality's own
  stream). The mean-pooled unified output is concatenated with the
  mean-pooled graph-encoder output (when the IMU is used and the graph is
  on), then ``head_norm`` (LayerNorm) and the linear ``head``, as the
  authors' ``mlp_head``.

  Evaluation option (set with ``model.clone(...)`` for a test pass):
  ``drop_modality`` runs a multimodal model without ``"imu"`` or
  ``"video"``; the joint stream sees only the remaining tokens and a missing
  graph feature is zeros. (Degraded video is applied to the batch by the
  trainer for any video model: ``models/video_degradation.py``.)

  Returns ``(logits [b, num_classes], aux)``, ``aux["features"]`` the head's
  input ``[b, d]``.
  """
  num_classes: int = 3
  drop_modality: str = ""

  def setup(self):
    super().setup()
    s = self.spec
    self.head_norm = nn.LayerNorm(epsilon=s.norm_eps, dtype=self.dtype,
                                  param_dtype=self.param_dtype)
    self.head = nn.Dense(self.num_classes, kernel_init=layers.dense_init,
                         dtype=self.dtype, param_dtype=self.param_dtype)

  @property
  def uses_graph(self) -> bool:
    return "imu" in self.modalities and self.spec.use_graph

  def __call__(self, batch: Mapping[str, jax.Array], train: bool = False):
    s = self.spec
    if self.drop_modality and self.drop_modality not in self.modalities:
      raise ValueError(f"drop_modality={self.drop_modality!r} is not one of "
                       f"the model's modalities {self.modalities}")
    active = [m for m in self.modalities if m != self.drop_modality]
    if not active:
      raise ValueError("drop_modality leaves no modality to classify from")
    tokens: dict[str, jax.Array] = {}
    graph_feat = None
    if "imu" in active:
      imu = self.imu_tokens(self._spec_input(batch))
      tokens["imu"] = self.encode_imu(imu, train)
      if self.uses_graph:
        enc, _ = self.graph(self.imu_nodes(imu, train), train)
        graph_feat = enc.mean(axis=1)
    if "video" in active:
      frames = self._frames_input(batch)
      tokens["video"] = self.encode_video(frames, train)

    stream = "joint" if self.multimodal else self.modalities[0]
    feat = self.unify(tokens, train, stream).mean(axis=1)
    unified_feat = feat
    if self.uses_graph:
      if graph_feat is None:  # IMU dropped at test time
        graph_feat = jnp.zeros((feat.shape[0], s.graph_hidden), feat.dtype)
      feat = jnp.concatenate([feat, graph_feat.astype(feat.dtype)], axis=-1)
    logits = self.head(self.head_norm(feat))
    aux = {"features": feat.astype(jnp.float32),
           "unified_features": unified_feat.astype(jnp.float32)}
    if graph_feat is not None:
      aux["graph_features"] = graph_feat.astype(jnp.float32)
    return logits.astype(jnp.float32), aux


# --------------------------------------------------------------------------
# Registry constructors (``config.model.name`` -> these, other fields kwargs).


def create(variant: str = "S", modalities: Sequence[str] = MODALITIES,
           dtype: Any = "float32", param_dtype: Any = "float32",
           **spec_overrides) -> EVIMAE:
  """``evimae``: the pretraining model; spec fields override the variant."""
  return EVIMAE(spec=make_spec(variant, **spec_overrides),
                modalities=tuple(modalities), dtype=as_dtype(dtype),
                param_dtype=as_dtype(param_dtype))


def create_classifier(variant: str = "S", num_classes: int = 3,
                      modalities: Sequence[str] = MODALITIES,
                      drop_modality: str = "",
                      dtype: Any = "float32", param_dtype: Any = "float32",
                      **spec_overrides) -> EVIMAEClassifier:
  """``evimae_classifier``: fine-tuning (or from scratch) classifier."""
  return EVIMAEClassifier(
      spec=make_spec(variant, **spec_overrides), modalities=tuple(modalities),
      dtype=as_dtype(dtype), param_dtype=as_dtype(param_dtype),
      num_classes=num_classes,
      drop_modality=drop_modality)
