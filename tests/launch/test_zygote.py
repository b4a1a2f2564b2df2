"""launch/executors/zygote.py: a job forked from a zygote is the process a
fresh interpreter would be (exit status, output, results), one zygote per
environment serves concurrent jobs, and a lost zygote falls back."""

import json
import os
import subprocess
import sys
import threading

from launch.executors import zygote
from launch.sweep import REPO_ROOT


def _argv(workdir, config="configs/classical.py:estimator=rf,tiny"):
  return [f"--config={config}", f"--workdir={workdir}",
          "--config.protocol.name=l20wo", "--config.protocol.fold=0"]


def _fresh(argv, env):
  return subprocess.run([sys.executable, "-m", zygote.ENGINE, *argv],
                        cwd=REPO_ROOT, env=env, capture_output=True,
                        text=True)


def _metrics(workdir):
  with open(os.path.join(workdir, "results.json")) as f:
    res = json.load(f)
  return res["metrics"] if "metrics" in res else res["test"]


def test_forked_jobs_match_fresh_interpreters(tmp_path, tiny_cache):
  env = dict(os.environ, EGOIMU_CACHE=tiny_cache)
  pool = zygote.Pool(sys.executable, REPO_ROOT)
  try:
    # Two jobs at once in one zygote; each ends with its own status.
    rcs = {}

    def run(name, argv):
      rcs[name] = pool.run(argv, str(tmp_path / f"{name}.log"), env)

    threads = [threading.Thread(target=run, args=(
        "ok", _argv(tmp_path / "forked"))), threading.Thread(target=run, args=(
            "typo", _argv(tmp_path / "typo", "configs/nope.py")))]
    for t in threads:
      t.start()
    for t in threads:
      t.join()
    assert rcs == {"ok": 0, "typo": 2}
    assert len(pool._zygotes) == 1  # pylint: disable=protected-access
    fresh_ok = _fresh(_argv(tmp_path / "fresh"), env)
    assert fresh_ok.returncode == 0, fresh_ok.stderr[-2000:]
    assert _metrics(tmp_path / "forked") == _metrics(tmp_path / "fresh")
    # A user error: the same one line, naming the same program.
    fresh_typo = _fresh(_argv(tmp_path / "typo2", "configs/nope.py"), env)
    assert fresh_typo.returncode == 2
    forked_line = (tmp_path / "typo.log").read_text().strip().splitlines()[-1]
    assert forked_line == fresh_typo.stderr.strip().splitlines()[-1]
    assert forked_line.startswith(f"{zygote.ENGINE}: error: --config: ")

    # Another environment gets its own zygote, and the job sees it: given
    # an empty cache, it prepares its data there.
    empty = dict(env, EGOIMU_CACHE=str(tmp_path / "empty_cache"))
    assert pool.run(_argv(tmp_path / "empty"), str(tmp_path / "e.log"),
                    empty) == 0
    assert len(pool._zygotes) == 2  # pylint: disable=protected-access
    assert os.listdir(tmp_path / "empty_cache" / "processed")
  finally:
    pool.close()


def test_a_lost_zygote_answers_none(tmp_path):
  z = zygote.Zygote(sys.executable, REPO_ROOT, dict(os.environ))
  z._proc.kill()  # pylint: disable=protected-access
  z._proc.wait()  # pylint: disable=protected-access
  assert z.run(_argv(tmp_path / "w"), REPO_ROOT, str(tmp_path / "l")) is None
  z.close()
