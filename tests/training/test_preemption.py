"""Interrupt a run at a random step, resume it, and get the uninterrupted run.

SIGKILL: nothing can be saved; the rerun resumes from the last periodic
checkpoint. SIGTERM: the run checkpoints the step it is at and exits with
``preemption.EXIT_CODE``. Either way, on the same single CPU device the
resumed run must match the uninterrupted one bitwise: every logged training
loss, final parameters and optimizer state, results and predictions.

The interrupt step is drawn from ``SEED``; a failure names the seed and the
step, and ``EGOIMU_TEST_SEED=<seed>`` draws the same step again.
"""

import contextlib
import json
import os
import random
import re
import signal
import time

import numpy as np
import orbax.checkpoint as ocp
import pytest

from egoimu_jax.evaluation import results
from egoimu_jax.training import checkpointing
from egoimu_jax.training import preemption
from egoimu_jax.training import writers

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:Sharding info not provided")]

TOTAL = 30
CHECKPOINT_EVERY, EVAL_EVERY = 4, 10
RUN = {"total_steps": TOTAL, "checkpoint_every_steps": CHECKPOINT_EVERY,
       "eval_every_steps": EVAL_EVERY, "log_every_steps": 1}
SEED = int(os.environ.get("EGOIMU_TEST_SEED", "0"))


@contextlib.contextmanager
def _replayable(what: str, target: int):
  """Adds the seed and the drawn step to any failure inside."""
  note = (f"{what} at or after step {target}, drawn with seed {SEED} "
          f"(replay: EGOIMU_TEST_SEED={SEED})")
  print(note)
  try:
    yield
  except (AssertionError, pytest.fail.Exception) as e:
    raise type(e)(f"{e}\n{note}") from e


def _committed_steps(workdir):
  """Checkpoint steps whose directory has been renamed into place."""
  path = os.path.join(workdir, "checkpoints")
  names = os.listdir(path) if os.path.isdir(path) else []
  return sorted(int(n) for n in names if n.isdigit())


def _logged_steps(workdir):
  """Training steps in metrics.jsonl, in the order they were written."""
  path = os.path.join(workdir, writers.METRICS_FILE)
  if not os.path.exists(path):
    return []
  steps = []
  with open(path) as f:
    for line in f.read().splitlines():
      try:
        record = json.loads(line)
      except json.JSONDecodeError:  # a line being written
        continue
      if record["kind"] == "scalars" and "train/loss" in record["values"]:
        steps.append(record["step"])
  return steps


def _final_state(workdir):
  step = max(_committed_steps(workdir))
  path = os.path.join(workdir, "checkpoints", str(step), checkpointing.STATE)
  return step, ocp.PyTreeCheckpointer().restore(path)


def _flatten(tree, prefix=""):
  if isinstance(tree, dict):
    return {k2: v2 for k, v in tree.items()
            for k2, v2 in _flatten(v, f"{prefix}/{k}").items()}
  if isinstance(tree, (list, tuple)):
    return {k2: v2 for i, v in enumerate(tree)
            for k2, v2 in _flatten(v, f"{prefix}/{i}").items()}
  return {} if tree is None else {prefix: np.asarray(tree)}


@pytest.fixture(scope="module")
def reference(main_runner, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("uninterrupted")
  main_runner.run(workdir, RUN)
  return str(workdir)


def _interrupt(main_runner, workdir, log_path, sig, ready):
  """Starts a run and sends ``sig`` once ``ready(committed, logged)``."""
  with open(log_path, "w") as log:
    proc = main_runner.popen(workdir, RUN, log=log)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
      committed, logged = _committed_steps(workdir), _logged_steps(workdir)
      if ready(committed, logged):
        proc.send_signal(sig)
        code = proc.wait(timeout=120)
        return code, committed, logged
      time.sleep(0.005)
  pytest.fail(f"run ended (exit {proc.poll()}) before the signal:\n"
              f"{open(log_path).read()[-3000:]}")


def _restored_step(log):
  """The step the resumed run restored, from its log (None: none)."""
  found = re.findall(r"restoring .* of step (\d+) from", log)
  return int(found[0]) if found else None


def _assert_resumed_like_reference(workdir, reference, log):
  """Checks the resumed run against the reference; returns the step it
  resumed from (the checkpoint it restored)."""
  # The resumed run cut the replayed steps from metrics.jsonl: each step is
  # logged once, in order.
  assert _logged_steps(workdir) == list(range(1, TOTAL + 1))
  resumed_from = _restored_step(log)
  want, got = writers.read_jsonl(reference), writers.read_jsonl(workdir)
  assert [got[s]["train/loss"] for s in range(1, TOTAL + 1)] == [
      want[s]["train/loss"] for s in range(1, TOTAL + 1)]
  (step_a, state_a), (step_b, state_b) = (_final_state(reference),
                                          _final_state(workdir))
  assert step_a == step_b == TOTAL
  flat_a, flat_b = _flatten(state_a), _flatten(state_b)
  assert flat_a.keys() == flat_b.keys() and flat_a
  for k in flat_a:
    np.testing.assert_array_equal(flat_a[k], flat_b[k], err_msg=k)
  res_a, res_b = results.read(reference), results.read(workdir)
  assert res_a["metrics"] == res_b["metrics"]
  assert res_a["extra"]["best_step"] == res_b["extra"]["best_step"]
  np.testing.assert_array_equal(results.read_predictions(reference).probs,
                                results.read_predictions(workdir).probs)
  return resumed_from


def test_sigkill_then_resume_matches_uninterrupted(main_runner, reference,
                                                   tmp_path):
  workdir = str(tmp_path / "run")
  target = random.Random(SEED).randint(6, TOTAL - 6)
  with _replayable("SIGKILL", target):
    code, committed, logged = _interrupt(
        main_runner, workdir, tmp_path / "killed.log", signal.SIGKILL,
        lambda c, l: c and l and max(l) >= max(target, c[-1] + 1))
    assert code == -signal.SIGKILL
    assert not os.path.exists(os.path.join(workdir, "results.json"))
    resumed = main_runner.run(workdir, RUN)
    resumed_from = _assert_resumed_like_reference(workdir, reference,
                                                  resumed.stderr)
    # From a checkpoint at or after the last one seen before the kill (a save
    # in flight may have committed after we looked).
    if resumed_from is not None:
      assert committed[-1] <= resumed_from <= max(logged) + 1
      assert resumed_from % CHECKPOINT_EVERY == 0 or (
          resumed_from % EVAL_EVERY == 0)


def test_sigterm_checkpoints_the_current_step(main_runner, reference,
                                              tmp_path):
  workdir = str(tmp_path / "run")
  target = random.Random(SEED).randint(3, TOTAL - 6)
  with _replayable("SIGTERM", target):
    code, _, _ = _interrupt(main_runner, workdir, tmp_path / "term.log",
                            signal.SIGTERM, lambda c, l: l and max(l) >= target)
    log = open(tmp_path / "term.log").read()
    assert code == preemption.EXIT_CODE, log[-3000:]
    stopped = _logged_steps(workdir)[-1]
    assert _committed_steps(workdir)[-1] == stopped  # saved where it stopped
    assert "preempted: stopped after step" in log
    resumed = main_runner.run(workdir, RUN)
    assert _assert_resumed_like_reference(workdir, reference,
                                          resumed.stderr) == stopped
