import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from egoimu_jax.training import optim


def test_warmup_cosine_schedule():
  lr = optim.schedule(dict(lr=1.0, schedule="warmup_cosine",
                           end_lr_factor=0.1), total_steps=10, warmup_steps=2)
  values = np.array([float(lr(s)) for s in range(11)])
  np.testing.assert_allclose(values[:3], [0.0, 0.5, 1.0])
  assert np.all(np.diff(values[2:]) < 0)
  np.testing.assert_allclose(values[10], 0.1, rtol=1e-6)
  flat = optim.schedule(dict(lr=2.0, schedule="constant"), 10, 0)
  assert float(flat(0)) == float(flat(9)) == 2.0
  with pytest.raises(ValueError, match="schedule"):
    optim.schedule(dict(lr=1.0, schedule="step"), 10, 0)


def test_clipping_decay_mask_and_freeze():
  params = {"enc": {"kernel": jnp.ones((2, 2)), "bias": jnp.ones(2)},
            "head": {"kernel": jnp.ones((2, 2))}}
  grads = jax.tree.map(lambda p: 100.0 * jnp.ones_like(p), params)
  tx = optim.build(dict(lr=0.1, weight_decay=0.5, clip_norm=1.0,
                        freeze="enc/.*"), optax.constant_schedule(0.1))
  updates, _ = tx.update(grads, tx.init(params), params)
  assert float(jnp.abs(updates["enc"]["kernel"]).max()) == 0.0  # frozen
  # Adam's first step is lr * sign(g); decay adds lr * wd * p on kernels only.
  np.testing.assert_allclose(updates["head"]["kernel"], -0.1 - 0.05, rtol=1e-5)
  tx = optim.build(dict(lr=0.1, weight_decay=0.5, clip_norm=0.0),
                   optax.constant_schedule(0.1))
  updates, _ = tx.update(grads, tx.init(params), params)
  np.testing.assert_allclose(updates["enc"]["bias"], -0.1, rtol=1e-5)


@pytest.mark.parametrize("total, pct_start, div, final_div", [
    (20, 0.3, 100.0, 1e4), (7, 0.25, 25.0, 10.0), (5, 0.1, 25.0, 1e4)])
def test_onecycle_matches_torch(total, pct_start, div, final_div):
  torch = pytest.importorskip("torch")
  opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
  sched = torch.optim.lr_scheduler.OneCycleLR(
      opt, max_lr=1e-4, total_steps=total, pct_start=pct_start,
      div_factor=div, final_div_factor=final_div)
  want = []
  for _ in range(total):
    want.append(sched.get_last_lr()[0])
    opt.step()
    sched.step()
  lr = optim.schedule(dict(lr=1e-4, schedule="onecycle", pct_start=pct_start,
                           div_factor=div, final_div_factor=final_div),
                      total_steps=total, warmup_steps=0)
  got = [float(lr(s)) for s in range(total)]
  np.testing.assert_allclose(got, want, rtol=1e-5)
  # As the train step calls it: on a traced int32 step.
  np.testing.assert_allclose(float(jax.jit(lr)(jnp.int32(total - 1))),
                             want[-1], rtol=1e-5)
  # MOMENT's fine-tuning: 1e-6 -> 1e-4 (div_factor 100).
  if div == 100.0:
    np.testing.assert_allclose([got[0], max(got)], [1e-6, 1e-4], rtol=1e-5)
  # A warmup is the rising phase: pct_start = warmup / total.
  warm = optim.schedule(dict(lr=1e-4, schedule="onecycle", div_factor=div,
                             final_div_factor=final_div), total,
                        warmup_steps=round(pct_start * total))
  if round(pct_start * total) == pct_start * total:
    np.testing.assert_allclose([float(warm(s)) for s in range(total)], want,
                               rtol=1e-5)


def test_step_decay_is_torch_steplr():
  # StepLR(step_size=2 epochs, gamma=0.9) at 3 steps per epoch: x0.9 / 6 steps.
  lr = optim.schedule(dict(lr=1e-3, schedule="step_decay", decay_factor=0.9),
                      total_steps=20, warmup_steps=0, decay_every_steps=6)
  want = [1e-3 * 0.9 ** (s // 6) for s in range(20)]
  np.testing.assert_allclose([float(lr(s)) for s in range(20)], want,
                             rtol=1e-6)
  with pytest.raises(ValueError, match="lr_decay_every"):
    optim.schedule(dict(lr=1e-3, schedule="step_decay"), 20, 0)


def test_warmup_as_long_as_the_run_is_allowed():
  """A one-epoch run whose warmup is one epoch (warmup == total) warms up
  to the peak instead of failing in optax."""
  lr = optim.schedule({"lr": 1e-3, "schedule": "warmup_cosine"}, 4, 4)
  assert float(lr(0)) == 0.0 and abs(float(lr(4)) - 1e-3) < 1e-9
