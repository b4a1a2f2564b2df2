"""EVI-MAE: shapes of every branch and variant, a tiny overfit in which every
loss term falls, the fine-tuning hand-off, evaluation options, the FSDP
preset and the cost model."""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jit_testlib
from egoimu_jax import models
from egoimu_jax.models import evimae
from egoimu_jax.models import evimae_spec
from egoimu_jax.models import flops
from egoimu_jax.models import mae_losses
from egoimu_jax.models import transfer
from egoimu_jax.models import video_degradation
from egoimu_jax.training import sharding_presets

KEY = jax.random.key(0)
RNGS = {"params": KEY, "masking": KEY, "dropout": KEY}
# Functional tests use one block per tower: compile time scales with depth.
MICRO = dict(video_depth=1, imu_depth=1, decoder_depth=1)


def init_fast(model, batch, rngs=None):
  """``model.init`` under ``compile_fast`` (eager init is slow op by op)."""
  rngs = rngs or RNGS
  return jit_testlib.compile_fast(lambda b: model.init(rngs, b), batch)(batch)


def apply_fast(model, variables, batch, **kw):
  return jit_testlib.compile_fast(lambda v, b: model.apply(v, b, **kw),
                                  variables, batch)(variables, batch)


def tiny_batch(b=4, frames=8, seed=0, spec=None):
  spec = spec or evimae_spec.make_spec("tiny")
  rng = np.random.default_rng(seed)
  return {
      "spec": jnp.asarray(rng.normal(size=(b, spec.spec_time, spec.spec_freq,
                                           6)), jnp.float32),
      "frames": jnp.asarray(rng.normal(size=(b, frames, spec.image_size,
                                             spec.image_size, 3)), jnp.float32),
      "index": jnp.arange(b, dtype=jnp.int32),
      "mask": jnp.ones((b,), bool),
  }


def abstract_batch(spec, b=2):
  return {"spec": jax.ShapeDtypeStruct((b, spec.spec_time, spec.spec_freq, 6),
                                       jnp.float32),
          "frames": jax.ShapeDtypeStruct((b, spec.num_frames, spec.image_size,
                                          spec.image_size, 3), jnp.float32)}


def _shape_tree(tree):
  return jax.tree.map(lambda x: tuple(x.shape), tree)


@pytest.mark.parametrize("variant", ["S", "B"])
def test_pretrain_shapes_large_variants(variant):
  model = evimae.create(variant)
  s = model.spec
  batch = abstract_batch(s)
  variables = jax.eval_shape(lambda b: model.init(RNGS, b), batch)
  (out, aux), _ = jax.eval_shape(
      lambda v, b: model.apply(v, b, train=True, rngs=RNGS,
                               mutable=["batch_stats"]), variables, batch)
  n_imu = (s.spec_time // 16) * (s.spec_freq // 16)            # 10 x 8
  n_vid = (s.num_frames // 2) * (s.image_size // 16) ** 2      # 8 x 14 x 14
  o = _shape_tree(out)
  assert o["imu"] == {"pred": (2, n_imu, 16 * 16 * 6),
                      "target": (2, n_imu, 16 * 16 * 6), "mask": (2, n_imu)}
  assert o["video"] == {"pred": (2, n_vid, 2 * 16 * 16 * 3),
                        "target": (2, n_vid, 2 * 16 * 16 * 3),
                        "mask": (2, n_vid)}
  assert o["graph"] == {"pred": (2, 2, 768), "target": (2, 2, 768),
                        "mask": (2, 2)}
  assert o["features"] == {"imu": (2, s.width), "video": (2, s.width)}
  assert aux["features"].shape == (2, s.width)
  if variant == "B":  # The video tower is VideoMAE-B's encoder (86.2M).
    p = variables["params"]
    tower = sum(math.prod(x.shape) for x in jax.tree.leaves(
        [p["video_encoder"], p["video_tokens"]["patch_embed"]]))
    assert tower == 86_234_880


def test_classifier_shapes_large_variant():
  model = evimae.create_classifier("B", num_classes=7)
  batch = abstract_batch(model.spec)
  variables = jax.eval_shape(lambda b: model.init(RNGS, b), batch)
  logits, aux = jax.eval_shape(lambda v, b: model.apply(v, b), variables,
                               batch)
  assert logits.shape == (2, 7)
  assert aux["features"].shape == (2, 768 + 512)
  assert "decoder" not in variables["params"]


def test_tiny_pretrain_outputs_per_modality_set():
  batch = tiny_batch(frames=20)  # 20 stored frames -> 8 sampled
  for mods, keys in [(("imu", "video"), {"imu", "video", "graph", "features"}),
                     (("video",), {"video", "features"}),
                     (("imu",), {"imu", "graph", "features"})]:
    model = evimae.create("tiny", modalities=mods)
    variables = jax.eval_shape(lambda b, m=model: m.init(RNGS, b), batch)
    (out, _), _ = jax.eval_shape(
        lambda v, b, m=model: m.apply(v, b, train=True, rngs=RNGS,
                                      mutable=["batch_stats"]),
        variables, batch)
    assert set(out) == keys
    assert ("graph" in variables["params"]) == ("imu" in mods)
    assert ("video_encoder" in variables["params"]) == ("video" in mods)
    _, terms = jax.eval_shape(mae_losses.losses, out)
    assert ("contrastive" in terms) == (len(mods) == 2)
    assert ("mse_video" in terms) == ("video" in mods)


def test_masking_is_reproducible_from_the_masking_rng():
  model = evimae.create("tiny", modalities=("video",), **MICRO)
  batch = tiny_batch()
  variables = init_fast(model, batch)
  fn = jit_testlib.compile_fast(
      lambda k: model.apply(variables, batch, rngs={"masking": k})[0], KEY)
  a, b, c = fn(KEY), fn(KEY), fn(jax.random.key(1))
  np.testing.assert_array_equal(a["video"]["mask"], b["video"]["mask"])
  np.testing.assert_allclose(a["video"]["pred"], b["video"]["pred"])
  assert not np.array_equal(a["video"]["mask"], c["video"]["mask"])


def test_bad_inputs_name_the_problem():
  model = evimae.create("tiny")
  batch = tiny_batch()
  variables = jax.eval_shape(lambda: model.init(RNGS, batch))
  with pytest.raises(ValueError, match=r"batch\['spec'\]"):
    jax.eval_shape(lambda v: model.apply(
        v, {**batch, "spec": batch["spec"][:, :16]}, rngs=RNGS), variables)
  with pytest.raises(ValueError, match="num_frames"):
    jax.eval_shape(lambda v: model.apply(
        v, {**batch, "frames": batch["frames"][:, :4]}, rngs=RNGS), variables)
  with pytest.raises(ValueError, match="imu_width"):
    evimae_spec.make_spec("tiny", imu_width=96)
  with pytest.raises(TypeError, match="unknown EVI-MAE spec"):
    evimae_spec.make_spec("tiny", depth=3)


def test_tiny_overfit_every_loss_term_falls():
  """Plain Adam on one fixed batch and fixed masks: MSE (both modalities),
  graph and contrastive terms all go down."""
  model = evimae.create("tiny", graph_dropout=0.0, **MICRO)
  batch = tiny_batch(b=8)
  variables = init_fast(model, batch)
  tx = optax.adam(3e-3)

  def step(params, stats, opt_state):
    def loss_fn(p):
      (out, _), upd = model.apply({"params": p, "batch_stats": stats}, batch,
                                  train=True, rngs=RNGS,
                                  mutable=["batch_stats"])
      total, terms = mae_losses.losses(out)
      return total, (terms, upd["batch_stats"])
    (_, (terms, stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), stats, opt_state, terms

  params, stats = variables["params"], variables["batch_stats"]
  opt_state = tx.init(params)
  fast = jit_testlib.compile_fast(step, params, stats, opt_state)
  history = []
  for _ in range(30):
    params, stats, opt_state, terms = fast(params, stats, opt_state)
    history.append({k: float(v) for k, v in terms.items()})
  first = {k: np.mean([h[k] for h in history[:3]]) for k in history[0]}
  last = {k: np.mean([h[k] for h in history[-3:]]) for k in history[0]}
  for term in ("mse_imu", "mse_video", "graph", "contrastive", "total"):
    assert last[term] < 0.9 * first[term], (term, first[term], last[term])


def test_finetune_hand_off_from_pretraining():
  batch = tiny_batch()
  pre = evimae.create("tiny", **MICRO)
  pre_vars = init_fast(pre, batch)
  clf = evimae.create_classifier("tiny", num_classes=5, **MICRO)
  clf_vars = init_fast(clf, batch, {"params": jax.random.key(9)})
  merged = transfer.transfer(pre_vars, clf_vars)
  for path in [("params", "video_encoder", "block_0", "attn", "query",
                "kernel"),
               ("params", "graph", "encoder", "layer_0", "fc1", "kernel"),
               ("params", "unified", "norm1_joint", "scale"),
               ("batch_stats", "graph", "encoder", "layer_0", "mlp_norm",
                "norm", "mean")]:
    got, want = merged, pre_vars
    for k in path:
      got, want = got[k], want[k]
    np.testing.assert_array_equal(got, want)
  np.testing.assert_array_equal(merged["params"]["head"]["kernel"],
                                clf_vars["params"]["head"]["kernel"])
  logits, _ = apply_fast(clf, merged, batch)
  assert logits.shape == (4, 5) and np.all(np.isfinite(logits))
  # A tree that does not cover the classifier is an error naming the leaf.
  other = jax.eval_shape(lambda: evimae.create(
      "tiny", graph_hidden=16, **MICRO).init(RNGS, batch))
  with pytest.raises(ValueError, match="graph/encoder"):
    transfer.transfer(other, clf_vars)


def test_classifier_modes_and_evaluation_options():
  batch = tiny_batch(frames=50)
  clf = models.build({"name": "evimae_classifier", "variant": "tiny",
                      "num_classes": 3, **MICRO})
  v = init_fast(clf, batch)

  def degraded(kind, **kw):
    return video_degradation.batch_transform({"video_degradation": kind,
                                              **kw})

  def all_options(v, b):
    out = {"none": clf.apply(v, b)}
    for name, option in (("no_video", dict(drop_modality="video")),
                         ("no_imu", dict(drop_modality="imu"))):
      out[name] = clf.clone(**option).apply(v, b)
    # Degraded video reaches the model through the batch (trainer eval step).
    for name, degrade in (("noise", degraded("noise")),
                          ("noise_again", degraded("noise")),
                          ("dark", degraded("low_light",
                                            degradation_severity=0.1))):
      out[name] = clf.apply(v, degrade(b))
    return out

  out = jit_testlib.compile_fast(all_options, v, batch)(v, batch)
  logits, aux = out["none"]
  assert logits.shape == (4, 3)
  assert aux["features"].shape == (4, 64 + 32)
  for name in ("no_video", "no_imu", "noise", "dark"):
    assert out[name][0].shape == (4, 3)
    assert not np.allclose(out[name][0], logits), name
  # Degradation noise is deterministic per window index.
  np.testing.assert_array_equal(out["noise"][0], out["noise_again"][0])
  with pytest.raises(ValueError, match="drop_modality"):
    jax.eval_shape(lambda: evimae.create_classifier(
        "tiny", modalities=("imu",), drop_modality="video").init(RNGS, batch))
  video_only = evimae.create_classifier("tiny", modalities=("video",))
  vv = jax.eval_shape(lambda: video_only.init(RNGS, batch))
  assert "graph" not in vv["params"] and "imu_encoder" not in vv["params"]
  feats = jax.eval_shape(lambda v: video_only.apply(v, batch),
                         vv)[1]["features"]
  assert feats.shape == (4, 64)


def test_bf16_compute_keeps_float32_params():
  model = evimae.create("tiny", dtype="bfloat16", **MICRO)
  batch = tiny_batch()
  variables = init_fast(model, batch)
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(
      variables["params"]))
  (out, _), _ = apply_fast(model, variables, batch, train=True, rngs=RNGS,
                           mutable=["batch_stats"])
  assert out["video"]["pred"].dtype == jnp.float32
  assert np.isfinite(mae_losses.losses(out)[0])


def test_fsdp_rules_shard_every_large_parameter_of_b():
  model = evimae.create("B")
  variables = jax.eval_shape(lambda b: model.init(RNGS, b),
                             abstract_batch(model.spec))
  rules = sharding_presets.vit_fsdp()
  flat = jax.tree_util.tree_flatten_with_path(variables)[0]
  for path, leaf in flat:
    name = "/".join(str(getattr(k, "key", k)) for k in path)
    spec = next(s for r, s in rules if re.fullmatch(r, name))
    if math.prod(leaf.shape) >= 1 << 16:
      assert "fsdp" in spec, name
    for dim, axis in enumerate(spec):
      if axis is not None:
        assert leaf.shape[dim] % 64 == 0, (name, leaf.shape)


def test_flops_model_matches_xla_cost_analysis():
  model = evimae.create("tiny")
  batch = tiny_batch()
  variables = jax.eval_shape(lambda: model.init(RNGS, batch))

  def loss(p, v):
    (out, _), _ = model.apply({**v, "params": p}, batch, train=True,
                              rngs=RNGS, mutable=["batch_stats"])
    return mae_losses.losses(out)[0]

  cost = jax.jit(jax.grad(loss)).lower(variables["params"],
                                       variables).cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  analytic = flops.evimae(model.spec) * 4
  assert 0.85 < cost["flops"] / analytic < 1.25
