"""``data.synthetic.person_variation``: the size of the person shift."""

import dataclasses

import numpy as np
import pytest

from egoimu_jax.input_pipeline import synthetic
from egoimu_jax.input_pipeline.synthetic import generator
from egoimu_jax.input_pipeline.synthetic import variation
from egoimu_jax.input_pipeline.synthetic import workers

# Per-person traits; worker_id and profile name the person.
_TRAITS = [f.name for f in dataclasses.fields(workers.Worker)
           if f.name not in ("worker_id", "profile")]


def _same(a, b) -> bool:
  if isinstance(a, dict):
    return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
  return bool(np.array_equal(a, b))


def _differing(a: workers.Worker, b: workers.Worker):
  return [t for t in _TRAITS if not _same(getattr(a, t), getattr(b, t))]


def test_one_is_the_worker_as_drawn_bit_for_bit():
  for index in range(5):
    drawn = workers.make_worker(3, index)
    assert not _differing(variation.varied_worker(3, index), drawn)
    assert not _differing(variation.varied_worker(3, index, variation=1.0),
                          drawn)


def test_zero_makes_every_worker_the_typical_person():
  a, b = (variation.varied_worker(0, i, variation=0.0) for i in (1, 7))
  assert not _differing(a, b)
  # The drawn workers differ in nearly everything.
  assert len(_differing(workers.make_worker(0, 1),
                        workers.make_worker(0, 7))) > len(_TRAITS) - 3
  np.testing.assert_allclose(a.fractions, [0.843, 0.123, 0.034])
  np.testing.assert_allclose(a.mount, np.eye(3))


def test_between_shrinks_and_rotations_stay_rotations():
  spread = []
  for v in (0.0, 0.5, 1.0, 2.0):
    ws = [variation.varied_worker(0, i, variation=v) for i in range(40)]
    for w in ws:
      np.testing.assert_allclose(w.mount @ w.mount.T, np.eye(3), atol=1e-9)
      np.testing.assert_allclose(np.linalg.det(w.mount), 1.0, atol=1e-9)
      np.testing.assert_allclose(np.linalg.norm(w.hand_dirs, axis=1), 1.0)
      np.testing.assert_allclose(w.fractions.sum(), 1.0)
      assert (w.fractions > 0).all() and (w.work_mix >= 0).all()
    angles = [variation.axis_angle(w.mount)[1] for w in ws]
    spread.append((np.std([np.log(w.vigour) for w in ws]),
                   np.std([w.fractions[0] for w in ws]), np.mean(angles)))
  spread = np.array(spread)
  assert (spread[0] < 1e-12).all()
  assert (np.diff(spread, axis=0) > 0).all()
  # Half the variation: half the mount angle about the same axis.
  drawn = variation.axis_angle(workers.make_worker(0, 4).mount)
  half = variation.axis_angle(variation.varied_worker(0, 4, variation=0.5).mount)
  assert half[1] == pytest.approx(drawn[1] / 2)
  np.testing.assert_allclose(half[0], drawn[0], atol=1e-9)


def test_planted_hard_workers_stay_planted_at_any_variation():
  for v in (0.0, 0.5, 2.0):
    w = variation.varied_worker(0, 5, "break_heavy", variation=v)
    assert w.profile == "break_heavy"
    np.testing.assert_allclose(w.fractions, [0.25, 0.72, 0.03])
    gentle = variation.varied_worker(0, 6, "gentle_worker", variation=v)
    assert gentle.work_pitch == gentle.rest_pitch
    typical = variation.varied_worker(0, 6, variation=v)
    assert gentle.vigour == pytest.approx(0.3 * typical.vigour)


def test_class_mix_of_clip_activities_datasets():
  mix = np.array([0.7, 0.2, 0.1])
  assert variation.class_mix(mix, 1.0) is mix
  np.testing.assert_allclose(variation.class_mix(mix, 0.0), 1 / 3)


def test_default_keeps_the_cache_key_and_zero_changes_the_data(tmp_path):
  small = dict(num_workers=3, clips_per_worker=1, clip_seconds=6.0,
               with_video=False, num_processes=1)
  assert generator.config_hash(synthetic.config(**small)) == (
      generator.config_hash(synthetic.config(person_variation=1, **small)))
  zero = synthetic.config(person_variation=0.0, **small)
  assert generator.config_hash(zero) != generator.config_hash(
      synthetic.config(**small))
  root = synthetic.generate(zero, str(tmp_path / "zero"))
  rows = open(f"{root}/workers.csv").read().splitlines()[1:]
  # One device, one site, one tempo for everyone.
  assert len({tuple(r.split(",")[-3:]) for r in rows}) == 1
  with pytest.raises(ValueError, match="person_variation"):
    synthetic.generate(synthetic.config(person_variation=-1.0, **small),
                       str(tmp_path / "bad"))
