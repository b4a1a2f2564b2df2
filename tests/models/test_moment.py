"""MOMENT: shapes and parameter counts, RevIN and resampling against numpy and
torch, T5's position buckets against transformers, the analytic FLOP count
against XLA's, the checkpoint importer, and parity of logits, tokens and
gradients with ``momentfm``'s ``MOMENTPipeline`` (0.1.4, random weights,
built offline from a flan-t5-shaped ``t5_config`` with transformers 5.24)."""

import functools
import importlib.util
import json
import os
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jit_testlib
import model_testlib
from egoimu_jax import durations
from egoimu_jax import jobs
from egoimu_jax import models
from egoimu_jax.models import interpolate
from egoimu_jax.models import layers
from egoimu_jax.models import moment
from egoimu_jax.models import t5 as t5_lib
from egoimu_jax.models import torch_convert
from egoimu_jax.models import transfer
from egoimu_jax.models.convert import moment as convert

KEY = jax.random.key(0)
LENGTH, CHANNELS = 1000, 6
# momentfm config of the "tiny" variant (flan-t5-small layout, small sizes).
T5_TINY = dict(d_model=32, d_ff=64, num_layers=2, num_heads=2, d_kv=16,
               feed_forward_proj="gated-gelu", dense_act_fn="gelu_new",
               relative_attention_num_buckets=32,
               relative_attention_max_distance=128, layer_norm_epsilon=1e-6,
               dropout_rate=0.1, vocab_size=100, is_encoder_decoder=False,
               use_cache=False)
CONFIG = dict(task_name="classification", model_name="MOMENT",
              transformer_type="encoder_only", d_model=None, seq_len=512,
              patch_len=8, patch_stride_len=8,
              transformer_backbone="google/flan-t5-small",
              t5_config=T5_TINY, revin_affine=False,
              value_embedding_bias=False, add_positional_embedding=True,
              freeze_embedder=False, freeze_encoder=False,
              enable_gradient_checkpointing=False)


def _imu(b=2, length=LENGTH, seed=0):
  rng = np.random.default_rng(seed)
  # Offsets and scales per channel: RevIN has something to remove.
  return (rng.normal(size=(b, length, CHANNELS)) * rng.uniform(0.5, 3.0, 6)
          + rng.uniform(-2, 2, 6)).astype(np.float32)


def _mask(b=2, length=LENGTH):
  """Gaps that cut patches: a leading one, one mid-window, one tiny."""
  m = np.ones((b, length), np.float32)
  m[0, :37] = 0
  m[1, length // 2:length // 2 + 55] = 0
  m[1, length - 99] = 0
  return m


def _init(model, b=2, length=LENGTH):
  x = jnp.asarray(_imu(b, length))
  return jax.jit(lambda x: model.init(KEY, {"imu": x}, train=False))(x)


def _param_count(m, channels=CHANNELS):
  d, inner = m.width, m.num_heads * m.head_dim
  block = 2 * d + 4 * d * inner + 3 * d * m.mlp_dim
  head_in = d * channels if m.head_reduction == "concat" else d
  return (m.patch_len * d + d + m.num_buckets * m.num_heads +
          m.depth * block + d + head_in * m.num_classes + m.num_classes)


# -- model --------------------------------------------------------------------


@pytest.mark.parametrize("reduction", moment.HEAD_REDUCTIONS)
def test_tiny_shapes_params_and_head(reduction):
  model = moment.create("tiny", num_classes=5, head_reduction=reduction)
  variables = _init(model)
  params = variables["params"]
  assert set(variables) == {"params"}
  assert set(params) == {"patch_embedding", "encoder", "head"}
  assert set(params["encoder"]) == {"relative_attention_bias", "block_0",
                                    "block_1", "final_norm"}
  assert params["encoder"]["relative_attention_bias"].shape == (32, 2)
  assert params["patch_embedding"]["value_embedding"]["kernel"].shape == (
      8, 32)
  assert model_testlib.size(params) == _param_count(model)
  np.testing.assert_array_equal(params["patch_embedding"]["mask_embedding"],
                                0.0)

  x = jnp.asarray(_imu())
  # Compiled (eager apply dispatches op by op).
  logits, aux = jit_testlib.compile_fast(
      lambda v, x: model.apply(v, {"imu": x}, train=False), variables, x)(
          variables, x)
  assert logits.shape == (2, 5)
  assert aux["tokens"].shape == (2, CHANNELS, 125, 32)
  pooled = np.asarray(aux["tokens"]).mean(axis=2)  # [b, C, d]
  if reduction == "concat":
    # (d, c) order: feature d * C + c is channel c's dimension d.
    want = pooled.transpose(0, 2, 1).reshape(2, 32 * CHANNELS)
  else:
    want = pooled.mean(axis=1)
  np.testing.assert_allclose(aux["features"], want, rtol=1e-5, atol=1e-6)
  model_testlib.assert_linear_head(logits, aux["features"], params["head"])


def test_small_parameter_count():
  model = moment.create("small", num_classes=3)
  params = model_testlib.abstract_params(model, "imu", (1, LENGTH, CHANNELS),
                                         KEY)
  count = model_testlib.size(params)
  assert count == _param_count(model)
  # flan-t5-small's encoder without its token table, + patch embedding + head.
  assert 18.8e6 < count < 19.0e6
  assert params["encoder"]["block_7"]["attn"]["q"]["kernel"].shape == (512,
                                                                        384)


def test_registry_and_overrides():
  model = models.build({"name": "moment", "variant": "tiny", "num_classes": 4,
                        "input_length": "512", "head_reduction": "mean"})
  assert isinstance(model, moment.MOMENT)
  assert (model.width, model.num_classes, model.input_length,
          model.head_reduction) == (32, 4, 512, "mean")
  assert model.num_patches(LENGTH) == 64
  assert moment.create("tiny").num_patches(LENGTH) == 125
  with pytest.raises(ValueError, match="unknown MOMENT variant"):
    moment.create("huge")
  with pytest.raises(ValueError, match="input_length"):
    moment.create("tiny", input_length="long")
  tiny = moment.create("tiny")
  variables = _init(tiny)
  with pytest.raises(ValueError, match="head_reduction"):
    tiny.clone(head_reduction="max").apply(
        variables, {"imu": jnp.zeros((1, LENGTH, 6))}, train=False)
  with pytest.raises(ValueError, match=r"\[b, L, C\]"):
    tiny.apply(variables, {"imu": jnp.zeros((LENGTH, 6))}, train=False)
  with pytest.raises(ValueError, match="patches"):
    tiny.apply(variables, {"imu": jnp.zeros((1, 7, 6))}, train=False)
  assert models.forward_flops({"name": "moment", "variant": "tiny"}) > 0
  assert models.IMPORTERS.get("moment") is convert.load


def test_revin_matches_numpy():
  rng = np.random.default_rng(3)
  x = _imu(4, 200, seed=3)
  mask = rng.uniform(size=(4, 200)) > 0.3
  mask[2] = False        # nothing observed: all zeros (reference: NaN -> 0)
  mask[3] = False
  mask[3, 17] = True     # one observed sample: std = eps
  out, mean, std = jax.jit(moment.revin)(x, mask)
  masked = np.where(mask[..., None], x.astype(np.float64), np.nan)
  with warnings.catch_warnings():  # all-NaN rows: nanmean warns
    warnings.simplefilter("ignore", RuntimeWarning)
    want_mean = np.nanmean(masked, axis=1, keepdims=True)
    want_std = np.nanstd(masked, axis=1, keepdims=True) + 1e-5  # ddof 0
  want = np.nan_to_num(np.where(mask[..., None], (x - want_mean) / want_std,
                                0.0))
  np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(mean[:2], want_mean[:2], rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(std[:2], want_std[:2], rtol=1e-5)
  np.testing.assert_array_equal(out[2], 0.0)
  np.testing.assert_array_equal(out[3], 0.0)
  assert np.abs(out[:2]).max() > 1.0
  # Statistics carry no gradient (the reference detaches them).
  g = jax.grad(lambda x: moment.revin(x, mask)[0].sum())(jnp.asarray(x))
  np.testing.assert_allclose(g[0], np.where(mask[0, :, None],
                                            1 / want_std[0], 0), rtol=1e-5)


def test_unobserved_samples_do_not_matter():
  """Values under the mask (even NaN) never reach the outputs."""
  model = moment.create("tiny", num_classes=3, input_length=512)
  variables = _init(model)
  x, mask = _imu(), _mask()
  noisy = np.where(mask[..., None] > 0, x, np.nan).astype(np.float32)
  run = jax.jit(lambda x, m: model.apply(variables, {"imu": x, "imu_mask": m},
                                         train=False))
  a, b = run(x, mask), run(noisy, mask)
  assert np.isfinite(b[0]).all()
  np.testing.assert_array_equal(a[0], b[0])
  # ... while the mask itself does matter.
  plain = run(x, np.ones_like(mask))
  assert not np.allclose(plain[0], a[0])


def test_resample_mask_rule():
  mask = np.ones((1, 1000), bool)
  mask[0, 100] = False
  _, out = moment.resample(jnp.zeros((1, 1000, 1)), 512, jnp.asarray(mask))
  i0, i1, _ = interpolate.resample_indices(1000, 512)
  np.testing.assert_array_equal(out[0], (i0 != 100) & (i1 != 100))
  assert (~np.asarray(out[0])).sum() in (1, 2)


@pytest.mark.torch
@pytest.mark.parametrize("length_in,length_out", [(1000, 512), (100, 512),
                                                  (512, 512), (7, 3)])
def test_resample_matches_torch_interpolate(length_in, length_out):
  torch = pytest.importorskip("torch")
  x = _imu(2, length_in, seed=length_in)
  got, _ = moment.resample(jnp.asarray(x), length_out)
  want = torch.nn.functional.interpolate(
      torch.from_numpy(x).permute(0, 2, 1), size=length_out, mode="linear",
      align_corners=False).permute(0, 2, 1).numpy()
  np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("buckets,distance", [(32, 128), (16, 40)])
def test_relative_buckets_match_transformers(buckets, distance):
  torch = pytest.importorskip("torch")
  t5 = pytest.importorskip("transformers.models.t5.modeling_t5")
  n = 300
  pos = torch.arange(n)
  want = t5.T5Attention._relative_position_bucket(
      pos[None, :] - pos[:, None], bidirectional=True, num_buckets=buckets,
      max_distance=distance).numpy()
  got = t5_lib.relative_position_buckets(n, buckets, distance)
  np.testing.assert_array_equal(got, want)
  # Every bucket but "key after the query at distance 0" is reached.
  assert len(np.unique(got)) == buckets - 1


def test_training_mode_remat_and_bfloat16():
  model = moment.create("tiny", num_classes=3)
  params = _init(model, length=256)["params"]
  mask = _mask(length=256)
  mask[0, 200:] = 0
  x = {"imu": jnp.asarray(_imu(length=256)), "imu_mask": jnp.asarray(mask)}

  def compiled(m, train):
    fn = lambda p, k: m.apply({"params": p}, x, train=train,  # noqa: E731
                              rngs={"dropout": k})[0]
    return jit_testlib.compile_fast(fn, params, KEY)

  def run(m, train, key=KEY):
    return compiled(m, train)(params, key)

  evals = run(model, False)
  train_model = compiled(model, True)  # one program for both keys
  a, b = train_model(params, jax.random.key(1)), train_model(
      params, jax.random.key(2))
  assert not np.allclose(a, b) and not np.allclose(a, evals)
  no_dropout = model.clone(dropout=0.0, patch_dropout=0.0, head_dropout=0.0)
  np.testing.assert_allclose(run(no_dropout, True), evals, rtol=1e-5,
                             atol=1e-6)
  remat = model.clone(remat=True)
  np.testing.assert_allclose(run(remat, True, jax.random.key(1)), a,
                             rtol=1e-5, atol=1e-5)

  def grad(m):
    fn = jax.grad(lambda p: m.apply({"params": p}, x, train=True,
                                    rngs={"dropout": KEY})[0].sum())
    return jit_testlib.compile_fast(fn, params)(params)

  grads, want = grad(remat), grad(model)
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=1e-4,
                                 atol=1e-6), grads, want)
  assert np.abs(grads["encoder"]["relative_attention_bias"]).max() > 0
  assert np.abs(grads["patch_embedding"]["mask_embedding"]).max() > 0

  bf16 = moment.create("tiny", num_classes=3, dtype=jnp.bfloat16)
  logits, aux = jit_testlib.compile_fast(
      lambda p: bf16.apply({"params": p}, x, train=False), params)(params)
  assert aux["tokens"].dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(logits, np.float32), evals, atol=0.1)


# -- FLOPs --------------------------------------------------------------------


@pytest.mark.parametrize("overrides", [
    {}, {"head_reduction": "mean", "input_length": 512}])
def test_forward_flops_match_xla_matmuls_tiny(overrides):
  model = moment.create("tiny", num_classes=3, **overrides)
  variables = _init(model)
  x = jnp.asarray(_imu(b=2))
  mask = jnp.asarray(_mask())
  fn = lambda v, x, m: model.apply(  # noqa: E731
      v, {"imu": x, "imu_mask": m}, train=False)[0]
  xla = sum(jit_testlib.op_flops(fn, variables, x, mask,
                                 primitives=("dot_general",))) / 2
  ours = moment.forward_flops("tiny", num_classes=3, **overrides)
  assert ours == pytest.approx(xla, rel=1e-6)


def test_forward_flops_match_xla_total_small():
  """At width 512 the elementwise work left out (tanh GELU, softmax, norms,
  RevIN) is a few percent of the whole compiled program's count."""
  model = moment.create("small", num_classes=3)
  x = jax.ShapeDtypeStruct((1, LENGTH, CHANNELS), jnp.float32)
  variables = jax.eval_shape(
      lambda x: model.init(KEY, {"imu": x}, train=False), x)
  fn = lambda v, x: model.apply(v, {"imu": x}, train=False)[0]  # noqa: E731
  xla = jit_testlib.cost(jax.jit(fn).lower(variables, x).compile())["flops"]
  ours = moment.forward_flops("small")
  assert ours < xla < 1.05 * ours
  # 512 samples: 64 patches instead of 125, a little under half the work.
  assert 0.45 < moment.forward_flops("small", input_length=512) / ours < 0.52


# -- importer (numpy) ---------------------------------------------------------


def _synthetic_state_dict(t5=T5_TINY, head=(3, 32 * CHANNELS), seed=0,
                          extras=True):
  """A state dict with momentfm's names and shapes; ``head`` the shape of
  ``head.linear.weight`` (None: no head)."""
  rng = np.random.default_rng(seed)
  r = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
  d, f, h, k = t5["d_model"], t5["d_ff"], t5["num_heads"], t5["d_kv"]
  sd = {"patch_embedding.value_embedding.weight": r(d, 8),
        "patch_embedding.mask_embedding": r(d),
        "encoder.final_layer_norm.weight": r(d),
        "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight":
            r(t5["relative_attention_num_buckets"], h)}
  for i in range(t5["num_layers"]):
    q = f"encoder.block.{i}.layer"
    for n in "qkv":
      sd[f"{q}.0.SelfAttention.{n}.weight"] = r(h * k, d)
    sd[f"{q}.0.SelfAttention.o.weight"] = r(d, h * k)
    sd[f"{q}.1.DenseReluDense.wi_0.weight"] = r(f, d)
    sd[f"{q}.1.DenseReluDense.wi_1.weight"] = r(f, d)
    sd[f"{q}.1.DenseReluDense.wo.weight"] = r(d, f)
    sd[f"{q}.0.layer_norm.weight"] = r(d)
    sd[f"{q}.1.layer_norm.weight"] = r(d)
  if extras:
    sd[convert.TOKEN_TABLE_KEY] = r(t5["vocab_size"], d)
    sd[convert.PE_KEY] = layers.sincos_1d(5000, d)[None]
  if head:
    sd["head.linear.weight"] = r(*head)
    sd["head.linear.bias"] = r(head[0])
  return sd


def _write(path, sd, config=CONFIG):
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  os.makedirs(path, exist_ok=True)
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump(config, f)
  save_file(sd, os.path.join(path, "model.safetensors"))
  return str(path)


def _expected_params(ckpt, num_classes=3):
  model = moment.create("tiny", num_classes=num_classes,
                        **convert.spec_overrides(ckpt))
  return model, jax.eval_shape(
      lambda x: model.init(KEY, {"imu": x}, train=False),
      jax.ShapeDtypeStruct((1, LENGTH, CHANNELS), jnp.float32))["params"]


def test_import_maps_every_weight(tmp_path):
  sd = _synthetic_state_dict()
  ckpt = _write(tmp_path, sd)
  params = convert.load(ckpt)["params"]
  model, expected = _expected_params(ckpt)
  assert model.head_reduction == "concat"
  torch_convert.check_like(params, expected)
  enc = params["encoder"]
  np.testing.assert_array_equal(
      enc["block_1"]["attn"]["o"]["kernel"],
      sd["encoder.block.1.layer.0.SelfAttention.o.weight"].T)
  np.testing.assert_array_equal(
      enc["block_0"]["mlp"]["wi_1"]["kernel"],
      sd["encoder.block.0.layer.1.DenseReluDense.wi_1.weight"].T)
  np.testing.assert_array_equal(
      enc["block_1"]["mlp_norm"]["scale"],
      sd["encoder.block.1.layer.1.layer_norm.weight"])
  np.testing.assert_array_equal(
      enc["relative_attention_bias"],
      sd["encoder.block.0.layer.0.SelfAttention.relative_attention_bias"
         ".weight"])
  np.testing.assert_array_equal(
      params["patch_embedding"]["value_embedding"]["kernel"],
      sd["patch_embedding.value_embedding.weight"].T)
  np.testing.assert_array_equal(params["head"]["kernel"],
                                sd["head.linear.weight"].T)
  config, state = convert.read_checkpoint(ckpt)
  out = convert.convert(state, config)
  assert out.ignored == (convert.TOKEN_TABLE_KEY, convert.PE_KEY)
  assert out.spec_overrides == dict(
      patch_len=8, width=32, depth=2, num_heads=2, head_dim=16, mlp_dim=64,
      num_buckets=32, max_distance=128, norm_eps=1e-6,
      head_reduction="concat")


def test_import_heads(tmp_path):
  # Pretraining checkpoint: the reconstruction head Linear(d -> 8) is left.
  pre = dict(CONFIG, task_name="reconstruction")
  sd = _synthetic_state_dict(head=(8, 32))
  ckpt = _write(tmp_path / "pre", sd, pre)
  config, state = convert.read_checkpoint(ckpt)
  out = convert.convert(state, config)
  assert "head" not in out.params and "head_reduction" not in (
      out.spec_overrides)
  assert "head.linear.weight" in out.ignored
  # The same shape from a raw file (no config) is taken as that head too ...
  raw = str(tmp_path / "raw.safetensors")
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  save_file(sd, raw)
  assert "head" not in convert.load(raw)["params"]
  # ... while a classification config imports it as a mean head.
  out = convert.convert(sd, CONFIG)
  assert out.spec_overrides["head_reduction"] == "mean"
  assert out.params["head"]["kernel"].shape == (32, 8)
  # Another class count: reported, not imported.
  other = convert.convert(_synthetic_state_dict(), CONFIG, num_classes=5)
  assert "head" not in other.params
  assert {"head.linear.bias", "head.linear.weight"} <= set(other.ignored)
  # The model_kwargs' task overrides the top-level one (MOMENTPipeline).
  kwargs = dict(CONFIG, task_name="reconstruction",
                model_kwargs={"task_name": "classification"})
  assert "head" in convert.convert(_synthetic_state_dict(), kwargs).params
  # No head at all.
  bare = convert.convert(_synthetic_state_dict(head=None, extras=False),
                         CONFIG)
  assert "head" not in bare.params and bare.ignored == ()


def test_import_feeds_the_warm_start(tmp_path):
  """``load`` output is what ``finetune``'s ``pretrained_format`` importers
  return: ``transfer`` fills every leaf but the fresh head."""
  sd = _synthetic_state_dict(head=(8, 32))
  ckpt = _write(tmp_path, sd, dict(CONFIG, task_name="reconstruction"))
  model = moment.create("tiny", num_classes=3,
                        **convert.spec_overrides(ckpt))
  variables = _init(model)
  merged = transfer.transfer(convert.load(ckpt), variables,
                             fresh=transfer.HEAD)
  np.testing.assert_array_equal(
      merged["params"]["patch_embedding"]["mask_embedding"],
      sd["patch_embedding.mask_embedding"])
  model_testlib.assert_head_is_fresh(merged, convert.load(ckpt), variables)


def test_import_errors(tmp_path):
  sd = _synthetic_state_dict()
  model_testlib.assert_missing_weight(
      lambda d: convert.load(_write(tmp_path / "a", d)), sd,
      "encoder.block.1.layer.1.DenseReluDense.wo.weight",
      r"block\.1\.layer\.1\.DenseReluDense\.wo")
  extra = dict(sd, **{"normalizer.affine_weight": np.ones((1, 1, 1),
                                                          np.float32)})
  with pytest.raises(ValueError, match="not converted.*normalizer"):
    convert.load(_write(tmp_path / "b", extra))
  decoder = dict(sd, **{"encoder.block.1.layer.2.DenseReluDense.wi.weight":
                        np.zeros((4, 4), np.float32)})
  with pytest.raises(ValueError, match=r"not converted.*layer\.2"):
    convert.load(_write(tmp_path / "c", decoder))
  with pytest.raises(ValueError, match="d_ff"):
    convert.load(_write(tmp_path / "d", sd,
                        dict(CONFIG, t5_config=dict(T5_TINY, d_ff=128))))
  with pytest.raises(ValueError, match="revin_affine"):
    convert.load(_write(tmp_path / "e", sd, dict(CONFIG, revin_affine=True)))
  with pytest.raises(ValueError, match="feed_forward_proj"):
    convert.load(_write(tmp_path / "f", sd, dict(
        CONFIG, t5_config=dict(T5_TINY, feed_forward_proj="relu"))))
  bad_pe = dict(sd, **{convert.PE_KEY: np.zeros((1, 5000, 32), np.float32)})
  with pytest.raises(ValueError, match="sinusoid"):
    convert.load(_write(tmp_path / "g", bad_pe))
  with pytest.raises(FileNotFoundError, match="does not exist"):
    convert.load(str(tmp_path / "nowhere.safetensors"))
  os.makedirs(tmp_path / "h")
  with pytest.raises(FileNotFoundError, match="config.json"):
    convert.load(str(tmp_path / "h"))
  with open(tmp_path / "h" / "config.json", "w") as f:
    json.dump(CONFIG, f)
  with pytest.raises(FileNotFoundError, match="model.safetensors"):
    convert.load(str(tmp_path / "h"))
  (tmp_path / "weights.npz").write_bytes(b"")
  with pytest.raises(ValueError, match="unknown checkpoint format"):
    convert.load(str(tmp_path / "weights.npz"))


def test_torch_files_need_torch(tmp_path, monkeypatch):
  (tmp_path / "moment.pth").write_bytes(b"")
  monkeypatch.setitem(sys.modules, "torch", None)
  with pytest.raises(ImportError, match=r"\.pth checkpoints needs torch"):
    convert.load(str(tmp_path / "moment.pth"))


# -- parity with momentfm -----------------------------------------------------


def _reference(torch, reduction="concat", classes=3, seed=0):
  os.environ.setdefault("HF_HUB_OFFLINE", "1")
  momentfm = pytest.importorskip("momentfm.models.moment")
  torch.manual_seed(seed)
  ref = momentfm.MOMENTPipeline(
      config=dict(CONFIG, reduction=reduction),
      model_kwargs={"task_name": "classification", "n_channels": CHANNELS,
                    "num_class": classes})
  ref.init()
  with torch.no_grad():  # non-trivial norms and mask embedding too
    for p in ref.parameters():
      p.normal_(0.0, 0.3)
  return ref.eval()


def _run_reference(torch, ref, x, mask=None, reduction="concat"):
  with torch.no_grad():
    out = ref(x_enc=torch.from_numpy(x).permute(0, 2, 1),
              input_mask=None if mask is None else torch.from_numpy(mask),
              reduction=reduction)
  return out.logits.numpy(), out.embeddings.numpy()


@pytest.mark.torch
@pytest.mark.parametrize("reduction", moment.HEAD_REDUCTIONS)
def test_parity_with_momentfm(tmp_path, reduction):
  torch = pytest.importorskip("torch")
  ref = _reference(torch, reduction, seed=1)
  ref.save_pretrained(tmp_path)
  ckpt = str(tmp_path)
  assert os.path.isfile(tmp_path / "model.safetensors")
  params = convert.load(ckpt, num_classes=3)["params"]
  over = convert.spec_overrides(ckpt)
  assert over["head_reduction"] == reduction
  x, mask = _imu(seed=2), _mask()
  for length in ("native", 512):
    model = moment.create("tiny", num_classes=3, input_length=length, **over)
    fn = jax.jit(lambda p, b, m=model: m.apply({"params": p}, b,
                                               train=False))
    for m in (None, mask):
      batch = {"imu": x} if m is None else {"imu": x, "imu_mask": m}
      logits, aux = fn(params, batch)
      if length == "native":
        want, emb = _run_reference(torch, ref, x, m, reduction)
      else:  # the reference on windows resized by F.interpolate
        xr = torch.nn.functional.interpolate(
            torch.from_numpy(x).permute(0, 2, 1), size=512, mode="linear",
            align_corners=False).permute(0, 2, 1).numpy()
        mr = None if m is None else np.asarray(
            moment.resample(jnp.zeros(x.shape), 512, jnp.asarray(m > 0))[1],
            np.float32)
        want, emb = _run_reference(torch, ref, xr, mr, reduction)
      assert np.abs(want).max() > 0.1  # not a degenerate comparison
      np.testing.assert_allclose(np.asarray(logits), want, rtol=1e-4,
                                 atol=1e-4)
      tokens = np.asarray(aux["tokens"])  # [b, C, N, d]
      if reduction == "concat":
        tokens = tokens.transpose(0, 2, 3, 1).reshape(emb.shape)
      else:
        tokens = tokens.mean(axis=1)
      np.testing.assert_allclose(tokens, emb, rtol=1e-4, atol=1e-4)


@pytest.mark.torch
def test_gradient_parity_with_momentfm():
  """Same loss and parameter gradients (dropout off) through the converter."""
  torch = pytest.importorskip("torch")
  ref = _reference(torch, seed=3)
  params = convert.convert(ref.state_dict(), CONFIG)
  model = moment.create("tiny", num_classes=3, **params.spec_overrides)
  x, mask = _imu(seed=4), _mask()
  y = np.array([0, 2])

  def loss_fn(p):
    logits, _ = model.apply({"params": p}, {"imu": x, "imu_mask": mask},
                            train=False)
    return -jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None],
                                axis=1).mean()

  loss, grads = jax.value_and_grad(loss_fn)(params.params)
  out = ref(x_enc=torch.from_numpy(x).permute(0, 2, 1),
            input_mask=torch.from_numpy(mask))
  want = torch.nn.functional.cross_entropy(out.logits, torch.from_numpy(y))
  want.backward()
  np.testing.assert_allclose(float(loss), want.item(), rtol=1e-5)
  got = convert.convert({k: p.grad for k, p in ref.named_parameters()},
                        CONFIG).params
  assert got.keys() == grads.keys()
  jax.tree.map(functools.partial(np.testing.assert_allclose, rtol=2e-3,
                                 atol=2e-5), grads, got)
  assert np.abs(grads["encoder"]["relative_attention_bias"]).max() > 1e-4


@pytest.mark.torch
def test_import_torch_files(tmp_path):
  """``.pth`` state dicts (plain, wrapped, DataParallel-prefixed) and raw
  ``.safetensors`` give the save_pretrained directory's tree."""
  torch = pytest.importorskip("torch")
  ref = _reference(torch, seed=5)
  ref.save_pretrained(tmp_path / "dir")
  want = convert.load(str(tmp_path / "dir"))["params"]
  state = ref.state_dict()
  torch.save(state, tmp_path / "plain.pth")
  torch.save({"model_state_dict": state, "epoch": 3}, tmp_path / "wrap.pt")
  torch.save({f"module.{k}": v for k, v in state.items()},
             tmp_path / "ddp.bin")
  from safetensors.torch import save_file  # pylint: disable=g-import-not-at-top
  save_file({k: v.contiguous() for k, v in state.items()},
            tmp_path / "raw.safetensors")
  for name in ("plain.pth", "wrap.pt", "ddp.bin", "raw.safetensors"):
    tree = convert.load(str(tmp_path / name))["params"]
    jax.tree.map(np.testing.assert_array_equal, tree, want)


# -- config -------------------------------------------------------------------


def _config_module():
  path = os.path.join(os.path.dirname(__file__), "..", "..", "configs",
                      "moment.py")
  spec = importlib.util.spec_from_file_location("configs_moment", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_config_recipe_and_arguments():
  module = _config_module()
  full = module.get_config(None)
  assert (full.model.variant, full.model.input_length, full.task.name) == (
      "small", "native", "supervised")
  assert (full.optim.name, full.optim.lr, full.optim.schedule,
          full.input.batch_size, full.total_epochs) == (
              "adamw", 1e-4, "warmup_cosine", 64, 10.0)
  m = models.build(dict(full.model, num_classes=3))
  assert (m.width, m.input_length) == (512, "native")
  other = module.get_config("input_length=512,head=mean,weights=/ckpt/m")
  assert other.name == "moment-small-512"
  assert models.build(dict(other.model, num_classes=3)).input_length == 512
  assert (other.task.name, other.task.pretrained,
          other.task.pretrained_format) == ("finetune", "/ckpt/m", "moment")


def test_config_warm_start_runs_the_importer(tmp_path, tiny_cache):
  """``weights=`` (from a sweep's ``weights.moment=DIR``) trains through
  ``finetune`` with the ``moment`` importer: a matching checkpoint runs and
  is recorded in results.json; one of another width is refused by name."""
  module = _config_module()
  pre = dict(CONFIG, task_name="reconstruction")
  good = _write(tmp_path / "good", _synthetic_state_dict(head=(8, 32)), pre)
  narrow = dict(T5_TINY, d_model=16, num_heads=2, d_kv=8)
  bad = _write(tmp_path / "bad", _synthetic_state_dict(narrow, head=None),
               dict(pre, t5_config=narrow))
  import launch  # pylint: disable=g-import-not-at-top
  for ckpt in (good, bad):
    # The arg a sweep's weights.moment=DIR gives the job's config.
    [job] = launch.load_sweep(
        "launch/sweeps/har_models.py:models=moment,ways=finetune,folds=1,"
        f"tiny=True,weights.moment={ckpt}", only="l20wo")[1]
    config = module.get_config(job.config.split(":", 1)[1])
    config.data.cache_dir = tiny_cache
    durations.clear(config)
    config.total_steps, config.eval_every_steps = 1, 1
    config.log_every_steps = 1
    workdir = str(tmp_path / ("run_" + os.path.basename(ckpt)))
    if ckpt == good:
      res = jobs.JOBS.get("train")(config, workdir)
      # results.json says which weights the run started from.
      assert res["init"]["model"]["format"] == "moment"
      assert res["init"]["model"]["path"] == good
      assert res["init"]["model"]["fingerprint"] and not res["init"]["random"]
    else:
      with pytest.raises(transfer.TransferError,
                         match="encoder/block_0/attn/k/kernel"):
        jobs.JOBS.get("train")(config, workdir)
