"""CrossHAR (Hong et al., IMWUT 2024): hierarchical self-supervised IMU model.

A LIMU-BERT-style encoder pretrained first by masked reconstruction, then by
``6 * reconstruction + 1 * NT-Xent`` over two augmented views; a small
transformer classifier (``Transformer_ft``) then reads the frozen encoder's
per-step embeddings. The reference is ``kingdomrush2/CrossHAR`` (no package,
no released weights); this is a re-implementation from its description.

Input (both models): ``batch["imu"]`` float32 ``[b, T, 6]`` (acc xyz, gyro
xyz; ``T = 1000`` at 200 Hz in this repository), resampled in-model by linear
interpolation to ``seq_len = round(rate_hz * window_seconds)`` steps
(``resample``; CrossHAR's data are 20 Hz, 120 steps), then standardised per
window and channel over time (``instance_norm``, torch ``InstanceNorm1d``).
The pretraining model also takes ``batch["views"]`` ``[b, V, T', 6]``, the
augmented views the ``crosshar_pretrain`` task builds (``crosshar_augment``);
without it, ``imu`` is the only view.

Modules (parameter paths in parentheses):

* ``Encoder`` (``encoder/``): ``embed`` Linear(6 -> hidden) -> ``embed_norm``
  -> + learned ``pos_embed`` ``[seq_len, hidden]`` -> ``embed_norm`` again
  (the reference applies its one TF-style LayerNorm, eps 1e-12, twice) ->
  ``block`` applied ``n_layers`` times with one set of weights (ALBERT-style
  sharing). The block is post-norm and has no residual around attention:
  ``h = attn(h); h = LN(h + proj(h)); h = LN(h + FFN(h))`` with an erf-GELU
  FFN.
* ``Decoder`` (``decoder/``): Linear(hidden, hidden) -> GELU -> LayerNorm ->
  Linear(hidden, 6); the loss is the MSE on masked steps.
* ``ContrastiveHead`` (``contrastive/``): Linear(hidden -> 100), a learned CLS
  token, one pre-norm transformer layer (4 heads with the reference's
  ``dim ** -0.5`` attention scale, ReLU MLP 64, dropout 0.1), then the CLS
  output -> Linear(36) -> BatchNorm -> ReLU -> Linear(18).
* ``TransformerFT`` (``head/``, the classifier): Linear(hidden -> 100) + fixed
  sinusoidal positions, one post-norm ``nn.TransformerEncoderLayer``
  (4 heads, ReLU FFN 2048, dropout 0.1), mean over time, Linear(classes).

Linear layers (``Linear``) take PyTorch's default init, biases included.
The spec and presets live in ``crosshar_spec``, resampling, normalisation and
masking in ``crosshar_input``, the modules above in ``crosshar_layers``.

Masking (``span_mask``): spans of geometric length (p 0.2, at most
``max_span`` = 10) at anchors drawn uniformly among unmasked steps until
``round(0.15 * seq_len)`` steps are masked, exactly that many per view; the
masked steps of a view are zeroed with probability ``mask_prob`` = 0.8 (else
left as they are: the reference's ``replace_prob`` is 0).

Differences from the reference, on purpose:

* Span anchors may be the last step (the reference's ``range(anchor,
  min(anchor + n, seq_len - 1))`` never masks it).
* The contrastive BatchNorm normalises with the biased batch variance and
  keeps it as the running variance (flax); torch keeps the unbiased one.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from egoimu_jax.models import presets
from egoimu_jax.models.crosshar_input import (apply_mask, instance_norm,
                                              resample, span_mask)
from egoimu_jax.models.crosshar_layers import (ContrastiveHead, Decoder,
                                               Encoder, TransformerFT)
from egoimu_jax.models.crosshar_spec import (NUM_CHANNELS, CrossHARSpec,
                                             make_spec, seq_len_of)

Dtype = Any


class _Base(nn.Module):
  """Shared fields: the spec and the input rate."""
  spec: CrossHARSpec
  rate_hz: float = 20.0
  window_seconds: float = 5.0
  antialias: bool = False
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @property
  def seq_len(self) -> int:
    return seq_len_of(self.rate_hz, self.window_seconds)

  def _encoder(self) -> Encoder:
    return Encoder(self.spec, self.seq_len, self.dtype, self.param_dtype,
                   name="encoder")

  def prepare(self, x: jax.Array) -> jax.Array:
    """Resampled to ``seq_len`` and instance-normalised (float32)."""
    return instance_norm(resample(x, self.seq_len, self.antialias))


class CrossHAR(_Base):
  """Pretraining model: ``apply(variables, batch, train=..., rngs={"masking":
  k1, "dropout": k2}, mutable=["batch_stats"])``.

  Returns ``(outputs, aux)``:

  * ``outputs["recon"]``: ``pred`` and ``target`` float32 ``[b, V, L, 6]``
    (the decoder's output at every step; the normalised view) and ``mask``
    bool ``[b, V, L]`` (the steps the loss scores);
  * ``outputs["projections"]``: float32 ``[b, V, projection_dim]``, the
    contrastive branch's output per view (NT-Xent pairs views 0 and 1);
  * ``aux["features"]``: the time-mean of view 0's encoder output
    ``[b, hidden]``.

  Each view gets its own span mask; the contrastive branch reads the masked
  views' encodings and runs once per view, so its BatchNorm sees one view's
  batch at a time (as the reference calls it per view).
  """

  @nn.compact
  def __call__(self, batch: Mapping[str, jax.Array], train: bool = False):
    s = self.spec
    views = batch.get("views")
    if views is None:
      views = batch["imu"][:, None]
    b, v = views.shape[:2]
    x = self.prepare(views.reshape((b * v,) + views.shape[2:]))
    k_mask, k_zero = jax.random.split(self.make_rng("masking"))
    m = span_mask(k_mask, b * v, self.seq_len, s.mask_ratio, s.max_span,
                  s.span_p).mask
    h = self._encoder()(apply_mask(k_zero, x, m, s.mask_prob).astype(
        self.dtype or jnp.float32))
    pred = Decoder(s, self.dtype, self.param_dtype, name="decoder")(h)
    head = ContrastiveHead(s, self.dtype, self.param_dtype, name="contrastive")
    hv = h.reshape((b, v) + h.shape[1:])
    z = jnp.stack([head(hv[:, i], train) for i in range(v)], axis=1)
    shape = (b, v, self.seq_len)
    outputs = {"recon": {"pred": pred.astype(jnp.float32).reshape(
                             shape + (NUM_CHANNELS,)),
                         "target": x.reshape(shape + (NUM_CHANNELS,)),
                         "mask": m.reshape(shape)},
               "projections": z.astype(jnp.float32)}
    aux = {"features": hv[:, 0].mean(axis=1).astype(jnp.float32)}
    return outputs, aux


class CrossHARClassifier(_Base):
  """Classifier: ``encoder`` (as in ``CrossHAR``) + ``head``
  (``TransformerFT``). No masking.

  ``freeze_encoder`` stops gradients at the encoder's output: the head
  learns on fixed embeddings, the reference's downstream recipe. (Optimizer
  weight decay would still shrink the encoder; configs pair it with
  ``optim.freeze``, see ``configs/crosshar.py``.) Fine-tuning restores
  everything but ``head/`` (the ``finetune`` task's default ``fresh``).

  Returns ``(logits [b, num_classes], aux)``; ``aux["features"]`` is the
  head's pooled input to its last Linear ``[b, head_width]``,
  ``aux["embeddings"]`` the time-mean encoder output ``[b, hidden]``.
  """
  num_classes: int = 3
  freeze_encoder: bool = False

  @nn.compact
  def __call__(self, batch: Mapping[str, jax.Array], train: bool = False):
    x = self.prepare(batch["imu"])
    h = self._encoder()(x.astype(self.dtype or jnp.float32))
    if self.freeze_encoder:
      h = jax.lax.stop_gradient(h)
    logits, pooled = TransformerFT(self.spec, self.num_classes, self.dtype,
                                   self.param_dtype, name="head")(h, train)
    aux = {"features": pooled.astype(jnp.float32),
           "embeddings": h.mean(axis=1).astype(jnp.float32)}
    return logits.astype(jnp.float32), aux


# --------------------------------------------------------------------------
# Registry constructors (``config.model.name`` -> these, other fields kwargs).


def create(variant: str = "base", rate_hz: float = 20.0,
           window_seconds: float = 5.0, antialias: bool = False,
           dtype: Any = "float32", param_dtype: Any = "float32",
           **spec_overrides) -> CrossHAR:
  """``crosshar``: the pretraining model; spec fields override the variant."""
  return CrossHAR(spec=make_spec(variant, **spec_overrides),
                  rate_hz=float(rate_hz), window_seconds=float(window_seconds),
                  antialias=bool(antialias), dtype=presets.as_dtype(dtype),
                  param_dtype=presets.as_dtype(param_dtype))


def create_classifier(variant: str = "base", num_classes: int = 3,
                      freeze_encoder: bool = False,
                      modalities: Sequence[str] = ("imu",),
                      rate_hz: float = 20.0, window_seconds: float = 5.0,
                      antialias: bool = False, dtype: Any = "float32",
                      param_dtype: Any = "float32",
                      **spec_overrides) -> CrossHARClassifier:
  """``crosshar_classifier``. ``modalities`` is accepted because the
  ``pretrain_finetune`` job sets it on every classifier; it must be
  ``("imu",)``."""
  if tuple(modalities) != ("imu",):
    raise ValueError("crosshar_classifier classifies from IMU only, got "
                     f"modalities={tuple(modalities)}")
  return CrossHARClassifier(
      spec=make_spec(variant, **spec_overrides), rate_hz=float(rate_hz),
      window_seconds=float(window_seconds), antialias=bool(antialias),
      dtype=presets.as_dtype(dtype), param_dtype=presets.as_dtype(param_dtype),
      num_classes=num_classes, freeze_encoder=bool(freeze_encoder))


# --------------------------------------------------------------------------
# FLOP counts (models.FLOPS): matmuls only, 2 per multiply-add.


def _encoder_flops(s: CrossHARSpec, n: int) -> float:
  block = 8 * n * s.hidden ** 2 + 4 * n * n * s.hidden + 4 * n * s.hidden * s.ff
  return 2.0 * n * NUM_CHANNELS * s.hidden + s.n_layers * block


def pretrain_flops(variant: str = "base", rate_hz: float = 20.0,
                   window_seconds: float = 5.0, **overrides: Any) -> float:
  """Forward FLOPs per example of ``crosshar`` (two views)."""
  s = make_spec(variant, **_spec_fields(overrides))
  n = seq_len_of(rate_hz, window_seconds)
  c = s.contrastive_width
  decoder = 2.0 * n * s.hidden * (s.hidden + NUM_CHANNELS)
  contrastive = (2.0 * n * s.hidden * c + 8 * (n + 1) * c * c +
                 4 * (n + 1) ** 2 * c + 4 * (n + 1) * c * s.contrastive_mlp +
                 2.0 * c * s.projection_hidden +
                 2.0 * s.projection_hidden * s.projection_dim)
  return 2 * (_encoder_flops(s, n) + decoder + contrastive)


def classifier_flops(variant: str = "base", rate_hz: float = 20.0,
                     window_seconds: float = 5.0, num_classes: int = 3,
                     **overrides: Any) -> float:
  """Forward FLOPs per example of ``crosshar_classifier``."""
  s = make_spec(variant, **_spec_fields(overrides))
  n = seq_len_of(rate_hz, window_seconds)
  d = s.head_width
  head = (2.0 * n * s.hidden * d + s.head_layers * (
      8 * n * d * d + 4 * n * n * d + 4 * n * d * s.head_ff) +
          2.0 * d * num_classes)
  return _encoder_flops(s, n) + head


def _spec_fields(overrides: Mapping[str, Any]) -> dict[str, Any]:
  skip = {"dtype", "param_dtype", "num_classes", "freeze_encoder",
          "modalities", "antialias"}
  return {k: v for k, v in overrides.items() if k not in skip}

