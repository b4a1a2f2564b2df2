"""Two ``jax.distributed`` processes split the chunks, process 0 merges."""

import os
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

from egoimu_jax.input_pipeline.store import embeddings

import teacher_testlib as lib

pytestmark = pytest.mark.slow
ROOT = lib.ROOT


def _main(data, workdir, name, flags=(), log=None):
  cmd = [sys.executable, "-m", "egoimu_jax.main",
         f"--config={ROOT / 'configs' / 'teacher_embeddings.py'}:tiny",
         f"--workdir={workdir}",
         f"--config.data.processed_dir={data.processed}",
         f"--config.data.raw_dir={data.raw}",
         f"--config.teacher.name={name}", "--config.teacher.source=raw",
         "--config.teacher.chunk_windows=2", "--config.teacher.batch_size=2",
         *flags]
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1",
             XLA_FLAGS=" ".join(filter(None, [
                 os.environ.get("XLA_FLAGS"),
                 "--xla_force_host_platform_device_count=1"])))
  return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log,
                          stderr=subprocess.STDOUT)


def test_two_processes_match_one(teacher_data, tmp_path):
  data = teacher_data()
  logs = [open(tmp_path / f"log{i}", "w") for i in range(3)]
  one = _main(data, tmp_path / "one", "one", log=logs[2])
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  procs = [_main(data, tmp_path / "two", "two", log=logs[i], flags=[
      f"--coordinator=127.0.0.1:{port}", "--num_processes=2",
      f"--process_id={i}", "--distributed_timeout=120"]) for i in range(2)]
  codes = [p.wait(timeout=600) for p in procs + [one]]
  for f in logs:
    f.close()
  if any(codes):
    tails = [(tmp_path / f"log{i}").read_text()[-3000:] for i in range(3)]
    pytest.fail(f"exit codes {codes}:\n" + "\n----\n".join(tails))
  manifest = embeddings.read_manifest(data.processed, "two")
  assert manifest["counts"]["missing"] == 0
  assert manifest["num_chunks"] > 2
  shares = [re.search(r"teacher 'two': (\d+) of (\d+) chunks here",
                      (tmp_path / f"log{i}").read_text()) for i in range(2)]
  assert [int(m.group(2)) for m in shares] == [manifest["num_chunks"]] * 2
  assert [int(m.group(1)) for m in shares] == [
      len(range(i, manifest["num_chunks"], 2)) for i in range(2)]
  np.testing.assert_array_equal(lib.vectors(data, "two"),
                                lib.vectors(data, "one"))
