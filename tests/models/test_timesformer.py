"""TimeSformer: shapes and parameter counts, the analytic FLOP count against
XLA's, the checkpoint importer (numpy only), and parity with transformers'
``TimesformerModel`` / ``TimesformerForVideoClassification`` (random
weights, built offline)."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hf_testlib
import jit_testlib
import model_testlib
from egoimu_jax import models
from egoimu_jax.models import timesformer
from egoimu_jax.models import torch_convert
from egoimu_jax.models import transfer
from egoimu_jax.models.convert import timesformer as convert

KEY = jax.random.key(0)
# transformers config of the "tiny" variant.
SMALL = dict(model_type="timesformer", image_size=32, patch_size=8,
             num_channels=3, num_frames=4, hidden_size=32, num_hidden_layers=2,
             num_attention_heads=2, intermediate_size=128, hidden_act="gelu",
             layer_norm_eps=1e-6, qkv_bias=True,
             attention_type="divided_space_time")


def _frames(model, b=2, seed=0):
  shape = (b, model.num_frames, model.image_size, model.image_size, 3)
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _init(model, b=2):
  x = jnp.asarray(_frames(model, b))
  return jax.jit(lambda x: model.init(KEY, {"frames": x}, train=False))(x)


def _apply(model, variables, x, **kw):
  """``model.apply`` on ``{"frames": x}`` under ``compile_fast`` (eager apply
  dispatches op by op); ``kw`` (``train``, ``rngs``) are fixed in the
  program."""
  fn = lambda v, x: model.apply(v, {"frames": x}, **kw)  # noqa: E731
  return jit_testlib.compile_fast(fn, variables, x)(variables, x)


def _param_count(m):
  """Expected parameter count from the architecture (biases included)."""
  d, k = m.width, m.num_classes
  n = (m.image_size // m.patch_size) ** 2
  lin = lambda i, o: i * o + o  # noqa: E731
  embed = lin(m.patch_size ** 2 * 3, d) + d + (1 + n) * d + m.num_frames * d
  block = (3 * 2 * d + 2 * 4 * lin(d, d) + lin(d, d) + lin(d, m.mlp_dim) +
           lin(m.mlp_dim, d))
  return embed + m.depth * block + 2 * d + lin(d, k)


# -- model --------------------------------------------------------------------


def test_tiny_shapes_params_and_init():
  model = timesformer.create("tiny", num_classes=5)
  variables = _init(model)
  params = variables["params"]
  assert set(variables) == {"params"}
  assert set(params) == {"patch_embed", "cls_token", "pos_embed", "time_embed",
                         "encoder", "norm", "head"}
  assert params["head"]["kernel"].shape == (32, 5)
  assert params["pos_embed"].shape == (1, 1 + 16, 32)
  assert params["time_embed"].shape == (1, 4, 32)
  assert model_testlib.size(params) == _param_count(model)
  # The authors' initialisation: time table and later temporal_fc at zero.
  np.testing.assert_array_equal(params["time_embed"], 0.0)
  enc = params["encoder"]
  assert np.abs(enc["block_0"]["temporal_dense"]["kernel"]).max() > 0
  np.testing.assert_array_equal(enc["block_1"]["temporal_dense"]["kernel"], 0)

  x = jnp.asarray(_frames(model))
  logits, aux = _apply(model, variables, x, train=False)
  assert logits.shape == (2, 5)
  assert aux["features"].shape == (2, 32)
  assert aux["tokens"].shape == (2, 1 + 16 * 4, 32)
  np.testing.assert_allclose(aux["features"], aux["tokens"][:, 0])
  model_testlib.assert_linear_head(logits, aux["features"], params["head"])


def test_b_parameter_count():
  model = timesformer.create("B", num_classes=400)
  params = model_testlib.abstract_params(model, "frames", (1, 8, 224, 224, 3),
                                         KEY)
  count = model_testlib.size(params)
  assert count == _param_count(model)
  assert 121e6 < count < 122e6


def test_registry_and_overrides():
  model = models.build({"name": "timesformer", "variant": "tiny",
                        "num_classes": 4, "pooling": "mean"})
  assert isinstance(model, timesformer.TimeSformer)
  assert (model.width, model.num_classes, model.pooling) == (32, 4, "mean")
  with pytest.raises(ValueError, match="unknown TimeSformer variant"):
    timesformer.create("XL")


def test_mean_pooling_averages_all_tokens():
  model = timesformer.create("tiny", num_classes=3, pooling="mean")
  variables = _init(model)
  _, aux = _apply(model, variables, jnp.asarray(_frames(model)), train=False)
  np.testing.assert_allclose(aux["features"], aux["tokens"].mean(axis=1),
                             rtol=1e-5, atol=1e-6)


def test_wrong_frame_count_or_size_is_an_error():
  model = timesformer.create("tiny", num_classes=3)
  variables = _init(model)
  for shape in ((1, 2, 32, 32, 3), (1, 4, 48, 48, 3)):
    with pytest.raises(ValueError, match=r"\[b, 4, 32, 32, 3\]"):
      model.apply(variables, {"frames": jnp.zeros(shape)}, train=False)
  with pytest.raises(ValueError, match="pooling"):
    timesformer.create("tiny", pooling="max").init(
        KEY, {"frames": jnp.zeros((1, 4, 32, 32, 3))}, train=False)


def test_training_mode_remat_and_bfloat16():
  model = timesformer.create("tiny", num_classes=3, dropout=0.1,
                             drop_path=0.2, head_dropout=0.1)
  variables = _init(model)
  x = {"frames": jnp.asarray(_frames(model))}
  evals = _apply(model, variables, x["frames"], train=False)[0]
  # Compiled programs (eager apply and grad dispatch op by op); the dropout
  # key is an argument, so one program serves both keys.
  train = lambda m: jit_testlib.compile_fast(  # noqa: E731
      lambda k: m.apply(variables, x, train=True, rngs={"dropout": k})[0],
      KEY)
  train_model = train(model)
  a, b = train_model(jax.random.key(1)), train_model(jax.random.key(2))
  assert not np.allclose(a, b) and not np.allclose(a, evals)
  remat = model.clone(remat=True)
  np.testing.assert_allclose(train(remat)(jax.random.key(1)), a, rtol=1e-5,
                             atol=1e-5)
  grad_fn = jax.grad(lambda p: remat.apply(
      {"params": p}, x, train=True, rngs={"dropout": KEY})[0].sum())
  grads = jit_testlib.compile_fast(grad_fn, variables["params"])(
      variables["params"])
  assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
  # Gradients reach the zero-initialised temporal_dense of block 1.
  assert np.abs(grads["encoder"]["block_1"]["temporal_dense"]["kernel"]
                ).max() > 0

  bf16 = timesformer.create("tiny", num_classes=3, dtype=jnp.bfloat16)
  logits, aux = _apply(bf16, variables, x["frames"], train=False)
  assert aux["tokens"].dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(logits, np.float32), evals, atol=0.1)


# -- FLOPs --------------------------------------------------------------------


def test_forward_flops_match_xla_matmuls_tiny():
  """Exact agreement with XLA's count of the program's matmuls.

  The whole program's ``cost_analysis()['flops']`` is ~24% higher at this
  width: XLA expands the erf GELU into ~64 FLOPs per element and counts the
  softmax and LayerNorm arithmetic, which ``forward_flops`` leaves out.
  """
  model = timesformer.create("tiny", num_classes=3)
  variables = _init(model)
  x = jnp.asarray(_frames(model, b=2))
  fn = lambda v, x: model.apply(v, {"frames": x}, train=False)[0]  # noqa: E731
  xla = sum(jit_testlib.op_flops(fn, variables, x)) / 2
  ours = timesformer.forward_flops("tiny", num_classes=3)
  assert ours == pytest.approx(xla, rel=1e-6)
  total = jit_testlib.cost(
      jax.jit(fn).lower(variables, x).compile())["flops"] / 2
  assert ours < total < 1.3 * ours


def test_forward_flops_match_xla_total_b():
  """At width 768 the left-out elementwise work is ~1%: the whole compiled
  program's count agrees within 5%. Compiles only (abstract arrays)."""
  model = timesformer.create("B", num_classes=3)
  x = jax.ShapeDtypeStruct((1, 8, 224, 224, 3), jnp.float32)
  variables = jax.eval_shape(
      lambda x: model.init(KEY, {"frames": x}, train=False), x)
  fn = lambda v, x: model.apply(v, {"frames": x}, train=False)[0]  # noqa: E731
  xla = jit_testlib.cost(jax.jit(fn).lower(variables, x).compile())["flops"]
  ours = timesformer.forward_flops("B")
  assert ours == pytest.approx(xla, rel=0.05)
  assert ours < xla
  # Halving the frames halves the patch-token work, not the spatial CLS or
  # head terms: the count follows the geometry, not a constant.
  assert 0.45 < timesformer.forward_flops("B", num_frames=4) / ours < 0.5


# -- importer (numpy) ---------------------------------------------------------


def _synthetic_state_dict(config, classes=0, prefix="", seed=0):
  """A state dict with transformers' TimeSformer names and shapes."""
  rng = np.random.default_rng(seed)
  r = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
  d, m, p = (config["hidden_size"], config["intermediate_size"],
             config["patch_size"])
  n = (config["image_size"] // p) ** 2
  e = "embeddings"
  sd = {f"{e}.patch_embeddings.projection.weight": r(d, 3, p, p),
        f"{e}.patch_embeddings.projection.bias": r(d),
        f"{e}.cls_token": r(1, 1, d),
        f"{e}.position_embeddings": r(1, 1 + n, d),
        f"{e}.time_embeddings": r(1, config["num_frames"], d),
        "layernorm.weight": r(d), "layernorm.bias": r(d)}
  lin = lambda name, o, i: {f"{name}.weight": r(o, i),  # noqa: E731
                            f"{name}.bias": r(o)}
  for i in range(config["num_hidden_layers"]):
    q = f"encoder.layer.{i}"
    for ln in ("temporal_layernorm", "layernorm_before", "layernorm_after"):
      sd.update({f"{q}.{ln}.weight": r(d), f"{q}.{ln}.bias": r(d)})
    for a in ("temporal_attention", "attention"):
      sd.update(lin(f"{q}.{a}.attention.qkv", 3 * d, d))
      sd.update(lin(f"{q}.{a}.output.dense", d, d))
    sd.update(lin(f"{q}.temporal_dense", d, d))
    sd.update(lin(f"{q}.intermediate.dense", m, d))
    sd.update(lin(f"{q}.output.dense", d, m))
  sd = {prefix + k: v for k, v in sd.items()}
  if classes:
    sd.update(lin("classifier", classes, d))
  return sd


def test_import_maps_every_weight(tmp_path):
  sd = _synthetic_state_dict(SMALL, classes=5, prefix="timesformer.")
  ckpt = hf_testlib.write_checkpoint(tmp_path, SMALL, sd)
  variables = convert.load(ckpt)
  assert set(variables) == {"params"}
  params = variables["params"]
  model = timesformer.create("tiny", num_classes=5,
                             **convert.spec_overrides(ckpt))
  expected = model_testlib.abstract_params(model, "frames", (1, 4, 32, 32, 3),
                                           KEY)
  torch_convert.check_like(params, expected)
  src = "timesformer.encoder.layer.1.temporal_attention.attention.qkv"
  attn = params["encoder"]["block_1"]["temporal_attn"]
  for j, name in enumerate(("query", "key", "value")):
    np.testing.assert_array_equal(attn[name]["kernel"],
                                  sd[f"{src}.weight"][32 * j:32 * (j + 1)].T)
    np.testing.assert_array_equal(attn[name]["bias"],
                                  sd[f"{src}.bias"][32 * j:32 * (j + 1)])
  np.testing.assert_array_equal(
      params["patch_embed"]["proj"]["kernel"],
      sd["timesformer.embeddings.patch_embeddings.projection.weight"]
      .transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(
      params["encoder"]["block_0"]["mlp"]["fc1"]["kernel"],
      sd["timesformer.encoder.layer.0.intermediate.dense.weight"].T)
  np.testing.assert_array_equal(params["head"]["kernel"],
                                sd["classifier.weight"].T)
  np.testing.assert_array_equal(params["norm"]["scale"],
                                sd["timesformer.layernorm.weight"])
  # Another label count: the classifier is reported, not imported.
  assert "head" not in convert.load(ckpt, num_classes=3)["params"]
  config, state = convert.read_checkpoint(ckpt)
  assert convert.convert(state, config, num_classes=5).ignored == ()
  other = convert.convert(state, config, num_classes=3)
  assert "head" not in other.params
  assert other.ignored == ("classifier.bias", "classifier.weight")


def test_import_feeds_the_warm_start(tmp_path):
  """``load`` output is what ``finetune``'s ``pretrained_format`` importers
  return: ``transfer`` fills every leaf but the fresh head."""
  sd = _synthetic_state_dict(SMALL, classes=5)
  ckpt = hf_testlib.write_checkpoint(tmp_path, SMALL, sd)
  model = timesformer.create("tiny", num_classes=3,
                             **convert.spec_overrides(ckpt))
  variables = _init(model)
  merged = transfer.transfer(convert.load(ckpt), variables,
                             fresh=transfer.HEAD)
  np.testing.assert_array_equal(merged["params"]["pos_embed"],
                                sd["embeddings.position_embeddings"])
  model_testlib.assert_head_is_fresh(merged, convert.load(ckpt), variables)


def test_b_config_describes_the_b_variant():
  over = convert.spec_overrides(dict(SMALL, image_size=224, patch_size=16,
                                     num_frames=8, hidden_size=768,
                                     num_hidden_layers=12,
                                     num_attention_heads=12,
                                     intermediate_size=3072))
  b = timesformer.create("B")
  for k, v in over.items():
    assert getattr(b, k) == v, k


def test_import_errors(tmp_path):
  sd = _synthetic_state_dict(SMALL)
  wrong = dict(SMALL, model_type="videomae")
  with pytest.raises(ValueError, match="model_type is 'videomae', not "
                     "'timesformer'"):
    convert.load(hf_testlib.write_checkpoint(tmp_path / "a", wrong, sd))
  hf_testlib.assert_rejects_missing_and_extra(
      convert.load, str(tmp_path), SMALL, sd,
      "encoder.layer.1.temporal_dense.weight",
      "encoder.layer.0.temporal_attention.extra")
  joint = dict(SMALL, attention_type="joint_space_time")
  with pytest.raises(ValueError, match="attention_type"):
    convert.load(hf_testlib.write_checkpoint(tmp_path / "d", joint, sd))
  bigger = dict(SMALL, num_frames=8)  # config and weights disagree
  with pytest.raises(ValueError, match="time_embed"):
    convert.load(hf_testlib.write_checkpoint(tmp_path / "e", bigger, sd))
  with pytest.raises(FileNotFoundError, match="config.json"):
    convert.load(str(tmp_path / "nowhere"))
  hf_testlib.write_config(tmp_path / "f", SMALL)
  with pytest.raises(FileNotFoundError, match="no model.safetensors"):
    convert.load(str(tmp_path / "f"))


def test_bin_checkpoints_need_torch(tmp_path, monkeypatch):
  hf_testlib.assert_bin_needs_torch(convert.read_checkpoint, tmp_path, SMALL,
                                   monkeypatch)


# -- parity with transformers -------------------------------------------------


def _reference(transformers, classes=0, seed=0):
  if classes:
    return hf_testlib.reference(
        transformers.TimesformerForVideoClassification,
        transformers.TimesformerConfig, SMALL, seed, num_labels=classes)
  return hf_testlib.reference(transformers.TimesformerModel,
                              transformers.TimesformerConfig, SMALL, seed)


def _ours(ckpt, num_classes):
  model = timesformer.create("tiny", num_classes=num_classes,
                             **convert.spec_overrides(ckpt))
  params = dict(convert.load(ckpt)["params"])
  if "head" not in params:  # TimesformerModel: no classifier to import
    params["head"] = _init(model)["params"]["head"]
  return model, params


@pytest.mark.torch
def test_parity_with_timesformer_model(tmp_path):
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  ref = _reference(transformers)
  ref.save_pretrained(tmp_path)
  assert os.path.isfile(tmp_path / "model.safetensors")
  assert "head" not in convert.load(str(tmp_path))["params"]
  model, params = _ours(str(tmp_path), 3)
  frames = _frames(model, b=2, seed=1)
  _, aux = jax.jit(lambda p, x: model.apply({"params": p}, {"frames": x},
                                            train=False))(params, frames)
  with torch.no_grad():
    want = ref(torch.from_numpy(frames).permute(0, 1, 4, 2, 3)
               ).last_hidden_state.numpy()
  assert aux["tokens"].shape == want.shape == (2, 1 + 16 * 4, 32)
  assert np.abs(want).max() > 0.5  # not a degenerate comparison
  np.testing.assert_allclose(np.asarray(aux["tokens"]), want, rtol=1e-4,
                             atol=1e-4)
  np.testing.assert_allclose(np.asarray(aux["features"]), want[:, 0],
                             rtol=1e-4, atol=1e-4)


@pytest.mark.torch
def test_parity_with_video_classification_and_formats(tmp_path):
  torch = pytest.importorskip("torch")
  transformers = pytest.importorskip("transformers")
  ref = _reference(transformers, classes=5, seed=1)
  ref.save_pretrained(tmp_path / "single")
  out = convert.load(str(tmp_path / "single"))
  assert out["params"]["head"]["kernel"].shape == (32, 5)
  model, params = _ours(str(tmp_path / "single"), 5)
  frames = _frames(model, b=2, seed=2)
  logits, aux = model.apply({"params": params}, {"frames": frames},
                            train=False)
  with torch.no_grad():
    got = ref(torch.from_numpy(frames).permute(0, 1, 4, 2, 3),
              output_hidden_states=True)
  np.testing.assert_allclose(np.asarray(logits), got.logits.numpy(),
                             rtol=1e-4, atol=1e-4)
  assert np.abs(got.logits.numpy()).max() > 0.1  # not all ~0

  # Sharded safetensors and a .bin give the same tree.
  ref.save_pretrained(tmp_path / "sharded", max_shard_size="50KB")
  assert os.path.isfile(tmp_path / "sharded" / "model.safetensors.index.json")
  os.makedirs(tmp_path / "bin")
  with open(tmp_path / "bin" / "config.json", "w") as f:
    f.write((tmp_path / "single" / "config.json").read_text())
  torch.save(ref.state_dict(), tmp_path / "bin" / "pytorch_model.bin")
  for other in ("sharded", "bin"):
    tree = convert.load(str(tmp_path / other))["params"]
    jax.tree.map(np.testing.assert_array_equal, tree, out["params"])

  # bf16 checkpoints are read as float32 of the bf16 values.
  ref.to(torch.bfloat16).save_pretrained(tmp_path / "bf16")
  half = convert.load(str(tmp_path / "bf16"))["params"]
  np.testing.assert_array_equal(
      half["head"]["kernel"],
      ref.classifier.weight.detach().float().numpy().T)
  assert half["head"]["kernel"].dtype == np.float32
