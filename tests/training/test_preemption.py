"""Kill -9 a run at a random step, resume it, and get the uninterrupted run.

Both runs use one CPU device, so the resumed run must match bitwise: final
parameters and optimizer state, every logged training loss and the results.
"""

import json
import os
import random
import signal
import time

import numpy as np
import orbax.checkpoint as ocp
import pytest

from egoimu_jax.evaluation import results
from egoimu_jax.training import checkpointing
from egoimu_jax.training import writers

pytestmark = pytest.mark.slow

TOTAL = 30
RUN = {"total_steps": TOTAL, "checkpoint_every_steps": 4,
       "eval_every_steps": 10, "log_every_steps": 1}


def _committed_steps(workdir):
  """Checkpoint steps whose directory has been renamed into place."""
  path = os.path.join(workdir, "checkpoints")
  names = os.listdir(path) if os.path.isdir(path) else []
  return sorted(int(n) for n in names if n.isdigit())


def _logged_steps(workdir):
  path = os.path.join(workdir, writers.METRICS_FILE)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    lines = f.read().splitlines()
  steps = []
  for line in lines:
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


def test_kill_and_resume_matches_uninterrupted(main_runner, tmp_path):
  reference = tmp_path / "uninterrupted"
  main_runner.run(reference, RUN)

  workdir = str(tmp_path / "killed")
  target = random.Random().randint(6, TOTAL - 6)  # kill at or after this step
  log = open(tmp_path / "killed.log", "w")
  proc = main_runner.popen(workdir, RUN, log=log)
  killed_at = None
  deadline = time.monotonic() + 300
  while time.monotonic() < deadline and proc.poll() is None:
    committed, logged = _committed_steps(workdir), _logged_steps(workdir)
    if committed and logged and max(logged) >= max(target, committed[-1] + 1):
      proc.send_signal(signal.SIGKILL)
      proc.wait()
      killed_at = (max(logged), committed[-1])
      break
    time.sleep(0.005)
  log.close()
  assert killed_at is not None, (
      f"run ended (exit {proc.returncode}) before it could be killed at step "
      f">= {target}:\n{(tmp_path / 'killed.log').read_text()[-3000:]}")
  last_logged, last_checkpoint = killed_at
  assert last_logged < TOTAL and not os.path.exists(
      os.path.join(workdir, "results.json"))

  main_runner.run(workdir, RUN)
  # Killed run: steps 1..k; resumed run: r..TOTAL, where r - 1 is the
  # checkpoint it restored (the last committed one; a save in flight at the
  # kill may have committed after we looked).
  logged = _logged_steps(workdir)
  k = next((i for i in range(1, len(logged)) if logged[i] <= logged[i - 1]),
           len(logged) - (TOTAL - last_logged))
  resumed_from = logged[k] - 1
  assert logged[:k] == list(range(1, k + 1)) and k >= last_logged
  assert logged[k:] == list(range(resumed_from + 1, TOTAL + 1))
  assert last_checkpoint <= resumed_from <= k
  assert resumed_from % 4 == 0 or resumed_from % 10 == 0

  want, got = writers.read_jsonl(str(reference)), writers.read_jsonl(workdir)
  assert [want[s]["train/loss"] for s in range(1, TOTAL + 1)] == [
      got[s]["train/loss"] for s in range(1, TOTAL + 1)]
  step_a, state_a = _final_state(str(reference))
  step_b, state_b = _final_state(workdir)
  assert step_a == step_b == TOTAL
  flat_a, flat_b = _flatten(state_a), _flatten(state_b)
  assert flat_a.keys() == flat_b.keys()
  for k in flat_a:
    np.testing.assert_array_equal(flat_a[k], flat_b[k], err_msg=k)
  res_a, res_b = results.read(str(reference)), results.read(workdir)
  assert res_a["metrics"] == res_b["metrics"]
  assert res_a["extra"]["best_step"] == res_b["extra"]["best_step"]
  np.testing.assert_array_equal(results.read_predictions(str(reference)).probs,
                                results.read_predictions(workdir).probs)


def _flatten(tree, prefix=""):
  out = {}
  if isinstance(tree, dict):
    for k, v in tree.items():
      out.update(_flatten(v, f"{prefix}/{k}"))
  elif isinstance(tree, (list, tuple)):
    for i, v in enumerate(tree):
      out.update(_flatten(v, f"{prefix}/{i}"))
  elif tree is not None:
    out[prefix] = np.asarray(tree)
  return out
