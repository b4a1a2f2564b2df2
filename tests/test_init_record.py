"""results.json's ``init``: where a run's model and teacher weights started
(egoimu_jax/init_record.py), written by every results writer."""

import json
import os

import numpy as np

from egoimu_jax import init_record
from egoimu_jax.evaluation import results


def _checkpoint(path, size=8):
  os.makedirs(path, exist_ok=True)
  with open(os.path.join(path, "config.json"), "w") as f:
    f.write("{}")
  with open(os.path.join(path, "model.safetensors"), "wb") as f:
    f.write(b"\0" * size)
  return str(path)


def test_pretrained_random_and_scratch_parts(tmp_path):
  ckpt = _checkpoint(tmp_path / "MOMENT-1-small")
  pre = init_record.record({"model": {"name": "moment"}, "task": {
      "pretrained": ckpt, "pretrained_format": "moment"}})
  assert pre["random"] is False
  assert pre["model"] == {
      "name": "moment", "source": "pretrained", "format": "moment",
      "path": ckpt, "fingerprint": init_record.fingerprint(ckpt),
      "random": False}
  # The fingerprint follows the file list and sizes.
  before = init_record.fingerprint(ckpt)
  _checkpoint(ckpt, size=9)
  assert init_record.fingerprint(ckpt) != before
  assert init_record.fingerprint(str(tmp_path / "absent")) is None
  # Released weights exist but none were given: random; a model without
  # released weights trains from scratch by design.
  assert init_record.record({"model": {"name": "mantis"}})["model"][
      "source"] == "random"
  scratch = init_record.record({"model": {"name": "deepconvlstm"}})
  assert scratch == {"model": {"name": "deepconvlstm", "source": "scratch",
                               "random": False}, "random": False}
  # The forest has no model section: nothing to say.
  assert init_record.record({"classical": {"features": "imu"}}) == {
      "random": False}


def test_a_random_teacher_makes_the_run_random(tmp_path):
  probe = {"model": {"name": "embedding_probe"},
           "input": {"teacher": "timesformer_b"},
           "teacher": {"model": {"name": "timesformer"}, "weights": ""}}
  rec = init_record.record(probe)
  assert rec["model"]["source"] == "scratch" and rec["random"] is True
  assert rec["teacher"]["source"] == "random"
  ckpt = _checkpoint(tmp_path / "tsf")
  probe["teacher"].update(weights=ckpt, weights_format="timesformer")
  assert init_record.record(probe)["random"] is False
  # The classical job's teacher features count too.
  svm = {"classical": {"features": "teacher:videomae_b"},
         "teacher": {"model": {"name": "videomae"}}}
  assert init_record.record(svm)["random"] is True


def test_a_checkpoint_of_ours_carries_its_runs_init(tmp_path):
  """A student fine-tuned from a distillation run is as random as that
  run's student and teacher were."""
  distill = tmp_path / "distill"
  os.makedirs(distill / "checkpoints" / "12" / "state")
  parent = {"model": {"name": "moment"}, "task": {"name": "distill"},
            "input": {"teacher": "timesformer_b"},
            "teacher": {"model": {"name": "timesformer"}, "weights": ""}}
  (distill / "pretrain_results.json").write_text(
      json.dumps({"config": parent}))
  state = distill / "checkpoints" / "12" / "state"
  child = {"model": {"name": "moment"}, "task": {"pretrained": str(state)}}
  rec = init_record.record(child)
  assert rec["model"]["source"] == "checkpoint" and rec["random"] is True
  assert rec["model"]["from"]["teacher"]["source"] == "random"
  # A recorded init is used as it is.
  (distill / "pretrain_results.json").write_text(
      json.dumps({"init": {"random": False}, "config": parent}))
  assert init_record.record(child)["random"] is False
  # A folder that is no run of ours: unknown, not random.
  other = init_record.record({"model": {"name": "moment"},
                              "task": {"pretrained": str(tmp_path)}})
  assert other["model"]["from"] is None and other["random"] is False


def test_results_write_records_the_init(tmp_path):
  ckpt = _checkpoint(tmp_path / "ckpt")
  pred = results.Predictions(index=[0, 1], window_id=["c/0", "c/1"],
                             worker_id=["a", "b"], label=[0, 1],
                             pred=[0, 1], probs=np.eye(2))
  out = results.write(
      str(tmp_path / "run"), config={
          "model": {"name": "mantis"},
          "task": {"pretrained": ckpt, "pretrained_format": "mantis"}},
      split={"protocol": "l20wo", "fold": 0}, model="mantis",
      classes=["x", "y"], predictions={"test": pred})
  written = results.read(str(tmp_path / "run"))
  assert written["init"] == out["init"]
  assert written["init"]["model"]["fingerprint"] == init_record.fingerprint(
      ckpt)
