"""The raw layout read through fsspec URLs: gs:// (a local GCS emulator) and memory://.

gs:// runs against ``gcp-storage-emulator`` started on 127.0.0.1 (a free
port) for this module, and is skipped when the package is not installed;
memory:// always runs.
"""

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

import raw_testlib as lib
from egoimu_jax.input_pipeline import fs
from egoimu_jax.input_pipeline.raw import ingest
from egoimu_jax.input_pipeline.raw import index_csv

SMALL = dict(num_workers=2, clips_per_worker=2, clip_seconds=11.0,
             video_size=(32, 48), video_fps=10.0, num_processes=1)
BUCKET = "egoimu-test"


@pytest.fixture(scope="module")
def gcs_emulator():
  if importlib.util.find_spec("gcp_storage_emulator") is None:
    pytest.skip("gcp-storage-emulator is not installed")
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  proc = subprocess.Popen(
      [sys.executable, "-m", "gcp_storage_emulator", "start", "--host",
       "127.0.0.1", "--port", str(port), "--in-memory", "--default-bucket",
       BUCKET], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  endpoint = f"http://127.0.0.1:{port}"
  try:
    deadline = time.time() + 30
    while True:
      try:
        urllib.request.urlopen(f"{endpoint}/storage/v1/b", timeout=1)
        break
      except OSError:
        if time.time() > deadline or proc.poll() is not None:
          pytest.fail("GCS emulator did not start")
        time.sleep(0.2)
    yield endpoint
  finally:
    proc.terminate()
    try:
      proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
      proc.kill()


def _upload(local_root: str, url_root: str) -> None:
  for d, _, files in os.walk(local_root):
    for name in files:
      src = os.path.join(d, name)
      rel = os.path.relpath(src, local_root).replace(os.sep, "/")
      with open(src, "rb") as f, fs.open_file(f"{url_root}/{rel}", "wb") as g:
        g.write(f.read())


def _same_results(local, remote):
  assert local.keys() == remote.keys()
  for k, a in local.items():
    b = remote[k]
    assert type(a) is type(b)
    if isinstance(a, ingest.ClipWindows):
      np.testing.assert_array_equal(a.imu, b.imu)
      np.testing.assert_array_equal(a.t0_us, b.t0_us)
      np.testing.assert_array_equal(a.label, b.label)
      if a.frames is not None:
        np.testing.assert_array_equal(a.frames, b.frames)


@pytest.mark.parametrize("variant", ["jsonl", "wds"])
@pytest.mark.parametrize("scheme", ["gs", "memory"])
def test_remote_root_reads_like_local(tmp_path_factory, request, monkeypatch,
                                      scheme, variant):
  local = lib.synthetic_root(tmp_path_factory, variant=variant, defects="missing_imu",
                             **SMALL)
  if scheme == "gs":
    monkeypatch.setenv("STORAGE_EMULATOR_HOST",
                       request.getfixturevalue("gcs_emulator"))
    url = f"gs://{BUCKET}/{variant}"
  else:
    url = f"memory://egoimu-test/{variant}"
  _upload(local, url)
  assert fs.exists(f"{url}/index.csv")
  assert fs.glob(f"{url}/*.csv") == [f"{url}/{n}" for n in
                                     ("index.csv", "segments.csv", "workers.csv")]
  cfg = lib.config_lib.data_config()
  cfg.video.size = 16
  local_ds = index_csv.IndexCsvSource.open(local, cfg)
  remote_ds = index_csv.IndexCsvSource.open(url, cfg)
  assert remote_ds.fingerprint() == local_ds.fingerprint()
  frames = lambda clip_id: clip_id.endswith("c000")
  remote = lib.ingest_all(url, cfg, frames)
  _same_results(lib.ingest_all(local, cfg, frames), remote)
  missing = [r for r in remote.values() if isinstance(r, ingest.Quarantined)]
  assert len(missing) == 1 and missing[0].reason.startswith(url)
  assert "not found" in missing[0].reason
