"""Mantis: shapes and parameter counts, resampling, heads and output tokens,
the analytic FLOP count against XLA's, the checkpoint importer (numpy only),
and parity with ``mantis-tsfm``'s ``MantisV1`` / ``Mantis8M`` (random
weights, CPU)."""

import importlib.util
import json
import os
import pathlib
import sys

import jax
import jax.numpy as jnp
import jit_testlib
import model_testlib
import numpy as np
import pytest

from egoimu_jax import durations
from egoimu_jax import jobs
from egoimu_jax import models
from egoimu_jax.evaluation import results
from egoimu_jax.models import interpolate
from egoimu_jax.models import mantis
from egoimu_jax.models import torch_convert
from egoimu_jax.models import transfer
from egoimu_jax.models.convert import mantis as convert
from egoimu_jax.training.tasks import finetune

KEY = jax.random.key(0)
# MantisV1 constructor arguments of the "tiny" variant (its config.json).
TINY = dict(seq_len=64, hidden_dim=32, num_patches=8, scalar_scales=None,
            hidden_dim_scalar_enc=8, epsilon_scalar_enc=1.1, transf_depth=2,
            transf_num_heads=2, transf_mlp_dim=64, transf_dim_head=16,
            transf_dropout=0.1)


def _imu(b=2, length=100, channels=6, seed=0):
  rng = np.random.default_rng(seed)
  # Channel offsets and scales so that the scalar encoders see spread values.
  scale = rng.uniform(0.1, 5.0, channels).astype(np.float32)
  offset = rng.normal(size=channels).astype(np.float32) * 3
  x = rng.normal(size=(b, length, channels)).astype(np.float32)
  return x * scale + offset


def _init(model, imu):
  imu = jnp.asarray(imu)
  return jit_testlib.compile_fast(
      lambda x: model.init(KEY, {"imu": x}, train=False), imu)(imu)


def _forward(model, variables, imu):
  """``model.apply`` in eval mode, compiled (eager dispatch is slower)."""
  imu = jnp.asarray(imu)
  fn = lambda v, x: model.apply(v, {"imu": x}, train=False)  # noqa: E731
  return jit_testlib.compile_fast(fn, variables, imu)(variables, imu)


def _param_count(m, channels):
  """Expected parameter count from the architecture (biases included)."""
  d, f, s = m.width, m.scalar_dim, len(m.scales)
  window = m.seq_len // m.num_patches
  k = window + 1 if window % 2 == 0 else window
  inner = m.num_heads * m.dim_head
  tokgen = 2 * (k * d + d) + 2 * 2 * d + 2 * 4 * s * f + (2 * d + 2 * f + 1
                                                          ) * d + 2 * d
  block = 4 * d + 3 * d * inner + (inner + 1) * d + 2 * d * m.mlp_dim + (
      m.mlp_dim + d)
  features = channels * m.features_per_channel
  head = (features + 1) * m.num_classes
  if m.head == "batchnorm_linear":
    head += 2 * features
  return tokgen + d + m.depth * block + head


# -- model --------------------------------------------------------------------


def test_tiny_shapes_params_and_init():
  model = mantis.create("tiny", num_classes=5)
  imu = _imu()
  variables = _init(model, imu)
  params = variables["params"]
  assert set(variables) == {"params"}
  assert set(params) == {"tokgen", "cls_token", "encoder", "head"}
  assert set(params["tokgen"]) == {"conv_diff", "conv_x", "norm_diff",
                                   "norm_x", "mean_encoder", "std_encoder",
                                   "proj", "proj_norm"}
  assert params["tokgen"]["conv_x"]["kernel"].shape == (9, 1, 32)
  assert params["tokgen"]["mean_encoder"]["w"].shape == (9, 8)
  assert params["tokgen"]["mean_encoder"]["norm"]["scale"].shape == (9, 8)
  assert params["encoder"]["block_1"]["attn"]["query"]["kernel"].shape == (
      32, 32)
  assert "bias" not in params["encoder"]["block_1"]["attn"]["query"]
  assert params["head"]["kernel"].shape == (6 * 32, 5)
  assert model_testlib.size(params) == _param_count(model, 6)

  logits, aux = _forward(model, variables, imu)
  assert logits.shape == (2, 5)
  assert aux["features"].shape == (2, 6 * 32)
  assert aux["tokens"].shape == (2, 6, 1 + 8, 32)
  np.testing.assert_allclose(aux["features"],
                             aux["tokens"][:, :, 0].reshape(2, -1))
  model_testlib.assert_linear_head(logits, aux["features"], params["head"])


def test_8m_parameter_count():
  model = mantis.create("8M", num_classes=3)
  params = model_testlib.abstract_params(model, "imu", (1, 1000, 6), KEY)
  count = model_testlib.size(params)
  assert count == _param_count(model, 6)
  # MantisV1's parameters without the pretraining projector: 8,037,632.
  assert count - (1536 + 1) * 3 == 8_037_632
  assert params["encoder"]["block_0"]["attn"]["query"]["kernel"].shape == (
      256, 1024)
  assert params["tokgen"]["proj"]["kernel"].shape == (576, 256)


def test_registry_and_errors():
  model = models.build({"name": "mantis", "variant": "tiny", "num_classes": 4,
                        "output_token": "combined"})
  assert isinstance(model, mantis.Mantis)
  assert (model.width, model.num_classes, model.output_token) == (32, 4,
                                                                  "combined")
  with pytest.raises(ValueError, match="unknown Mantis variant"):
    mantis.create("XL")
  imu = jnp.zeros((1, 64, 2))
  for field, value in (("output_token", "cls_token"), ("head", "mlp")):
    with pytest.raises(ValueError, match=field):
      mantis.create("tiny", **{field: value}).init(KEY, {"imu": imu},
                                                   train=False)
  with pytest.raises(ValueError, match="multiple of num_patches"):
    mantis.create("tiny", seq_len=60).init(KEY, {"imu": imu}, train=False)
  with pytest.raises(ValueError, match=r"\[b, L, C\]"):
    mantis.create("tiny").init(KEY, {"imu": jnp.zeros((1, 64))}, train=False)


def test_output_tokens():
  imu = jnp.asarray(_imu(channels=3))
  variables = _init(mantis.create("tiny"), imu)
  outs = {}
  for token in mantis.OUTPUT_TOKENS:
    model = mantis.create("tiny", output_token=token)
    params = dict(variables["params"])
    params["head"] = _init(model, imu)["params"]["head"]
    outs[token] = _forward(model, {"params": params}, imu)[1]
  tokens = outs["cls"]["tokens"]
  mean = tokens[:, :, 1:].mean(axis=2)
  np.testing.assert_allclose(outs["mean_token"]["features"],
                             mean.reshape(2, -1), rtol=1e-6)
  combined = jnp.concatenate([tokens[:, :, 0], mean], axis=-1)
  assert outs["combined"]["features"].shape == (2, 3 * 64)
  np.testing.assert_allclose(outs["combined"]["features"],
                             combined.reshape(2, -1), rtol=1e-6)


def test_channels_run_independently():
  """Channel j's features are the model's output on channel j alone."""
  model = mantis.create("tiny")
  imu = _imu(channels=4)
  variables = _init(model, imu)
  params = {k: v for k, v in variables["params"].items() if k != "head"}
  _, aux = _forward(model, variables, imu)
  single = mantis.create("tiny")
  one = dict(params, head=_init(single, imu[:, :, :1])["params"]["head"])
  x = jnp.asarray(imu[:, :, :1])
  forward = jit_testlib.compile_fast(
      lambda v, x: single.apply(v, {"imu": x}, train=False), {"params": one},
      x)
  for j in range(4):
    _, got = forward({"params": one}, jnp.asarray(imu[:, :, j:j + 1]))
    np.testing.assert_allclose(aux["features"][:, 32 * j:32 * (j + 1)],
                               got["features"], rtol=1e-5, atol=1e-5)


def test_resample_indices_and_identity():
  # 1000 -> 512 (5 s at 200 Hz): output j reads (j + 0.5) * 1000/512 - 0.5.
  i0, i1, lam = interpolate.resample_indices(1000, 512)
  src = np.maximum((np.arange(512) + 0.5) * 1000 / 512 - 0.5, 0)
  np.testing.assert_array_equal(i0, np.floor(src))
  np.testing.assert_array_equal(i1, i0 + 1)
  np.testing.assert_allclose(lam, src - np.floor(src), atol=1e-6)
  # Upsampling clamps both ends: positions below 0 read sample 0, the last
  # outputs read the last sample twice.
  i0, i1, lam = interpolate.resample_indices(100, 512)
  assert (i0[0], i1[0], lam[0]) == (0, 1, 0.0)
  assert (i0[-1], i1[-1]) == (99, 99)
  ramp = jnp.arange(1000.0)[None]
  np.testing.assert_allclose(interpolate.resample_linear(ramp, 512)[0], src,
                             rtol=1e-6)
  x = jnp.asarray(_imu(length=64, channels=1)[:, :, 0])
  assert interpolate.resample_linear(x, 64) is x


def test_batchnorm_linear_head():
  model = mantis.create("tiny", head="batchnorm_linear", dropout=0.0)
  imu = jnp.asarray(_imu(b=4))
  variables = _init(model, imu)
  assert set(variables) == {"params", "batch_stats"}
  assert set(variables["params"]) == {"tokgen", "cls_token", "encoder",
                                      "head_norm", "head"}
  assert model_testlib.size(variables["params"]) == _param_count(model, 6)
  (logits, aux), updates = jax.jit(lambda v, x: model.apply(
      v, {"imu": x}, train=True, mutable=["batch_stats"]))(variables, imu)
  feats = np.asarray(aux["features"])
  stats = updates["batch_stats"]["head_norm"]
  np.testing.assert_allclose(stats["mean"], 0.1 * feats.mean(0), rtol=1e-4,
                             atol=1e-6)
  # Training normalises with the batch statistics (biased variance).
  norm = (feats - feats.mean(0)) / np.sqrt(feats.var(0) + 1e-5)
  head = variables["params"]["head"]
  np.testing.assert_allclose(logits, norm @ head["kernel"] + head["bias"],
                             rtol=1e-4, atol=1e-4)
  # Evaluation uses the running statistics (initially 0 / 1).
  logits, aux = _forward(model, variables, imu)
  want = aux["features"] / np.sqrt(1 + 1e-5) @ head["kernel"] + head["bias"]
  np.testing.assert_allclose(logits, want, rtol=1e-4, atol=1e-4)
  # The default fresh leaves of a warm start cover both parts of the head.
  mask = transfer.fresh_mask(variables, transfer.HEAD)
  assert all(jax.tree.leaves(mask["batch_stats"]))
  assert all(jax.tree.leaves(mask["params"]["head_norm"]))
  assert not any(jax.tree.leaves(mask["params"]["encoder"]))


def test_training_mode_and_bfloat16():
  model = mantis.create("tiny", num_classes=3, dropout=0.1)
  imu = jnp.asarray(_imu())
  variables = _init(model, imu)
  x = {"imu": imu}
  evals = _forward(model, variables, imu)[0]
  params = variables["params"]
  train_fn = lambda p, k: model.apply(  # noqa: E731
      {"params": p}, x, train=True, rngs={"dropout": k})[0]
  train = jit_testlib.compile_fast(train_fn, params, KEY)
  a = train(params, jax.random.key(1))
  b = train(params, jax.random.key(2))
  assert not np.allclose(a, b) and not np.allclose(a, evals)
  grad_fn = jax.grad(lambda p: train_fn(p, KEY).sum())
  grads = jit_testlib.compile_fast(grad_fn, params)(params)
  assert all(np.isfinite(g).all() for g in jax.tree.leaves(grads))
  assert all(np.abs(g).max() > 0 for g in jax.tree.leaves(grads))

  bf16 = mantis.create("tiny", num_classes=3, dtype=jnp.bfloat16)
  logits, aux = _forward(bf16, variables, imu)
  assert aux["tokens"].dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(logits, np.float32), evals, atol=0.15)


# -- FLOPs --------------------------------------------------------------------


@pytest.mark.parametrize("variant,channels", [("tiny", 6), ("8M", 6),
                                              ("8M", 1)])
def test_forward_flops_match_xla_matmuls(variant, channels):
  """Exact agreement with XLA's count of the program's dots and convs
  (abstract arrays: compiles only)."""
  model = mantis.create(variant, num_classes=3)
  x = jax.ShapeDtypeStruct((2, 1000, channels), jnp.float32)
  variables = jax.eval_shape(
      lambda x: model.init(KEY, {"imu": x}, train=False), x)
  fn = lambda v, x: model.apply(v, {"imu": x}, train=False)[0]  # noqa: E731
  flops = jit_testlib.op_flops(fn, variables, x)
  xla, ops = sum(flops), len(flops)
  assert ops == 2 + 1 + model.depth * 8 + 1  # convs, proj, blocks, head
  ours = mantis.forward_flops(variant, channels=channels, num_classes=3)
  assert ours == pytest.approx(xla / 2, rel=1e-6)
  assert models.forward_flops({"name": "mantis", "variant": variant,
                               "num_classes": 3, "channels": channels}) == ours


def test_forward_flops_8m_against_whole_program():
  """The left-out elementwise work (norms over 512 x 256 conv outputs,
  GELU, softmax, scalar encoders) stays a minority of XLA's whole count."""
  model = mantis.create("8M", num_classes=3)
  x = jax.ShapeDtypeStruct((1, 1000, 6), jnp.float32)
  variables = jax.eval_shape(
      lambda x: model.init(KEY, {"imu": x}, train=False), x)
  fn = lambda v, x: model.apply(v, {"imu": x}, train=False)[0]  # noqa: E731
  total = jit_testlib.cost(jax.jit(fn).lower(variables, x).compile())["flops"]
  ours = mantis.forward_flops("8M")
  assert 0.6 * total < ours < total
  # ~0.56 GFLOP per channel (6 blocks: 0.55); "combined" only widens the
  # head.
  assert 0.55e9 < ours / 6 < 0.58e9
  assert mantis.forward_flops("8M", output_token="combined") - ours == (
      2 * 6 * 256 * 3)


# -- importer (numpy) ---------------------------------------------------------


def _synthetic_state_dict(cfg=TINY, prefix="vit_unit.", seed=0):
  """A state dict with MantisV1's names, shapes and buffers."""
  rng = np.random.default_rng(seed)
  r = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
  d, f = cfg["hidden_dim"], cfg["hidden_dim_scalar_enc"]
  p = cfg["num_patches"]
  window = cfg["seq_len"] // p
  k = window + 1 if window % 2 == 0 else window
  inner = cfg["transf_num_heads"] * cfg["transf_dim_head"]
  m = cfg["transf_mlp_dim"]
  t = "tokgen_unit"
  sd = {}
  lin = lambda name, o, i: {f"{name}.weight": r(o, i),  # noqa: E731
                            f"{name}.bias": r(o)}
  ln = lambda name, n: {f"{name}.weight": r(n),  # noqa: E731
                        f"{name}.bias": r(n)}
  for j in range(2):
    sd.update({f"{t}.convs.{j}.conv.weight": r(d, 1, k),
               f"{t}.convs.{j}.conv.bias": r(d)})
    sd.update(ln(f"{t}.layer_norms.{j}", d))
    enc = f"{t}.scalar_encoders.{j}"
    sd[f"{enc}.scales"] = np.asarray(mantis.SCALES, np.float32)
    for s in range(len(mantis.SCALES)):
      sd.update({f"{enc}.encoders.{s}.w": r(1, f),
                 f"{enc}.encoders.{s}.b": r(1, f)})
      sd.update(ln(f"{enc}.encoders.{s}.layer_norm", f))
  sd.update(lin(f"{t}.linear_encoder.linear", d, 2 * d + 2 * f))
  sd.update(ln(f"{t}.linear_encoder.layer_norm", d))
  sd[f"{prefix}cls_token"] = r(d)
  sd[f"{prefix}pos_encoder.pe"] = _torch_style_pe(p + 1, d)
  for i in range(cfg["transf_depth"]):
    q = f"{prefix}transformer.layers.{i}"
    sd.update(ln(f"{q}.0.norm", d))
    sd[f"{q}.0.fn.to_qkv.weight"] = r(3 * inner, d)
    sd.update(lin(f"{q}.0.fn.to_out.0", d, inner))
    sd.update(ln(f"{q}.1.norm", d))
    sd.update(lin(f"{q}.1.fn.net.0", m, d))
    sd.update(lin(f"{q}.1.fn.net.3", d, m))
  sd.update(ln("prj.0", d))
  sd.update(lin("prj.1", d, d))
  return sd


def _torch_style_pe(n, d):
  """``PositionalEncoding.pe`` ``[n, 1, d]`` computed as torch does, in
  float32 (ours is float64 rounded)."""
  div = np.exp(np.arange(0, d, 2, dtype=np.float32) *
               np.float32(-np.log(10000.0) / d))
  angle = np.arange(n, dtype=np.float32)[:, None] * div
  pe = np.zeros((n, 1, d), np.float32)
  pe[:, 0, 0::2], pe[:, 0, 1::2] = np.sin(angle), np.cos(angle)
  return pe


def _write(path, sd, config=TINY):
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  os.makedirs(path, exist_ok=True)
  if config is not None:
    with open(os.path.join(path, "config.json"), "w") as f:
      json.dump(dict(config, device="cpu", output_token="cls_token"), f)
  save_file(sd, os.path.join(path, "model.safetensors"))
  return str(path)


def _model_for(ckpt, **kwargs):
  """The model a checkpoint describes (config.json sizes over 8M's)."""
  return mantis.create("8M", **convert.spec_overrides(
      *convert.read_checkpoint(ckpt)), **kwargs)


def test_import_maps_every_weight(tmp_path):
  sd = _synthetic_state_dict()
  ckpt = _write(tmp_path / "old", sd)
  params = convert.load(ckpt)["params"]
  model = _model_for(ckpt)
  assert model == mantis.create("tiny")  # config.json describes "tiny"
  expected = jax.eval_shape(
      lambda x: model.init(KEY, {"imu": x}, train=False),
      jax.ShapeDtypeStruct((1, 64, 6), jnp.float32))["params"]
  expected = {k: v for k, v in expected.items() if k != "head"}
  torch_convert.check_like(params, expected)

  src = "vit_unit.transformer.layers.1.0.fn.to_qkv.weight"
  attn = params["encoder"]["block_1"]["attn"]
  for j, name in enumerate(("query", "key", "value")):
    np.testing.assert_array_equal(attn[name]["kernel"],
                                  sd[src][32 * j:32 * (j + 1)].T)
  np.testing.assert_array_equal(
      attn["out"]["kernel"],
      sd["vit_unit.transformer.layers.1.0.fn.to_out.0.weight"].T)
  tok = params["tokgen"]
  np.testing.assert_array_equal(
      tok["conv_diff"]["kernel"],
      sd["tokgen_unit.convs.0.conv.weight"].transpose(2, 1, 0))
  np.testing.assert_array_equal(tok["norm_x"]["scale"],
                                sd["tokgen_unit.layer_norms.1.weight"])
  enc = "tokgen_unit.scalar_encoders.1.encoders.4"
  np.testing.assert_array_equal(tok["std_encoder"]["w"][4],
                                sd[f"{enc}.w"][0])
  np.testing.assert_array_equal(tok["std_encoder"]["b"][4],
                                sd[f"{enc}.b"][0])
  np.testing.assert_array_equal(tok["std_encoder"]["norm"]["bias"][4],
                                sd[f"{enc}.layer_norm.bias"])
  np.testing.assert_array_equal(
      params["encoder"]["block_0"]["mlp"]["fc2"]["kernel"],
      sd["vit_unit.transformer.layers.0.1.fn.net.3.weight"].T)
  np.testing.assert_array_equal(params["cls_token"], sd["vit_unit.cls_token"])

  # The new prefix gives the same tree; prj is reported, not imported.
  new = {k.replace("vit_unit.", "transf_unit."): v for k, v in sd.items()}
  weights = convert.convert(new, TINY)
  jax.tree.map(np.testing.assert_array_equal, weights.params, params)
  assert weights.ignored == ("prj.0.bias", "prj.0.weight", "prj.1.bias",
                             "prj.1.weight")


def test_spec_from_weights_without_config(tmp_path):
  """Without config.json the sizes come from the shapes; heads and
  dim_head default to 8M's (so a tiny checkpoint needs its config)."""
  sd = _synthetic_state_dict()
  assert convert.spec_overrides(None, sd) == dict(
      width=32, depth=2, scalar_dim=8, mlp_dim=64, num_patches=8)
  with pytest.raises(ValueError, match=r"to_qkv.weight.*without config.json"):
    convert.load(_write(tmp_path, sd, config=None))


def test_import_feeds_the_warm_start(tmp_path):
  """``load`` is the ``finetune`` importer: every leaf but the fresh head
  (Dense or BatchNorm + Dense) comes from the checkpoint."""
  sd = _synthetic_state_dict()
  ckpt = _write(tmp_path, sd)
  assert models.IMPORTERS.get("mantis") is convert.load
  for head in mantis.HEADS:
    model = _model_for(ckpt, head=head)
    variables = _init(model, _imu(length=1000))
    merged = finetune.import_weights("mantis", ckpt, variables)
    np.testing.assert_array_equal(merged["params"]["cls_token"],
                                  sd["vit_unit.cls_token"])
    model_testlib.assert_head_is_fresh(merged, convert.load(ckpt), variables)
    if head == "batchnorm_linear":
      assert set(merged["batch_stats"]) == {"head_norm"}


def test_import_errors(tmp_path):
  sd = _synthetic_state_dict()
  model_testlib.assert_missing_weight(
      lambda d: convert.load(_write(tmp_path / "a", d)), sd,
      "vit_unit.transformer.layers.1.1.fn.net.0.bias",
      r"transf_unit.transformer.layers.1.1.fn.net.0.bias")
  extra = dict(sd, **{"tokgen_unit.extra_conv.weight": np.zeros(3, np.float32),
                      "vit_unit.transformer.layers.2.0.norm.weight":
                          np.zeros(32, np.float32)})
  with pytest.raises(ValueError, match=r"not converted: \['tokgen_unit.extra_"
                     r"conv.weight', 'transf_unit.transformer.layers.2"):
    convert.convert(extra, dict(TINY, transf_depth=2))
  scales = dict(sd, **{"tokgen_unit.scalar_encoders.0.scales":
                       np.asarray(mantis.SCALES[::-1], np.float32)})
  with pytest.raises(ValueError, match="scalar_encoders.0.scales"):
    convert.convert(scales, TINY)
  pe = dict(sd, **{"vit_unit.pos_encoder.pe": sd["vit_unit.pos_encoder.pe"]
                   + 0.01})
  with pytest.raises(ValueError, match="pos_encoder.pe is not the sinusoidal"):
    convert.convert(pe, TINY)
  with pytest.raises(FileNotFoundError, match="does not exist"):
    convert.load(str(tmp_path / "nowhere.pth"))
  os.makedirs(tmp_path / "empty")
  with pytest.raises(FileNotFoundError, match="no model.safetensors"):
    convert.load(str(tmp_path / "empty"))
  (tmp_path / "weights.npz").write_bytes(b"")
  with pytest.raises(ValueError, match="unknown checkpoint format"):
    convert.load(str(tmp_path / "weights.npz"))


def _config_module():
  path = pathlib.Path(__file__).resolve().parents[2] / "configs" / "mantis.py"
  spec = importlib.util.spec_from_file_location("configs_mantis", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_config_finetunes_from_converted_weights(tiny_cache, tmp_path):
  """``configs/mantis.py:tiny,weights=...`` runs the ``finetune`` task on
  imported weights; a checkpoint of another size stops it, naming leaves."""
  get_config = _config_module().get_config
  assert get_config(None).task.name == "supervised"
  ckpt = _write(tmp_path / "ckpt", _synthetic_state_dict())
  config = get_config(f"tiny,weights={ckpt}")
  assert (config.task.name, config.task.pretrained,
          config.task.pretrained_format) == ("finetune", ckpt, "mantis")
  config.data.cache_dir = tiny_cache
  durations.clear(config)
  config.update(total_steps=2, eval_every_steps=2, log_every_steps=1)
  jobs.JOBS.get("train")(config, str(tmp_path / "run"))
  run = results.read(str(tmp_path / "run"))
  assert np.isfinite(run["metrics"]["test"]["macro_f1"])

  wide = dict(TINY, hidden_dim=48)
  config.task.pretrained = _write(tmp_path / "wide",
                                  _synthetic_state_dict(wide), wide)
  with pytest.raises(transfer.TransferError, match="cls_token"):
    jobs.JOBS.get("train")(config, str(tmp_path / "run_wide"))


def test_torch_files_need_torch(tmp_path, monkeypatch):
  (tmp_path / "mantis.pth").write_bytes(b"")
  monkeypatch.setitem(sys.modules, "torch", None)
  with pytest.raises(ImportError, match=r"\.pth checkpoints needs torch"):
    convert.read_checkpoint(str(tmp_path / "mantis.pth"))


# -- parity with mantis-tsfm --------------------------------------------------


def _reference(torch, cfg=None, legacy=False, seed=0, **kwargs):
  """``MantisV1`` (or the legacy ``Mantis8M``) with random weights and
  non-trivial norms, in eval mode."""
  architecture = pytest.importorskip("mantis.architecture")
  torch.manual_seed(seed)
  cls = architecture.Mantis8M if legacy else architecture.MantisV1
  ref = cls(device="cpu", **(cfg or {}), **kwargs).eval()
  with torch.no_grad():
    for name, p in ref.named_parameters():
      if "norm" in name:
        p.add_(0.3 * torch.randn_like(p))
  return ref


@pytest.mark.torch
def test_resample_matches_torch_interpolate():
  torch = pytest.importorskip("torch")
  rng = np.random.default_rng(0)
  for n_in, n_out in ((1000, 512), (100, 512), (37, 64), (513, 512)):
    x = rng.normal(size=(3, 2, n_in)).astype(np.float32)
    want = torch.nn.functional.interpolate(
        torch.from_numpy(x), size=n_out, mode="linear",
        align_corners=False).numpy()
    got = np.asarray(interpolate.resample_linear(jnp.asarray(x), n_out))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("token", ["cls", "mean_token", "combined"])
def test_parity_tiny_output_tokens(tmp_path, token):
  torch = pytest.importorskip("torch")
  ref_token = "cls_token" if token == "cls" else token
  ref = _reference(torch, TINY, output_token=ref_token)
  ref.save_pretrained(tmp_path)
  model = _model_for(str(tmp_path), output_token=token)
  # Amplitudes 1, 1e-3 (the +1e-5 in the standardisation matters) and 30.
  x = _imu(b=3, length=64, channels=1, seed=1)
  x = x * np.asarray([1.0, 1e-3, 30.0], np.float32)[:, None, None]
  params = dict(convert.load(str(tmp_path))["params"],
                head=_init(model, x)["params"]["head"])
  _, aux = _forward(model, {"params": params}, x)
  with torch.no_grad():
    want = ref(torch.from_numpy(x).permute(0, 2, 1)).numpy()
  assert aux["features"].shape == want.shape
  assert np.abs(want).max() > 0.5
  np.testing.assert_allclose(np.asarray(aux["features"]), want, rtol=1e-4,
                             atol=1e-4)


@pytest.mark.torch
def test_parity_8m_univariate_legacy_checkpoint(tmp_path):
  """``Mantis8M`` (old ``vit_unit.*`` keys, as the released weights) saved
  with ``torch.save``; our CLS embedding matches on a 512-sample series."""
  torch = pytest.importorskip("torch")
  ref = _reference(torch, legacy=True, seed=1)
  assert any(k.startswith("vit_unit.") for k in ref.state_dict())
  torch.save(ref.state_dict(), tmp_path / "mantis8m.pth")
  config, state = convert.read_checkpoint(str(tmp_path / "mantis8m.pth"))
  model = mantis.create("8M", **convert.spec_overrides(config, state))
  assert model == mantis.create("8M")
  x = _imu(b=2, length=512, channels=1, seed=2)
  params = dict(convert.load(str(tmp_path / "mantis8m.pth"))["params"],
                head=_init(model, x)["params"]["head"])
  _, aux = jax.jit(lambda p, x: model.apply({"params": p}, {"imu": x},
                                            train=False))(params, x)
  with torch.no_grad():
    want = ref(torch.from_numpy(x).permute(0, 2, 1)).numpy()
  assert want.shape == (2, 256) and np.abs(want).max() > 0.5
  np.testing.assert_allclose(np.asarray(aux["features"]), want, rtol=1e-4,
                             atol=1e-4)


@pytest.mark.torch
def test_parity_8m_six_channels(tmp_path):
  """A [b, 1000, 6] window: the reference resized with ``F.interpolate`` and
  run per channel, outputs concatenated (``FineTuningNetwork``'s rule)."""
  torch = pytest.importorskip("torch")
  ref = _reference(torch, seed=2)
  ref.save_pretrained(tmp_path)
  model = _model_for(str(tmp_path))
  assert model == mantis.create("8M")
  x = _imu(b=2, length=1000, channels=6, seed=3)
  params = dict(convert.load(str(tmp_path))["params"],
                head=_init(model, x)["params"]["head"])
  _, aux = jax.jit(lambda p, x: model.apply({"params": p}, {"imu": x},
                                            train=False))(params, x)
  xt = torch.nn.functional.interpolate(
      torch.from_numpy(x).permute(0, 2, 1), size=512, mode="linear",
      align_corners=False)
  with torch.no_grad():
    want = torch.cat([ref(xt[:, [c]]) for c in range(6)], dim=-1).numpy()
  assert aux["features"].shape == want.shape == (2, 1536)
  np.testing.assert_allclose(np.asarray(aux["features"]), want, rtol=1e-4,
                             atol=1e-4)
