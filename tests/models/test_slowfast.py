"""SlowFast: shapes, Slow-frame sampling, FLOPs, checkpoint conversion, and
parity with pytorchvideo's ``create_slowfast`` (random weights and BatchNorm
statistics, eval and train mode)."""

import sys

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from egoimu_jax import models
from egoimu_jax.models import slowfast
from egoimu_jax.models.convert import slowfast as convert

import torchvision_standin

KEY = jax.random.key(0)


def _frames(b=2, t=8, size=32, seed=0):
  return np.random.default_rng(seed).normal(size=(b, t, size, size, 3)).astype(
      np.float32)


def _init(model, frames):
  return model.init({"params": KEY}, {"frames": frames}, train=False)


def _random_variables(model, seed=0):
  """Normal values in every variable of ``model`` (no init to compile)."""
  shapes = jax.eval_shape(lambda: _init(model, jnp.zeros((1, 8, 32, 32, 3))))
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda a: rng.normal(size=a.shape).astype(np.float32),
      flax.core.unfreeze(shapes))


@pytest.fixture(scope="module")
def tiny():
  """The tiny variant (5 classes) and its initial variables (compiling the
  initialisers takes long on CPU: done once)."""
  model = slowfast.create("tiny", num_classes=5)
  return model, jax.jit(lambda x: _init(model, x))(_frames(b=1))


# -- model -------------------------------------------------------------------


def test_slow_indices_known_values():
  # torch.linspace(0, 31, 8).long(): 0, 4.43, 8.86, 13.29, ... -> truncated.
  np.testing.assert_array_equal(slowfast.slow_indices(32, 4),
                                [0, 4, 8, 13, 17, 22, 26, 31])
  np.testing.assert_array_equal(slowfast.slow_indices(8, 4), [0, 7])
  np.testing.assert_array_equal(slowfast.slow_indices(4, 4), [0])
  with pytest.raises(ValueError, match="no Slow frame"):
    slowfast.slow_indices(3, 4)


@pytest.mark.torch
def test_slow_indices_equal_torch_linspace():
  import torch  # pylint: disable=g-import-not-at-top
  for t in range(1, 130):
    for alpha in range(1, 9):
      if t // alpha:
        want = torch.linspace(0, t - 1, t // alpha).long().numpy()
        np.testing.assert_array_equal(slowfast.slow_indices(t, alpha), want,
                                      err_msg=f"T={t} alpha={alpha}")


def test_slow_pathway_sees_the_sampled_frames(tiny):
  model, variables = tiny
  frames = _frames(t=16)
  _, state = jax.jit(lambda v, x: model.apply(
      v, {"frames": x}, train=False, capture_intermediates=True))(
          variables, frames)
  got = state["intermediates"]["slow_stem"]["__call__"][0]
  stem = slowfast.Stem(features=16, temporal_kernel=1)
  want = jax.jit(lambda v, x: stem.apply(v, x, False))(
      {k: variables[k]["slow_stem"] for k in variables},
      frames[:, [0, 5, 10, 15]])
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  assert got.shape == (2, 4, 8, 8, 16)


def test_tiny_shapes_and_batch_stats(tiny):
  model, variables = tiny
  frames = _frames()
  assert sorted(variables) == ["batch_stats", "params"]
  params = variables["params"]
  assert params["head"]["kernel"].shape == (model.num_features, 5)
  assert model.num_features == 512 + 64
  # Lateral conv: 7x1x1 over Fast stem channels 2 -> 4, concatenated.
  assert params["fusion_0"]["conv"]["kernel"].shape == (7, 1, 1, 2, 4)
  assert params["slow_res2"]["block_0"]["conv_a"]["kernel"].shape == (
      1, 1, 1, 16 + 4, 16)
  assert params["slow_res4"]["block_0"]["conv_a"]["kernel"].shape[0] == 3
  assert params["fast_res2"]["block_0"]["conv_a"]["kernel"].shape[0] == 3
  assert params["fast_stem"]["conv"]["kernel"].shape == (5, 7, 7, 3, 2)
  # Zero-initialised last BN scale of every bottleneck (pytorchvideo init).
  assert not np.any(params["slow_res3"]["block_0"]["norm_c"]["scale"])

  run = jax.jit(lambda v, x, key: model.apply(
      v, {"frames": x}, train=True, rngs={"dropout": key},
      mutable=["batch_stats"]))
  (logits, aux), updates = run(variables, frames, jax.random.key(1))
  assert logits.shape == (2, 5)
  assert aux["features"].shape == (2, 576)
  before = variables["batch_stats"]["slow_stem"]["norm"]["mean"]
  after = updates["batch_stats"]["slow_stem"]["norm"]["mean"]
  assert np.abs(after - before).max() > 0
  (logits2, _), _ = run(variables, frames, jax.random.key(2))
  assert not np.allclose(logits, logits2)  # dropout on the pooled features


def test_bfloat16_compute_keeps_float32_params(tiny):
  f32, variables = tiny
  bf16 = slowfast.create("tiny", num_classes=5, dtype=jnp.bfloat16)
  frames = _frames(b=1)
  assert all(l.dtype == jnp.float32 for l in jax.tree.leaves(variables))
  # Non-trivial residual branches (zero-init BN scales would hide them).
  variables = flax.core.unfreeze(variables)
  variables["params"] = jax.tree.map(lambda p: p + 0.5, variables["params"])
  ref, _ = jax.jit(lambda v, x: f32.apply(v, {"frames": x}, train=False))(
      variables, frames)
  low, aux = jax.jit(lambda v, x: bf16.apply(v, {"frames": x}, train=False))(
      variables, frames)
  assert low.dtype == jnp.bfloat16 and aux["features"].dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(low, np.float32), ref, rtol=0.1,
                             atol=0.05 * np.abs(ref).max())


def test_folded_convs_equal_3d_convs(tiny):
  """``fold_time`` (2-D convs) computes what lax's 3-D convs compute, for
  every kernel shape used (stems, temporal, lateral strided, spatial)."""
  model, variables = tiny
  variables = flax.core.unfreeze(variables)
  variables["params"] = jax.tree.map(lambda p: p + 0.1, variables["params"])
  plain = slowfast.create("tiny", num_classes=5, fold_time=False)
  frames = _frames(t=16)
  run = lambda m: jax.jit(lambda v, x: m.apply(  # noqa: E731
      v, {"frames": x}, train=False)[0])(variables, frames)
  want = run(plain)
  np.testing.assert_allclose(run(model), want, rtol=1e-4,
                             atol=1e-4 * np.abs(want).max())
  for kernel, strides in (((5, 7, 7), (1, 2, 2)), ((7, 1, 1), (4, 1, 1)),
                          ((3, 1, 1), (1, 1, 1)), ((1, 3, 3), (1, 2, 2)),
                          ((3, 3, 3), (2, 2, 2))):
    x = _frames(b=2, t=9, size=11)
    conv = lambda fold: slowfast.Conv(  # noqa: E731
        4, kernel, strides, fold_time=fold)
    params = conv(False).init(KEY, x)
    np.testing.assert_allclose(conv(True).apply(params, x),
                               conv(False).apply(params, x), rtol=1e-5,
                               atol=1e-5, err_msg=f"{kernel} {strides}")


def test_rejects_bad_inputs_and_variants():
  model = slowfast.create("tiny", num_classes=3)
  with pytest.raises(ValueError, match="multiple of alpha=4"):
    _init(model, jnp.zeros((1, 6, 32, 32, 3)))
  with pytest.raises(ValueError, match=r"\[b, T, H, W, 3\]"):
    _init(model, jnp.zeros((1, 8, 32, 32)))
  with pytest.raises(ValueError, match="unknown SlowFast variant"):
    slowfast.create("R101")


def test_registry_and_r50_size():
  model = models.build({"name": "slowfast", "variant": "tiny",
                        "num_classes": 3, "depths": [2, 1, 1, 1]})
  assert isinstance(model, slowfast.SlowFast) and model.depths == (2, 1, 1, 1)
  hash(model)
  r50 = slowfast.create(num_classes=400)
  assert r50.num_features == 2304
  shapes = jax.eval_shape(lambda: _init(
      r50, jnp.zeros((1, 32, 64, 64, 3))))["params"]
  # pytorchvideo's model zoo: SlowFast R50 8x8, 34.57 M parameters.
  n = sum(np.prod(l.shape) for l in jax.tree.leaves(shapes))
  assert abs(n / 1e6 - 34.57) < 0.005, n
  assert [len(shapes[f"slow_res{i}"]) for i in range(2, 6)] == [3, 4, 6, 3]


def test_forward_flops():
  # pytorchvideo's model zoo: 65.71 GFLOPs (multiply-adds) at 256^2.
  assert abs(slowfast.forward_flops("R50", 32, 256, num_classes=400) / 2e9 -
             65.71) < 0.01
  model = slowfast.create("tiny", num_classes=3)
  x = jax.ShapeDtypeStruct((2, 8, 32, 32, 3), jnp.float32)
  variables = jax.eval_shape(lambda: _init(model, jnp.zeros(x.shape)))
  cost = jax.jit(lambda v, x: model.apply(v, {"frames": x}, train=False)
                 ).lower(variables, x).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  xla = cost["flops"] / x.shape[0]
  # XLA skips multiply-adds on padding; the rest is BN / ReLU / pooling.
  analytic = slowfast.forward_flops("tiny", 8, 32, count_padding=False)
  assert 1.0 <= xla / analytic < 1.1, (xla, analytic)
  assert slowfast.forward_flops("tiny", 8, 32) > 1.1 * analytic


# -- conversion (numpy; pytorchvideo names) -----------------------------------


def _to_pytorchvideo(variables):
  """Our variables under pytorchvideo's state-dict names (inverse mapping)."""
  sd = {}
  params, stats = variables["params"], variables["batch_stats"]

  def put(prefix, p, s=None):
    if "kernel" in p and p["kernel"].ndim == 5:
      sd[f"{prefix}.weight"] = np.transpose(p["kernel"], (4, 3, 0, 1, 2))
    elif "kernel" in p:
      sd[f"{prefix}.weight"] = np.asarray(p["kernel"]).T
      sd[f"{prefix}.bias"] = np.asarray(p["bias"])
    else:
      sd.update({f"{prefix}.weight": p["scale"], f"{prefix}.bias": p["bias"],
                 f"{prefix}.running_mean": s["mean"],
                 f"{prefix}.running_var": s["var"],
                 f"{prefix}.num_batches_tracked": np.array(0)})

  for p, path in enumerate(("slow", "fast")):
    for name in ("conv", "norm"):
      put(f"blocks.0.multipathway_blocks.{p}.{name}",
          params[f"{path}_stem"][name], stats[f"{path}_stem"].get(name))
    for s in range(1, 5):
      for block, tree in params[f"{path}_res{s + 1}"].items():
        j = int(block.split("_")[1])
        prefix = f"blocks.{s}.multipathway_blocks.{p}.res_blocks.{j}"
        for name, leaf in tree.items():
          where = name if name.startswith("branch1") else f"branch2.{name}"
          put(f"{prefix}.{where}", leaf,
              stats[f"{path}_res{s + 1}"][block].get(name))
  for i in range(4):
    put(f"blocks.{i}.multipathway_fusion.conv_fast_to_slow",
        params[f"fusion_{i}"]["conv"])
    put(f"blocks.{i}.multipathway_fusion.norm", params[f"fusion_{i}"]["norm"],
        stats[f"fusion_{i}"]["norm"])
  put("blocks.6.proj", params["head"])
  # C order, as torch tensors are (safetensors' numpy writer ignores strides).
  return {k: np.array(v, order="C") for k, v in sd.items()}


@pytest.fixture(scope="module")
def tiny_checkpoint():
  model = slowfast.create("tiny", num_classes=4, depths=(2, 1, 1, 1))
  variables = _random_variables(model)  # distinct values everywhere
  return model, variables, _to_pytorchvideo(variables)


def _variables(out):
  return {k: out[k] for k in ("params", "batch_stats")}


def test_convert_round_trip_and_spec(tiny_checkpoint):
  """Every leaf lands where it came from; the spec is read from shapes."""
  model, variables, sd = tiny_checkpoint
  out = convert.convert(sd)
  assert out["ignored"] == ()
  spec = out["spec_overrides"]
  assert spec["depths"] == (2, 1, 1, 1) and spec["stem_width"] == 16
  assert spec["beta_inv"] == 8 and spec["fusion_ratio"] == 2
  assert spec["fusion_kernel"] == 7 and spec["fast_stem_kernel"] == 5
  assert spec["slow_temporal_kernels"] == (1, 1, 3, 3)
  assert spec["fast_temporal_kernels"] == (3, 3, 3, 3)
  assert slowfast.create("tiny", num_classes=4, **spec) == model
  jax.tree.map(np.testing.assert_array_equal, _variables(out),
               flax.core.unfreeze(variables))
  # DistributedDataParallel prefix.
  ddp = convert.convert({"module." + k: v for k, v in sd.items()})
  jax.tree.map(np.testing.assert_array_equal, _variables(ddp),
               _variables(out))


def test_convert_errors_name_the_key(tiny_checkpoint):
  _, _, sd = tiny_checkpoint
  missing = ("blocks.2.multipathway_blocks.1.res_blocks.0.branch2.norm_b."
             "running_var")
  broken = {k: v for k, v in sd.items() if k != missing}
  with pytest.raises(KeyError, match=missing.replace(".", r"\.")):
    convert.convert(broken)
  extra = dict(sd, **{"blocks.5.extra.weight": np.zeros(3, np.float32)})
  with pytest.raises(ValueError, match=r"not converted: \['blocks\.5\.extra"):
    convert.convert(extra)
  # A second block in res3 of the Slow pathway only: the Fast one is missing.
  second = {"blocks.2." + k[len("blocks.1."):]: v for k, v in sd.items()
            if k.startswith("blocks.1.multipathway_blocks.0.res_blocks.1.")}
  with pytest.raises(KeyError, match=r"blocks\.2\.multipathway_blocks\.1\."
                     r"res_blocks\.1\.branch2\.conv_a\.weight"):
    convert.convert({**sd, **second})
  wrong = dict(sd)
  key = "blocks.1.multipathway_blocks.0.res_blocks.0.branch2.conv_b.weight"
  wrong[key] = np.zeros((16, 16, 1, 1, 1), np.float32)
  with pytest.raises(ValueError,
                     match="slow_res2/block_0/conv_b/kernel: shape"):
    convert.convert(wrong)
  with pytest.raises(KeyError, match="not a pytorchvideo SlowFast"):
    convert.convert({"fc.weight": np.zeros((2, 2))})


def test_head_is_ignored_when_classes_differ(tiny_checkpoint):
  _, variables, sd = tiny_checkpoint
  out = convert.convert(sd, num_classes=7)
  assert out["ignored"] == ("blocks.6.proj.bias", "blocks.6.proj.weight")
  assert "head" not in out["params"]
  np.testing.assert_array_equal(
      out["batch_stats"]["fast_res5"]["block_0"]["norm_a"]["var"],
      variables["batch_stats"]["fast_res5"]["block_0"]["norm_a"]["var"])
  headless = {k: v for k, v in sd.items() if not k.startswith("blocks.6.")}
  out = convert.convert(headless)
  assert "head" not in out["params"] and out["ignored"] == ()


def test_load_numpy_formats(tiny_checkpoint, tmp_path):
  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  _, _, sd = tiny_checkpoint
  want = _variables(convert.convert(sd))
  np.savez(tmp_path / "sf.npz", **sd)
  save_file(sd, str(tmp_path / "sf.safetensors"))
  for name in ("sf.npz", "sf.safetensors"):
    got = _variables(convert.load(str(tmp_path / name)))
    jax.tree.map(np.testing.assert_array_equal, got, want)
  with pytest.raises(ValueError, match="unknown checkpoint format"):
    convert.load(str(tmp_path / "sf.ckpt"))


def test_torch_checkpoints_need_torch(tmp_path, monkeypatch):
  path = tmp_path / "SLOWFAST_8x8_R50.pyth"
  path.write_bytes(b"")
  monkeypatch.setitem(sys.modules, "torch", None)
  with pytest.raises(ImportError, match="needs torch"):
    convert.load(str(path))


@pytest.mark.torch
def test_load_pyth_unwraps_model_state(tiny_checkpoint, tmp_path):
  import torch  # pylint: disable=g-import-not-at-top
  _, _, sd = tiny_checkpoint
  path = str(tmp_path / "ckpt.pyth")
  torch.save({"epoch": 3, "model_state": {k: torch.from_numpy(v)
                                          for k, v in sd.items()}}, path)
  got = _variables(convert.load(path))
  jax.tree.map(np.testing.assert_array_equal, got,
               _variables(convert.convert(sd)))


# -- parity with pytorchvideo ------------------------------------------------


@pytest.fixture(scope="module")
def pytorchvideo_slowfast():
  pytest.importorskip("torch")
  pytest.importorskip("pytorchvideo")
  return torchvision_standin.import_pytorchvideo(
      "pytorchvideo.models.slowfast")


# (model_depth, stem widths, frames, size): a 1-block-per-stage net at 64^2,
# and the R50 layout (3, 4, 6, 3) at an eighth of its width on 32^2.
CASES = [(18, (16, 2), 32, 64), (50, (8, 1), 16, 32)]


def _reference(module, depth, stem, frames, size, num_classes=5, dropout=0.5,
               seed=0):
  """pytorchvideo SlowFast with random weights and BatchNorm statistics."""
  import torch  # pylint: disable=g-import-not-at-top
  torch.manual_seed(seed)
  final = size // 32
  net = module.create_slowfast(
      model_depth=depth, stem_dim_outs=stem, model_num_class=num_classes,
      dropout_rate=dropout,
      head_pool_kernel_sizes=((frames // 4, final, final),
                              (frames, final, final)))
  with torch.no_grad():
    for m in net.modules():
      if isinstance(m, torch.nn.BatchNorm3d):
        m.weight.uniform_(0.5, 1.5)  # pytorchvideo zero-inits some
        m.bias.uniform_(-0.3, 0.3)
        m.running_mean.uniform_(-0.3, 0.3)
        m.running_var.uniform_(0.5, 2.0)
    net.blocks[6].proj.weight.normal_(0.0, 0.2)
  return net


def _torch_inputs(frames_np):
  """pytorchvideo's list input [slow, fast], (B, 3, T, H, W) each, with the
  Slow frames picked by PackPathway's rule."""
  import torch  # pylint: disable=g-import-not-at-top
  fast = torch.from_numpy(frames_np).permute(0, 4, 1, 2, 3).contiguous()
  t = fast.shape[2]
  slow = torch.index_select(fast, 2, torch.linspace(0, t - 1, t // 4).long())
  return [slow, fast]


@pytest.mark.torch
def test_synthetic_names_are_pytorchvideos(pytorchvideo_slowfast):
  """``_to_pytorchvideo`` (the converter tests' input) writes exactly the
  keys and shapes of a real pytorchvideo SlowFast."""
  net = _reference(pytorchvideo_slowfast, 18, (16, 2), 8, 32, num_classes=4)
  model = slowfast.create("tiny", num_classes=4)
  ours = _to_pytorchvideo(_random_variables(model))
  want = {k: tuple(v.shape) for k, v in net.state_dict().items()}
  assert {k: v.shape for k, v in ours.items()} == want


@pytest.mark.torch
@pytest.mark.parametrize("depth,stem,frames,size", CASES)
def test_parity_eval(pytorchvideo_slowfast, depth, stem, frames, size):
  import torch  # pylint: disable=g-import-not-at-top
  net = _reference(pytorchvideo_slowfast, depth, stem, frames, size).eval()
  weights = convert.convert(net.state_dict())
  model = slowfast.create("R50", num_classes=5, **weights["spec_overrides"])
  assert model.depths == {18: (1, 1, 1, 1), 50: (3, 4, 6, 3)}[depth]
  x = _frames(b=2, t=frames, size=size, seed=1)
  logits, aux = jax.jit(lambda v, x: model.apply(v, {"frames": x},
                                                 train=False))(
                                                     _variables(weights), x)
  with torch.no_grad():
    want = net(_torch_inputs(x)).numpy()
  assert logits.shape == want.shape == (2, 5)
  assert aux["features"].shape == (2, model.num_features)
  assert np.abs(want).max() > 1e-2  # non-trivial logits
  np.testing.assert_allclose(logits, want, rtol=1e-4,
                             atol=1e-4 * np.abs(want).max())


@pytest.mark.torch
def test_parity_train_mode_batch_norm(pytorchvideo_slowfast):
  """Batch statistics normalise when training; running statistics move with
  the same momentum (torch's variance update is unbiased, linen's biased)."""
  import torch  # pylint: disable=g-import-not-at-top
  depth, stem, frames, size = CASES[0]
  net = _reference(pytorchvideo_slowfast, depth, stem, frames, size,
                   dropout=0.0)
  weights = convert.convert(net.state_dict())
  model = slowfast.create("R50", num_classes=5, dropout_rate=0.0,
                          **weights["spec_overrides"])
  x = _frames(b=2, t=frames, size=size, seed=2)
  (logits, _), updates = jax.jit(lambda v, x: model.apply(
      v, {"frames": x}, train=True, mutable=["batch_stats"]))(
          _variables(weights), x)
  net.train()
  with torch.no_grad():
    want = net(_torch_inputs(x)).numpy()
  np.testing.assert_allclose(logits, want, rtol=1e-4,
                             atol=1e-4 * np.abs(want).max())
  after = convert.convert(net.state_dict())["batch_stats"]
  flat = flax.traverse_util.flatten_dict
  before, got, want_stats = (flat(weights["batch_stats"]),
                             flat(updates["batch_stats"]), flat(after))
  for path, value in got.items():
    assert np.abs(value - before[path]).max() > 1e-4, path
    rtol = 1e-4 if path[-1] == "mean" else 5e-3
    np.testing.assert_allclose(value, want_stats[path], rtol=rtol, atol=1e-5,
                               err_msg="/".join(path))
