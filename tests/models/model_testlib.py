"""Test helpers shared by the model tests: abstract parameters, the head,
imported weights, PyTorch references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from egoimu_jax.models import torch_convert
from egoimu_jax.models import transfer


def abstract_params(model, modality: str, shape, key):
  """``model``'s parameters, as shapes only, initialised on a float32
  ``{modality: [shape]}`` batch."""
  return jax.eval_shape(
      lambda x: model.init(key, {modality: x}, train=False),
      jax.ShapeDtypeStruct(shape, jnp.float32))["params"]


def size(params) -> int:
  """How many numbers ``params`` holds."""
  return sum(x.size for x in jax.tree.leaves(params))


def assert_linear_head(logits, features, head):
  """``logits`` are ``features`` through the dense ``head`` parameters."""
  np.testing.assert_allclose(
      logits, features @ head["kernel"] + head["bias"], rtol=1e-5, atol=1e-5)


def assert_head_is_fresh(merged, weights, variables):
  """The warm start ``merged`` kept the fresh head of ``variables``, and a
  transfer of the imported ``weights`` without fresh leaves refuses it."""
  np.testing.assert_array_equal(merged["params"]["head"]["kernel"],
                                variables["params"]["head"]["kernel"])
  with pytest.raises(transfer.TransferError, match="head"):
    transfer.transfer(weights, variables, fresh=())


def assert_missing_weight(load, state_dict, name: str, match: str):
  """``load`` of ``state_dict`` without the weight ``name`` raises a
  KeyError that matches ``match``."""
  broken = dict(state_dict)
  del broken[name]
  with pytest.raises(KeyError, match=match):
    load(broken)


def iswc22_reference(filename: str):
  """The PyTorch ``filename`` shipped in benchmarkhar (no package init); the
  test is skipped without torch or benchmarkhar."""
  pytest.importorskip("torch")
  module = torch_convert.iswc22_reference(filename)
  if module is None:
    pytest.skip("benchmarkhar (PyTorch reference) is not installed")
  return module
