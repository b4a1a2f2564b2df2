"""Multi-host self-supervised pretraining: IMU-MAE's pretraining stage on
2 processes x 1 CPU device (gloo) against 1 process x 2 devices.

The masks, dropout and data order come from the seed and the step, and the
global batch is the same, so the loss curves must agree to float tolerance.
"""

import json
import pathlib

import numpy as np
import pytest

from egoimu_jax.training import writers
from egoimu_jax.training.tasks import mae_pretrain


pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The pretraining stage only, on the session's tiny dataset (no video).
OVERRIDES = {
    "experiment.stages": "pretrain",
    "data.synthetic.num_workers": 10, "data.synthetic.clips_per_worker": 5,
    "data.synthetic.clip_seconds": 10.0, "data.synthetic.with_video": False,
    "pretrain.total_epochs": 1.0, "pretrain.warmup_epochs": 0.2,
    "pretrain.eval_every_epochs": 0.5, "log_every_steps": 1,
}


def _pretrain_losses(workdir):
  scalars = writers.read_jsonl(str(workdir / "pretrain"))
  return {s: v["train/loss"] for s, v in scalars.items() if "train/loss" in v}


def test_two_process_pretraining_matches_one_process(tiny_cache, tmp_path,
                                                     main_runner):
  # The fixture's class, run with another config (importing it from
  # conftest would pick whichever conftest module pytest loaded first).
  runner = type(main_runner)(
      tiny_cache, main_runner.compilation_cache,
      config=str(ROOT / "configs" / "imu_mae.py") + ":tiny")
  runner.run(tmp_path / "one", OVERRIDES, devices=2)
  runner.run_processes(tmp_path / "two", OVERRIDES)

  one, two = _pretrain_losses(tmp_path / "one"), _pretrain_losses(tmp_path / "two")
  assert len(one) >= 4 and sorted(one) == sorted(two)
  np.testing.assert_allclose([two[s] for s in sorted(two)],
                             [one[s] for s in sorted(one)], rtol=2e-5)
  results = [json.loads((tmp_path / r / "pretrain" / mae_pretrain.RESULTS_FILE
                         ).read_text()) for r in ("one", "two")]
  assert results[1]["extra"]["process_count"] == 2
  np.testing.assert_allclose(results[1]["metrics"]["val"]["loss"],
                             results[0]["metrics"]["val"]["loss"], rtol=2e-5)
  # Only pretraining ran: no fine-tuning stage, no report.
  assert not (tmp_path / "two" / "l20wo").exists()
