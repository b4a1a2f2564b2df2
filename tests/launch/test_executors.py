"""Executors with a stand-in interpreter (conftest.fake_python): local
sequential and parallel, SLURM scripts (fake sbatch/srun/squeue), XManager."""

import json
import os
import subprocess

import pytest

from launch import Job
from launch import job as launch_job
from launch.executors import local, slurm, xm


def jobs(root, n=4, **kw):
  return [Job("configs/x.py", str(root / f"m/l20wo/fold{i}"),
              overrides={"protocol.fold": i}, **kw) for i in range(n)]


def calls(job):
  with open(os.path.join(job.workdir, "calls.jsonl")) as f:
    return [json.loads(l) for l in f]


@pytest.mark.parametrize("parallel", [1, 3])
def test_local_runs_skips_done_and_reports_failures(tmp_path, fake_python, monkeypatch,
                                                    parallel):
  monkeypatch.setenv("FAKE_FAIL", "fold1$")
  monkeypatch.setenv("FAKE_NO_RESULTS", "fold2$")
  js = jobs(tmp_path)
  os.makedirs(js[3].workdir)
  open(os.path.join(js[3].workdir, "results.json"), "w").write("{}")
  ex = local.LocalExecutor(parallel=parallel, python=fake_python)
  out = ex.run(js)
  assert [j.name for j in out.finished] == [js[0].name]
  assert sorted(j.name for j in out.failed) == sorted([js[1].name, js[2].name])
  assert out.skipped == [js[3]] and not out.ok
  assert not os.path.exists(os.path.join(js[3].workdir, "calls.jsonl"))
  log = open(os.path.join(js[1].workdir, local.LOG_FILE)).read()
  assert "failing on purpose" in log and "--config.protocol.fold=1" in log
  assert calls(js[0])[0]["argv"][:3] == ["-m", "egoimu_jax.main", "--config=configs/x.py"]
  # A re-run only retries what is not done.
  monkeypatch.delenv("FAKE_FAIL")
  monkeypatch.delenv("FAKE_NO_RESULTS")
  again = ex.run(js)
  assert len(again.finished) == 2 and len(again.skipped) == 2 and again.ok
  assert len(calls(js[0])) == 1 and len(calls(js[1])) == 2


def test_workdir_of_another_job_is_refused(tmp_path, fake_python):
  [j] = jobs(tmp_path, 1)
  ex = local.LocalExecutor(python=fake_python)
  assert ex.run([j]).ok
  other = Job("configs/x.py:tiny", j.workdir, overrides={"protocol.fold": 0})
  with pytest.raises(launch_job.WorkdirConflict, match=r"config 'configs/x.py' != 'configs/x.py:tiny'"):
    ex.run([other])
  moved = Job("configs/x.py", j.workdir, overrides={"protocol.fold": 1})
  with pytest.raises(launch_job.WorkdirConflict, match="protocol.fold: '0' != '1'"):
    local.LocalExecutor(python=fake_python, rerun=True).run([moved])
  assert len(calls(j)) == 1


def test_local_parallel_runs_concurrently(tmp_path, fake_python, monkeypatch):
  monkeypatch.setenv("FAKE_SLEEP", "1.0")
  import time
  start = time.monotonic()
  out = local.LocalExecutor(parallel=4, python=fake_python).run(jobs(tmp_path))
  assert out.ok and len(out.finished) == 4
  assert time.monotonic() - start < 3.5   # sequential would take > 4 s


def test_custom_done_file_and_run_globs(tmp_path, fake_python):
  [j] = jobs(tmp_path, 1, done_file="report/table.md", run_globs=("*/fold*/*",))
  ex = local.LocalExecutor(python=fake_python)
  out = ex.run([j])   # the fake writes results.json, not report/table.md
  assert out.failed == [j] and not j.is_done()
  os.makedirs(os.path.join(j.workdir, "report"))
  open(os.path.join(j.workdir, "report", "table.md"), "w").close()
  assert j.is_done() and ex.run([j]).skipped == [j]
  assert j.runs() == [os.path.join(j.workdir, "*/fold*/*")]
  assert jobs(tmp_path, 1)[0].runs() == [jobs(tmp_path, 1)[0].workdir]


def test_job_env_reaches_the_process(tmp_path, fake_python):
  [j] = jobs(tmp_path, 1, env={"FAKE_JOB_ENV": "hello"})
  assert local.LocalExecutor(python=fake_python).run([j]).ok
  assert calls(j)[0]["extra_env"] == "hello"


@pytest.fixture
def fake_slurm(tmp_path, make_exe, monkeypatch):
  """sbatch records its arguments; srun runs the command once per task."""
  bin_dir = tmp_path / "slurm_bin"
  make_exe(bin_dir / "sbatch", f'#!/bin/bash\necho "$@" >> {bin_dir}/sbatch.calls\n'
           'echo "4242;cluster"\n')
  make_exe(bin_dir / "srun", '#!/bin/bash\n'
           'while [[ "$1" == --* ]]; do case "$1" in --ntasks=*) N=${1#--ntasks=};; esac; '
           'shift; done\n'
           'for ((i=0; i<N; i++)); do SLURM_PROCID=$i SLURM_NTASKS=$N SLURM_STEP_NUM_TASKS=$N '
           '"$@" || exit $?; done\n')
  make_exe(bin_dir / "squeue", "#!/bin/bash\nexit 0\n")   # nothing queued
  monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
  return bin_dir


def test_slurm_writes_and_submits_arrays(tmp_path, fake_python, fake_slurm):
  js = jobs(tmp_path, 3) + [Job("configs/x.py", str(tmp_path / "big"), num_hosts=2)]
  opts = slurm.SlurmOptions(partition="gpu", gpus_per_node=8, max_concurrent=2,
                            setup="echo setting up", extra=("--constraint=h100",))
  ex = slurm.SlurmExecutor(str(tmp_path / "root"), "mysweep", opts, python=fake_python)
  out = ex.run(js)
  assert out.submitted == js and not out.finished
  sbatch_calls = (fake_slurm / "sbatch.calls").read_text().splitlines()
  assert len(sbatch_calls) == 2 and all(c.startswith("--parsable ") for c in sbatch_calls)
  [script_dir] = (tmp_path / "root" / "_slurm").iterdir()
  one = (script_dir / "array_1host.sbatch").read_text()
  two = (script_dir / "array_2host.sbatch").read_text()
  for line in ("#SBATCH --array=0-2%2", "#SBATCH --nodes=1", "#SBATCH --partition=gpu",
               "#SBATCH --gpus-per-node=8", "#SBATCH --constraint=h100", "echo setting up"):
    assert line in one
  assert "srun" not in one
  assert "#SBATCH --array=0-0%2" in two and "#SBATCH --nodes=2" in two
  assert "srun --nodes=2 --ntasks=2 --ntasks-per-node=1" in two
  submitted = json.loads((script_dir / "submitted.json").read_text())
  assert [s["job_id"] for s in submitted] == ["4242", "4242"]
  index = json.loads((script_dir / "jobs.json").read_text())
  assert [e["workdir"] for e in index["array_1host.sbatch"]] == [j.workdir for j in js[:3]]

  # Run the array tasks as SLURM would (srun is the fake one).
  env = dict(os.environ, SLURM_JOB_NODELIST="node[07-08]", SLURM_JOB_ID="99",
             SLURM_ARRAY_JOB_ID="98")
  for i in range(3):
    subprocess.run(["bash", str(script_dir / "array_1host.sbatch")], check=True,
                   env=dict(env, SLURM_ARRAY_TASK_ID=str(i), SLURM_NTASKS="1",
                            SLURM_PROCID="0"),
                   capture_output=True)
  subprocess.run(["bash", str(script_dir / "array_2host.sbatch")], check=True,
                 env=dict(env, SLURM_ARRAY_TASK_ID="0"), capture_output=True)
  assert calls(js[2])[0]["argv"][-1] == "--config.protocol.fold=2"
  assert calls(js[0])[0]["distributed"] is None
  big = calls(js[3])
  assert [c["procid"] for c in big] == [0, 1]
  assert big[1]["distributed"] == {"coordinator_address": "node07:20099",
                                   "num_processes": 2, "process_id": 1}
  # A done task exits at once, without running the job again.
  r = subprocess.run(["bash", str(script_dir / "array_1host.sbatch")], check=True,
                     env=dict(env, SLURM_ARRAY_TASK_ID="0"), capture_output=True, text=True)
  assert "done already" in r.stdout and len(calls(js[0])) == 1
  bad = subprocess.run(["bash", str(script_dir / "array_1host.sbatch")],
                       env=dict(env, SLURM_ARRAY_TASK_ID="7"), capture_output=True, text=True)
  assert bad.returncode == 2 and "no job for array task 7" in bad.stderr

  # Everything is done now: nothing more is submitted; wait sees all finished.
  ex.wait = True
  again = ex.run(js)
  assert len(again.skipped) == 4 and not again.submitted
  assert len((fake_slurm / "sbatch.calls").read_text().splitlines()) == 2


def test_slurm_wait_marks_jobs_gone_from_queue_as_failed(tmp_path, fake_python, fake_slurm):
  js = jobs(tmp_path, 2)
  ex = slurm.SlurmExecutor(str(tmp_path / "root"), "s", python=fake_python, wait=True,
                           poll_seconds=0.01)
  out = ex.run(js)   # fake sbatch runs nothing; squeue says nothing is queued
  assert out.failed == js and not out.submitted


def test_slurm_sbatch_failure_is_clear(tmp_path, fake_python, make_exe):
  sbatch = make_exe(tmp_path / "bin" / "sbatch", "#!/bin/bash\necho 'bad partition' >&2; exit 1\n")
  ex = slurm.SlurmExecutor(str(tmp_path / "root"), "s", python=fake_python, sbatch=sbatch)
  with pytest.raises(RuntimeError, match="bad partition"):
    ex.run(jobs(tmp_path, 1))


def _has_xmanager():
  try:
    import xmanager  # pylint: disable=unused-import
    return True
  except ImportError:
    return False


@pytest.mark.skipif(_has_xmanager(), reason="xmanager is installed")
def test_xmanager_missing_is_a_clear_error(tmp_path):
  with pytest.raises(RuntimeError, match="needs the xmanager package.*protobuf"):
    xm.XManagerExecutor("s").run(jobs(tmp_path, 1))


@pytest.mark.skipif(not _has_xmanager(), reason="xmanager is not installed (it pins "
                    "protobuf<7, so it lives in its own venv; see launch/executors/xm.py)")
def test_xmanager_local_runs_jobs(tmp_path, fake_python, monkeypatch):
  monkeypatch.setenv("HOME", str(tmp_path / "home"))   # xm_local's experiment DB
  monkeypatch.setenv("FAKE_FAIL", "fold1$")
  js = jobs(tmp_path, 3, env={"FAKE_JOB_ENV": "x"})
  out = xm.XManagerExecutor("xmtest", python=fake_python, parallel=2).run(js)
  assert sorted(j.name for j in out.finished) == sorted([js[0].name, js[2].name])
  assert out.failed == [js[1]]
  assert calls(js[0])[0]["extra_env"] == "x"
  assert "failing on purpose" in open(os.path.join(js[1].workdir, "launch.log")).read()
