"""The experiment's stage plan: what runs where, with which config."""

import importlib.util
import pathlib

import pytest

from egoimu_jax.experiments import pretrain_finetune as pf

CONFIG = pathlib.Path(__file__).resolve().parents[2] / "configs" / "evimae.py"


def get_config(arg="tiny"):
  spec = importlib.util.spec_from_file_location("evimae_config", CONFIG)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def test_one_pretraining_serves_every_fold():
  config = get_config()
  config.experiment.folds = (0, 2)
  stages = pf.plan(config, "/w")
  assert stages[0].name == "pretrain"
  pre = stages[0].config
  assert (pre.task.name, pre.model.name, pre.protocol.name) == (
      "mae_pretrain", "evimae", "pretrain")
  assert pre.protocol.pretrain_on == "all"
  finetunes = stages[1:]
  # 2 folds x 3 inputs x {pretrained, scratch}.
  assert len(finetunes) == 12
  for s in finetunes:
    c = s.config
    assert c.task.name == "finetune" and c.model.name == "evimae_classifier"
    assert c.protocol.name == "l20wo" and c.job == "train"
    assert c.task.pretrained == ("/w/pretrain" if s.name.endswith("pretrained")
                                 else "")
    assert "experiment" not in c and "pretrain" not in c
  names = {s.name for s in finetunes}
  assert "l20wo/fold2/imu+video-scratch" in names


def test_inputs_and_test_variants_follow_the_modalities():
  stages = {s.name: s.config for s in pf.plan(get_config(), "/w")}
  imu = stages["l20wo/fold0/imu-pretrained"]
  assert imu.model.modalities == ("imu",)
  assert imu.input.spectrogram and not imu.input.frames
  assert dict(imu.eval_variants) == {}
  both = stages["l20wo/fold0/imu+video-scratch"]
  assert set(both.eval_variants) == {"without_imu", "without_video",
                                     "video_noise", "video_low_light"}
  assert both.eval_variants.without_video.model.drop_modality == "video"
  assert set(stages["l20wo/fold0/video-scratch"].eval_variants) == {
      "video_noise", "video_low_light"}


def test_pretraining_on_train_workers_is_per_fold():
  config = get_config()
  config.experiment.folds = (1, 3)
  config.protocol.pretrain_on = "train"
  stages = pf.plan(config, "/w")
  pre = [s for s in stages if s.config.task.name == "mae_pretrain"]
  assert [s.name for s in pre] == ["pretrain/fold1", "pretrain/fold3"]
  assert [s.config.protocol.fold for s in pre] == [1, 3]
  for s in stages:
    if s.name.startswith("l20wo/fold3") and s.name.endswith("pretrained"):
      assert s.config.task.pretrained == "/w/pretrain/fold3"


def test_stage_sections_merge_into_the_shared_config():
  config = get_config("B")
  stages = pf.plan(config, "/w")
  pre, fine = stages[0].config, stages[1].config
  # Shared fields reach every stage; section fields only their own.
  assert pre.dtype == fine.dtype == "bfloat16"
  assert pre.sharding_rules == fine.sharding_rules != ()
  assert pre.optim.b2 == 0.95 and fine.optim.b2 == 0.999
  assert pre.total_epochs == 100.0 and fine.total_epochs == 30.0
  assert fine.task.head_lr_multiplier == 100.0
  assert pre.task.loss.graph_weight == 10.0


def test_unknown_modality_is_a_clear_error():
  config = get_config()
  config.experiment.modalities = ("audio",)
  with pytest.raises(ValueError, match="unknown 'audio'"):
    pf.plan(config, "/w")


@pytest.mark.parametrize("arg, stage", [
    ("variant=bogus", "stage pretrain:"),  # the config's variant
    ("tiny", "stage l20wo/fold0/imu-pretrained:"),  # the finetune section's
])
def test_unknown_variant_of_a_stage_is_refused_before_any_stage_runs(
    tmp_path, monkeypatch, arg, stage):
  from egoimu_jax import errors  # pylint: disable=g-import-not-at-top
  from egoimu_jax import jobs  # pylint: disable=g-import-not-at-top
  config = get_config(arg)
  if arg == "tiny":
    config.finetune.model.variant = "Tiny"
  ran = []
  monkeypatch.setattr(jobs.JOBS, "get", lambda name: lambda c, w: ran.append(w))
  with pytest.raises(errors.ArgError) as e:
    pf.run(config, str(tmp_path))
  assert not ran  # nothing pretrained, no data prepared
  assert str(e.value).startswith(stage) and "known: " in str(e.value)
  assert "tiny" in str(e.value)
