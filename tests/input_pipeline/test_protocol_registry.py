"""A new protocol is one class plus one registry line; its attributes reach
config, validation and report; the cross-person set has one definition."""

import ast
import os
import pathlib

import numpy as np
import pytest

from egoimu_jax import config_lib
from egoimu_jax import errors
from egoimu_jax import registry
from egoimu_jax.evaluation import results
from egoimu_jax.input_pipeline import protocols
from egoimu_jax.input_pipeline import splits
from egoimu_jax.input_pipeline.protocols import base
from egoimu_jax.report import aggregate
from egoimu_jax.report import tables

REPO = pathlib.Path(__file__).resolve().parents[2]
POP = splits.Population.from_lists(
    {f"w{i}": [f"w{i}c{j}" for j in range(6)] for i in range(10)},
    {f"w{i}": i / 10 for i in range(10)})


class EveryOther(base.Protocol):
  """Toy: fold k tests every ``toy_stride``-th worker from the k-th."""
  name = "every_other"
  title = "Every other worker"
  cross_person = True
  options = {"toy_stride": 2}

  def make(self, pop, cfg):
    test = pop.workers[cfg["fold"]::cfg["toy_stride"]]
    rest = [w for w in pop.workers if w not in test]
    return base.parts(rest[1:], rest[:1], test)


@pytest.fixture
def toy(monkeypatch):
  """The registry with the toy protocol added (a copy: other tests unaffected)."""
  copy = registry.Registry("protocol")
  for name in protocols.names():
    copy.register(name)(protocols.PROTOCOLS.get(name))
  monkeypatch.setattr(protocols, "PROTOCOLS", copy)
  protocols.PROTOCOLS.register("every_other")(EveryOther())   # the one line


def test_toy_protocol_splits_through_the_public_path(toy, tmp_path):
  cfg = config_lib.protocol_config()       # holds the toy's own option
  cfg.update(name="every_other", fold=1, toy_stride=4)
  split = splits.load_or_create_split(str(tmp_path), cfg, POP)
  assert split["test_workers"] == ["w1", "w5", "w9"]
  assert splits.read_split(str(tmp_path / splits.SPLIT_FILE)) == split
  splits.validate_split(split, POP)
  # Cross-person: validation refuses a test person seen in training.
  leaky = dict(split, train_workers=split["train_workers"] + ["w1"])
  with pytest.raises(splits.SplitError, match="cross-person"):
    splits.validate_split(leaky, POP)
  assert isinstance(splits.SplitError("x"), (errors.UserError, ValueError))


def _write_run(root, protocol, fold, rng):
  split = splits.make_split({"name": protocol, "fold": fold}, POP)
  test = split["test_workers"]
  worker = np.repeat(test, 10)
  index = np.arange(len(worker)) + 100 * fold
  label = index % 2     # one dataset: a window's label is the same in every run
  results.write(os.path.join(root, f"{protocol}_{fold}"), config={}, split=split,
                model="m", name="m", classes=["a", "b"],
                predictions={"test": results.Predictions(
                    index=index, window_id=[f"c/{i}" for i in index],
                    worker_id=worker, label=label, pred=label,
                    probs=np.eye(2)[label])})


def test_toy_cross_person_protocol_reaches_the_report(toy, tmp_path):
  assert "every_other" in protocols.cross_person_protocols()
  assert aggregate.protocol_order()[:2] == ("within", "l20wo")
  assert "every_other" in aggregate.protocol_order()
  rng = np.random.default_rng(0)
  for fold in range(2):
    _write_run(str(tmp_path), "within", fold, rng)
    _write_run(str(tmp_path), "every_other", fold, rng)
  groups = aggregate.group(aggregate.load_runs([str(tmp_path / "*")]))
  gaps, _ = tables.matched_gaps(groups, n_boot=20)
  assert "gap within−every_other" in tables.main_table(groups, gaps=gaps).columns


def test_registry_lists_the_builtin_protocols():
  assert protocols.names() == ("l20wo", "within", "lowo", "worker_scaling",
                               "data_scaling", "pretrain", "fixed")
  assert protocols.cross_person_protocols() == (
      "l20wo", "lowo", "worker_scaling", "data_scaling", "fixed")
  assert protocols.scaling_protocols() == ("worker_scaling", "data_scaling")
  assert protocols.gap_pair() == ("l20wo", "within")
  with pytest.raises(splits.SplitError, match="unknown protocol.name"):
    splits.make_split({"name": "nope"}, POP)


# Literal collections of several protocol names outside protocols/ that are
# a policy of their own, not a copy of the registry's attributes.
_OWN_ORDERS = {
    "egoimu_jax/report/hard_cases_section.py",   # difficulty source preference
    "egoimu_jax/distill_config.py",  # the experiment's default
}


def test_no_module_copies_a_set_of_protocols():
  names = set(protocols.names())
  copies = []
  for root in ("egoimu_jax", "launch", "scaling"):
    for path in sorted((REPO / root).rglob("*.py")):
      rel = path.relative_to(REPO).as_posix()
      if rel.startswith("egoimu_jax/input_pipeline/protocols/") or rel in _OWN_ORDERS:
        continue
      for node in ast.walk(ast.parse(path.read_text())):
        items = (node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set))
                 else node.keys if isinstance(node, ast.Dict) else [])
        found = {e.value for e in items
                 if isinstance(e, ast.Constant) and e.value in names}
        if len(found) >= 2:
          copies.append(f"{rel}:{node.lineno} {sorted(found)}")
  assert not copies, ("read protocol attributes (input_pipeline/protocols) "
                      f"instead of listing protocols: {copies}")
