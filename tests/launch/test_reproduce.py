"""launch/sweeps/reproduce.py: every scale expands; per-experiment reports
with provenance; the tiny scale end to end (the CI run of `reproduce`)."""

import json
import os
import subprocess
import sys

import pytest

import launch
from egoimu_jax.report import table_model
from launch import report_hook
from launch.sweep import REPO_ROOT


RANDOM_INIT = table_model.RANDOM_INIT_MARK


def load(arg):
  return launch.load_sweep(f"launch/sweeps/reproduce.py:{arg}")[1]


@pytest.mark.parametrize("scale", ["tiny", "cpu", "pilot", "full"])
def test_every_scale_expands_under_experiment_dirs(scale):
  jobs = load(f"scale={scale},allow_random_init=True")
  groups = {j.tags[launch.REPORT_TAG] for j in jobs}
  assert groups == {"A", "B", "C", "D", "F"}
  for j in jobs:
    experiment = j.tags[launch.REPORT_TAG]
    assert j.workdir.startswith(experiment + "/") and j.name.startswith(
        experiment + "/")
  assert len({j.workdir for j in jobs}) == len(jobs)


def test_cpu_scale_sets_each_experiments_data():
  jobs = load("scale=cpu")
  a = [j for j in jobs if j.tags[launch.REPORT_TAG] == "A"]
  b = [j for j in jobs if j.tags[launch.REPORT_TAG] == "B"]
  assert all(j.overrides["data.synthetic.num_workers"] == 30 for j in a + b)
  assert all(j.overrides["data.synthetic.with_video"] is False for j in a)
  assert not any(j.overrides.get("data.synthetic.with_video") is False
                 for j in b)
  # B's video models are the tiny ones (ViT-B teachers take hours on CPU).
  assert all(j.config.endswith("tiny") for j in b), [j.config for j in b]
  # The short schedule reaches the trained video jobs only.
  steps = {j.name: j.overrides.get("total_steps") for j in b}
  assert steps["B/videomae_finetune/l20wo/fold0"] == 400
  assert steps["B/videomae_svm_probe/l20wo/fold0"] is None
  # The forest runs every fold, and leave-one-worker-out for all 30 people
  # (the hard-case difficulty covers everyone).
  forest = [j for j in a if j.name.startswith("A/classical_rf/")]
  assert {j.tags["fold"] for j in forest if j.tags["protocol"] == "within"} == set(range(5))
  lowo = [j for j in forest if j.tags["protocol"] == "lowo"]
  assert sorted(j.tags["fold"] for j in lowo) == list(range(30))
  assert all(j.overrides["protocol.lowo_count"] == 30 for j in lowo)
  # The deep IMU models run their CPU layouts.
  configs = {j.config for j in a}
  assert "configs/deepconvlstm.py:iswc22,epochs=8.0" in configs
  assert "configs/moment.py:cpu,epochs=8.0" in configs


def test_full_scale_runs_scaling_at_counts():
  f = [j for j in load("scale=full,allow_random_init=True")
       if j.tags[launch.REPORT_TAG] == "F"]
  assert {j.tags["scale"] for j in f} >= {100, 800, 13_000, 500_000}


def test_experiment_subset_and_errors():
  jobs = load("scale=tiny,experiments=E")
  assert {j.tags[launch.REPORT_TAG] for j in jobs} == {"A"}  # E reads A's runs
  with pytest.raises(ValueError, match="unknown"):
    load("scale=tiny,experiments=A+Z")
  with pytest.raises(ValueError, match="scale must be"):
    load("scale=huge")


def test_hapt_plan_expands_experiment_a_on_real_people():
  """data=hapt: A on l20wo and within (5 folds) and the UCI-HAR split, at the
  native rate, 3 seeds, without running anything."""
  jobs = load("data=hapt,raw_dir=/data/hapt")
  by_group = {}
  for j in jobs:
    by_group.setdefault(j.tags[launch.REPORT_TAG], []).append(j)
  assert set(by_group) == {"A", "A-uci_har"}
  assert all(j.overrides["data.raw_dir"] == "/data/hapt" and
             j.overrides["data.imu.rate_hz"] == 0.0 for j in jobs)
  assert {j.tags["seed"] for j in jobs} == {0, 1, 2}
  a = by_group["A"]
  models = {j.tags["model"] for j in a}
  assert models == {"classical_rf", "deepconvlstm", "attend_discriminate",
                    "moment"}
  for model in models:
    runs = {(j.tags["protocol"], j.tags["fold"], j.tags["seed"])
            for j in a if j.tags["model"] == model}
    assert runs == {(p, f, s) for p in ("l20wo", "within")
                    for f in range(5) for s in range(3)}, model
  for j in a:
    within = j.tags["protocol"] == "within"
    assert (j.overrides.get("protocol.within_test") == "all") == within
    deep = j.tags["model"] != "classical_rf"
    assert j.overrides.get("input.train_stride_seconds") == (
        2.5 if deep else None)
    assert "data.imu.window_seconds" not in j.overrides
  assert "configs/deepconvlstm.py:iswc22,epochs=4.0" in {j.config for j in a}
  uci = by_group["A-uci_har"]
  assert {(j.tags["model"], j.tags["protocol"], j.tags["fold"]) for j in uci
          } == {(m, "fixed", 0) for m in ("classical_rf", "deepconvlstm",
                                          "attend_discriminate")}
  assert len(uci) == 9
  for j in uci:
    assert j.overrides["protocol.preset"] == "uci_har"
    assert j.overrides["data.imu.window_seconds"] == 2.56
    assert j.workdir.startswith("A-uci_har/")
    assert j.overrides.get("input.train_stride_seconds") == (
        None if j.tags["model"] == "classical_rf" else 1.28)
  assert len(jobs) == 4 * 2 * 5 * 3 + 9
  mantis = load("data=hapt,raw_dir=/d,foundation=mantis,seeds=1,epochs=6")
  assert "mantis" in {j.tags["model"] for j in mantis}
  assert len(mantis) == 4 * 2 * 5 + 3
  assert "configs/attend_discriminate.py:cpu,epochs=6.0" in {
      j.config for j in mantis}


@pytest.mark.parametrize("arg, message", [
    ("data=hapt", "needs raw_dir"),
    ("data=hapt,raw_dir=/d,scale=pilot", "scale=cpu only"),
    ("data=hapt,raw_dir=/d,experiments=B", "unknown"),
    ("data=hapt,raw_dir=/d,foundation=crosshar", "foundation must be"),
    ("data=kitti", "synthetic or hapt"),
    ("scale=cpu,epochs=3", "for data=hapt only"),
])
def test_hapt_plan_errors(arg, message):
  with pytest.raises(ValueError, match=message):
    load(arg)


def test_index_lists_each_run_with_command_and_config_hash(tmp_path):
  run = tmp_path / "A" / "m" / "l20wo" / "fold0"
  run.mkdir(parents=True)
  res = {"config": {"seed": 1, "model": {"name": "m"}}, "name": "m",
         "protocol": "l20wo", "fold": 0}
  (run / "results.json").write_text(json.dumps(res))
  job = launch.Job(config="configs/deepconvlstm.py:tiny", workdir=str(run),
                   overrides={"protocol.fold": 0},
                   tags={launch.REPORT_TAG: "A"})
  [row] = report_hook.provenance(job, str(tmp_path))
  assert row["run"] == "A/m/l20wo/fold0"
  assert row["config_hash"] == report_hook.config_hash(res)
  assert row["command"].startswith("python -m egoimu_jax.main "
                                   "--config=configs/deepconvlstm.py:tiny")
  # The hash follows the config, not key order or anything else in results.
  other = dict(res, config={"model": {"name": "m"}, "seed": 1}, fold=3)
  assert report_hook.config_hash(other) == row["config_hash"]
  assert report_hook.config_hash(
      dict(res, config={"seed": 2, "model": {"name": "m"}})) != row[
          "config_hash"]
  # Where this machine keeps the prepared data is not the config's identity.
  local = {"seed": 1, "model": {"name": "m"},
           "data": {"processed_dir": "/x/processed/abc", "cache_dir": "/x"}}
  bare = {"seed": 1, "model": {"name": "m"}, "data": {}}
  assert (report_hook.config_hash(dict(res, config=local)) ==
          report_hook.config_hash(dict(res, config=bare)))
  report_hook._write_index(str(tmp_path / "report"), {"A": [job]}, "python")
  index = (tmp_path / "report" / "README.md").read_text()
  assert "[report](A/report.md)" in index
  assert f"`{row['config_hash']}`" in index and "--config.protocol.fold=0" in index


@pytest.mark.slow
def test_reproduce_tiny_end_to_end(tmp_path, jax_cache_env, tiny_cache):
  """Experiments A-F at the tiny scale: one command, one report folder. This
  is also the end-to-end test of the classical, har_models (three ways),
  video_models and distillation sweeps."""
  env = dict(os.environ, EGOIMU_CACHE=tiny_cache, **jax_cache_env)
  report = tmp_path / "report"
  r = subprocess.run(
      [sys.executable, "-m", "launch.run",
       "--sweep=launch/sweeps/reproduce.py:scale=tiny",
       "--executor=local_parallel", "--parallel=2",
       f"--root={tmp_path}/runs", f"--report_dir={report}"],
      cwd=REPO_ROOT, capture_output=True, text=True, env=env)
  assert r.returncode == 0, r.stderr[-3000:]
  for experiment in ("A", "B", "C", "D", "F"):
    assert (report / experiment / "report.md").exists(), experiment
  main_a = (report / "A" / "tables" / "main.md").read_text()
  for name in ("classical_rf", "deepconvlstm", "deepconvlstm_linear_probe",
               "deepconvlstm_svm_probe", "attend_discriminate", "moment",
               "mantis", "crosshar"):
    assert f"| {name}" in main_a, name
  assert "gap within−l20wo" in main_a
  # B: the video sweep's probes (extracting the teacher set on first use),
  # fine-tuning and the IMU reference on the same windows.
  main_b = (report / "B" / "tables" / "main.md").read_text()
  for name in ("videomae_svm_probe", "videomae_linear_probe",
               "videomae_finetune", "classical_rf", "gap within−l20wo"):
    assert name in main_b, name
  # C: COMODO and IMU2CLIP on the MOMENT student, distilled on the training
  # workers (primary) and on all workers, against the supervised and frozen
  # baselines, each with within and cross-person scores and a gap.
  table = (report / "C" / "tables" / "distillation.md").read_text()
  # Tiny students and teachers start from random weights: every row is
  # marked as such.
  rows = [line.split("|") for line in table.splitlines()
          if line.startswith(f"| moment {RANDOM_INIT} |")]
  assert {(row[2].strip(), row[4].strip()) for row in rows} == {
      ("supervised", "–"), ("frozen", "–"), ("comodo", "train"),
      ("comodo", "all"), ("imu2clip", "train"), ("imu2clip", "all")}, table
  assert all(row[6].strip() not in ("", "–") and row[7].strip() not in
             ("", "–") for row in rows), table
  # C: the transductive control, all − train (D runs only the main job
  # here: pretraining on all workers).
  control = (report / "C" / "tables" / "transductive.md").read_text()
  assert f"| moment/comodo/svm {RANDOM_INIT} |" in control, control
  assert not (report / "D" / "tables" / "transductive.md").exists()
  assert (report / "F" / "tables" / "scaling.md").exists()
  index = (report / "README.md").read_text()
  for experiment in ("A", "B", "C", "D", "F"):
    assert f"## {experiment}" in index
  assert "reproduce.py" not in index  # commands are the runs' own
  assert index.count("python -m egoimu_jax.main") >= 28
