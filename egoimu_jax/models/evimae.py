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

from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from egoimu_jax.models import layers
from egoimu_jax.models import masking
from egoimu_jax.models import presets
from egoimu_jax.models.evimae_blocks import (IMUGraph, IMUTokens, PixelDecoder,
                                             VideoTokens, pool_width,
                                             sample_frames)
from egoimu_jax.models.evimae_spec import EVIMAESpec, make_spec

Dtype = Any
MODALITIES = ("imu", "video")


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
                modalities=tuple(modalities), dtype=presets.as_dtype(dtype),
                param_dtype=presets.as_dtype(param_dtype))


def create_classifier(variant: str = "S", num_classes: int = 3,
                      modalities: Sequence[str] = MODALITIES,
                      drop_modality: str = "",
                      dtype: Any = "float32", param_dtype: Any = "float32",
                      **spec_overrides) -> EVIMAEClassifier:
  """``evimae_classifier``: fine-tuning (or from scratch) classifier."""
  return EVIMAEClassifier(
      spec=make_spec(variant, **spec_overrides), modalities=tuple(modalities),
      dtype=presets.as_dtype(dtype), param_dtype=presets.as_dtype(param_dtype),
      num_classes=num_classes,
      drop_modality=drop_modality)
