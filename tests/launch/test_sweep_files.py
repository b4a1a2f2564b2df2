"""The shipped sweeps expand and validate (configs exist, overrides fit)."""

import os

import pytest

import launch


def load(spec, extra=""):
  return launch.load_sweep(os.path.join("launch/sweeps", spec), extra)[1]


def test_classical():
  jobs = load("classical.py")
  assert len(jobs) == 10
  assert {(j.tags["protocol"], j.tags["fold"]) for j in jobs} == {
      (p, k) for p in ("l20wo", "within") for k in range(5)}
  assert jobs[0].config == "configs/classical.py:estimator=rf"
  tiny = load("classical.py:estimators=rf+logreg", "tiny=True")
  assert len(tiny) == 12 and tiny[-1].config == "configs/classical.py:estimator=logreg,tiny"


def test_har_models():
  jobs = load("har_models.py:allow_random_init=True")
  # 4 protocol-job models x 3 ways x 2 protocols x 5 folds + two CrossHAR
  # pretrain_finetune jobs: pretrained on the training workers (primary)
  # and on all workers (issue 22).
  assert len(jobs) == 4 * 3 * 2 * 5 + 2
  models = {j.tags["model"] for j in jobs}
  assert {"deepconvlstm", "attend_discriminate_linear_probe", "moment_svm_probe",
          "mantis", "crosshar-base"} <= models
  train, every = jobs[-2:]
  assert (train.workdir, train.overrides["name"],
          train.overrides["protocol.pretrain_on"]) == (
              "crosshar-base/pretrain_train", "crosshar-base-pretrain_train",
              "train")
  assert every.workdir == "crosshar-base/pretrain_all"
  assert every.overrides == {"experiment.protocols": ("l20wo", "within"),
                             "class_weights": "balanced"}
  assert len(load("har_models.py:models=crosshar,pretrain_on=all")) == 1
  svm = [j for j in jobs if j.tags["model"] == "moment_svm_probe"][0]
  assert svm.overrides["job"] == "feature_probe"
  weighted = load("har_models.py:models=moment,weights.moment=/ckpt/m")
  assert all(j.config == "configs/moment.py:weights=/ckpt/m" for j in weighted)
  # The older spelling is read the same way.
  assert weighted == load("har_models.py:models=moment,moment_weights=/ckpt/m")
  with pytest.raises(ValueError, match="ways"):
    load("har_models.py:ways=zero_shot,allow_random_init=True")
  # One protocol only: every job, CrossHAR's stages included.
  cross = load("har_models.py:models=deepconvlstm+crosshar,ways=finetune,"
               "protocols=l20wo,allow_random_init=True")
  assert {j.tags["protocol"] for j in cross[:-2]} == {"l20wo"}
  assert cross[-1].overrides["experiment.protocols"] == ("l20wo",)
  with pytest.raises(ValueError, match="protocols: unknown"):
    load("har_models.py:protocols=l20wo+nope,allow_random_init=True")



def test_scaling():
  jobs = load("scaling.py")
  assert len(jobs) == 2 * 5 * 5
  ws = sorted({j.tags["scale"] for j in jobs if j.tags["protocol"] == "worker_scaling"})
  assert ws == [0.125, 0.25, 0.5, 0.75, 1.0]
  counts = load("scaling.py:units=counts,kind=workers,folds=2")
  assert [j.tags["scale"] for j in counts[::2]] == [100, 200, 400, 600, 800]
  assert all(j.overrides["protocol.num_folds"] == 10 for j in counts)
  assert counts[0].workdir == "deepconvlstm/worker_scaling/n100/fold0"
  with pytest.raises(ValueError, match="kind must be"):
    load("scaling.py:kind=people")
  # One class-weighting policy reaches every model, the forest included.
  unweighted = load("scaling.py:models=classical_rf+deepconvlstm,folds=1,"
                    "class_weights=none")
  assert {j.tags["model"]: j.overrides.get("class_weights")
          for j in unweighted} == {"classical_rf": "none",
                                   "deepconvlstm": "none"}


def test_evimae():
  # Default: per-fold pretraining on the training workers (the primary
  # rows), then the shared one on all workers (issue 22).
  both = load("evimae.py")
  assert [j.tags["pretrain_on"] for j in both] == ["train"] * 5 + ["all"]
  [shared] = load("evimae.py:pretrain_on=all")
  assert both[-1] == shared
  assert shared.workdir == "evimae-B/pretrain_all" and shared.config == "configs/evimae.py:B"
  assert shared.overrides["experiment.protocols"] == ("l20wo", "within")
  assert shared.done_file == "report/pretrain_vs_scratch.md"
  per_fold = load("evimae.py:pretrain_on=train,variant=S,folds=2")
  assert [j.overrides["experiment.folds"] for j in per_fold] == [(0,), (1,)]
  assert {j.overrides["name"] for j in per_fold} == {"evimae-S-pretrain_train"}
  assert len(load("evimae.py:pretrain_on=both", "tiny=True")) == 2
  # The sweep's done marker is what the job writes last.
  from egoimu_jax.experiments import pretrain_finetune  # pylint: disable=g-import-not-at-top
  assert shared.done_file == pretrain_finetune.DONE_FILE



def test_video_models():
  jobs = load("video_models.py:allow_random_init=True")
  # 3 models x (svm + linear probe + fine-tuning) + the IMU reference,
  # 2 protocols x 5 folds.
  assert len(jobs) == (3 * 3 + 1) * 2 * 5
  assert {j.tags["model"] for j in jobs} >= {
      "timesformer_svm_probe", "videomae_linear_probe", "slowfast_finetune",
      "classical_rf"}
  assert all(j.overrides["data.synthetic.with_video"] for j in jobs)
  tiny = load("video_models.py:models=videomae", "tiny=True")
  assert [j.config for j in tiny[:4]] == [
      "configs/classical.py:estimator=svm_comodo,teacher=videomae,tiny",
      "configs/video_probe.py:teacher=videomae,tiny", "configs/videomae.py:tiny",
      "configs/classical.py:estimator=rf,tiny"]
  # Every tiny job scores the same dataset: the IMU reference's own tiny data
  # (6 workers) is overridden to the shared one.
  assert len({tuple(sorted((k, v) for k, v in j.overrides.items()
                           if k.startswith("data."))) for j in tiny}) == 1
