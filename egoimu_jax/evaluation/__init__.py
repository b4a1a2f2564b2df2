"""Metrics, statistics, probes and results files; ``evaluate`` scores a model
trained outside this codebase (``submission.evaluate``)."""


def __getattr__(name):
  # Lazy, so that importing evaluation.metrics stays light.
  if name == "evaluate":
    from egoimu_jax.evaluation.submission import evaluate  # pylint: disable=g-import-not-at-top
    return evaluate
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
