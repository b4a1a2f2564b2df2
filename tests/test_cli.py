"""Every entry point reports a user mistake as one line and exit code 2
(``egoimu_jax/cli.py``); ``--traceback`` / ``EGOIMU_TRACEBACK=1`` show it
with its traceback, and a bug always keeps its traceback."""

import os
import pathlib
import subprocess
import sys

import pytest

from egoimu_jax import cli
from egoimu_jax import errors

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _start(module, args, **extra):
  env = {k: v for k, v in os.environ.items() if k != cli.TRACEBACK_ENV}
  env.update(JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT), **extra)
  return subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT,
                          env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def _run_all(cases):
  """Runs the cases at once; [(case, returncode, stderr)]."""
  procs = [(case, _start(*case[:2], **(case[3] if len(case) > 3 else {})))
           for case in cases]
  done = [(case, p.communicate(timeout=300)[1], p.returncode)
          for case, p in procs]
  return [(case, code, stderr) for case, stderr, code in done]


def test_each_entry_point_reports_a_user_mistake_in_one_line(tmp_path):
  t = tmp_path
  cases = [
      ("egoimu_jax.main", [f"--config={t}/nope.py", f"--workdir={t}/run"],
       f"--config: [Errno 2] No such file or directory: '{t}/nope.py'"),
      # ... also with overrides (ml_collections then fails while parsing).
      ("egoimu_jax.main", [f"--config={t}/nope.py", f"--workdir={t}/run",
                           "--config.protocol.fold=1"],
       f"--config: [Errno 2] No such file or directory: '{t}/nope.py'"),
      ("egoimu_jax.input_pipeline.prepare",
       ["--finalize_only", f"--out_dir={t}/unprepared"],
       f"{t}/unprepared/parts/plan.json not found: no prepare was started "
       f"in {t}/unprepared"),
      ("egoimu_jax.input_pipeline.prepare", ["--num_shards=many"],
       "flag --num_shards=many: invalid literal for int() with base 10: "
       "'many'"),
      ("egoimu_jax.export", [f"--processed_dir={t}/none", f"--out={t}/x"],
       f"{t}/none/manifest.json not found: '{t}/none' is not a complete "
       "processed dataset"),
      ("egoimu_jax.evaluate", [f"--predictions={t}/p.csv",
                               f"--split={t}/none", f"--out={t}/e"],
       f"{t}/none: no such file"),
      ("egoimu_jax.report", [f"--workdirs={t}/none/*", f"--out={t}/r"],
       f"no results.json under ['{t}/none/*']"),
      ("egoimu_jax.report", [f"--workdirs={t}/none/*", f"--out={t}/r",
                             "extra"], "unexpected arguments: ['extra']"),
      ("launch.run", [f"--sweep={t}/missing.py"],
       f"sweep file {t}/missing.py does not exist"),
      ("launch.run", ["--slurm_gpus=8"],
       "Unknown command line flag 'slurm_gpus'"),
  ]
  for (module, args, message), code, stderr in _run_all(cases):
    assert code == errors.EXIT_CODE, (module, args, stderr[-3000:])
    assert "Traceback" not in stderr, stderr[-3000:]
    line = f"{module}: error: {message}"
    assert stderr == f"{line}\n" or (
        stderr.startswith(line) and stderr.count("\n") == 1), (module, stderr)
  assert not os.path.exists(t / "run")


def test_traceback_flag_and_env_show_the_user_error(tmp_path):
  report = ["--workdirs=none/*", f"--out={tmp_path}/r"]
  sweep = [f"--sweep={tmp_path}/missing.py"]
  for case, code, stderr in _run_all([
      ("egoimu_jax.report", report + ["--traceback"], "MissingDataError"),
      ("launch.run", sweep, "SweepError", {cli.TRACEBACK_ENV: "1"}),
      ("egoimu_jax.export", ["--bogus=1", "--traceback"],
       "UnrecognizedFlagError")]):
    assert code == 1, (case, stderr[-3000:])
    assert "Traceback" in stderr and case[2] in stderr, stderr[-3000:]


def test_a_user_error_in_a_multi_process_job_exits_at_once(
    tmp_path, monkeypatch, capsys):
  exits = []

  def hard_exit(code):
    exits.append(code)
    raise SystemExit(code)

  monkeypatch.setattr(os, "_exit", hard_exit)
  monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
  with pytest.raises(SystemExit), cli.exit_on_user_error(multi_process=True):
    raise errors.UserError("fold 7 is not in [0, 5)\n(see protocol.fold)")
  assert exits == [errors.EXIT_CODE]
  assert capsys.readouterr().err == (
      f"{cli.prog()}: error: fold 7 is not in [0, 5); (see protocol.fold)\n")
  with pytest.raises(SystemExit) as e, cli.exit_on_user_error(
      user_errors=(FileNotFoundError,)):
    open(tmp_path / "nope", encoding="utf-8")
  assert e.value.code == errors.EXIT_CODE


def test_a_bug_passes_through():
  with pytest.raises(ZeroDivisionError), cli.exit_on_user_error(
      user_errors=(FileNotFoundError,)):
    _ = 1 / 0
