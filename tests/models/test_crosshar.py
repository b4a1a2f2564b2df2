"""CrossHAR: masking, the shared post-norm block, NT-Xent, augmentations,
a reconstruction overfit, the two-phase pretraining task and the hand-off
of the pretrained encoder to the classifier."""

import importlib.util
import math
import os
import pathlib
import types

import grain
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from scipy import special

import jit_testlib
from egoimu_jax import models
from egoimu_jax.experiments import pretrain_finetune
from egoimu_jax.models import crosshar
from egoimu_jax.models import crosshar_augment as augment
from egoimu_jax.models import crosshar_input
from egoimu_jax.models import crosshar_layers
from egoimu_jax.models import crosshar_losses
from egoimu_jax.models import crosshar_spec
from egoimu_jax.models import transfer
from egoimu_jax.training import checkpointing
from egoimu_jax.training import train_state
from egoimu_jax.training.tasks import crosshar_pretrain
from egoimu_jax.training.tasks import finetune

KEY = jax.random.key(0)
RNGS = {"params": KEY, "masking": jax.random.key(1),
        "dropout": jax.random.key(2)}
DATA = types.SimpleNamespace(
    dataset=types.SimpleNamespace(classes=("working", "break", "off"),
                                  table=types.SimpleNamespace(label=np.arange(3))),
    indices=lambda part: np.arange(3),  # one training window per class
    split={"protocol": "pretrain", "fold": 0},
    train_steps=lambda: types.SimpleNamespace(steps_per_epoch=10))


def _imu(b, t=1000, seed=0):
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.normal(size=(b, t, 6)), jnp.float32)


def _compiled(fn, key, *args, **kwargs):
  """``fn(key, *args, **kwargs)`` under ``compile_fast``, ``args`` fixed in
  the program (eager random ops compile op by op, for every new shape)."""
  return jit_testlib.compile_fast(lambda k: fn(k, *args, **kwargs), key)(key)


# -- input --------------------------------------------------------------------


def test_resample_is_centre_aligned_linear_interpolation():
  x = _imu(2, 1000)
  y = crosshar_input.resample(x, 100)
  assert y.shape == (2, 100, 6)
  src = (np.arange(100) + 0.5) * 10 - 0.5
  want = np.interp(src, np.arange(1000), np.asarray(x[1, :, 3]))
  np.testing.assert_allclose(y[1, :, 3], want, atol=1e-5)
  assert crosshar_input.resample(y, 100) is y
  assert crosshar_spec.seq_len_of(20.0, 5.0) == 100
  assert crosshar_spec.seq_len_of(20.0, 6.0) == 120


def test_instance_norm_per_window_and_channel():
  x = _imu(3, 120) * jnp.arange(1.0, 7.0) + 5.0
  y = crosshar_input.instance_norm(x)
  np.testing.assert_allclose(y.mean(axis=1), 0.0, atol=1e-5)
  np.testing.assert_allclose(y.std(axis=1), 1.0, atol=1e-4)


def test_span_mask_statistics():
  for length, count in ((100, 15), (120, 18)):
    m = _compiled(crosshar_input.span_mask, KEY, 256, length, 0.15,
                  max_span=10, p=0.2)
    # Exactly round(0.15 * L) steps in every row.
    np.testing.assert_array_equal(np.asarray(m.mask).sum(1), count)
    span_id = np.asarray(m.span_id)
    extents, sizes = [], []
    for row in span_id:
      for i in np.unique(row[row >= 0]):
        where = np.flatnonzero(row == i)
        extents.append(where[-1] - where[0] + 1)
        sizes.append(len(where))
    # Every span lies within max_span consecutive steps ...
    assert max(extents) <= 10
    # ... and spans are spans: ~4 steps each, not single steps.
    assert 2.5 < np.mean(sizes) < 5.0, np.mean(sizes)
  # Span lengths follow the truncated geometric law (p = 0.2, <= 10).
  lengths = np.asarray(_compiled(crosshar_input.sample_span_lengths, KEY,
                                 (200_000,), 10, 0.2))
  assert lengths.min() == 1 and lengths.max() == 10
  freq = np.bincount(lengths, minlength=11)[1:] / len(lengths)
  np.testing.assert_allclose(freq, crosshar_input.span_length_probs(10, 0.2),
                             atol=0.005)
  # Every step can be masked, the last one included.
  wide = _compiled(crosshar_input.span_mask, jax.random.key(3), 4096, 100)
  assert np.asarray(wide.mask).mean(0).min() > 0.05


def test_masked_steps_are_zeroed_in_80_percent_of_rows():
  x = _imu(4000, 20) + 10.0  # no zeros by chance
  m = _compiled(crosshar_input.span_mask, KEY, 4000, 20, 0.15, 10, 0.2).mask
  y = np.asarray(_compiled(crosshar_input.apply_mask, jax.random.key(5), x, m,
                           0.8))
  x, m = np.asarray(x), np.asarray(m)
  np.testing.assert_array_equal(y[~m], x[~m])
  zeroed = np.all(y[:, :, 0] == 0, axis=1, where=m)
  kept = np.all(y[:, :, 0] == x[:, :, 0], axis=1, where=m)
  assert np.all(zeroed ^ kept)
  assert abs(zeroed.mean() - 0.8) < 0.03


# -- encoder ------------------------------------------------------------------


def _ln(x, p, eps):
  mu = x.mean(-1, keepdims=True)
  var = ((x - mu) ** 2).mean(-1, keepdims=True)
  return p["scale"] * (x - mu) / np.sqrt(var + eps) + p["bias"]


def _lin(x, p):
  return x @ p["kernel"] + p["bias"]


def _numpy_encoder(params, x, spec):
  """The reference's LIMU-BERT encoder, written out in numpy."""
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  eps = spec.norm_eps
  h = _ln(_lin(x, p["embed"]), p["embed_norm"], eps)
  h = _ln(h + p["pos_embed"], p["embed_norm"], eps)
  blk = p["block"]
  b, n, d = h.shape
  hd = d // spec.heads
  for _ in range(spec.n_layers):
    q, k, v = (_lin(h, blk["attn"][name]).reshape(b, n, spec.heads, hd)
               for name in ("query", "key", "value"))
    s = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(hd)
    s = np.exp(s - s.max(-1, keepdims=True))
    s /= s.sum(-1, keepdims=True)
    h = np.einsum("bhqk,bkhd->bqhd", s, v).reshape(b, n, d)  # no residual
    h = _ln(h + _lin(h, blk["proj"]), blk["norm1"], eps)
    f = _lin(h, blk["fc1"])
    f = _lin(0.5 * f * (1 + special.erf(f / np.sqrt(2))), blk["fc2"])
    h = _ln(h + f, blk["norm2"], eps)
  return h


def test_encoder_is_the_post_norm_shared_block_of_the_reference():
  spec = crosshar_spec.make_spec("tiny", n_layers=3)
  enc = crosshar_layers.Encoder(spec, seq_len=40)
  x = crosshar_input.instance_norm(_imu(2, 40))
  params = _compiled(enc.init, KEY, x)["params"]
  got = jit_testlib.compile_fast(enc.apply, {"params": params}, x)(
      {"params": params}, x)
  want = _numpy_encoder(params, np.asarray(x, np.float64), spec)
  np.testing.assert_allclose(got, want, atol=2e-4)


def test_block_weights_are_shared_across_layers():
  x = crosshar_input.instance_norm(_imu(2, 40))
  outs, counts = [], []
  params = None
  for n_layers in (1, 2, 4):
    enc = crosshar_layers.Encoder(crosshar_spec.make_spec("tiny", n_layers=n_layers), 40)
    init = enc.init(KEY, x)["params"]
    assert sorted(init) == ["block", "embed", "embed_norm", "pos_embed"]
    counts.append(sum(a.size for a in jax.tree.leaves(init)))
    params = init if params is None else params  # one set for all depths
    outs.append(np.asarray(enc.apply({"params": params}, x)))
  assert counts[0] == counts[1] == counts[2]
  assert not np.allclose(outs[0], outs[1], atol=1e-3)
  assert not np.allclose(outs[1], outs[2], atol=1e-3)
  # Depth 2 == the depth-1 encoder's block applied once more.
  block = crosshar_layers.SharedBlock(2, 48)
  again = block.apply({"params": params["block"]}, outs[0])
  np.testing.assert_allclose(again, outs[1], atol=1e-5)


# -- losses -------------------------------------------------------------------


def _hand_nt_xent(z1, z2, tau):
  z = np.concatenate([z1, z2]).astype(np.float64)
  z /= np.linalg.norm(z, axis=1, keepdims=True)
  n = len(z1)
  rows = []
  for i in range(2 * n):
    pos = (i + n) % (2 * n)
    denom = sum(math.exp(z[i] @ z[k] / tau) for k in range(2 * n) if k != i)
    rows.append(-math.log(math.exp(z[i] @ z[pos] / tau) / denom))
  return np.mean(rows)


def test_nt_xent_against_a_hand_computation():
  rng = np.random.default_rng(0)
  z1, z2 = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
  per = crosshar_losses.nt_xent(jnp.asarray(z1), jnp.asarray(z2), 0.2)
  np.testing.assert_allclose(per.mean(), _hand_nt_xent(z1, z2, 0.2),
                             rtol=1e-5)
  # A padded example is neither an anchor nor a negative.
  pad1 = np.concatenate([z1, rng.normal(size=(1, 5))])
  pad2 = np.concatenate([z2, rng.normal(size=(1, 5))])
  mask = jnp.asarray([True, True, True, False])
  per = crosshar_losses.nt_xent(jnp.asarray(pad1), jnp.asarray(pad2), 0.2,
                                mask)
  assert float(per[3]) == 0.0
  np.testing.assert_allclose(per[:3].mean(), _hand_nt_xent(z1, z2, 0.2),
                             rtol=1e-5)
  # Matching pairs score lower than unrelated ones.
  aligned = crosshar_losses.nt_xent(jnp.asarray(z1), jnp.asarray(z1), 0.2)
  assert float(aligned.mean()) < float(per[:3].mean())


def test_reconstruction_terms_score_masked_steps_only():
  pred = jnp.zeros((2, 2, 10, 6))
  target = jnp.ones((2, 2, 10, 6))
  mask = jnp.zeros((2, 2, 10), bool).at[:, :, :3].set(True)
  t = crosshar_losses.reconstruction_terms(
      {"pred": pred, "target": target, "mask": mask},
      jnp.asarray([True, False]))
  np.testing.assert_allclose(t["num"], [2 * 3 * 6, 0.0])
  np.testing.assert_allclose(t["den"], [2 * 3 * 6, 0.0])


# -- augmentations ------------------------------------------------------------


def test_axis_permutation_moves_acc_and_gyro_axes_together():
  acc = _imu(600, 30)[..., :3]
  x = jnp.concatenate([acc, 10 * acc + 1], axis=-1)
  y = np.asarray(_compiled(augment.axis_permutation, KEY, x))
  x = np.asarray(x)
  for sl in (slice(0, 3), slice(3, 6)):
    np.testing.assert_allclose(np.linalg.norm(y[..., sl], axis=-1),
                               np.linalg.norm(x[..., sl], axis=-1), rtol=1e-5)
  np.testing.assert_allclose(y[..., 3:], 10 * y[..., :3] + 1, rtol=1e-5)
  # Which source axis landed first: all three occur, identity included.
  first = np.argmin(np.abs(y[:, :1, :1] - x[:, :1, :3]), axis=-1).ravel()
  assert set(first) == {0, 1, 2}
  assert np.any(np.all(y == x, axis=(1, 2)))


def test_segment_permutation_reorders_whole_segments():
  b, t = 500, 60
  x = jnp.broadcast_to(jnp.arange(t, dtype=jnp.float32)[None, :, None],
                       (b, t, 6)) * jnp.ones((b, 1, 1))
  y = np.asarray(_compiled(augment.segment_permutation, KEY, x,
                           max_segments=8))
  np.testing.assert_array_equal(y, np.repeat(y[..., :1], 6, axis=-1))
  order = y[..., 0].astype(int)
  runs = []
  for row in order:
    assert sorted(row) == list(range(t))  # a permutation of the steps
    runs.append(1 + np.sum(np.diff(row) != 1))  # contiguous runs
  runs = np.asarray(runs)
  assert runs.max() <= 7          # randint(1, 8): at most 7 segments
  assert (runs == 1).mean() > 0.1 and (runs >= 5).mean() > 0.1


def test_scaling_and_views():
  x = _imu(4000, 20) + 3.0
  y = _compiled(augment.scaling, KEY, x, 2.0, 1.1)
  f = np.asarray(y / x)
  np.testing.assert_allclose(f, np.repeat(f[:, :1], 20, axis=1), rtol=1e-4)
  assert abs(f.mean() - 2.0) < 0.05 and abs(f[:, 0].std() - 1.1) < 0.05
  v = _compiled(augment.views, KEY, _imu(8, 100))
  assert v.shape == (8, 2, 100, 6)


# -- training -----------------------------------------------------------------


def test_reconstruction_loss_overfits_a_tiny_batch():
  """Eight sine windows, one fixed mask, the base model at the reference's
  Adam 1e-3: in 60 steps the masked MSE must fall well below both its start
  and the predict-zero level (the targets' mean square)."""
  model = crosshar.create("base", rate_hz=10.0, window_seconds=5.0)
  t = np.linspace(0, 5, 1000)
  rng = np.random.default_rng(0)
  freqs = rng.uniform(0.3, 2.0, size=(8, 1, 6))
  phase = rng.uniform(0, 6.3, size=(8, 1, 6))
  batch = {"imu": jnp.asarray(np.sin(2 * np.pi * freqs * t[None, :, None] +
                                     phase), jnp.float32)}
  # Compiled (eager init dispatches op by op: 13 s of the base model's init).
  variables = jit_testlib.compile_fast(lambda b: model.init(RNGS, b), batch)(
      batch)
  tx = optax.adam(1e-3)

  def step(params, opt_state, stats):
    def loss_fn(p):
      (out, _), upd = model.apply({"params": p, **stats}, batch, train=True,
                                  rngs={"masking": KEY, "dropout": KEY},
                                  mutable=["batch_stats"])
      rec = crosshar_losses.reconstruction_terms(out["recon"])
      zero = crosshar_losses.reconstruction_terms(
          {**out["recon"], "pred": jnp.zeros_like(out["recon"]["pred"])})
      return rec["num"].sum() / rec["den"].sum(), (
          upd, zero["num"].sum() / zero["den"].sum())
    (loss, (upd, zero)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, upd, loss, zero

  params = variables["params"]
  stats = {"batch_stats": variables["batch_stats"]}
  opt_state = tx.init(params)
  fn = jit_testlib.compile_fast(step, params, opt_state, stats)
  losses = []
  for _ in range(60):
    params, opt_state, stats, loss, zero = fn(params, opt_state, stats)
    losses.append(float(loss))
  final = np.mean(losses[-3:])
  assert final < 0.5 * losses[0], losses
  assert final < 0.5 * float(zero), (losses, float(zero))


def _config(model, task, **extra):
  return ml_collections.ConfigDict({
      "model": model, "task": task, "dtype": "float32", "seed": 0,
      "input": {"batch_size": 4}, "total_steps": 10, **extra})


def _batch(b=4):
  return {"imu": _imu(b, 1000), "label": jnp.arange(b, dtype=jnp.int32) % 3,
          "index": jnp.arange(b, dtype=jnp.int32),
          "mask": jnp.asarray([True] * (b - 1) + [False])}


def _state(task, batch, tx=None):
  variables = jit_testlib.compile_fast(task.init_variables, KEY, batch)(
      KEY, batch)
  return train_state.from_variables(variables, tx or optax.adam(1e-3))


def test_pretrain_task_switches_to_the_joint_loss():
  task = crosshar_pretrain.CrossHARPretrain(_config(
      {"name": "crosshar", "variant": "tiny"},
      {"name": "crosshar_pretrain", "contrastive_start_steps": 1}), DATA)
  assert task.contrastive_start == 1
  default = crosshar_pretrain.CrossHARPretrain(_config(
      {"name": "crosshar", "variant": "tiny"},
      {"name": "crosshar_pretrain"}), DATA)
  assert default.contrastive_start == 5  # half of total_steps=10
  batch = _batch()
  state = _state(task, batch)
  fn = jit_testlib.compile_fast(task.loss, state.params, state.model_state,
                                batch, KEY)
  loss0, (state1, m0) = fn(state.params, state.model_state, batch, KEY)
  assert int(state1[crosshar_pretrain.SCHEDULE]["step"]) == 1
  assert set(state1["batch_stats"]) == {"contrastive"}
  np.testing.assert_allclose(loss0, m0["reconstruction"], rtol=1e-6)
  assert float(m0["contrastive_weight"]) == 0.0
  loss1, (state2, m1) = fn(state.params, state1, batch, KEY)
  assert int(state2[crosshar_pretrain.SCHEDULE]["step"]) == 2
  np.testing.assert_allclose(loss1, 6 * m1["reconstruction"] + m1["ntxent"],
                             rtol=1e-6)
  assert float(m1["ntxent"]) > 0.0
  # Evaluation: deterministic, padding ignored, final-phase loss.
  predict = jit_testlib.compile_fast(task.predict, {"params": state.params,
                                                    **state2}, batch)
  out = predict({"params": state.params, **state2}, batch)
  again = predict({"params": state.params, **state2}, batch)
  np.testing.assert_array_equal(out["recon_num"], again["recon_num"])
  assert float(out["recon_den"][-1]) == 0.0 and float(out["ntxent"][-1]) == 0
  host = {k: np.asarray(v) for k, v in out.items()}
  host["index"] = np.asarray(batch["index"])[:3]
  host = {k: v[:3] for k, v in host.items()}
  result = task.evaluate("val", host)
  np.testing.assert_allclose(result["loss"], 6 * result["reconstruction"] +
                             result["ntxent"])


def test_classifier_restores_the_pretrained_encoder(tmp_path):
  batch = _batch()
  pre = crosshar_pretrain.CrossHARPretrain(_config(
      {"name": "crosshar", "variant": "tiny"},
      {"name": "crosshar_pretrain"}), DATA)
  pre_state = _state(pre, batch)
  clf = models.build({"name": "crosshar_classifier", "variant": "tiny",
                      "num_classes": 3, "freeze_encoder": True})
  clf_vars = jit_testlib.compile_fast(lambda b: clf.init(RNGS, b), batch)(
      batch)
  pre_vars = {"params": pre_state.params, **pre_state.model_state}
  # models.transfer: everything but head/ from the pretraining model.
  p = transfer.plan(transfer.flatten({"params": pre_state.params}),
                    transfer.flatten({"params": clf_vars["params"]}))
  assert p.fresh and all(f.startswith("params/head/") for f in p.fresh)
  assert all(c.startswith("params/encoder/") for c in p.copied)
  assert any(d.startswith("params/decoder/") for d in p.dropped)
  merged = transfer.transfer(pre_vars, clf_vars)
  jax.tree.map(np.testing.assert_array_equal, merged["params"]["encoder"],
               pre_state.params["encoder"])
  jax.tree.map(np.testing.assert_array_equal, merged["params"]["head"],
               clf_vars["params"]["head"])

  # The frozen encoder gets no gradient; the head does.
  def loss(params):
    logits, _ = clf.apply({"params": params}, batch, train=True, rngs=RNGS)
    return optax.softmax_cross_entropy_with_integer_labels(
        logits, batch["label"]).mean()
  grads = jit_testlib.compile_fast(jax.grad(loss), merged["params"])(
      merged["params"])
  assert all(float(jnp.abs(g).max()) == 0.0
             for g in jax.tree.leaves(grads["encoder"]))
  assert any(float(jnp.abs(g).max()) > 0.0
             for g in jax.tree.leaves(grads["head"]))

  # The finetune task's warm start from a saved pretraining state.
  ckpt = checkpointing.Checkpointer(os.path.join(tmp_path, "checkpoints"),
                                    async_save=False)
  ckpt.save(3, pre_state, iter(grain.MapDataset.range(4).to_iter_dataset()))
  ckpt.wait()
  ckpt.close()
  config = _config({"name": "crosshar_classifier", "variant": "tiny",
                    "freeze_encoder": True},
                   {"name": "finetune", "pretrained": str(tmp_path)},
                   optim={"lr": 1e-3, "weight_decay": 0.05,
                          "freeze": "encoder/.*"})
  task = finetune.Finetune(config, DATA)
  tx = task.optimizer(optax.constant_schedule(1e-3))
  state = _state(task, batch, tx)
  warm = task.warm_start(state)
  jax.tree.map(np.testing.assert_array_equal, warm.params["encoder"],
               pre_state.params["encoder"])
  jax.tree.map(np.testing.assert_array_equal, warm.params["head"],
               state.params["head"])
  # A training step (weight decay on) changes the head, not the encoder.
  def train_step(params, opt_state, model_state):
    grads = jax.grad(lambda p: task.loss(p, model_state, batch, KEY)[0])(
        params)
    updates, _ = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates)
  stepped = jit_testlib.compile_fast(
      train_step, warm.params, warm.opt_state, warm.model_state)(
          warm.params, warm.opt_state, warm.model_state)
  jax.tree.map(np.testing.assert_array_equal, stepped["encoder"],
               pre_state.params["encoder"])
  assert not np.allclose(stepped["head"]["fc"]["kernel"],
                         warm.params["head"]["fc"]["kernel"])


def test_flop_counts_are_registered():
  pre = models.forward_flops({"name": "crosshar", "variant": "base",
                              "rate_hz": 20.0, "window_seconds": 5.0})
  clf = models.forward_flops({"name": "crosshar_classifier",
                              "variant": "base", "rate_hz": 20.0,
                              "window_seconds": 5.0, "freeze_encoder": True,
                              "modalities": ("imu",)})
  assert pre > 0 and clf > 0
  # The 72-wide encoder on 100 steps, matmul by matmul: embedding, q/k/v and
  # proj, scores and weighted values, FFN.
  enc = crosshar._encoder_flops(crosshar_spec.make_spec("base"), 100)
  n, d = 100, 72
  want = (2 * n * 6 * d + 4 * (2 * n * d * d) + 2 * (2 * n * n * d) +
          2 * (2 * n * d * 144))
  assert enc == want
  assert pre > 2 * enc and clf > enc


def _crosshar_config(arg=None):
  path = pathlib.Path(__file__).resolve().parents[2] / "configs" / "crosshar.py"
  spec = importlib.util.spec_from_file_location("configs_crosshar", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def test_experiment_freezes_the_pretrained_encoder_only(tmp_path):
  config = _crosshar_config("tiny")
  stages = {s.name: s for s in pretrain_finetune.plan(config, str(tmp_path))}
  assert set(stages) == {"pretrain", "l20wo/fold0/imu-pretrained",
                         "l20wo/fold0/imu-scratch"}
  assert stages["pretrain"].config.task.name == "crosshar_pretrain"
  assert stages["pretrain"].config.protocol.name == "pretrain"
  pre = stages["l20wo/fold0/imu-pretrained"].config
  scratch = stages["l20wo/fold0/imu-scratch"].config
  assert pre.task.pretrained == stages["pretrain"].workdir
  assert pre.model.freeze_encoder and pre.optim.freeze == "encoder/.*"
  assert not scratch.model.freeze_encoder and not scratch.optim.freeze
  for cfg in (pre, scratch, stages["pretrain"].config):
    assert not cfg.input.spectrogram
