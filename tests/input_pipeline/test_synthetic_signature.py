"""``data.synthetic.person_shift``: a planted person signature, and the
planted hard profiles' revisions in the cache key."""

import json

import numpy as np
import pytest

from egoimu_jax.input_pipeline import synthetic
from egoimu_jax.input_pipeline.synthetic import activities
from egoimu_jax.input_pipeline.synthetic import generator
from egoimu_jax.input_pipeline.synthetic import motion
from egoimu_jax.input_pipeline.synthetic import signature
from egoimu_jax.input_pipeline.synthetic import variation
from egoimu_jax.input_pipeline.synthetic import workers

_PILOT_KINDS = [activities.WORK_TASKS, activities.BREAK_STYLES, ()]
_SMALL = dict(num_workers=3, clips_per_worker=1, clip_seconds=6.0,
              with_video=False, num_processes=1)


def test_zero_plants_nothing_and_keeps_the_cache_key(tmp_path):
  assert variation.varied_worker(0, 2, variation=0.0).signature is None
  assert generator.config_hash(synthetic.config(**_SMALL)) == (
      generator.config_hash(synthetic.config(person_shift=0.0, **_SMALL)))
  root = synthetic.generate(synthetic.config(**_SMALL), str(tmp_path / "d"))
  assert "person_shift" not in json.load(open(f"{root}/synthetic.json"))[
      "config"]
  assert "person_shift" not in open(f"{root}/workers.csv").readline()
  with pytest.raises(ValueError, match="person_shift"):
    synthetic.generate(synthetic.config(person_shift=-1.0, **_SMALL),
                       str(tmp_path / "bad"))


def test_signature_is_the_persons_own_and_grows_with_the_shift():
  one = signature.draw(0, 4, _PILOT_KINDS, 1.0)
  assert one == signature.draw(0, 4, _PILOT_KINDS, 1.0)   # every clip alike
  assert one != signature.draw(0, 5, _PILOT_KINDS, 1.0)   # people differ
  half = signature.draw(0, 4, _PILOT_KINDS, 0.5)
  for c, (a, b) in enumerate(zip(half, one)):
    # The same direction, further at a larger shift.
    assert b.pitch == pytest.approx(2 * a.pitch)
    assert np.log(b.gain) == pytest.approx(2 * np.log(a.gain))
    assert a.partner == b.partner and b.blend >= a.blend
    if c < 2:   # a worn class blends with an activity of the other class
      assert b.partner in _PILOT_KINDS[1 - c]
      assert signature.BLEND_RANGE[0] <= b.blend <= signature.BLEND_RANGE[1]
  # One class per clip: the partner is another class's activity.
  kinds = [["sit"], ["phone"], ["stroll"]]
  for c, s in enumerate(signature.draw(1, 0, kinds, 1.0)):
    assert s.partner in {"sit", "phone", "stroll"} - set(kinds[c])


def test_a_full_blend_performs_the_class_as_its_partner():
  wk = workers.make_worker(0, 1)
  t = np.linspace(0, 5, 200)
  day = motion.Day(tempo=1.0, vigour=1.0)
  phases, jitter = np.linspace(0, 6, activities.NUM_PHASES), np.ones(8)
  as_partner = signature.ClassSignature(0.0, 0.0, 1.0, 1.0, "phone", 1.0)
  got = activities.worn("sit", t, wk, day, phases, jitter, as_partner)
  want = activities.worn("phone", t, wk, day, phases, jitter)
  for field in ("ang", "rate", "lin"):
    np.testing.assert_allclose(getattr(got, field), getattr(want, field))
  tilted = signature.ClassSignature(0.1, -0.2, 1.0, 2.0, None, 0.0)
  got = activities.worn("sit", t, wk, day, phases, jitter, tilted)
  plain = activities.worn("sit", t, wk, day, phases, jitter)
  np.testing.assert_allclose(got.ang - plain.ang, np.tile([0.1, -0.2, 0.0],
                                                          (len(t), 1)))
  np.testing.assert_allclose(got.lin, 2.0 * plain.lin)


def test_shifted_data_has_its_own_fingerprint_and_signals(tmp_path):
  plain = synthetic.generate(synthetic.config(**_SMALL), str(tmp_path / "a"))
  shifted = synthetic.generate(synthetic.config(person_shift=1.0, **_SMALL),
                               str(tmp_path / "b"))
  # Same labels and clips: the signature changes the signals only, and the
  # workers table (which the raw fingerprint covers) says so.
  for table in ("index.csv", "segments.csv"):
    assert open(f"{plain}/{table}").read() == open(f"{shifted}/{table}").read()
  assert open(f"{plain}/workers.csv").read() != open(
      f"{shifted}/workers.csv").read()
  clip = "clips/w0000/w0000_c000.imu.jsonl"
  assert open(f"{plain}/{clip}").read() != open(f"{shifted}/{clip}").read()


def test_a_profile_revision_changes_only_the_datasets_that_plant_it(
    monkeypatch):
  with_gentle = synthetic.config(num_workers=100)    # 3 planted profiles
  without = synthetic.config(num_workers=30)         # break_heavy only
  before = [generator.config_hash(c) for c in (with_gentle, without)]
  monkeypatch.setitem(workers.HARD_PROFILE_REVISIONS, "gentle_worker", 99)
  after = [generator.config_hash(c) for c in (with_gentle, without)]
  assert after[0] != before[0] and after[1] == before[1]


def test_gentle_worker_is_on_break_often():
  gentle = workers.make_worker(0, 3, "gentle_worker")
  np.testing.assert_allclose(gentle.fractions, [0.6, 0.37, 0.03])
