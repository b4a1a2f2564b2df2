"""The trainer is a pure consumer: it reads a prepared dataset, prepares
nothing and imports neither preparation nor teachers; ``data_deps`` (the
``train`` and ``prepare`` jobs) prepares; post-training evaluators are
registered hooks."""

import json
import os
import subprocess
import sys

import pytest

from configs import deepconvlstm as dcl_config
from egoimu_jax import errors
from egoimu_jax import jobs
from egoimu_jax.input_pipeline import prepare
from egoimu_jax import durations
from egoimu_jax.training import evaluators
from egoimu_jax.training import trainer

FORBIDDEN = ("egoimu_jax.teachers", "egoimu_jax.input_pipeline.prepare",
             "egoimu_jax.adaptation", "egoimu_jax.models.video_degradation")


def test_trainer_imports_no_preparation_teachers_or_features():
  code = ("import sys, json; import egoimu_jax.training.trainer; "
          "print(json.dumps(sorted(sys.modules)))")
  loaded = json.loads(subprocess.run(
      [sys.executable, "-c", code], check=True, capture_output=True,
      text=True).stdout)
  bad = [m for m in loaded
         if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
  assert not bad


@pytest.mark.parametrize("processed_dir", ["", "nope"])
def test_missing_processed_dir_is_one_line_and_prepares_nothing(
    tmp_path, processed_dir):
  config = dcl_config.get_config("tiny")
  config.data.cache_dir = str(tmp_path / "cache")
  if processed_dir:
    processed_dir = config.data.processed_dir = str(tmp_path / processed_dir)
  with pytest.raises(errors.MissingDataError) as e:
    trainer.train_and_evaluate(config, str(tmp_path / "run"))
  message = errors.one_line(e.value)
  assert message == str(e.value)  # one line
  assert "config.job=prepare" in message
  if processed_dir:
    assert repr(processed_dir) in message
  assert not os.path.exists(tmp_path / "cache")
  assert not processed_dir or not os.path.exists(processed_dir)


def test_prepare_job_resolves_the_cache_dir_and_writes_its_marker(
    tiny_cache, tmp_path):
  config = dcl_config.get_config("tiny")
  config.data.cache_dir = tiny_cache
  out = jobs.JOBS.get("prepare")(config, str(tmp_path / "work"))
  assert out == {"processed_dir": prepare.ensure(config.data)}
  assert not config.data.processed_dir  # the caller's config is untouched
  # Its done marker (what launch reads) names the prepared directory.
  marker = tmp_path / "work" / jobs.done_file("prepare")
  assert json.loads(marker.read_text()) == out
  assert os.listdir(tmp_path / "work") == [marker.name]


class _Probe:
  """A toy evaluator recording what the trainer hands it."""

  def __init__(self):
    self.calls = []

  def wanted(self, config):
    return config.name == "with-probe"

  def validate(self, config, task):
    self.calls.append(("validate", config.name, type(task).__name__))

  def run(self, ctx):
    outputs = ctx.predict(ctx.task, "test", None)
    self.calls.append(("run", len(outputs["index"]),
                       ctx.extra["coverage"]["test"]["served"],
                       os.path.exists(os.path.join(ctx.workdir,
                                                   "results.json"))))


@pytest.mark.slow
def test_evaluators_are_registered_hooks_of_the_train_job(
    tiny_cache, tmp_path, monkeypatch):
  probe = _Probe()
  monkeypatch.setitem(evaluators.EVALUATORS._entries, "probe", probe)  # pylint: disable=protected-access
  monkeypatch.setattr(evaluators, "ORDER", evaluators.ORDER + ("probe",))
  config = dcl_config.get_config("tiny")
  config.data.cache_dir = tiny_cache
  config.name = "with-probe"
  durations.clear(config)
  config.total_steps, config.eval_every_steps = 2, 2
  workdir = str(tmp_path / "run")
  res = jobs.JOBS.get("train")(config, workdir)
  n = res["metrics"]["test"]["n"]
  # Validated before training, run on the best state before results.json.
  assert probe.calls == [("validate", "with-probe", "Supervised"),
                         ("run", n, n, False)]
  # The train job read the data it prepared (recorded in the run's config).
  with open(os.path.join(workdir, "config.json"), encoding="utf-8") as f:
    recorded = json.load(f)["data"]["processed_dir"]
  assert recorded == prepare.ensure(config.data) == res["extra"][
      "processed_dir"]
