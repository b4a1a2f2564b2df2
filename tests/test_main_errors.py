"""``python -m egoimu_jax.main``: a user error is one line and exit code 2,
and leaves no empty workdir; a bug keeps its traceback."""

import os
import pathlib
import subprocess
import sys

import pytest

from egoimu_jax import errors

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = f"--config={ROOT / 'configs' / 'deepconvlstm.py'}:tiny"


def _main(args, code=None):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop("EGOIMU_CACHE", None)
  cmd = [sys.executable] + (["-c", code] if code else
                            ["-m", "egoimu_jax.main"]) + list(args)
  return subprocess.run(cmd, env=env, capture_output=True, text=True,
                        timeout=300, cwd=ROOT)


@pytest.mark.parametrize("override, message", [
    ("optim.weight_decy=0", "--config.optim.weight_decy: config.optim has no "
     "field 'weight_decy'; did you mean 'weight_decay'?"),
    ("optm.lr=0.1", "--config.optm.lr: config has no field 'optm'; did you "
     "mean 'optim'?"),
])
def test_misspelt_override_is_one_line(tmp_path, override, message):
  r = _main([CONFIG, f"--workdir={tmp_path}/run", f"--config.{override}"])
  assert r.returncode == errors.EXIT_CODE, r.stderr[-3000:]
  assert r.stderr == f"egoimu_jax.main: error: {message}\n"
  assert not os.path.exists(tmp_path / "run")


def _last_line(r):
  assert r.returncode == errors.EXIT_CODE, r.stderr[-3000:]
  assert "Traceback" not in r.stderr, r.stderr[-3000:]
  return r.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_missing_processed_dir_is_one_line_and_leaves_no_workdir(tmp_path):
  workdir = tmp_path / "runs" / "dcl"
  r = _main([CONFIG, f"--workdir={workdir}",
             f"--config.data.processed_dir={tmp_path}/nope"])
  assert _last_line(r).startswith(
      f"egoimu_jax.main: error: config.data.processed_dir: {tmp_path}/nope/"
      "manifest.json not found")
  assert os.listdir(tmp_path) == []  # runs/ too: this run created it


@pytest.mark.slow
def test_fold_out_of_range_is_one_line(tmp_path, tiny_cache):
  r = _main([CONFIG, f"--workdir={tmp_path}/run",
             f"--config.data.cache_dir={tiny_cache}",
             "--config.protocol.fold=7"])
  assert _last_line(r) == "egoimu_jax.main: error: fold 7 is not in [0, 5)"
  assert not os.path.exists(tmp_path / "run")


def test_missing_config_file_and_unknown_job(tmp_path):
  r = _main([f"--config={tmp_path}/nope.py", f"--workdir={tmp_path}/run"])
  assert _last_line(r) == ("egoimu_jax.main: error: --config: [Errno 2] No "
                           f"such file or directory: '{tmp_path}/nope.py'")
  (tmp_path / "job.py").write_text(
      "from egoimu_jax import config_lib\n"
      "def get_config():\n"
      "  c = config_lib.base(None, tiny=True)\n"
      "  c.job = 'trian'\n"
      "  return c\n")
  r = _main([f"--config={tmp_path}/job.py", f"--workdir={tmp_path}/run"])
  assert _last_line(r).endswith("did you mean 'train'?")


def test_a_bug_keeps_its_traceback(tmp_path):
  code = ("import sys\n"
          "from egoimu_jax import cli, jobs, main\n"
          "jobs.JOBS.register('train')(lambda config, workdir: 1 / 0)\n"
          "cli.run(main.main)\n")
  r = _main([CONFIG, f"--workdir={tmp_path}/run"], code=code)
  assert r.returncode == 1
  assert "Traceback" in r.stderr and "ZeroDivisionError" in r.stderr
