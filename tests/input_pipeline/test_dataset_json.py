"""dataset.json declares a dataset's IMU units: prepare needs no override,
a config that contradicts it is one error naming both, and the declaration
is part of the raw fingerprint."""

import json
import os

import numpy as np
import pytest

import raw_testlib as lib
from egoimu_jax import config_lib
from egoimu_jax.input_pipeline.raw import dataset_json
from egoimu_jax.input_pipeline.raw import index_csv
from egoimu_jax.input_pipeline.raw import ingest

CLASSES = ("walk", "sit")


def _dataset_in_g(root, declaration=None):
  """Two clips recorded in g (|acc| ~ 1) and deg/s."""
  clips = []
  for i in range(2):
    t, v = lib.still_imu(11.0, 50.0, seed=i)
    v[:, :3] /= 9.80665
    v[:, 3:] *= 180 / np.pi
    clips.append(dict(clip_id=f"c{i}", worker_id=f"w{i}", t_us=t, values=v,
                      segments=[(0, 11, CLASSES[i])]))
  root = lib.write_dataset(str(root), clips, classes=CLASSES)
  if declaration is not None:
    with open(os.path.join(root, dataset_json.FILE), "w") as f:
      f.write(declaration if isinstance(declaration, str)
              else json.dumps(declaration))
  return root


def test_declared_units_are_converted_without_an_override(tmp_path):
  root = _dataset_in_g(tmp_path / "d", {"acc_unit": "g", "gyro_unit": "deg/s",
                                        "about": {"name": "toy"}})
  res = lib.ingest_all(root)
  for r in res.values():
    assert isinstance(r, ingest.ClipWindows), r
    assert np.median(np.linalg.norm(r.imu[..., :3], axis=-1)) == pytest.approx(
        9.81, abs=0.3)
  # Without the declaration, the same files are quarantined as being in g.
  bare = _dataset_in_g(tmp_path / "bare")
  assert all(isinstance(r, ingest.Quarantined) and "in g" in r.reason
             for r in lib.ingest_all(bare).values())


def test_precedence_dataset_declares_config_may_only_agree(tmp_path):
  root = _dataset_in_g(tmp_path / "d", {"acc_unit": "g"})
  cfg = config_lib.data_config()
  assert cfg.imu.acc_unit == "" and cfg.imu.gyro_unit == ""
  cfg.imu.gyro_unit = "deg/s"   # undeclared by the dataset: config is used
  cfg.imu.acc_unit = "g"        # the same as declared: fine
  src = index_csv.IndexCsvSource.open(root, cfg)
  assert src.units == {"acc_unit": "g", "gyro_unit": "deg/s"}
  cfg.imu.acc_unit = "m/s2"
  with pytest.raises(ingest.IngestError) as e:
    index_csv.IndexCsvSource.open(root, cfg)
  msg = str(e.value)
  assert msg.startswith(os.path.join(root, "dataset.json"))
  assert "'g'" in msg and "data.imu.acc_unit is 'm/s2'" in msg
  # Neither declared nor set: m/s2 and rad/s.
  decl = dataset_json.Declaration("x", {})
  assert dataset_json.resolve_units(decl, config_lib.data_config().imu) == {
      "acc_unit": "m/s2", "gyro_unit": "rad/s"}


@pytest.mark.parametrize("text, problem", [
    ('{"acc_units": "g"}', "unknown key(s) ['acc_units']"),
    ('{"acc_unit": "G"}', "acc_unit 'G' is not one of"),
    ('["g"]', "expected a JSON object"),
    ('{"acc_unit": ', "invalid JSON"),
])
def test_a_bad_declaration_names_the_file(tmp_path, text, problem):
  root = _dataset_in_g(tmp_path / "d", text)
  with pytest.raises(ingest.IngestError) as e:
    index_csv.IndexCsvSource.open(root, config_lib.data_config())
  assert str(e.value).startswith(os.path.join(root, "dataset.json"))
  assert problem in str(e.value)


def test_the_declaration_is_in_the_fingerprint(tmp_path):
  cfg = config_lib.data_config()
  root = _dataset_in_g(tmp_path / "d")
  before = index_csv.IndexCsvSource.open(root, cfg).fingerprint()
  with open(os.path.join(root, dataset_json.FILE), "w") as f:
    json.dump({"acc_unit": "g", "gyro_unit": "deg/s"}, f)
  assert index_csv.IndexCsvSource.open(root, cfg).fingerprint() != before
