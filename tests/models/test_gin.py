"""GIN layers (GraphMAE form) and EVI-MAE's masked graph branch."""

import flax
import jax
import jax.numpy as jnp
import numpy as np

from egoimu_jax.models import evimae_blocks
from egoimu_jax.models import evimae_spec
from egoimu_jax.models import gin


def test_fully_connected_adjacency():
  a = gin.fully_connected(3)
  np.testing.assert_array_equal(a, [[0, 1, 1], [1, 0, 1], [1, 1, 0]])


def test_gin_layer_aggregates_self_plus_neighbour_sum():
  """With identity MLP weights, unit BN and PReLU slope 1, a layer computes
  ``h + A h`` (GINConv with eps = 0)."""
  d = 4
  layer = gin.GINLayer(hidden=d, features=d, norm_act_out=False)
  h = jax.random.normal(jax.random.key(0), (2, 3, d))
  path = jnp.asarray([[0, 1, 0], [1, 0, 1], [0, 1, 0]], jnp.float32)
  v = flax.core.unfreeze(jax.jit(layer.init, static_argnums=3)(
      jax.random.key(1), h, path, False))
  eye = jnp.eye(d)
  v["params"]["fc1"] = {"kernel": eye, "bias": jnp.zeros(d)}
  v["params"]["fc2"] = {"kernel": eye, "bias": jnp.zeros(d)}
  v["params"]["mlp_norm"]["act"]["negative_slope"] = jnp.ones(())
  out = jax.jit(layer.apply, static_argnums=3)(v, h, path, False)
  # (eval: BN uses mean 0, var 1)
  want = (h + jnp.einsum("ij,bjd->bid", path, h)) / np.sqrt(1 + 1e-5)
  np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)


def test_gin_batchnorm_statistics_update_only_in_training():
  net = gin.GIN(hidden=8, out_dim=8, num_layers=2, encoding=True, dropout=0.0)
  h = jax.random.normal(jax.random.key(0), (4, 2, 5)) * 3 + 1
  adj = jnp.asarray(gin.fully_connected(2))
  v = jax.jit(net.init)(jax.random.key(1), h, adj)
  _, upd = jax.jit(lambda v, h: net.apply(v, h, adj, True,
                                          mutable="batch_stats"))(v, h)
  apply = jax.jit(net.apply, static_argnums=3)
  before = jax.tree.leaves(v["batch_stats"])
  after = jax.tree.leaves(upd["batch_stats"])
  assert any(not np.allclose(a, b) for a, b in zip(before, after))
  # Eval output of one example does not depend on the rest of the batch.
  full = apply(v, h, adj, False)
  one = apply(v, h[:1], adj, False)
  np.testing.assert_allclose(full[:1], one, rtol=1e-5, atol=1e-5)


def test_graph_branch_hides_masked_nodes():
  """A masked node's features never reach the reconstruction; a visible
  node's do. The branch returns encoder output and per-node recon."""
  spec = evimae_spec.make_spec("tiny", graph_dropout=0.0)
  graph = evimae_blocks.IMUGraph(spec)
  b, g, d = 3, 2, spec.imu_width
  nodes = jax.random.normal(jax.random.key(0), (b, g, d))
  node_mask = jnp.asarray([[True, False], [False, True], [False, False]])
  v = jax.jit(lambda k, x, m: graph.init(k, x, False, m))(
      jax.random.key(1), nodes, node_mask)
  apply = jax.jit(lambda v, x, train, m: graph.apply(v, x, False, m),
                  static_argnums=2)
  enc, recon = apply(v, nodes, False, node_mask)
  assert enc.shape == (b, g, spec.graph_hidden)
  assert recon.shape == (b, g, d)
  bumped_masked = nodes.at[0, 0].add(5.0)
  _, r1 = apply(v, bumped_masked, False, node_mask)
  np.testing.assert_allclose(r1, recon, atol=1e-6)
  bumped_visible = nodes.at[0, 1].add(5.0)
  _, r2 = apply(v, bumped_visible, False, node_mask)
  assert not np.allclose(r2[0], recon[0])
  # Encoder-only mode (fine-tuning) has no decoder or mask token.
  v_enc = jax.eval_shape(lambda k, x: graph.init(k, x, False),
                         jax.random.key(1), nodes)
  assert set(v_enc["params"]) == {"encoder"}
