"""Every entry point answers a user mistake with one line and exit code 2,
never a traceback (issue 23): ``main``, ``evaluate``, ``report``,
``launch.run``, ``prepare`` and ``export``, each case in a subprocess, all
started at once. Most fail while the config or flags are checked, before
any JAX compile. Lines in absl's log format (``I1208 00:00:00 ...``: a
run's progress before the mistake is found) may precede the error line."""

import concurrent.futures
import os
import pathlib
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from egoimu_jax import cli
from egoimu_jax import config_lib
from egoimu_jax import errors
from egoimu_jax.export import windows as export_windows
from egoimu_jax.input_pipeline import prepare

ROOT = pathlib.Path(__file__).resolve().parents[1]
TINY = f"{ROOT}/configs/deepconvlstm.py:tiny"
_LOG_LINE = re.compile(r"[IWE]\d{4} \d\d:\d\d:\d\d")


def _tiny_main(run: str, override: str, message: str) -> tuple:
  """A case of ``main`` on the tiny DeepConvLSTM config with one override."""
  return ("egoimu_jax.main",
          ["--config=" + TINY, "--workdir={t}/" + run, override], message)


# id -> (module, args, what the error line says); {t}: a scratch folder,
# {export}: an exported fold, {cache}: the tiny dataset's cache.
CASES = {
    "main_missing_raw_dir": _tiny_main(
        "run1", "--config.data.raw_dir={t}/nope",
        "{t}/nope/index.csv: file not found"),
    "main_unknown_override": _tiny_main(
        "run2", "--config.input.batch_sizee=3",
        "--config.input.batch_sizee: config.input has no field "
        "'batch_sizee'; did you mean 'batch_size'?"),
    "main_batch_size_0": _tiny_main(
        "run3", "--config.input.batch_size=0",
        "config.input.batch_size=0: a batch size must be >= 1"),
    "main_negative_steps": _tiny_main(
        "run4", "--config.total_steps=-5",
        "config.total_steps=-5: a duration must be >= 0"),
    "main_missing_config": (
        "egoimu_jax.main", ["--config={t}/missing.py", "--workdir={t}/run5",
                            "--config.seed=1"],
        "--config: [Errno 2] No such file or directory: '{t}/missing.py'"),
    "main_unknown_variant": (
        "egoimu_jax.main", [f"--config={ROOT}/configs/deepconvlstm.py:nonsense",
                            "--workdir={t}/run6",
                            "--config.data.cache_dir={cache}"],
        "config.model.variant='nonsense' is not a deepconvlstm variant "
        "(known: "),
    "evaluate_text_probability": (
        "egoimu_jax.evaluate", ["--predictions={t}/text.csv",
                                "--split={export}", "--out={t}/e1"],
        "{t}/text.csv: column prob_a holds 'high' in data row 1; "
        "probabilities must be numbers"),
    "evaluate_pred_n_by_1": (
        "egoimu_jax.evaluate", ["--predictions={t}/pred_n1.npz",
                                "--split={export}", "--out={t}/e2"],
        "{t}/pred_n1.npz: pred has shape ({n}, 1); expected one value per "
        "window"),
    "evaluate_window_id_n_by_1": (
        "egoimu_jax.evaluate", ["--predictions={t}/wid_n1.npz",
                                "--split={export}", "--out={t}/e3"],
        "{t}/wid_n1.npz: window_id has shape ({n}, 1)"),
    "evaluate_out_is_a_file": (
        "egoimu_jax.evaluate", ["--predictions={t}/good.csv",
                                "--split={export}", "--out={t}/a_file"],
        "--out={t}/a_file is a file"),
    "report_missing_directory": (
        "egoimu_jax.report", ["--workdirs={t}/none", "--out={t}/r"],
        "no results.json under ['{t}/none']"),
    "launch_unknown_sweep_arg": (
        "launch.run", ["--sweep=launch/sweeps/classical.py:bogus=1",
                       "--dry_run"],
        "launch/sweeps/classical.py:bogus=1: unknown argument 'bogus' in "
        "'bogus=1' (known: "),
    "prepare_missing_directory": (
        "egoimu_jax.input_pipeline.prepare", ["--raw_dir={t}/nope",
                                              "--out_dir={t}/p"],
        "{t}/nope/index.csv: file not found"),
    "export_unknown_protocol": (
        "egoimu_jax.export", ["--processed_dir={processed}",
                              "--protocol=nope", "--out={t}/x"],
        "unknown protocol.name 'nope'"),
}


def _submissions(t: pathlib.Path, export: str) -> int:
  """The hand-made bad submissions of the evaluate cases; the test count."""
  wid = np.asarray(export_windows.read_columns(
      export, "test", ("window_id",))["window_id"]).astype(str)
  n = len(wid)
  rows = "".join(f"{w},{'high' if i == 0 else 0.5},0.5\n"
                 for i, w in enumerate(wid))
  (t / "text.csv").write_text("window_id,prob_a,prob_b\n" + rows)
  np.savez(t / "pred_n1.npz", window_id=wid, pred=np.zeros((n, 1), int))
  np.savez(t / "wid_n1.npz", window_id=wid[:, None], pred=np.zeros(n, int))
  (t / "good.csv").write_text("window_id,pred\n" +
                              "".join(f"{w},0\n" for w in wid))
  (t / "a_file").write_text("not a directory")
  return n


@pytest.fixture(scope="module")
def outcomes(tiny_cache, tmp_path_factory):
  """case id -> (expected error line, exit code, stderr, workdir or None),
  run in parallel."""
  t = tmp_path_factory.mktemp("entry_points")
  data = config_lib.tiny_run(config_lib.base()).data
  data.cache_dir = tiny_cache
  processed = prepare.ensure(data)
  export = str(t / "export")
  env = {k: v for k, v in os.environ.items() if k != cli.TRACEBACK_ENV}
  env.update(JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
  subprocess.run([sys.executable, "-m", "egoimu_jax.export",
                  f"--processed_dir={processed}", "--protocol=l20wo",
                  "--fold=0", "--num_folds=3", f"--out={export}"],
                 cwd=ROOT, env=env, check=True, capture_output=True)
  n = _submissions(t, export)
  fill = lambda s: s.format(t=t, export=export, cache=tiny_cache,
                            processed=processed, n=n)

  def run(case):
    module, args, message = case
    args = [fill(a) for a in args]
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    workdir = [a.partition("=")[2] for a in args
               if a.startswith("--workdir=")]
    return (f"{module}: error: {fill(message)}", proc.returncode, proc.stderr,
            workdir[0] if workdir else None)

  with concurrent.futures.ThreadPoolExecutor(4) as pool:
    return dict(zip(CASES, pool.map(run, CASES.values())))


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_user_mistake_is_one_line_and_exit_2(outcomes, case):
  expected, code, stderr, workdir = outcomes[case]
  assert code == errors.EXIT_CODE, stderr[-3000:]
  assert workdir is None or not os.path.exists(workdir)  # none left behind
  assert "Traceback" not in stderr, stderr[-3000:]
  lines = [l for l in stderr.splitlines()
           if l.strip() and not _LOG_LINE.match(l)]
  assert len(lines) == 1, stderr[-3000:]
  assert lines[0].startswith(expected), (lines[0], expected)


def test_a_user_error_raised_while_tracing_is_one_line(capsys):
  # JAX attaches a note about its filtered frames to an exception raised
  # inside a traced function (jit, eval_shape: model init): not printed.
  def init(x):
    raise errors.UserError("window of 3 samples; the model needs 10")

  for transform in (jax.jit, lambda f: lambda x: jax.eval_shape(f, x)):
    with pytest.raises(SystemExit):
      with cli.exit_on_user_error():
        transform(init)(jnp.ones(3))
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and "JAX" not in stderr, stderr
    assert stderr.endswith("error: window of 3 samples; the model needs 10\n")
