"""The cross-person sweep expands as described and runs end to end (tiny)."""

import os
import subprocess
import sys

import pytest

import launch
from launch.sweep import REPO_ROOT


def _load(spec, extra=""):
  return launch.load_sweep(os.path.join("launch/sweeps", spec), extra)[1]


def test_cross_person_jobs_pair_every_method_with_erm():
  jobs = _load("cross_person.py:allow_random_init=True")
  # 2 models x 5 folds x (ERM + 6 methods on l20wo + ERM within).
  assert len(jobs) == 2 * 5 * 8
  names = {j.overrides["name"] for j in jobs}
  assert {"deepconvlstm-bn", "deepconvlstm-bn+coral", "moment+groupdro",
          "moment+person_norm_gravity"} <= names
  erm = [j for j in jobs if j.name == "deepconvlstm-bn/l20wo/fold0"][0]
  assert erm.overrides["model.batch_norm"] is True
  assert erm.overrides["adapt.tta"] == ("adabn", "tent")
  assert erm.overrides["adapt.calibration_minutes"] == (0, 0.5, 1, 2, 5)
  assert "variants/*" in erm.run_globs
  coral = [j for j in jobs if j.name == "moment+coral/l20wo/fold3"][0]
  assert coral.overrides["task.dg"] == "coral"
  # Every method job is on a fold its ERM run also has.
  erm_folds = {(j.overrides["name"], j.tags["fold"]) for j in jobs
               if "+" not in j.overrides["name"]}
  for j in jobs:
    base = j.overrides["name"].split("+")[0]
    assert (base, j.tags["fold"]) in erm_folds
  tiny = _load("cross_person.py:models=deepconvlstm,methods=vrex", "tiny=True")
  assert len(tiny) == 3 * 3
  assert tiny[0].overrides["adapt.calibration_minutes"] == (0, 0.1, 0.2)
  with pytest.raises(ValueError, match="methods"):
    _load("cross_person.py:methods=dann,allow_random_init=True")


@pytest.mark.slow
def test_cross_person_tiny_end_to_end(tmp_path, jax_cache_env,
                                      optimised_xla_env, tiny_cache):
  """ERM with AdaBN / TENT / calibration variants, CORAL and the within
  ceiling, then the report's cross-person section."""
  env = optimised_xla_env(dict(
      os.environ, EGOIMU_CACHE=tiny_cache, **jax_cache_env))
  r = subprocess.run(
      [sys.executable, "-m", "launch.run",
       "--sweep=launch/sweeps/cross_person.py:models=deepconvlstm,folds=1,"
       "methods=coral+person_norm_gravity,modes=head", "--tiny",
       f"--root={tmp_path}/runs", f"--report_dir={tmp_path}/report"],
      cwd=REPO_ROOT, capture_output=True, text=True, env=env)
  assert r.returncode == 0, r.stderr[-3000:]
  tables = tmp_path / "report" / "tables"
  gains = (tables / "cross_person_gains.md").read_text()
  for method in ("coral", "person_norm_gravity", "adabn", "tent"):
    assert f"| deepconvlstm-bn | {method} |" in gains, method
  curve = (tables / "calibration_curve.md").read_text()
  for k in ("0", "0.1", "0.2"):
    assert f"| deepconvlstm-bn | head | {k} |" in curve, k
  assert (tmp_path / "report" / "figures" / "calibration_curve.png").exists()
