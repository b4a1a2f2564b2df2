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

import dataclasses
import math
from typing import Any, Mapping, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax.models import layers

Dtype = Any
NUM_CHANNELS = 6

# PyTorch nn.Linear's kernel init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
torch_linear_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in",
                                                     "uniform")


@dataclasses.dataclass(frozen=True)
class CrossHARSpec:
  """Sizes of the encoder, decoder, contrastive branch and classifier."""
  # Encoder (the reference's ``base_v1``: config/limu_bert.json).
  hidden: int = 72
  heads: int = 4
  ff: int = 144
  n_layers: int = 1
  emb_norm: bool = True
  norm_eps: float = 1e-12
  # Span masking.
  mask_ratio: float = 0.15
  max_span: int = 10
  span_p: float = 0.2
  mask_prob: float = 0.8
  # Contrastive branch (``Contrastive.py``).
  contrastive_width: int = 100
  contrastive_heads: int = 4
  contrastive_mlp: int = 64
  contrastive_dropout: float = 0.1
  projection_hidden: int = 36
  projection_dim: int = 18
  # Classifier (``Transformer_ft``, config/classifier.json).
  head_width: int = 100
  head_heads: int = 4
  head_ff: int = 2048
  head_layers: int = 1
  head_dropout: float = 0.1

  def __post_init__(self):
    errors = []
    for name, w, h in (("hidden", self.hidden, self.heads),
                       ("contrastive_width", self.contrastive_width,
                        self.contrastive_heads),
                       ("head_width", self.head_width, self.head_heads)):
      if w % h:
        errors.append(f"{name}={w} not divisible by {h} heads")
    if self.n_layers < 1 or self.head_layers < 1:
      errors.append("n_layers and head_layers must be >= 1")
    if not 0.0 < self.mask_ratio < 1.0:
      errors.append(f"mask_ratio={self.mask_ratio} not in (0, 1)")
    if self.max_span < 1 or not 0.0 < self.span_p <= 1.0:
      errors.append(f"max_span={self.max_span} / span_p={self.span_p}")
    if errors:
      raise ValueError("invalid CrossHAR spec: " + "; ".join(errors))


VARIANTS: dict[str, dict[str, Any]] = {
    # The reference's sizes. Its base_v1 config sets n_layers = 1 (LIMU-BERT's
    # own base_v1 shares one block over 4 layers).
    "base": {},
    # CPU tests and demos; two layers so that the weight sharing is exercised.
    "tiny": dict(hidden=24, heads=2, ff=48, n_layers=2, contrastive_width=32,
                 contrastive_heads=2, contrastive_mlp=16, projection_hidden=12,
                 projection_dim=6, head_width=32, head_heads=2, head_ff=64),
}


def make_spec(variant: str = "base", **overrides) -> CrossHARSpec:
  if variant not in VARIANTS:
    raise KeyError(f"unknown CrossHAR variant {variant!r}; known: "
                   f"{sorted(VARIANTS)}")
  fields = {f.name for f in dataclasses.fields(CrossHARSpec)}
  unknown = sorted(set(overrides) - fields)
  if unknown:
    raise TypeError(f"unknown CrossHAR spec fields {unknown}")
  return CrossHARSpec(**{**VARIANTS[variant], **overrides})


def as_dtype(d: Any) -> Any:
  return jnp.dtype(d) if isinstance(d, str) else d


def seq_len_of(rate_hz: float, window_seconds: float) -> int:
  """Model steps per window, ``round(rate_hz * window_seconds)``."""
  n = int(round(rate_hz * window_seconds))
  if n < 2:
    raise ValueError(f"rate_hz={rate_hz} x window_seconds={window_seconds} "
                     "gives fewer than 2 steps")
  return n


# --------------------------------------------------------------------------
# Input: resampling, normalisation, masking.


def resample(x: jax.Array, length: int, antialias: bool = False) -> jax.Array:
  """``[..., T, C] -> [..., length, C]`` by linear interpolation in time.

  Sample centres are aligned (``jax.image.resize``'s half-sample
  convention): output step ``j`` reads input position
  ``(j + 0.5) * T / length - 0.5``, so 1000 -> 100 averages samples
  ``10j + 4`` and ``10j + 5``. ``antialias`` widens the interpolation kernel
  by the downsampling factor (a triangle low-pass); the reference's 20 Hz
  data were plainly decimated, so it is off by default.
  """
  t, c = x.shape[-2:]
  if t == length:
    return x
  flat = x.reshape((-1, t, c))
  out = jax.image.resize(flat.astype(jnp.float32), (flat.shape[0], length, c),
                         method="linear", antialias=antialias)
  return out.reshape(x.shape[:-2] + (length, c)).astype(x.dtype)


def instance_norm(x: jax.Array, eps: float = 1e-5) -> jax.Array:
  """Per window and channel over time (``InstanceNorm1d``, no affine)."""
  x = x.astype(jnp.float32)
  mean = x.mean(axis=-2, keepdims=True)
  var = jnp.mean(jnp.square(x - mean), axis=-2, keepdims=True)
  return (x - mean) * jax.lax.rsqrt(var + eps)


def num_masked(length: int, ratio: float) -> int:
  """The reference's count: ``max(1, round(length * ratio))``."""
  return max(1, int(round(length * ratio)))


def span_length_probs(max_span: int, p: float) -> np.ndarray:
  """``P(n) ∝ p (1 - p) ** (n - 1)`` for ``n = 1..max_span``."""
  probs = p * np.power(1.0 - p, np.arange(max_span))
  return probs / probs.sum()


def sample_span_lengths(rng: jax.Array, shape: Sequence[int], max_span: int,
                        p: float) -> jax.Array:
  """int32 span lengths in ``1..max_span`` (truncated geometric)."""
  logits = jnp.log(jnp.asarray(span_length_probs(max_span, p), jnp.float32))
  return (jax.random.categorical(rng, logits, shape=tuple(shape)) +
          1).astype(jnp.int32)


class SpanMask(NamedTuple):
  mask: jax.Array     # bool [b, L], True = masked
  span_id: jax.Array  # int32 [b, L]: the span that masked a step, -1 if none


def span_mask(rng: jax.Array, batch: int, length: int, ratio: float = 0.15,
              max_span: int = 10, p: float = 0.2) -> SpanMask:
  """Span masking with exactly ``num_masked(length, ratio)`` steps per row.

  Round ``i`` draws a length ``n_i`` (``sample_span_lengths``) and an anchor
  uniformly among the still unmasked steps, and masks the unmasked steps of
  ``[anchor, anchor + min(n_i, remaining))``. Every round that has steps to
  go masks at least its anchor, so ``count`` rounds reach the count exactly
  (the reference retries anchors that are already masked, which is the same
  distribution). Spans may touch or overlap earlier ones; each span's steps
  lie within ``max_span`` consecutive steps.
  """
  count = num_masked(length, ratio)
  if count > length:
    raise ValueError(f"cannot mask {count} of {length} steps")
  k_len, k_anchor = jax.random.split(rng)
  lengths = sample_span_lengths(k_len, (count, batch), max_span, p)
  noise = jax.random.uniform(k_anchor, (count, batch, length))
  pos = jnp.arange(length)

  def body(i, span_id):
    masked = span_id >= 0
    remaining = count - masked.sum(axis=1)
    anchor = jnp.argmax(jnp.where(masked, -1.0, noise[i]), axis=1)
    end = anchor + jnp.minimum(lengths[i], remaining)
    new = ((pos >= anchor[:, None]) & (pos < end[:, None]) & ~masked)
    return jnp.where(new, i, span_id)

  span_id = jax.lax.fori_loop(0, count, body,
                              jnp.full((batch, length), -1, jnp.int32))
  return SpanMask(span_id >= 0, span_id)


def apply_mask(rng: jax.Array, x: jax.Array, mask: jax.Array,
               prob: float = 0.8) -> jax.Array:
  """Zeroes the masked steps of each row of ``x [b, L, C]`` with probability
  ``prob`` (one draw per row, as the reference); other rows are unchanged."""
  zero = jax.random.bernoulli(rng, prob, (x.shape[0],))
  hide = mask & zero[:, None]
  return jnp.where(hide[..., None], jnp.zeros_like(x), x)


# --------------------------------------------------------------------------
# Layers.


class Linear(nn.Module):
  """``nn.Dense`` with PyTorch's ``nn.Linear`` init: kernel and bias both
  ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.

  The bias matters here: with zero biases a zeroed (masked) step embeds to
  the zero vector, where the reference's eps-1e-12 LayerNorm has gradients
  of order 1e6.
  """
  features: int
  use_bias: bool = True
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    fan_in = x.shape[-1]
    kernel = self.param("kernel", torch_linear_init, (fan_in, self.features),
                        self.param_dtype)
    dtype = self.dtype or jnp.result_type(x, kernel)
    y = jnp.dot(x.astype(dtype), kernel.astype(dtype))
    if self.use_bias:
      bound = 1.0 / math.sqrt(fan_in)
      bias = self.param(
          "bias", lambda k, shape, dt: jax.random.uniform(
              k, shape, dt, -bound, bound), (self.features,), self.param_dtype)
      y = y + bias.astype(dtype)
    return y


def _dense(features: int, name: str, dtype, param_dtype,
           use_bias: bool = True) -> Linear:
  return Linear(features, use_bias, dtype, param_dtype, name=name)


class SelfAttention(nn.Module):
  """Multi-head self-attention with ``query``/``key``/``value`` (+ ``out``).

  ``scale`` multiplies the logits (default ``head_dim ** -0.5``);
  ``out_proj=False`` returns the merged heads without an output projection
  (LIMU-BERT's block projects outside). ``dropout`` drops attention
  probabilities (and the output, if projected) in training.
  """
  num_heads: int
  scale: float | None = None
  qkv_bias: bool = True
  out_proj: bool = True
  dropout: float = 0.0
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    b, n, d = x.shape
    hd = d // self.num_heads
    q, k, v = (_dense(d, name, self.dtype, self.param_dtype,
                      self.qkv_bias)(x).reshape(b, n, self.num_heads, hd)
               for name in ("query", "key", "value"))
    scale = hd ** -0.5 if self.scale is None else self.scale
    logits = jnp.einsum("bqhd,bkhd->bhqk", q, k).astype(jnp.float32) * scale
    probs = jax.nn.softmax(logits, axis=-1)
    probs = nn.Dropout(self.dropout)(probs, deterministic=not train)
    y = jnp.einsum("bhqk,bkhd->bqhd", probs.astype(v.dtype), v)
    y = y.reshape(b, n, d)
    if self.out_proj:
      y = _dense(d, "out", self.dtype, self.param_dtype)(y)
      y = nn.Dropout(self.dropout)(y, deterministic=not train)
    return y


class SharedBlock(nn.Module):
  """LIMU-BERT's block: ``h = attn(h); h = LN(h + proj(h)); h = LN(h +
  FFN(h))``, post-norm, no residual around attention, no dropout."""
  heads: int
  ff: int
  norm_eps: float = 1e-12
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, h: jax.Array) -> jax.Array:
    d = h.shape[-1]
    dense = lambda f, name: _dense(  # noqa: E731
        f, name, self.dtype, self.param_dtype)
    norm = lambda name: nn.LayerNorm(  # noqa: E731
        epsilon=self.norm_eps, use_fast_variance=False, dtype=self.dtype,
        param_dtype=self.param_dtype, name=name)
    h = SelfAttention(self.heads, out_proj=False, dtype=self.dtype,
                      param_dtype=self.param_dtype, name="attn")(h)
    h = norm("norm1")(h + dense(d, "proj")(h))
    ffn = dense(d, "fc2")(layers.gelu(dense(self.ff, "fc1")(h)))
    return norm("norm2")(h + ffn)


class Encoder(nn.Module):
  """``[b, L, 6]`` (normalised, possibly masked) -> ``[b, L, hidden]``."""
  spec: CrossHARSpec
  seq_len: int
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    s = self.spec
    if x.shape[1] != self.seq_len:
      raise ValueError(f"encoder expects {self.seq_len} steps, got "
                       f"{x.shape[1]}")
    norm = nn.LayerNorm(epsilon=s.norm_eps, use_fast_variance=False,
                        dtype=self.dtype, param_dtype=self.param_dtype,
                        name="embed_norm")
    pos = self.param("pos_embed", nn.initializers.normal(1.0),
                     (self.seq_len, s.hidden), self.param_dtype)
    h = _dense(s.hidden, "embed", self.dtype, self.param_dtype)(x)
    if s.emb_norm:
      h = norm(h)
    h = norm(h + pos.astype(h.dtype))
    block = SharedBlock(s.heads, s.ff, s.norm_eps, self.dtype,
                        self.param_dtype, name="block")
    for _ in range(s.n_layers):  # one parameter set, n_layers applications
      h = block(h)
    return h


class Decoder(nn.Module):
  """Per-step reconstruction ``[b, L, hidden] -> [b, L, 6]``."""
  spec: CrossHARSpec
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, h: jax.Array) -> jax.Array:
    s = self.spec
    h = layers.gelu(_dense(s.hidden, "fc", self.dtype, self.param_dtype)(h))
    h = nn.LayerNorm(epsilon=s.norm_eps, use_fast_variance=False,
                     dtype=self.dtype, param_dtype=self.param_dtype,
                     name="norm")(h)
    return _dense(NUM_CHANNELS, "out", self.dtype, self.param_dtype)(h)


class ContrastiveHead(nn.Module):
  """CLS transformer over the encoder's steps -> projection ``[b, 18]``."""
  spec: CrossHARSpec
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, h: jax.Array, train: bool = False) -> jax.Array:
    s = self.spec
    c = s.contrastive_width
    dense = lambda f, name, bias=True: _dense(  # noqa: E731
        f, name, self.dtype, self.param_dtype, bias)
    norm = lambda name: nn.LayerNorm(  # noqa: E731
        epsilon=1e-5, dtype=self.dtype, param_dtype=self.param_dtype,
        name=name)
    drop = lambda y: nn.Dropout(s.contrastive_dropout)(  # noqa: E731
        y, deterministic=not train)
    x = dense(c, "embed")(h)
    cls = self.param("cls", nn.initializers.normal(1.0), (1, 1, c),
                     self.param_dtype)
    x = jnp.concatenate(
        [jnp.broadcast_to(cls.astype(x.dtype), (x.shape[0], 1, c)), x], 1)
    # Pre-norm layer; the reference scales logits by the full width ** -0.5.
    y = SelfAttention(s.contrastive_heads, scale=c ** -0.5, qkv_bias=False,
                      dtype=self.dtype, param_dtype=self.param_dtype,
                      name="attn")(norm("norm1")(x), train)
    # (SelfAttention's dropout is 0 here: the reference drops only after the
    # output projection, which ``drop`` does.)
    x = x + drop(y)
    y = dense(s.contrastive_mlp, "fc1")(norm("norm2")(x))
    y = dense(c, "fc2")(drop(nn.relu(y)))
    x = x + drop(y)
    z = dense(s.projection_hidden, "proj1")(x[:, 0])
    z = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                     epsilon=1e-5, dtype=self.dtype,
                     param_dtype=self.param_dtype, name="proj_bn")(z)
    return dense(s.projection_dim, "proj2")(nn.relu(z))


class TransformerFT(nn.Module):
  """The reference's ``Transformer_ft`` classifier over ``[b, L, hidden]``.

  Returns ``(logits [b, num_classes], pooled [b, head_width])``.
  """
  spec: CrossHARSpec
  num_classes: int
  dtype: Dtype | None = None
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, h: jax.Array, train: bool = False):
    s = self.spec
    d = s.head_width
    dense = lambda f, name: _dense(  # noqa: E731
        f, name, self.dtype, self.param_dtype)
    drop = lambda y: nn.Dropout(s.head_dropout)(  # noqa: E731
        y, deterministic=not train)
    x = dense(d, "embed")(h)
    x = x + jnp.asarray(layers.sincos_1d(x.shape[1], d), x.dtype)
    for i in range(s.head_layers):
      # torch nn.TransformerEncoderLayer (post-norm, ReLU).
      norm = lambda name: nn.LayerNorm(  # noqa: E731
          epsilon=1e-5, dtype=self.dtype, param_dtype=self.param_dtype,
          name=f"layer_{i}_{name}")
      y = SelfAttention(s.head_heads, dropout=s.head_dropout,
                        dtype=self.dtype, param_dtype=self.param_dtype,
                        name=f"layer_{i}_attn")(x, train)
      x = norm("norm1")(x + y)
      y = dense(s.head_ff, f"layer_{i}_fc1")(x)
      y = dense(d, f"layer_{i}_fc2")(drop(nn.relu(y)))
      x = norm("norm2")(x + drop(y))
    pooled = x.mean(axis=1)
    return dense(self.num_classes, "fc")(pooled), pooled


# --------------------------------------------------------------------------
# Models.


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
                  antialias=bool(antialias), dtype=as_dtype(dtype),
                  param_dtype=as_dtype(param_dtype))


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
      dtype=as_dtype(dtype), param_dtype=as_dtype(param_dtype),
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

