"""Meshes, processes and topologies: the real engine in subprocesses.

One reference run (1 process x 2 CPU devices, 6 steps) is compared with
* 2 processes x 1 device (gloo collectives, ``jax.distributed``): the same
  global batches and seed must give the same loss curve and predictions;
* a 4-device ``data=2, fsdp=2`` mesh whose rule splits every kernel, then
  resumed on 2 devices from its step-3 checkpoint (cross-topology restore).
"""

import json
import os
import shutil
import time

import numpy as np
import pytest

from egoimu_jax.evaluation import results
from egoimu_jax.training import writers

pytestmark = pytest.mark.slow

STEPS = {"total_steps": 6, "eval_every_steps": 3, "log_every_steps": 1}
RTOL = 2e-5  # same global batch, different reduction order across devices


def _losses(workdir):
  """{step: loss} (the last record per step, as a resumed run rewrites)."""
  scalars = writers.read_jsonl(str(workdir))
  return {s: v["train/loss"] for s, v in scalars.items() if "train/loss" in v}


def _assert_same_run(workdir, reference, steps, rtol=RTOL):
  got, want = _losses(workdir), _losses(reference)
  assert sorted(got) == sorted(want) == list(range(1, 7))
  np.testing.assert_allclose([got[s] for s in steps], [want[s] for s in steps],
                             rtol=rtol)
  run, ref = results.read(str(workdir)), results.read(str(reference))
  for part in ("val", "test"):
    assert (run["metrics"][part]["confusion"] ==
            ref["metrics"][part]["confusion"])
  np.testing.assert_allclose(results.read_predictions(str(workdir)).probs,
                             results.read_predictions(str(reference)).probs,
                             rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def reference(main_runner, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("reference")
  main_runner.run(workdir, STEPS, devices=2)
  extra = results.read(str(workdir))["extra"]
  assert extra["mesh"] == {"data": 2, "fsdp": 1} and extra["process_count"] == 1
  return workdir


def test_two_processes_match_one_process(main_runner, reference, tmp_path):
  main_runner.run_processes(tmp_path / "run", STEPS)
  extra = results.read(str(tmp_path / "run"))["extra"]
  assert extra["process_count"] == 2 and extra["mesh"]["data"] == 2
  _assert_same_run(tmp_path / "run", reference, steps=range(1, 7))
  # Each process saved its own data-iterator position.
  saved = os.listdir(tmp_path / "run" / "checkpoints" / "6" / "data_iter")
  assert sorted(n for n in saved if n.startswith("process_")) == [
      "process_0-of-2.json", "process_1-of-2.json"]


def test_fsdp_mesh_then_restore_on_fewer_devices(main_runner, reference,
                                                 tmp_path):
  workdir = tmp_path / "run"
  fsdp = {**STEPS, "mesh": "(('data', 2), ('fsdp', 2))",
          "sharding_rules": "(('params/.*kernel.*', 'fsdp'),)",
          "params_sharded_tolerance": 0.1}
  main_runner.run(workdir, fsdp, devices=4)
  extra = results.read(str(workdir))["extra"]
  assert extra["mesh"] == {"data": 2, "fsdp": 2}
  # Kernels are split in two; only biases stay whole.
  assert extra["params_per_device"] < 0.6 * extra["params"]
  _assert_same_run(workdir, reference, steps=range(1, 7))

  # As if preempted after step 3: drop the later checkpoint and results,
  # then resume on 2 devices (data=2, fsdp=1).
  assert sorted(os.listdir(workdir / "checkpoints")) == ["3", "6"]
  shutil.rmtree(workdir / "checkpoints" / "6")
  os.remove(workdir / "results.json")
  resumed_at = time.time()
  main_runner.run(workdir, STEPS, devices=2)
  extra = results.read(str(workdir))["extra"]
  assert extra["mesh"] == {"data": 2, "fsdp": 1}
  with open(workdir / writers.METRICS_FILE) as f:
    logged = [(r["step"], r["time"]) for r in map(json.loads, f)
              if r["kind"] == "scalars" and "train/loss" in r["values"]]
  # Resumed at 4, not restarted: steps 1-3 are the first run's records, the
  # replayed 4-6 replaced the first run's (each step logged once).
  assert [s for s, _ in logged] == [1, 2, 3, 4, 5, 6]
  assert all((t < resumed_at) == (s <= 3) for s, t in logged), logged
  _assert_same_run(workdir, reference, steps=range(1, 7))
