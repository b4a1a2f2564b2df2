"""Mesh shapes, regex sharding rules, optimizer-state mirroring and the
sufficiently-sharded check, on abstract meshes (no devices needed)."""

import jax
import jax.numpy as jnp
from jax.sharding import AbstractMesh, AxisType, PartitionSpec as P
import optax
import pytest

from egoimu_jax.training import mesh as mesh_lib
from egoimu_jax.training import optim
from egoimu_jax.training import sharding
from egoimu_jax.training import train_state

MESH = AbstractMesh((2, 2), ("data", "fsdp"), axis_types=(AxisType.Auto,) * 2)
PARAMS = {"conv": {"kernel": jnp.zeros((5, 3, 8)), "bias": jnp.zeros(8)},
          "head": {"kernel": jnp.zeros((8, 3))}}


@pytest.mark.parametrize("axes, n, want", [
    ((("data", -1), ("fsdp", 1)), 8, (8, 1)),
    ((("data", -1), ("fsdp", 2)), 8, (4, 2)),
    ((("data", 2), ("fsdp", 2)), 4, (2, 2)),
])
def test_resolve_shape(axes, n, want):
  assert mesh_lib.resolve_shape(axes, n) == (("data", "fsdp"), want)


@pytest.mark.parametrize("axes, n, match", [
    ((("data", -1), ("fsdp", 3)), 8, "not divisible"),
    ((("data", 2), ("fsdp", 2)), 8, "has 4 devices"),
    ((("data", -1), ("fsdp", -1)), 8, "at most one -1"),
    ((("data", 2), ("data", 2)), 4, "twice"),
])
def test_resolve_shape_errors(axes, n, match):
  with pytest.raises(ValueError, match=match):
    mesh_lib.resolve_shape(axes, n)


def test_rules_first_match_wins_and_default_replicates():
  rules = (("params/head/.*", "replicate"), ("params/.*kernel", "fsdp"),
           ("params/conv/bias", (("data", "fsdp"),)))
  spec = lambda p, s: sharding.spec_for(p, s, rules, MESH)
  assert spec("params/head/kernel", (8, 3)) == P()
  # Largest divisible dimension (8) over 'fsdp'.
  assert spec("params/conv/kernel", (5, 3, 8)) == P(None, None, "fsdp")
  assert spec("params/conv/bias", (8,)) == P(("data", "fsdp"))
  assert spec("batch_stats/bn/mean", (8,)) == P()
  # No divisible dimension: replicated (the sufficiency check catches it).
  assert spec("params/x/kernel", (5, 3)) == P()


@pytest.mark.parametrize("rule, match", [
    (("p", "model"), "no mesh axis 'model'"),
    (("p", (None, None, "fsdp")), "more entries"),
    (("p", ("fsdp",)), "not divisible"),
])
def test_bad_rules_name_the_variable(rule, match):
  with pytest.raises(ValueError, match=match):
    sharding.spec_for("p", (3, 4), (rule,), MESH)


@pytest.mark.parametrize("freeze", ["", "conv/.*"])
def test_optimizer_state_mirrors_params(freeze):
  tx = optim.build(dict(lr=1e-3, weight_decay=0.1, clip_norm=1.0,
                        freeze=freeze), optax.constant_schedule(1e-3))
  state = jax.eval_shape(lambda: train_state.from_variables(
      {"params": PARAMS, "batch_stats": {"m": jnp.zeros(8)}}, tx))
  sh = sharding.state_shardings(state, (("params/.*kernel", "fsdp"),
                                        ("batch_stats/.*", ("fsdp",))), MESH)
  assert jax.tree.structure(sh.opt_state) == jax.tree.structure(state.opt_state)
  assert sh.model_state["batch_stats"]["m"].spec == P("fsdp")
  specs = {sharding.path_str(p): s.spec for p, s in
           jax.tree_util.tree_flatten_with_path(sh.opt_state)[0]}
  mu = [k for k in specs if k.endswith("mu/head/kernel")]
  assert mu and specs[mu[0]] == P("fsdp")   # (8, 3): dim 0 divides by 2
  assert all(s == P() for k, s in specs.items() if k.endswith("count"))
  if freeze:  # frozen params have no moments at all
    assert not [k for k in specs if "mu/conv" in k]


def test_params_per_device_and_sufficiency_check():
  shapes = jax.eval_shape(lambda: PARAMS)
  rules = (("params/.*kernel", "fsdp"),)
  shard = sharding.variable_shardings({"params": shapes}, rules, MESH)["params"]
  figures = sharding.params_per_device(shapes, shard, MESH)
  assert figures["params"] == 120 + 8 + 24
  assert figures["params_per_device"] == 60 + 8 + 12
  assert figures["ideal_params_per_device"] == 76
  sharding.params_per_device(shapes, shard, MESH, tolerance=0.06)
  with pytest.raises(ValueError, match=r"not sufficiently sharded.*conv/bias"):
    sharding.params_per_device(shapes, shard, MESH, tolerance=0.01)
