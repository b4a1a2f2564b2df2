"""MAE loss terms against numpy references, padding exclusion and weights."""

import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax.models import mae_losses

# One compiled program per call signature instead of many eager ops.
_losses = jax.jit(mae_losses.losses)


def _outputs(seed=0, b=5):
  rng = np.random.default_rng(seed)
  f = lambda *s: rng.normal(size=s).astype(np.float32)  # noqa: E731
  return {
      "imu": {"pred": f(b, 6, 4), "target": f(b, 6, 4),
              "mask": rng.random((b, 6)) < 0.7},
      "video": {"pred": f(b, 9, 3), "target": f(b, 9, 3),
                "mask": rng.random((b, 9)) < 0.9},
      "graph": {"pred": f(b, 2, 8), "target": f(b, 2, 8),
                "mask": np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0]],
                                 bool)[:b]},
      "features": {"imu": f(b, 7), "video": f(b, 7)},
  }


def _mse(o):
  per = np.square(o["pred"] - o["target"]).mean(-1)
  return per[o["mask"]].mean()


def _nce(a, v, t, valid):
  a = a / np.linalg.norm(a, axis=-1, keepdims=True)
  v = v / np.linalg.norm(v, axis=-1, keepdims=True)
  lg = (a @ v.T / t)[np.ix_(valid, valid)]
  def one(x):
    x = x - x.max(1, keepdims=True)
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    return -np.diag(logp).mean()
  return (one(lg.T) + one(lg)) / 2, one(lg.T)


def test_terms_match_numpy_and_weights_combine():
  o = _outputs()
  total, terms = _losses(o)
  np.testing.assert_allclose(terms["mse_imu"], _mse(o["imu"]), rtol=1e-5)
  np.testing.assert_allclose(terms["mse_video"], _mse(o["video"]), rtol=1e-5)
  g = o["graph"]
  cos = np.sum(g["pred"] * g["target"], -1) / (
      np.linalg.norm(g["pred"], axis=-1) * np.linalg.norm(g["target"], axis=-1))
  np.testing.assert_allclose(terms["graph"], (1 - cos)[g["mask"]].mean(),
                             rtol=1e-5)
  sym, one_way = _nce(o["features"]["imu"], o["features"]["video"], 0.05,
                      np.ones(5, bool))
  np.testing.assert_allclose(terms["contrastive"], sym, rtol=1e-5)
  _, t1 = mae_losses.losses(o, {"bidirectional": False})
  np.testing.assert_allclose(t1["contrastive"], one_way, rtol=1e-5)
  want = (terms["mse_imu"] + terms["mse_video"] + 10 * terms["graph"] +
          0.01 * terms["contrastive"])
  np.testing.assert_allclose(total, want, rtol=1e-6)


def test_padding_examples_are_ignored_everywhere():
  o = _outputs(seed=1)
  keep = np.array([True, True, False, True, True])
  _, masked = _losses(o, example_mask=jnp.asarray(keep))
  sub = jax.tree.map(lambda x: x[keep], o)
  _, direct = _losses(sub)
  for k in direct:
    np.testing.assert_allclose(masked[k], direct[k], rtol=1e-5, err_msg=k)


def test_per_example_sums_recombine_exactly_across_batches():
  o = _outputs(seed=2)
  halves = [jax.tree.map(lambda x, s=s: x[s], o)
            for s in (slice(0, 3), slice(3, 5))]
  per = [jax.jit(mae_losses.per_example_terms)(h) for h in halves]
  sums = {k: sum(float(np.sum(p[k])) for p in per) for k in per[0]}
  _, combined = mae_losses.combine(sums)
  for name in ("mse_imu", "mse_video", "graph"):
    np.testing.assert_allclose(combined[name], _losses(o)[1][name],
                               rtol=1e-5)
