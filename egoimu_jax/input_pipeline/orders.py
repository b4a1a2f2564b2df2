"""Seeded, NumPy-free orders: keyed hashes, so a split does not change with
the NumPy version and ``split.json`` files stay reproducible."""

from __future__ import annotations

import hashlib
from typing import Any, Iterable, List, Sequence

from egoimu_jax.input_pipeline.population import Population


def hash_key(*parts: Any) -> bytes:
  return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()


def hash_order(items: Iterable[Any], *salt: Any) -> List[Any]:
  """A seeded random permutation of ``items``: sorted by ``hash_key(*salt, x)``."""
  # Same digests as hash_key, with the salt hashed once (500K clips: ~3x faster).
  prefix = hashlib.blake2b("\x1f".join(map(str, salt + ("",))).encode(), digest_size=8)

  def key(x):
    h = prefix.copy()
    h.update(str(x).encode())
    return h.digest()

  return sorted(items, key=key)


def stratified_order(pop: Population, workers: Sequence[str], *salt: Any,
                     num_strata: int = 8) -> List[str]:
  """An order of ``workers`` whose every prefix is spread over break fraction.

  Workers sorted by break fraction are cut into ``num_strata`` contiguous
  strata; the order takes one worker from each stratum per round (strata and
  workers within them in seeded random order). A prefix of length n thus has
  n/num_strata workers (+-1) from every stratum.
  """
  ranked = sorted(workers, key=lambda w: (pop.stratify_fraction[w], hash_key(*salt, "tie", w)))
  s = max(1, min(num_strata, len(ranked)))
  bounds = [round(i * len(ranked) / s) for i in range(s + 1)]
  strata = [hash_order(ranked[bounds[i]:bounds[i + 1]], *salt, "stratum", i)
            for i in range(s)]
  return round_robin(strata, *salt)


def round_robin(lists: Sequence[Sequence[Any]], *salt: Any) -> List[Any]:
  """Takes one item from each list per round, lists in a seeded order per round."""
  out = []
  for r in range(max((len(x) for x in lists), default=0)):
    for i in hash_order(range(len(lists)), *salt, "round", r):
      if r < len(lists[i]):
        out.append(lists[i][r])
  return out

