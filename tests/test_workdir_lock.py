"""One run per workdir: a second run refuses with one line while the first
holds it, and the lock ends with its holder however it ends."""

import os
import signal
import subprocess
import sys

import pytest

from egoimu_jax import errors
from egoimu_jax import workdir_lock
from launch.sweep import REPO_ROOT


def test_second_holder_is_refused_until_the_first_releases(tmp_path):
  first = workdir_lock.acquire(str(tmp_path))
  with pytest.raises(workdir_lock.WorkdirBusy, match=f"pid {os.getpid()}"):
    workdir_lock.acquire(str(tmp_path))
  first.release()
  workdir_lock.acquire(str(tmp_path)).release()
  # Not locked: processes other than 0 of a multi-process run, object stores.
  assert workdir_lock.acquire(str(tmp_path), process_index=1) is None
  assert workdir_lock.acquire("gs://bucket/run") is None


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
  holder = subprocess.Popen(
      [sys.executable, "-c", "import sys, time; from egoimu_jax import "
       f"workdir_lock; workdir_lock.acquire({str(tmp_path)!r}); "
       "print('held', flush=True); time.sleep(600)"],
      stdout=subprocess.PIPE, text=True)
  assert holder.stdout.readline().strip() == "held"
  with pytest.raises(workdir_lock.WorkdirBusy):
    workdir_lock.acquire(str(tmp_path))
  holder.send_signal(signal.SIGKILL)
  holder.wait()
  workdir_lock.acquire(str(tmp_path)).release()


def test_main_refuses_a_workdir_in_use_in_one_line(tmp_path):
  workdir = tmp_path / "run"
  lock = workdir_lock.acquire(str(workdir))
  r = subprocess.run(
      [sys.executable, "-m", "egoimu_jax.main",
       "--config=configs/deepconvlstm.py:tiny", f"--workdir={workdir}"],
      cwd=REPO_ROOT, capture_output=True, text=True,
      env=dict(os.environ, EGOIMU_CACHE=str(tmp_path / "cache")))
  lock.release()
  assert r.returncode == errors.EXIT_CODE, r.stderr[-2000:]
  assert r.stderr.strip().splitlines()[-1] == (
      f"egoimu_jax.main: error: workdir {workdir} is in use by another run "
      f"(pid {os.getpid()}, since {open(workdir / '.egoimu.lock').read().split('since ')[1].strip()}"
      "); wait for it to end or give another --workdir")
  assert os.listdir(workdir) == [workdir_lock.LOCK_FILE]  # nothing written
  assert not (tmp_path / "cache").exists()  # nor any data prepared
