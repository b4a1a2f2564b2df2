"""Test-time adaptation without labels: AdaBN and TENT, for any Flax model.

Both work through ``flax.linen.intercept_methods``, so no model needs to
know about them:

* **AdaBN** (Li et al., 2016): every ``nn.BatchNorm``'s running statistics
  are replaced by the mean and (biased) variance of its input over one
  person's windows, layer after layer in a single forward pass (so a layer
  sees its input normalised with the person's statistics of the layers
  before it). ``mask`` leaves padding rows out, so one compiled function
  serves every person.
* **TENT** (Wang et al., 2021): a few gradient steps that minimise the mean
  prediction entropy on the person's windows, updating only the scale and
  bias of normalisation layers (``is_norm_layer``: BatchNorm, LayerNorm,
  GroupNorm, RMSNorm and model-defined ``*Norm`` modules);
  for a model with BatchNorm the statistics are the person's (AdaBN) first,
  TENT's test-batch normalisation.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Tuple

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

NORM_LAYERS = (nn.BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)


def is_norm_layer(module: nn.Module) -> bool:
  """Flax's normalisation layers, or a model's own (T5's ``RMSNorm`` in
  MOMENT): a module class named ``*Norm``."""
  return (isinstance(module, NORM_LAYERS) or
          type(module).__name__.endswith("Norm"))
# apply(variables, batch, mutable) -> (logits, aux) or ((logits, aux), updates)
Apply = Callable[..., Any]


def _feature_axes(axis, ndim: int) -> Tuple[int, ...]:
  axes = axis if isinstance(axis, tuple) else (axis,)
  return tuple(a % ndim for a in axes)


def _adabn_interceptor(mask: jax.Array):
  def intercept(next_fun, args, kwargs, context):
    module = context.module
    if not (isinstance(module, nn.BatchNorm) and
            context.method_name == "__call__"):
      return next_fun(*args, **kwargs)
    x = args[0]
    features = _feature_axes(module.axis, x.ndim)
    reduce = tuple(i for i in range(x.ndim) if i not in features)
    w = jnp.broadcast_to(
        mask.reshape((-1,) + (1,) * (x.ndim - 1)), x.shape).astype(jnp.float32)
    xf = x.astype(jnp.float32)
    n = jnp.maximum(w.sum(reduce, keepdims=True), 1.0)
    mean = (xf * w).sum(reduce, keepdims=True) / n
    var = (((xf - mean) ** 2) * w).sum(reduce, keepdims=True) / n
    module.put_variable("batch_stats", "mean", jnp.squeeze(mean, reduce))
    module.put_variable("batch_stats", "var", jnp.squeeze(var, reduce))
    # Applied with train=False: the layer normalises with what was just put.
    return next_fun(*args, **kwargs)
  return intercept


def has_batch_norm(variables: Mapping[str, Any]) -> bool:
  return bool(jax.tree.leaves(variables.get("batch_stats", {})))


def adabn_stats(apply: Apply, variables: Mapping[str, Any],
                batch: Mapping[str, jax.Array], mask: jax.Array
                ) -> Dict[str, Any]:
  """``batch_stats`` re-estimated on the unmasked windows of ``batch``."""
  with nn.intercept_methods(_adabn_interceptor(mask)):
    _, updates = apply(dict(variables), batch, train=False,
                       mutable=["batch_stats"])
  return updates["batch_stats"]


def norm_param_mask(model: nn.Module, variables: Mapping[str, Any],
                    batch: Mapping[str, jax.Array]) -> Any:
  """Pytree of bools over ``params``: True under a normalisation layer."""
  paths = set()

  def record(next_fun, args, kwargs, context):
    if is_norm_layer(context.module):
      paths.add(tuple(context.module.path))
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    jax.eval_shape(lambda v: model.apply(v, batch, train=False), variables)
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(
      variables["params"]))
  return flax.traverse_util.unflatten_dict(
      {k: any(k[:len(p)] == p for p in paths) for k in flat})


def entropy(logits: jax.Array, mask: jax.Array) -> jax.Array:
  """Mean softmax entropy over the unmasked rows."""
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), -1)
  h = -jnp.sum(jnp.exp(logp) * logp, -1)
  w = mask.astype(jnp.float32)
  return jnp.sum(h * w) / jnp.maximum(w.sum(), 1.0)


def tent_optimizer(lr: float, trainable: Any) -> optax.GradientTransformation:
  """Adam on the ``trainable`` leaves, nothing elsewhere."""
  labels = jax.tree.map(lambda t: "adapt" if t else "fixed", trainable)
  return optax.multi_transform(
      {"adapt": optax.adam(lr), "fixed": optax.set_to_zero()}, labels)


def make_tent(apply: Apply, tx: optax.GradientTransformation, steps: int
              ) -> Callable[..., Tuple[Any, jax.Array]]:
  """``(variables, batch, mask) -> (params, entropy per step [steps + 1])``.

  Pure and jit-able: ``steps`` entropy-minimisation updates of the
  normalisation parameters on one person's (padded, masked) windows.
  """

  def run(variables, batch, mask):
    rest = {k: v for k, v in variables.items() if k != "params"}

    def loss(params):
      logits, _ = apply({"params": params, **rest}, batch, train=False)
      return entropy(logits, mask)

    def step(carry, _):
      params, opt_state = carry
      value, grads = jax.value_and_grad(loss)(params)
      updates, opt_state = tx.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), value

    params = variables["params"]
    (params, _), history = jax.lax.scan(step, (params, tx.init(params)), None,
                                        length=steps)
    return params, jnp.concatenate([history, loss(params)[None]])

  return run
