"""End to end: a raw dataset of 30 people with two long recordings each
(several activities per recording) runs the classical model on every
``within`` fold with no override; a ``session_id`` column of index.csv
reaches the manifest and keeps each session in one part."""

import csv
import os

import numpy as np
import pytest

from configs import classical as classical_config
from egoimu_jax import jobs
from egoimu_jax.config_lib import protocol_config
from egoimu_jax.evaluation import results
from egoimu_jax.evaluation import submission
from egoimu_jax.input_pipeline import prepare
from egoimu_jax.input_pipeline import splits
from egoimu_jax.input_pipeline import synthetic
from egoimu_jax.input_pipeline.store import manifest as manifest_lib
from egoimu_jax.input_pipeline.store import processed

LONG = dict(num_workers=30, clips_per_worker=2, clip_seconds=120.0,
            imu_rate_hz=50.0, with_video=False)


@pytest.fixture(scope="module")
def within_runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("long")
  out = {}
  for fold in range(5):
    config = classical_config.get_config("tiny")
    config.data.cache_dir = str(root / "cache")
    config.data.synthetic.update(LONG)
    config.protocol.update(name="within", fold=fold, num_folds=5)
    workdir = str(root / f"within_{fold}")
    out[fold] = (workdir, jobs.JOBS.get("classical")(config, workdir))
  return out


def test_classical_runs_within_on_every_fold(within_runs):
  for fold, (workdir, res) in within_runs.items():
    split = results.read(workdir)["split"]
    assert split["time_block_workers"] and split["guard_windows"] > 0
    ds = processed.ProcessedDataset.open(res["extra"]["processed_dir"])
    cross = splits.make_split(dict(protocol_config(), name="l20wo",
                                   fold=fold), ds.manifest)
    assert split["test_workers"] == cross["test_workers"]
    index = {p: ds.split_indices(split, p) for p in splits.PARTS}
    assert all(len(v) for v in index.values())
    assert not (set(index["train"]) & set(index["test"]))
    pred = results.read_predictions(workdir)
    # Scored on exactly the within-person test windows, of l20wo's people.
    np.testing.assert_array_equal(np.sort(pred.index), index["test"])
    assert set(pred.worker_id) <= set(cross["test_workers"])
    assert 0.0 <= res["metrics"]["test"]["macro_f1"] <= 1.0
    # An outside submission is scored on the same windows.
    ref = submission.reference(os.path.join(workdir, "split.json"),
                               processed_dir=ds.processed_dir)
    np.testing.assert_array_equal(ref.index, index["test"])


def test_session_column_keeps_sessions_whole(tmp_path):
  config = classical_config.get_config("tiny").data
  config.synthetic.update(num_workers=6, clips_per_worker=6,
                          clip_seconds=10.0, imu_rate_hz=50.0)
  root = synthetic.generate(config.synthetic, str(tmp_path / "raw"))
  path = os.path.join(root, "index.csv")
  with open(path, newline="") as f:
    rows = list(csv.DictReader(f))
  for r in rows:   # three sessions of two clips per person
    r["session_id"] = f"s{int(r['clip_id'][-1]) // 2}"
  with open(path, "w", newline="") as f:
    writer = csv.DictWriter(f, list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  manifest = manifest_lib.load(prepare.prepare(config, root,
                                               str(tmp_path / "processed")))
  assert len(manifest["clip_sessions"]) == manifest["num_clips"]
  session = {c: (w, manifest["clip_sessions"][c])
             for w, cs in manifest["worker_clips"].items() for c in cs}
  for fold in range(5):
    split = splits.make_split(dict(protocol_config(), name="within",
                                   fold=fold), manifest)
    part_of = {}
    for p in splits.PARTS:
      for c in split[f"{p}_clips"]:
        assert part_of.setdefault(session[c], p) == p
    assert split["test_clips"]
