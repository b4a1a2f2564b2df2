"""The train steps the framework comparisons time (import after
``timing.pin_threads``: this module imports jax, optax and torch).

Both sides do the same work per step: forward, softmax cross-entropy
against integer labels, backward, one optimizer update.
"""

import jax
import jax.numpy as jnp
import optax
import torch


def torch_step(forward, opt, x, y):
  """One torch step; ``forward(x)`` returns the logits."""
  opt.zero_grad(set_to_none=True)
  loss = torch.nn.functional.cross_entropy(forward(x), y)
  loss.backward()
  opt.step()
  return loss


def adamw(net, params, lr: float, weight_decay: float):
  """The same AdamW on both sides: ``(torch optimizer, optax transform,
  its initial state for params)``."""
  opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
  tx = optax.adamw(lr, weight_decay=weight_decay)
  return opt, tx, tx.init(params)


def eval_loss(logits, y) -> float:
  """Mean cross-entropy of flax ``logits`` against integer labels ``y``."""
  return float(optax.softmax_cross_entropy_with_integer_labels(
      logits, y).mean())


def flax_step_fn(model, tx):
  """A jitted ``(params, opt_state, x, y, key) -> (params, opt_state, key,
  loss)`` step of a model without mutable state; donates its buffers."""
  def loss_fn(params, x, y, key):
    logits, _ = model.apply({"params": params}, {"imu": x}, train=True,
                            rngs={"dropout": key})
    return optax.softmax_cross_entropy_with_integer_labels(
        logits.astype(jnp.float32), y).mean()

  def step(params, opt_state, x, y, key):
    key, sub = jax.random.split(key)
    loss, grads = jax.value_and_grad(loss_fn)(params, x, y, sub)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, key, loss

  return jax.jit(step, donate_argnums=(0, 1, 4))
