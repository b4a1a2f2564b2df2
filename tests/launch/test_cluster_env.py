"""SLURM environment -> jax.distributed settings."""

import pytest

from egoimu_jax.training import cluster_env


@pytest.mark.parametrize("hostlist, hosts", [
    ("node1", ["node1"]),
    ("gpu[001-003,010]", ["gpu001", "gpu002", "gpu003", "gpu010"]),
    ("a[8-10],b7", ["a8", "a9", "a10", "b7"]),
    ("rack[1-2]-n[3,5]", ["rack1-n3", "rack1-n5", "rack2-n3", "rack2-n5"]),
    ("x-1.dc,y[09-10].dc", ["x-1.dc", "y09.dc", "y10.dc"]),
])
def test_expand_hostlist(hostlist, hosts):
  assert cluster_env.expand_hostlist(hostlist) == hosts


@pytest.mark.parametrize("bad", ["n[1-2", "n[a-b]", "n[1-]"])
def test_expand_hostlist_rejects(bad):
  with pytest.raises(ValueError, match="host list"):
    cluster_env.expand_hostlist(bad)


def test_from_slurm():
  env = {"SLURM_JOB_NODELIST": "gpu[017-020]", "SLURM_NTASKS": "4",
         "SLURM_PROCID": "2", "SLURM_JOB_ID": "123456"}
  s = cluster_env.from_slurm(env)
  assert s.kwargs() == {"coordinator_address": "gpu017:23456", "num_processes": 4,
                        "process_id": 2}
  # The srun step's node list and task count win over the allocation's.
  step = dict(env, SLURM_STEP_NODELIST="gpu[019-020]", SLURM_STEP_NUM_TASKS="2",
              EGOIMU_COORDINATOR_PORT="7777")
  assert cluster_env.from_slurm(step).kwargs() == {
      "coordinator_address": "gpu019:7777", "num_processes": 2, "process_id": 2}


def test_from_slurm_single_or_outside():
  assert cluster_env.from_slurm({}) is None
  assert cluster_env.from_slurm({"SLURM_JOB_NODELIST": "n1", "SLURM_NTASKS": "1",
                                 "SLURM_PROCID": "0"}) is None
  assert not cluster_env.initialize_from_env({})
  with pytest.raises(ValueError, match="srun"):
    cluster_env.from_slurm({"SLURM_JOB_NODELIST": "n[1-2]", "SLURM_NTASKS": "2"})
