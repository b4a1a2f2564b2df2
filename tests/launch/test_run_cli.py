"""``python -m launch.run`` end to end with the stand-in interpreter."""

import os
import re
import subprocess
import sys
import textwrap

import pytest

from launch.sweep import REPO_ROOT

SWEEP = textwrap.dedent('''\
    import launch
    def sweep(arg=None):
      a = launch.parse_arg(arg, tiny=False, folds=2)
      return [launch.protocol_job("CFG" + (":tiny" if a.tiny else ""), "fakemodel",
                                  p["protocol"], p["fold"])
              for p in launch.product(protocol=["l20wo", "within"], fold=range(a.folds))]
    ''')
CONFIG = textwrap.dedent('''\
    from egoimu_jax import config_lib
    def get_config(arg=None):
      return config_lib.base(arg, tiny=False)
    ''')


def run_cli(args, **env):
  return subprocess.run([sys.executable, "-m", "launch.run", *args], cwd=REPO_ROOT,
                        capture_output=True, text=True, env=dict(os.environ, **env))


@pytest.fixture
def sweep_file(tmp_path):
  (tmp_path / "cfg.py").write_text(CONFIG)
  path = tmp_path / "fake_sweep.py"
  path.write_text(SWEEP.replace("CFG", str(tmp_path / "cfg.py")))
  return str(path)


def test_dry_run_lists_jobs(tmp_path, sweep_file, fake_python):
  r = run_cli([f"--sweep={sweep_file}:folds=3", f"--root={tmp_path}/runs", "--tiny",
               "--dry_run", f"--python={fake_python}"])
  assert r.returncode == 0, r.stderr
  lines = r.stdout.splitlines()
  # One prepare job for the sweep's one dataset, then the 6 runs.
  assert len(lines) == 7
  name, status, cmd = lines[0].split("\t")
  assert name.startswith("prepare/") and "--config.job=prepare" in cmd
  name, status, cmd = lines[1].split("\t")
  assert (name, status) == ("fakemodel/l20wo/fold0", "todo")
  assert f"--workdir={tmp_path}/runs/fakemodel/l20wo/fold0" in cmd and ":tiny" in cmd


def test_only_selects_jobs(tmp_path, sweep_file, fake_python):
  common = [f"--sweep={sweep_file}", f"--root={tmp_path}/runs", "--dry_run",
            f"--python={fake_python}"]
  r = run_cli(common + ["--only=within/fold1$"])
  assert r.returncode == 0
  assert [l.split("\t")[0] for l in r.stdout.splitlines()][1:] == [
      "fakemodel/within/fold1"]
  r = run_cli(common + ["--only=within/fold1$", "--nodata_first"])
  assert r.returncode == 0 and [l.split("\t")[0] for l in r.stdout.splitlines()] == [
      "fakemodel/within/fold1"]
  none = run_cli(common + ["--only=nothing"])
  assert none.returncode != 0 and "matches no job" in none.stderr


def test_set_overrides_every_job(tmp_path, sweep_file, fake_python):
  common = [f"--sweep={sweep_file}:folds=1", f"--root={tmp_path}/runs", "--dry_run",
            f"--python={fake_python}"]
  r = run_cli(common + ["--set=data.raw_dir=/data/pilot", "--set=protocol.num_folds=10"])
  assert r.returncode == 0, r.stderr
  prep, *lines = r.stdout.splitlines()
  assert len(lines) == 2 and all("--config.data.raw_dir=/data/pilot" in l and
                                 "--config.protocol.num_folds=10" in l for l in lines)
  # The prepare job gets the data overrides only.
  assert "--config.data.raw_dir=/data/pilot" in prep
  assert "num_folds" not in prep and "--config.job=prepare" in prep
  bad = run_cli(common + ["--set=data.raw_dri=/x"])
  assert bad.returncode != 0 and "override data.raw_dri='/x' does not fit" in bad.stderr


def test_user_errors_are_one_line(tmp_path, sweep_file, fake_python):
  common = [f"--root={tmp_path}/runs", "--dry_run", f"--python={fake_python}"]
  for args, want in [
      ([f"--sweep={sweep_file}", "--set=data.raw_dri=/x"],
       "does not fit config .*: no field raw_dri$"),
      ([f"--sweep={sweep_file}", "--set=data.synthetc.with_video=0"],
       "no field 'synthetc'; Did you mean \"synthetic\" instead of"),
      ([f"--sweep={sweep_file}", "--only=nothing"], "matches no job"),
      ([f"--sweep={tmp_path}/missing.py"], "does not exist")]:
    r = run_cli(common + args)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert re.match(f"launch.run: error: .*{want}", r.stderr.strip()), r.stderr


@pytest.mark.slow
def test_run_then_report_with_gap(tmp_path, sweep_file, fake_python):
  root, report = tmp_path / "runs", tmp_path / "report"
  args = [f"--sweep={sweep_file}", f"--root={root}", f"--python={fake_python}",
          "--executor=local_parallel", "--parallel=2", f"--report_dir={report}"]
  r = run_cli(args, FAKE_RESULTS="full")
  assert r.returncode == 0, r.stderr[-3000:]
  # The 4 runs and, first, the prepare job of their dataset.
  assert "5/5 jobs finished" in r.stderr and "ETA" in r.stderr
  main = (report / "tables" / "main.md").read_text()
  assert "fakemodel" in main and "gap within−l20wo" in main
  # Everything is done: a second run skips all jobs and still reports.
  again = run_cli(args, FAKE_RESULTS="full")
  assert again.returncode == 0 and "0 to run, 5 done before" in again.stderr


def test_failed_job_gives_nonzero_exit(tmp_path, sweep_file, fake_python):
  r = run_cli([f"--sweep={sweep_file}:folds=1", f"--root={tmp_path}/runs",
               f"--python={fake_python}"], FAKE_FAIL="within")
  assert r.returncode == 1
  assert "failed: fakemodel/within/fold0" in r.stderr


def test_bad_sweep_fails_before_running(tmp_path, fake_python):
  bad = tmp_path / "bad.py"
  bad.write_text("import launch\ndef sweep(arg=None):\n"
                 "  return [launch.Job('configs/does_not_exist.py', 'x')]\n")
  r = run_cli([f"--sweep={bad}", f"--root={tmp_path}/runs", f"--python={fake_python}"])
  assert r.returncode != 0
  assert "configs/does_not_exist.py does not exist" in r.stderr
  assert not (tmp_path / "runs").exists()


def test_slurm_flags_reach_the_sbatch_script(tmp_path, sweep_file, fake_python,
                                              make_exe):
  # Defined by launch/executors/slurm.py, not the generic runner.
  bin_dir = tmp_path / "slurm_bin"
  make_exe(bin_dir / "sbatch", '#!/bin/bash\necho "4242;cluster"\n')
  r = run_cli([f"--sweep={sweep_file}:folds=1", f"--root={tmp_path}/runs",
               f"--python={fake_python}", "--executor=slurm",
               "--slurm_partition=gpu", "--slurm_gpus_per_node=8",
               "--slurm_max_concurrent=1", "--nodata_first"],
              PATH=f"{bin_dir}:{os.environ['PATH']}")
  assert r.returncode == 0, r.stderr[-3000:]
  [script] = (tmp_path / "runs" / "_slurm").glob("*/array_1host.sbatch")
  text = script.read_text()
  for line in ("#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=8",
               "#SBATCH --array=0-1%1"):
    assert line in text, text
  owners = subprocess.run(
      [sys.executable, "-c", "import launch.run; from absl import flags; "
       "print(sorted(f.name for f in flags.FLAGS.get_flags_for_module("
       "'launch.run') if f.name.startswith('slurm_')))"],
      cwd=REPO_ROOT, capture_output=True, text=True, check=True)
  assert owners.stdout.strip() == "[]"
