"""The synthetic pilot is learnable, and harder across people than within.

A random forest on window statistics is trained on clips 0-5 of most
workers and tested on clips 6-7 of the same workers (within-person) and of
held-out workers (cross-person), over 4 folds of held-out workers.
"""

import numpy as np
import pytest

import raw_testlib as lib
from egoimu_jax.input_pipeline.raw import ingest


def _features(imu):
  acc = np.linalg.norm(imu[..., :3], axis=-1, keepdims=True)
  gyro = np.linalg.norm(imu[..., 3:], axis=-1, keepdims=True)
  z = np.concatenate([imu, acc, gyro], -1)
  return np.concatenate([z.mean(1), z.std(1), np.percentile(z, 10, axis=1),
                         np.percentile(z, 90, axis=1),
                         np.abs(np.diff(z, axis=1)).mean(1)], 1)


def within_vs_cross(root, folds=4, seed=0):
  """Mean (within, cross) macro-F1 of a feature + random-forest baseline."""
  ensemble = pytest.importorskip("sklearn.ensemble")
  metrics = pytest.importorskip("sklearn.metrics")
  x, y, worker, clip = [], [], [], []
  for res in lib.ingest_all(root).values():
    if isinstance(res, ingest.ClipWindows):
      x.append(_features(res.imu))
      y.append(res.label)
      worker += [res.worker_id] * len(res)
      clip += [int(res.clip_id.split("_c")[1])] * len(res)
  x, y = np.concatenate(x), np.concatenate(y)
  worker, clip = np.array(worker), np.array(clip)
  test_clip = clip >= clip.max() - 1
  held = np.array_split(np.random.default_rng(seed).permutation(
      np.unique(worker)), folds)
  scores = {"within": [], "cross": []}
  for fold in held:
    out = np.isin(worker, fold)
    rf = ensemble.RandomForestClassifier(200, min_samples_leaf=2,
                                         random_state=0, n_jobs=1)
    rf.fit(x[~out & ~test_clip], y[~out & ~test_clip])
    for name, m in (("within", ~out & test_clip), ("cross", out & test_clip)):
      scores[name].append(metrics.f1_score(y[m], rf.predict(x[m]),
                                           average="macro"))
  return {k: float(np.mean(v)) for k, v in scores.items()}


@pytest.mark.slow
def test_cross_person_is_harder_but_learnable(tmp_path_factory):
  root = lib.synthetic_root(tmp_path_factory, num_workers=24,
                            clips_per_worker=8, with_video=False)
  f1 = within_vs_cross(root)
  print(f"macro-F1 within-person {f1['within']:.3f}, cross-person "
        f"{f1['cross']:.3f}")
  assert f1["cross"] > 0.5                    # chance is ~0.33
  assert f1["within"] > f1["cross"] + 0.03    # people differ
