"""Test helper: ``jax.jit`` tuned for tiny models on CPU."""

import jax


def compile_fast(fn, *args):
  """``fn`` compiled for ``args`` with XLA's CPU backend optimisations off:
  tiny models compile in a fraction of the time and run fast enough for
  tests. Falls back to a default compile where the option is unknown."""
  lowered = jax.jit(fn).lower(*args)
  try:
    return lowered.compile({"xla_backend_optimization_level": 0})
  except Exception:  # pylint: disable=broad-except
    return lowered.compile()
