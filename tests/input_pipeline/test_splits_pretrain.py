"""The self-supervised ``pretrain`` protocol: who is seen, what is held out."""

import pytest

from egoimu_jax.config_lib import protocol_config
from egoimu_jax.input_pipeline import splits
from test_splits import POP


def cfg(**kw):
  c = protocol_config()
  c.update(dict(name="pretrain", **kw))
  return c


def test_pretrain_on_all_workers_holds_out_clips():
  s = splits.make_split(cfg(), POP)
  train, val = set(s["train_clips"]), set(s["val_clips"])
  every = {c for w in POP.workers for c in POP.clips[w]}
  assert not train & val and train | val == every
  assert len(val) == round(0.1 * len(every))
  # Round-robin over workers: the held-out clips spread over many people.
  assert len(s["val_workers"]) >= 0.9 * min(len(POP.workers), len(val))
  assert s["test_workers"] == [] and s["test_clips"] is None
  assert s["pretrain_on"] == "all"


def test_pretrain_on_train_workers_never_sees_fold_test_people():
  for fold in range(5):
    cross = splits.make_split(
        dict(protocol_config(), name="l20wo", fold=fold), POP)
    s = splits.make_split(cfg(pretrain_on="train", fold=fold), POP)
    seen = set(s["train_workers"]) | set(s["val_workers"])
    assert seen <= set(cross["train_workers"])
    assert not seen & set(cross["test_workers"])


def test_pretrain_is_deterministic_and_seeded():
  a, b = splits.make_split(cfg(), POP), splits.make_split(cfg(), POP)
  assert a == b
  assert splits.make_split(cfg(seed=1), POP)["val_clips"] != a["val_clips"]


def test_pretrain_rejects_unknown_population():
  with pytest.raises(splits.SplitError, match="pretrain_on"):
    splits.make_split(cfg(pretrain_on="everyone"), POP)
