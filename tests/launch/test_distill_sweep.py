"""The distillation sweep (RQ3): expansion, and the tiny sweep end to end
from raw synthetic data to the report's RQ3 table."""

import os
import subprocess
import sys

import pytest

import launch
from launch.sweep import REPO_ROOT


def load(spec, extra=""):
  return launch.load_sweep(os.path.join("launch/sweeps", spec), extra)[1]


def test_expansion():
  jobs = load("distillation.py")
  assert [(j.tags["model"], j.tags["method"]) for j in jobs] == [
      ("moment", "comodo"), ("moment", "imu2clip"), ("mantis", "comodo"),
      ("mantis", "imu2clip")]
  assert all(j.overrides["job"] == "distill_evaluate" for j in jobs)
  assert [j.overrides["experiment.baselines"] for j in jobs] == [
      True, False, True, False]
  assert jobs[0].overrides["experiment.folds"] == (0, 1, 2, 3, 4)
  weighted = load("distillation.py:students=mantis,mantis_weights=/m,"
                  "clip_weights=/c,pretrain_on=train")
  assert weighted[0].config == (
      "configs/comodo.py:student=mantis,pretrain_on=train,weights=/m")
  assert "teacher.weights" not in weighted[0].overrides
  assert weighted[1].overrides["teacher.weights"] == "/c"
  assert weighted[1].overrides["teacher.weights_format"] == "clip"
  with pytest.raises(ValueError, match="objectives"):
    load("distillation.py:objectives=dino")


@pytest.mark.slow
def test_tiny_sweep_end_to_end(tmp_path):
  """COMODO and IMU2CLIP on the MOMENT student, the supervised and frozen
  baselines, within- and cross-person, then the RQ3 table."""
  env = dict(os.environ, EGOIMU_CACHE=str(tmp_path / "cache"))
  r = subprocess.run(
      [sys.executable, "-m", "launch.run",
       "--sweep=launch/sweeps/distillation.py:students=moment",
       "--tiny", f"--root={tmp_path}/runs", f"--report_dir={tmp_path}/report"],
      cwd=REPO_ROOT, capture_output=True, text=True, env=env)
  assert r.returncode == 0, r.stderr[-3000:]
  table = (tmp_path / "report" / "tables" / "distillation.md").read_text()
  for method in ("supervised", "frozen", "comodo", "imu2clip"):
    assert f"| moment | {method} |" in table, table
  # Every method has within and cross-person scores and a gap.
  rows = [line.split("|") for line in table.splitlines()
          if line.startswith("| moment |")]
  assert all(row[5].strip() not in ("", "–") and row[6].strip() not in
             ("", "–") for row in rows), table
