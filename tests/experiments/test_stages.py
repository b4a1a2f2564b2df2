"""The stage runner: resumes finished stages, and writes the report and the
job's table (its done marker) only once every run is done."""

import json
import os

import ml_collections

from egoimu_jax import jobs
from egoimu_jax.evaluation import results as results_lib
from egoimu_jax.experiments import distill_evaluate
from egoimu_jax.experiments import pretrain_finetune
from egoimu_jax.experiments import stages
from egoimu_jax.report import build

CALLS = []


@jobs.JOBS.register("toy_stage")
def _toy_stage(config, workdir):
  CALLS.append(workdir)
  os.makedirs(workdir, exist_ok=True)
  if not config.get("fail", False):
    with open(os.path.join(workdir, results_lib.RESULTS_FILE), "w") as f:
      json.dump({}, f)
  return {}


def _stages(tmp_path, fail=()):
  out = []
  for name in ("a", "b"):
    config = ml_collections.ConfigDict({"job": "toy_stage",
                                        "fail": name in fail})
    out.append(stages.Stage(name, str(tmp_path / name), config,
                            results_lib.RESULTS_FILE))
  return out


def _config(pattern=""):
  return ml_collections.ConfigDict(
      {"job": "toy_stage", "experiment": {"stages": pattern, "n_boot": 10}})


def _fake_report(monkeypatch):
  seen = []

  def build_report(patterns, out, n_boot):
    seen.append((list(patterns), out, n_boot))
    os.makedirs(out, exist_ok=True)
    return build.Report(out, 2, {}, [], [])

  monkeypatch.setattr(build, "build_report", build_report)
  return seen


def test_report_and_done_marker_once_every_run_is_done(tmp_path, monkeypatch):
  seen = _fake_report(monkeypatch)
  CALLS.clear()
  summary = stages.run_and_report(
      _stages(tmp_path), _config(), str(tmp_path), ["*"],
      lambda report: f"{report.runs} runs\n", "report/table.md")
  assert CALLS == [str(tmp_path / "a"), str(tmp_path / "b")]
  assert seen == [([str(tmp_path / "*")], str(tmp_path / "report"), 10)]
  assert (tmp_path / "report" / "table.md").read_text() == "2 runs\n"
  assert summary["table"] == str(tmp_path / "report" / "table.md")
  # Rerun: both stages are done, so only the report is rewritten.
  CALLS.clear()
  stages.run_and_report(_stages(tmp_path), _config(), str(tmp_path), ["*"],
                        lambda report: "again\n", "report/table.md")
  assert CALLS == []


def test_no_report_while_a_run_is_left(tmp_path, monkeypatch):
  seen = _fake_report(monkeypatch)
  CALLS.clear()
  summary = stages.run_and_report(
      _stages(tmp_path, fail=("b",)), _config(), str(tmp_path), ["*"],
      lambda report: "table\n", "report/table.md")
  assert seen == [] and "table" not in summary
  assert not (tmp_path / "report").exists()
  # experiment.stages picks stages by name; the others wait.
  CALLS.clear()
  stages.run_and_report(_stages(tmp_path), _config("a"), str(tmp_path), ["*"],
                        lambda report: "table\n", "report/table.md")
  assert CALLS == [] and seen == []


def test_done_markers_are_the_registry_s():
  assert pretrain_finetune.DONE_FILE == "report/pretrain_vs_scratch.md"
  assert distill_evaluate.DONE_FILE == "report/rq3.md"
  assert jobs.done_file("train") == results_lib.RESULTS_FILE
