"""Where a process learns its place in a job, and what happens if a peer
never arrives."""

import subprocess
import sys
import time

import pytest

from egoimu_jax.training import distributed

SLURM = {"SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": "gpu[007-009],cpu1",
         "SLURM_NTASKS": "3", "SLURM_PROCID": "2", "SLURM_NNODES": "3",
         "SLURM_LOCALID": "0"}


def test_single_process_by_default():
  spec = distributed.detect(environ={})
  assert spec == distributed.ProcessSpec(None, 1, 0, "single")
  assert not spec.multi_process
  distributed.initialize(spec)  # a no-op: jax.distributed is not touched


def test_flags_win_over_environment():
  env = {**SLURM, "EGOIMU_COORDINATOR": "h:1", "EGOIMU_NUM_PROCESSES": "2",
         "EGOIMU_PROCESS_ID": "1"}
  spec = distributed.detect("127.0.0.1:5000", 4, 3, environ=env)
  assert (spec.coordinator, spec.num_processes, spec.process_id,
          spec.source) == ("127.0.0.1:5000", 4, 3, "flags")
  spec = distributed.detect(environ=env)
  assert (spec.coordinator, spec.num_processes, spec.process_id,
          spec.source) == ("h:1", 2, 1, "env")


def test_slurm_first_host_and_task_ids():
  spec = distributed.detect(environ=SLURM)
  assert spec.source == "slurm"
  assert spec.coordinator.startswith("gpu007:")
  assert (spec.num_processes, spec.process_id) == (3, 2)
  assert spec.local_device_ids is None  # one task per node: all its devices
  spec = distributed.detect(environ={**SLURM, "SLURM_NTASKS": "6",
                                     "SLURM_LOCALID": "1"})
  assert spec.local_device_ids == [1]  # two tasks per node: one device each
  assert distributed.detect(environ={**SLURM, "SLURM_NTASKS": "1"}).source == (
      "single")


@pytest.mark.parametrize("kwargs, env, match", [
    (dict(coordinator="h:1"), {}, "give all of"),
    (dict(coordinator="h:1", num_processes=2, process_id=2), {}, "not in"),
    (dict(coordinator="nohost", num_processes=2, process_id=0), {},
     "host:port"),
    ({}, {"EGOIMU_COORDINATOR": "h:1"}, "but not"),
    ({}, {"EGOIMU_COORDINATOR": "h:1", "EGOIMU_NUM_PROCESSES": "two",
          "EGOIMU_PROCESS_ID": "0"}, "not an integer"),
])
def test_bad_settings_are_named(kwargs, env, match):
  with pytest.raises(ValueError, match=match):
    distributed.detect(**kwargs, environ=env)


_ALONE = """
from egoimu_jax.training import distributed
spec = distributed.detect("127.0.0.1:{port}", 2, {pid}, environ={{}})
distributed.initialize(spec, timeout_s=3)
"""


@pytest.mark.slow
@pytest.mark.parametrize("process_id", [0, 1])
def test_missing_peer_is_a_timeout_error_not_a_hang(process_id):
  import socket  # pylint: disable=g-import-not-at-top
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  start = time.monotonic()
  proc = subprocess.run(
      [sys.executable, "-c", _ALONE.format(port=port, pid=process_id)],
      capture_output=True, text=True, timeout=60,
      env={"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"})
  elapsed = time.monotonic() - start
  assert proc.returncode == 1, proc.stderr[-2000:]
  assert "DistributedTimeoutError" in proc.stderr
  assert f"process {process_id} of 2 waited 3 s" in proc.stderr
  assert elapsed < 30
