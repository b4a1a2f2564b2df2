"""Early stopping on the validation people: the stopper's counting, its
config, the replay of a resumed run, and the trainer loop consulting it."""

import json

import pytest

from configs import deepconvlstm as dcl_config
from egoimu_jax import durations
from egoimu_jax import jobs
from egoimu_jax.evaluation import results
from egoimu_jax.training import early_stopping
from egoimu_jax.training import writers


def test_stopper_counts_evaluations_without_improvement():
  stopper = early_stopping.Stopper(patience=2, metric="macro_f1",
                                   min_delta=0.01)
  # 0.5 best; 0.505 is not > 0.01 better (1 bad); 0.6 resets; then 2 bad.
  decisions = [stopper.update(v) for v in (0.5, 0.505, 0.6, 0.6, 0.59)]
  assert decisions == [False, False, False, False, True]
  assert stopper.best == 0.6 and stopper.stopped
  assert stopper.update(0.9)  # once stopped, stays stopped
  low = early_stopping.Stopper(patience=1, metric="loss", mode="min")
  assert [low.update(v) for v in (3.0, 2.0, 2.0)] == [False, False, True]
  assert low.settings() == {"patience": 1, "metric": "loss",
                            "min_delta": 0.0, "mode": "min"}


@pytest.mark.parametrize("fields, match", [
    (dict(patience=-1), "patience"), (dict(patience=1, mode="up"), "mode"),
    (dict(patience=1, min_delta=-0.1), "min_delta")])
def test_bad_settings_are_one_line_errors(fields, match):
  config = {"early_stopping": {"metric": "", "min_delta": 0.0, "mode": "",
                               **fields}}
  with pytest.raises(early_stopping.EarlyStoppingError, match=match):
    early_stopping.from_config(config, "macro_f1", "max")


def test_from_config_defaults_to_the_tasks_metric_and_zero_is_off():
  off = {"early_stopping": {"patience": 0, "metric": "", "mode": ""}}
  assert early_stopping.from_config(off, "macro_f1", "max") is None
  assert early_stopping.from_config({}, "macro_f1", "max") is None
  on = {"early_stopping": {"patience": 3, "metric": "", "mode": "",
                           "min_delta": 0.0}}
  stopper = early_stopping.from_config(on, "loss", "min")
  assert (stopper.metric, stopper.mode) == ("loss", "min")
  with pytest.raises(early_stopping.EarlyStoppingError, match="metric"):
    early_stopping.from_config(on, None, "max")
  with pytest.raises(early_stopping.EarlyStoppingError, match="accuracy"):
    early_stopping.value_of(stopper, {"accuracy": 0.5})


def test_resume_replays_logged_validation_up_to_the_restored_step(tmp_path):
  lines = [{"step": None, "kind": "hparams", "values": {}},
           {"step": 2, "kind": "scalars", "values": {"val/macro_f1": 0.5}},
           {"step": 2, "kind": "scalars", "values": {"train/loss": 1.0}},
           {"step": 4, "kind": "scalars", "values": {"val/macro_f1": 0.4}},
           {"step": 6, "kind": "scalars", "values": {"val/macro_f1": 0.3}}]
  text = "".join(json.dumps(r) + "\n" for r in lines) + '{"step": 8, "ki'
  (tmp_path / writers.METRICS_FILE).write_text(text)
  assert early_stopping.logged_values(str(tmp_path), "macro_f1", 4) == [
      0.5, 0.4]
  stopper = early_stopping.Stopper(patience=1, metric="macro_f1")
  assert early_stopping.resume(stopper, str(tmp_path), 4)  # 0.4 < 0.5
  fresh = early_stopping.Stopper(patience=1, metric="macro_f1")
  assert not early_stopping.resume(fresh, str(tmp_path), 0)  # no replay
  assert fresh.best is None


def _tiny_run(tiny_cache, workdir, **early):
  config = dcl_config.get_config("tiny")
  config.data.cache_dir = tiny_cache
  durations.clear(config)
  config.total_steps, config.eval_every_steps, config.log_every_steps = 4, 1, 1
  config.early_stopping.update(early)
  return jobs.JOBS.get("train")(config, str(workdir))


def _train_steps(workdir):
  with open(workdir / writers.METRICS_FILE, encoding="utf-8") as f:
    records = [json.loads(line) for line in f]
  return sorted({r["step"] for r in records
                 if "train/loss" in r.get("values", {})})


def test_a_run_stops_early_and_records_it(tiny_cache, tmp_path):
  # Nothing improves by 10 macro-F1: the 2nd evaluation is the 1st bad one.
  workdir = tmp_path / "run"
  res = _tiny_run(tiny_cache, workdir, patience=1, min_delta=10.0)
  extra = res["extra"]
  assert extra["stopped_early"] and extra["stop_step"] == 2
  assert extra["early_stopping"] == {"patience": 1, "metric": "macro_f1",
                                     "min_delta": 10.0, "mode": "max"}
  assert extra["best_step"] in (1, 2) and extra["recipe"] == "ours"
  assert _train_steps(workdir) == [1, 2]
  # Run again in the same workdir: it had stopped, so it does not train on.
  again = _tiny_run(tiny_cache, workdir, patience=1, min_delta=10.0)
  assert again["extra"]["stop_step"] == 2
  assert _train_steps(workdir) == [1, 2]


def test_patience_zero_is_off(tiny_cache, tmp_path):
  res = _tiny_run(tiny_cache, tmp_path / "run", patience=0, min_delta=10.0)
  extra = res["extra"]
  assert not extra["stopped_early"] and extra["stop_step"] == 4
  assert extra["early_stopping"] == {"patience": 0}
  assert _train_steps(tmp_path / "run") == [1, 2, 3, 4]


@pytest.mark.slow
def test_two_processes_stop_after_the_same_step(main_runner, tmp_path):
  """Both processes leave the loop together (a process that trained on
  alone would hang in the next collective and time out)."""
  main_runner.run_processes(tmp_path / "run", {
      "total_steps": 6, "eval_every_steps": 1, "log_every_steps": 1,
      "early_stopping.patience": 1, "early_stopping.min_delta": 10.0})
  extra = results.read(str(tmp_path / "run"))["extra"]
  assert extra["process_count"] == 2
  assert extra["stopped_early"] and extra["stop_step"] == 2
  assert _train_steps(tmp_path / "run") == [1, 2]
