"""A COMODO run stopped by SIGTERM and resumed is bitwise the uninterrupted
run: every logged loss, the final parameters, optimizer state and the queue
(``model_state/task_state/task/queue``), which lives in the checkpoint.

Reuses the preemption test's machinery (``test_preemption``); the stop step
is drawn from its seed (``EGOIMU_TEST_SEED``)."""

import dataclasses
import random
import signal
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import test_preemption as preemption_test
from egoimu_jax import models
from egoimu_jax.training import preemption
from egoimu_jax.training.tasks import base
from egoimu_jax.training import writers

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:Sharding info not provided")]

TOTAL = 14  # the tiny run has 8 steps per epoch: the sit-out ends at step 8
RUN = {"total_steps": TOTAL, "checkpoint_every_steps": 4,
       "eval_every_steps": 7, "log_every_steps": 1}


# The preemption test's helpers.
_replayable = preemption_test._replayable  # pylint: disable=protected-access
_logged_steps = preemption_test._logged_steps  # pylint: disable=protected-access
_final_state = preemption_test._final_state  # pylint: disable=protected-access
_flatten = preemption_test._flatten  # pylint: disable=protected-access


@pytest.fixture(scope="module")
def comodo_runner(main_runner):
  return dataclasses.replace(
      main_runner, config=str(preemption_test.__file__).rsplit(
          "/tests/", 1)[0] + "/configs/comodo.py:tiny")


def _stop_after(runner, workdir, log_path, target):
  """Runs ``RUN`` and sends SIGTERM once step ``target`` is logged."""
  with open(log_path, "w") as log:
    proc = runner.popen(workdir, RUN, log=log)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
      logged = _logged_steps(workdir)
      if logged and max(logged) >= target:
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout=120)
      time.sleep(0.005)
  pytest.fail(f"run ended (exit {proc.poll()}) before the signal:\n"
              f"{open(log_path).read()[-3000:]}")


def test_sigterm_then_resume_is_bitwise_identical(comodo_runner, tmp_path):
  reference = tmp_path / "reference"
  comodo_runner.run(reference, RUN)
  workdir = str(tmp_path / "run")
  target = random.Random(preemption_test.SEED).randint(3, TOTAL - 4)
  with _replayable("SIGTERM", target):
    code = _stop_after(comodo_runner, workdir, tmp_path / "term.log", target)
    assert code == preemption.EXIT_CODE, open(tmp_path / "term.log").read()
    comodo_runner.run(workdir, RUN)
    want, got = writers.read_jsonl(str(reference)), writers.read_jsonl(workdir)
    assert [got[s]["train/loss"] for s in range(1, TOTAL + 1)] == [
        want[s]["train/loss"] for s in range(1, TOTAL + 1)]
    # The queue's own windows sat out the first epoch only.
    assert any(want[s]["train/sitting_out"] > 0 for s in range(1, 9))
    assert all(want[s]["train/sitting_out"] == 0 for s in range(9, TOTAL + 1))
    (step_a, a), (step_b, b) = (_final_state(str(reference)),
                                _final_state(workdir))
    assert step_a == step_b == TOTAL
    flat_a, flat_b = _flatten(a), _flatten(b)
    assert flat_a.keys() == flat_b.keys()
    queue = "/model_state/task_state/task/queue"
    assert queue in flat_a and np.abs(flat_a[queue]).sum() > 0
    # Rows are unit teacher projections (initialised from teacher embeddings).
    np.testing.assert_allclose(np.linalg.norm(flat_a[queue], axis=1), 1.0,
                               rtol=1e-5)
    for k in flat_a:
      np.testing.assert_array_equal(flat_a[k], flat_b[k], err_msg=k)
  # The student's parameters keep the classifier's paths (fine-tuning and
  # freeze regexes match them); the projectors live under params/task.
  student = models.build({"name": "moment", "variant": "tiny",
                          "num_classes": 3}).init(
                              jax.random.key(0),
                              {"imu": jnp.zeros((1, 1000, 6))}, train=False)
  want_paths = {"/params" + k
                for k in _flatten(jax.device_get(student["params"]))}
  got_paths = {k for k in flat_a if k.startswith("/params/")}
  assert got_paths - want_paths == {
      k for k in got_paths if k.startswith(f"/params/{base.TASK}/")}
  assert want_paths <= got_paths
  assert any(k.startswith(f"/model_state/frozen/{base.TASK}/teacher_proj/")
             for k in flat_a)  # the frozen teacher projector
