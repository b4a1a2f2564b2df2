"""Test helpers: ``jax.jit`` tuned for tiny models on CPU, XLA's FLOP counts."""

import functools

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


def cost(compiled) -> dict:
  """XLA's cost analysis of a compiled program, one dict on any jax version."""
  analysis = compiled.cost_analysis()
  return analysis[0] if isinstance(analysis, (list, tuple)) else analysis


def op_flops(fn, *args, primitives=("dot_general", "conv_general_dilated")
             ) -> list:
  """XLA's FLOP count of each ``primitives`` op in ``fn``'s program (nested
  jaxprs included), each op compiled on its own (abstract args suffice)."""
  flops = []

  def walk(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name in primitives:
        shapes = [jax.ShapeDtypeStruct(v.aval.shape, v.aval.dtype)
                  for v in eqn.invars]
        op = jax.jit(functools.partial(eqn.primitive.bind, **eqn.params))
        flops.append(cost(op.lower(*shapes).compile())["flops"])
      for param in eqn.params.values():
        for sub in param if isinstance(param, (tuple, list)) else (param,):
          inner = getattr(sub, "jaxpr", sub)
          if hasattr(inner, "eqns"):
            walk(inner)

  walk(jax.make_jaxpr(fn)(*args).jaxpr)
  return flops
