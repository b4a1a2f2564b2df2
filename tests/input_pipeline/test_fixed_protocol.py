"""The ``fixed`` protocol: named test people (preset, config or file), a
seeded validation share of the rest, one fold; cross-person checks hold."""

import json

import pytest

from egoimu_jax import config_lib
from egoimu_jax.input_pipeline import protocols
from egoimu_jax.input_pipeline import splits

PEOPLE = [f"s{i:02d}" for i in range(1, 31)]
POP = splits.Population.from_lists(
    {w: [f"{w}_r1", f"{w}_r2"] for w in PEOPLE},
    {w: (i % 7) / 10 for i, w in enumerate(PEOPLE)})
UCI_TEST = ["s02", "s04", "s09", "s10", "s12", "s13", "s18", "s20", "s24"]


def _cfg(**kw):
  cfg = config_lib.protocol_config()   # holds the protocol's options
  cfg.update(name="fixed", **kw)
  return cfg


def test_uci_har_preset_tests_the_official_people(tmp_path):
  split = splits.load_or_create_split(str(tmp_path), _cfg(preset="uci_har"),
                                      POP)
  assert split["test_workers"] == UCI_TEST and split["preset"] == "uci_har"
  rest = set(PEOPLE) - set(UCI_TEST)
  assert len(split["val_workers"]) == 4        # round(0.2 * 21)
  assert set(split["train_workers"]) | set(split["val_workers"]) == rest
  splits.validate_split(split, POP)
  assert splits.read_split(str(tmp_path / splits.SPLIT_FILE)) == split
  assert "fixed" in protocols.cross_person_protocols()
  # Seeded: another seed, other validation people, same test people.
  other = splits.make_split(_cfg(preset="uci_har", seed=1), POP)
  assert other["test_workers"] == UCI_TEST
  assert other["val_workers"] != split["val_workers"]
  # A workdir made for another preset is refused, naming the field.
  with pytest.raises(splits.SplitError, match="preset"):
    splits.load_or_create_split(str(tmp_path), _cfg(test_workers=UCI_TEST),
                                POP)


def test_people_from_config_and_from_a_file(tmp_path):
  # As the command line gives --config.protocol.test_workers=s01,s03:
  split = splits.make_split(_cfg(test_workers=("s01, s03",),
                                 val_workers=("s05",)), POP)
  assert split["test_workers"] == ["s01", "s03"]
  assert split["val_workers"] == ["s05"] and len(split["train_workers"]) == 27
  path = tmp_path / "people.json"
  path.write_text(json.dumps({"test_workers": ["s07"], "val_workers": ["s08"],
                              "train_workers": ["s09", "s10"]}))
  split = splits.make_split(_cfg(split_file=str(path)), POP)
  assert (split["train_workers"], split["val_workers"],
          split["test_workers"]) == (["s09", "s10"], ["s08"], ["s07"])


@pytest.mark.parametrize("kw, problem", [
    ({}, "exactly one of protocol.preset"),
    ({"preset": "uci_har", "test_workers": ("s01",)}, "exactly one of"),
    ({"preset": "nope"}, "unknown protocol.preset 'nope'"),
    ({"preset": "uci_har", "fold": 1}, "one fold"),
    ({"test_workers": ("s01", "x9")}, r"test workers not in the dataset: \['x9'\]"),
    ({"test_workers": ("s01",), "val_workers": ("s01",)}, "cross-person"),
    ({"test_workers": ("s01",), "val_fraction": 1.0}, "val_fraction"),
    ({"split_file": "/nonexistent.json"}, "not found"),
])
def test_mistakes_are_one_clear_error(kw, problem):
  with pytest.raises(splits.SplitError, match=problem):
    splits.make_split(_cfg(**kw), POP)


def test_bundle_holds_the_preset_where_the_people_exist():
  from egoimu_jax.export import split_bundle  # pylint: disable=g-import-not-at-top
  variants = protocols.get("fixed").bundle_variants(5, {}, len(PEOPLE))
  assert variants == [{"fold": 0, "preset": "uci_har"}]
  split = splits.make_split(_cfg(**variants[0]), POP)
  bundle = {"bundle_id": "b", "splits": [split]}
  assert split_bundle.select(bundle, "fixed", 0)["test_workers"] == UCI_TEST
