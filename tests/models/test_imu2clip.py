"""IMU2CLIP's encoder against a PyTorch rendering of ``MW2StackRNNPooling``
(random weights): same embedding; 1000 samples give the reference's 32
pooled steps."""

import numpy as np
import pytest

import jax
import jax.numpy as jnp

import jit_testlib
from egoimu_jax.models import imu2clip
from egoimu_jax.models import torch_convert


def test_shapes_and_input_frames():
  model = imu2clip.create("tiny", num_classes=3)
  assert imu2clip.create("base").input_frames(1000) == 32
  batch = {"imu": jnp.ones((2, 1000, 6))}
  # Compiled (eager init and apply dispatch op by op).
  variables = jit_testlib.compile_fast(
      lambda b: model.init(jax.random.key(0), b, train=False), batch)(batch)
  logits, aux = jit_testlib.compile_fast(
      lambda v, b: model.apply(v, b, train=False), variables, batch)(
          variables, batch)
  assert logits.shape == (2, 3) and aux["features"].shape == (2, 16)
  # The GRU reads the T' = 32 pooled steps of each channel as its input.
  assert variables["params"]["gru"]["kernel_ih"].shape == (32, 3 * 16)
  with pytest.raises(ValueError, match="need windows of at least 141 samples"):
    model.init(jax.random.key(0), {"imu": jnp.ones((1, 40, 6))}, train=False)


@pytest.mark.torch
def test_matches_torch_reference():
  torch = pytest.importorskip("torch")
  nn = torch.nn
  torch.manual_seed(0)
  ch, hidden = 8, 16

  def block(cin, k):
    return nn.Sequential(nn.Conv1d(cin, ch, k, dilation=2, bias=False),
                         nn.MaxPool1d(3))

  net = nn.Sequential(nn.GroupNorm(2, 6), block(6, 10), block(ch, 5),
                      block(ch, 5), nn.GroupNorm(4, ch),
                      nn.GRU(batch_first=True, input_size=32,
                             hidden_size=hidden))
  with torch.no_grad():  # non-trivial norm affines
    for i in (0, 4):
      net[i].weight.uniform_(0.5, 1.5)
      net[i].bias.uniform_(-0.5, 0.5)
  x = np.random.default_rng(0).normal(size=(3, 1000, 6)).astype(np.float32)
  with torch.no_grad():
    want = net(torch.from_numpy(x.transpose(0, 2, 1)))[1][0].numpy()

  sd = net.state_dict()
  params = {"input_norm": torch_convert.layer_norm(sd, "0"),
            **{f"conv_{i}": torch_convert.conv(sd, f"{i + 1}.0")
               for i in range(3)},
            "norm": torch_convert.layer_norm(sd, "4"),
            "gru": torch_convert.gru(sd, "5")}
  model = imu2clip.create("tiny", num_classes=2)
  batch = {"imu": jnp.asarray(x)}
  init = model.init(jax.random.key(0), batch, train=False)["params"]
  params["head"] = init["head"]
  torch_convert.check_like(params, init)
  _, aux = model.apply({"params": params}, batch, train=False)
  np.testing.assert_allclose(np.asarray(aux["features"]), want, atol=2e-5,
                             rtol=1e-4)
