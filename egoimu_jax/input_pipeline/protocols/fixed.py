"""``fixed``: test (and validation) people named up front; one fold.

The test people come from exactly one of:
  ``protocol.preset``        a named published split (``PRESETS``), e.g.
                             ``uci_har``: UCI-HAR's official test subjects;
  ``protocol.test_workers``  worker ids (a tuple; on the command line
                             ``--config.protocol.test_workers=s02,s04``);
  ``protocol.split_file``    a JSON file with ``test_workers`` and optionally
                             ``val_workers`` / ``train_workers`` (a run's
                             ``split.json`` works; other fields are ignored).
Validation people are ``protocol.val_workers`` (or the file's), else a
seeded ``protocol.val_fraction`` (0.2) of the training people, spread over
the stratify label (``orders.stratified_order`` with ``protocol.seed``);
at least one, since every run validates. Everyone else trains (the file's
``train_workers`` where given). Cross-person; fold 0 only.
"""

from __future__ import annotations

import json
import os
import types
from typing import Any, Dict, List, Mapping, Sequence

from egoimu_jax.input_pipeline import orders
from egoimu_jax.input_pipeline.population import Population
from egoimu_jax.input_pipeline.population import SplitError
from egoimu_jax.input_pipeline.protocols import base

# name -> (test worker ids, where the split comes from). Worker ids are as
# the dataset converters write them (egoimu_jax/datasets/hapt.py: s01..s30).
PRESETS: Mapping[str, tuple] = types.MappingProxyType({
    "uci_har": (("s02", "s04", "s09", "s10", "s12", "s13", "s18", "s20",
                 "s24"),
                "UCI-HAR's official split (Anguita et al. 2013): test "
                "subjects 2, 4, 9, 10, 12, 13, 18, 20, 24; the other 21 "
                "train"),
})


class Fixed(base.Protocol):
  name = "fixed"
  title = "Cross-person (fixed split)"
  cross_person = True
  test_part = "fixed test people"
  options = types.MappingProxyType(dict(
      preset="",          # a PRESETS name, e.g. "uci_har"
      test_workers=(),    # ... or the test people's worker ids
      val_workers=(),     # validation people; empty: val_fraction of train
      split_file="",      # ... or a JSON file of *_workers lists
      val_fraction=0.2,   # of the training people, when none are named
  ))

  def make(self, pop: Population, cfg: Mapping[str, Any]) -> Dict[str, Any]:
    if cfg["fold"] != 0:
      raise SplitError(f"protocol fixed has one fold (0), got fold "
                       f"{cfg['fold']}")
    given = _given(cfg)
    test = _known(pop, given["test"], given["source"] + " test workers")
    val = _known(pop, given["val"], given["source"] + " val workers")
    train = (_known(pop, given["train"], given["source"] + " train workers")
             if given["train"] else [w for w in pop.workers
                                     if w not in set(test) | set(val)])
    if not val:
      pool = train
      n = max(1, round(float(cfg["val_fraction"]) * len(pool)))
      if not 0 < float(cfg["val_fraction"]) < 1 or n >= len(pool):
        raise SplitError(f"protocol.val_fraction {cfg['val_fraction']} of "
                         f"{len(pool)} training people leaves none to train "
                         "or validate; it must be in (0, 1)")
      val = orders.stratified_order(pop, pool, cfg["seed"], "fixed_val")[:n]
      train = [w for w in pool if w not in set(val)]
    return base.parts(train, val, test, preset=cfg["preset"] or "")

  def bundle_variants(self, num_folds: int, settings: Mapping[str, Any],
                      num_workers: int) -> List[Dict[str, Any]]:
    """Each preset's split (listed as unavailable on a dataset without its
    people)."""
    del num_folds, settings, num_workers
    return [dict(fold=0, preset=p) for p in PRESETS]


def _ids(value: Any) -> List[str]:
  """Worker ids from a tuple/list and/or comma-separated strings (the
  command line's ``--config.protocol.test_workers=s02,s04`` arrives as
  ``("s02,s04",)``)."""
  items = [value] if isinstance(value, str) else list(value or ())
  return [w.strip() for v in items for w in str(v).split(",") if w.strip()]


def _given(cfg: Mapping[str, Any]) -> Dict[str, Any]:
  """The named people and where they come from (exactly one source)."""
  preset, path = cfg["preset"] or "", cfg["split_file"] or ""
  test, val = _ids(cfg["test_workers"]), _ids(cfg["val_workers"])
  sources = [s for s, on in (("protocol.preset", preset),
                             ("protocol.test_workers", test),
                             ("protocol.split_file", path)) if on]
  if len(sources) != 1:
    raise SplitError(
        "protocol fixed needs exactly one of protocol.preset (known: "
        f"{', '.join(PRESETS)}), protocol.test_workers or protocol.split_file; "
        f"got {', '.join(sources) or 'none'}")
  if preset:
    if preset not in PRESETS:
      raise SplitError(f"unknown protocol.preset {preset!r}; known: "
                       f"{', '.join(PRESETS)}")
    return dict(source=f"preset {preset}", test=list(PRESETS[preset][0]),
                val=val, train=[])
  if test:
    return dict(source="protocol", test=test, val=val, train=[])
  obj = _read(path)
  if val and obj.get("val_workers"):
    raise SplitError(f"{path} and protocol.val_workers both name validation "
                     "people; keep one")
  return dict(source=path, test=_ids(obj.get("test_workers")),
              val=val or _ids(obj.get("val_workers")),
              train=_ids(obj.get("train_workers")))


def _read(path: str) -> Dict[str, Any]:
  if not os.path.isfile(path):
    raise SplitError(f"{path}: protocol.split_file not found")
  try:
    with open(path, encoding="utf-8") as f:
      obj = json.load(f)
  except (ValueError, UnicodeDecodeError) as e:
    raise SplitError(f"{path}: not valid JSON ({e})") from None
  if not isinstance(obj, dict) or not obj.get("test_workers"):
    raise SplitError(f'{path}: expected {{"test_workers": [...], '
                     '"val_workers": [...] (optional)}')
  return obj


def _known(pop: Population, ids: Sequence[str], what: str) -> List[str]:
  """``ids``, each a worker of ``pop``, without duplicates."""
  if len(set(ids)) != len(ids):
    raise SplitError(f"{what} have duplicates: {list(ids)}")
  unknown = [w for w in ids if w not in set(pop.workers)]
  if unknown:
    raise SplitError(f"{what} not in the dataset: {unknown[:9]} (the dataset "
                     f"has {len(pop.workers)} workers, e.g. "
                     f"{list(pop.workers)[:3]})")
  return list(ids)
