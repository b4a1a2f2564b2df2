"""State-dict layout helpers (no torch needed: plain arrays stand in)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from egoimu_jax.models import recurrent
from egoimu_jax.models import torch_convert as tc


def test_conv_and_linear_layouts():
  w = np.arange(4 * 3 * 5 * 1, dtype=np.float32).reshape(4, 3, 5, 1)
  sd = {"c.weight": w, "c.bias": np.ones(4), "l.weight": np.eye(3, 2)}
  conv = tc.conv(sd, "c")
  assert conv["kernel"].shape == (5, 1, 3, 4)
  assert conv["kernel"][2, 0, 1, 3] == w[3, 1, 2, 0]
  lin = tc.linear(sd, "l", input_permutation=np.array([1, 0]))
  assert lin["kernel"].shape == (2, 3) and "bias" not in lin
  np.testing.assert_array_equal(lin["kernel"], np.eye(3, 2).T[[1, 0]])


def test_to_numpy_copies():
  a = np.zeros(3)
  b = tc.to_numpy(a)
  a[0] = 1.0
  assert b[0] == 0.0


def test_flatten_permutation():
  # torch flattens [F=2, C=3] filter-major: index f * 3 + c.
  perm = tc.flatten_permutation((2, 3), (1, 0))
  # Ours flattens [C, F]: j = c * 2 + f must map to torch f * 3 + c.
  for c in range(3):
    for f in range(2):
      assert perm[c * 2 + f] == f * 3 + c


def test_state_dict_tracks_use_and_names_missing_keys():
  sd = tc.StateDict({"a.weight": np.ones((2, 2)), "a.bias": np.ones(2),
                     "bn.num_batches_tracked": np.array(3)}, "demo")
  tc.linear(sd, "a")
  assert sd.unused() == ["bn.num_batches_tracked"]
  with pytest.raises(ValueError, match="demo: keys not converted"):
    sd.assert_all_used()
  sd.assert_all_used(ignore=["bn.num_batches_tracked"])
  with pytest.raises(KeyError, match="demo: missing key 'b.weight'"):
    tc.linear(sd, "b")


def test_check_like_names_every_problem():
  ref = {"a": {"kernel": jnp.zeros((2, 3))}, "b": {"bias": jnp.zeros(3)}}
  tc.check_like({"a": {"kernel": np.zeros((2, 3))},
                 "b": {"bias": np.zeros(3)}}, ref)
  with pytest.raises(ValueError) as err:
    tc.check_like({"a": {"kernel": np.zeros((3, 2))},
                   "c": {"bias": np.zeros(3)}}, ref)
  msg = str(err.value)
  assert "missing b/bias" in msg and "unexpected c/bias" in msg
  assert "a/kernel: shape (3, 2) != (2, 3)" in msg


def test_rnn_rejects_bidirectional_and_projections():
  sd = {"r.weight_ih_l0": np.zeros((8, 3)), "r.weight_ih_l0_reverse": 0}
  with pytest.raises(ValueError, match="bidirectional"):
    tc.gru(sd, "r")
  with pytest.raises(ValueError, match="proj_size"):
    tc.lstm({"weight_hr_l0": 0}, "")


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_recurrent_layers_match_torch(kind):
  torch = pytest.importorskip("torch")
  torch.manual_seed(0)
  cls = torch.nn.LSTM if kind == "lstm" else torch.nn.GRU
  net = cls(5, 7, num_layers=2, batch_first=True)
  x = np.random.RandomState(0).randn(3, 11, 5).astype(np.float32)
  with torch.no_grad():
    expected = net(torch.from_numpy(x))[0].numpy()
  convert = tc.lstm if kind == "lstm" else tc.gru
  layer = recurrent.LSTM if kind == "lstm" else recurrent.GRU
  y = jnp.asarray(x)
  for i in range(2):
    params = convert(net.state_dict(), "", i)  # A bare module: no prefix.
    module = layer(7, unroll=2)
    tc.check_like(params, jax.eval_shape(module.init, jax.random.key(0),
                                         y)["params"])
    y = module.apply({"params": params}, y)
  np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
