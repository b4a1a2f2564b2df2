import json
import os
import struct

import numpy as np

from egoimu_jax.training import progress
from egoimu_jax.training import writers


def test_jsonl_and_tensorboard(tmp_path):
  w = writers.create(str(tmp_path), just_logging=False)
  w.write_hparams({"lr": 0.1, "model.name": "x", "steps": None})
  w.write_scalars(1, {"train/loss": 2.0})
  w.write_scalars(2, {"train/loss": 1.5, "val/macro_f1": np.float32("nan")})
  w.write_scalars(1, {"train/loss": 1.9})  # a resumed run rewrites step 1
  w.write_texts(2, {"note": "hi"})
  w.close()
  with open(tmp_path / writers.METRICS_FILE) as f:
    records = [json.loads(line) for line in f]
  assert [r["kind"] for r in records] == ["hparams", "scalars", "scalars",
                                          "scalars", "texts"]
  scalars = writers.read_jsonl(str(tmp_path))
  assert scalars[1]["train/loss"] == 1.9 and scalars[2]["val/macro_f1"] == "nan"
  assert os.listdir(tmp_path / "tensorboard")  # an event file


def _event_steps(logdir):
  """(step, is a SessionLog START) of every event in the TensorBoard files."""
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  out = []
  for name in sorted(os.listdir(logdir / "tensorboard")):
    data = (logdir / "tensorboard" / name).read_bytes()
    pos = 0
    while pos < len(data):  # TFRecord: length, crc, payload, crc
      (length,) = struct.unpack("<Q", data[pos:pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
      out.append((event.step, event.HasField("session_log")))
      pos += 16 + length
  return out


def test_resume_purges_replayed_steps(tmp_path):
  """A run killed after step 5 and resumed from its checkpoint of step 3
  replays steps 4 and 5: each step must be logged once."""
  w = writers.create(str(tmp_path), just_logging=False)
  w.write_hparams({"lr": 0.1})
  for step in range(1, 6):
    w.write_scalars(step, {"train/loss": float(step)})
  w.flush()
  with open(tmp_path / writers.METRICS_FILE, "a") as f:
    f.write('{"step": 6, "time": 0, "ki')  # cut short by kill -9
  w = writers.create(str(tmp_path), just_logging=False, purge_step=4)
  for step in range(4, 7):
    w.write_scalars(step, {"train/loss": 10.0 + step})
  w.close()
  with open(tmp_path / writers.METRICS_FILE) as f:
    records = [json.loads(line) for line in f]
  assert [r["step"] for r in records] == [None, 1, 2, 3, 4, 5, 6]
  assert writers.read_jsonl(str(tmp_path))[5]["train/loss"] == 15.0
  # TensorBoard hides the old events of steps >= 4 (a SessionLog START).
  assert (4, True) in _event_steps(tmp_path)
  # A restart from scratch (no checkpoint) drops everything, hparams too.
  writers.create(str(tmp_path), just_logging=False, purge_step=0).close()
  assert os.path.getsize(tmp_path / writers.METRICS_FILE) == 0


def test_other_processes_write_nothing(tmp_path):
  w = writers.create(str(tmp_path), just_logging=True)
  w.write_scalars(1, {"a": 1.0})
  w.flush()
  w.close()
  assert not os.listdir(tmp_path)


def test_progress_excludes_paused_time_from_rate():
  now = [0.0]
  p = progress.Progress(total_steps=100, start_step=0, clock=lambda: now[0])
  now[0] = 10.0
  with p.paused():
    now[0] = 15.0
  r = p.report(10)   # 10 steps in 10 busy seconds, 5 s paused
  assert r["steps_per_sec"] == 1.0
  assert r["eta_s"] == 90 * 1.0 + 90 * 0.5
  assert progress.format_duration(3725) == "1h02m05s"


def test_writing_metrics_never_imports_torch(tmp_path):
  """Training never uses torch; tensorboardX would import it when installed
  (2 s and hundreds of MB per training process)."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  code = (
      "import sys; from egoimu_jax import jobs; "
      "from egoimu_jax.training import trainer, writers; "
      f"w = writers.create({str(tmp_path)!r}, just_logging=False); "
      "import numpy as np; w.write_scalars(1, {'a': 1.0}); "
      "w.write_histograms(1, {'h': np.arange(5.0)}); w.close(); "
      "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       text=True, check=True).stdout
  assert out.strip() == "[]"
