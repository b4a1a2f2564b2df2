"""prepare: accounting, round trip, resumability, host split, determinism."""

import csv
import glob
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from egoimu_jax.input_pipeline import prepare
from egoimu_jax.input_pipeline import synthetic
from egoimu_jax.input_pipeline.prepare import plan as prepare_plan
from egoimu_jax.input_pipeline.prepare import shard as prepare_shard
from egoimu_jax.input_pipeline.raw import index_csv
from egoimu_jax.input_pipeline.store import manifest as manifest_lib
from egoimu_jax.input_pipeline.store import processed

import storage_testlib as lib


def _tree(root):
  """{relative path: bytes} of every file under root."""
  out = {}
  for dirpath, _, files in os.walk(root):
    for name in files:
      path = os.path.join(dirpath, name)
      out[os.path.relpath(path, root)] = open(path, "rb").read()
  return out


@pytest.fixture(scope="module")
def defect_raw(tmp_path_factory):
  """A synthetic JSONL dataset with every applicable defect planted."""
  config = lib.data_config(window_seconds=5.0, num_shards=3)
  config.synthetic.update(num_workers=6, clips_per_worker=6, with_video=False,
                          defects="all")
  root = synthetic.ensure(config.synthetic,
                          str(tmp_path_factory.mktemp("cache")))
  return root, config


@pytest.fixture(scope="module")
def defect_processed(defect_raw, tmp_path_factory):
  root, config = defect_raw
  out = str(tmp_path_factory.mktemp("processed"))
  return prepare.prepare(config, root, out), root, config


def test_accounting_identity_on_defects(defect_processed):
  out, root, config = defect_processed
  m = manifest_lib.load(out)
  with open(os.path.join(root, "index.csv")) as f:
    index = list(csv.DictReader(f))
  quarantine = manifest_lib.read_quarantine(out)
  used = {c for clips in m["worker_clips"].values() for c in clips}
  quarantined = {q["clip_id"] for q in quarantine}
  assert len(index) == m["num_rows"] == len(used) + len(quarantined)
  assert used | quarantined == {r["clip_id"] for r in index}
  assert not used & quarantined
  assert m["num_quarantined"] == len(quarantine) > 0
  # Exactly the rows ingest quarantines, with its reasons (naming the file).
  ds = index_csv.IndexCsvSource.open(root, config)
  expected = {}
  for item in ds.ingest(range(len(ds.rows)), config, lambda c: False):
    if not hasattr(item, "imu"):
      expected[item.clip_id] = (item.worker_id, item.path, item.reason)
  assert {q["clip_id"]: (q["worker_id"], q["path"], q["reason"])
          for q in quarantine} == expected
  for q in quarantine:
    assert q["path"] and q["path"] in q["reason"]
  # Counts agree with the record table; defects and drops are counted.
  ds_p = processed.ProcessedDataset.open(out)
  assert sum(m["counts"]["per_worker"].values()) == len(ds_p) == m["num_records"]
  assert sum(m["counts"]["per_label"].values()) == len(ds_p)
  assert m["repaired_defects"] and m["dropped_windows"]
  assert set(m["state_fractions"]) == set(m["worker_clips"])
  assert m["state_fractions_source"] == "workers.csv"
  assert m["native_rates_hz"] == {"200": len(used)}


def test_round_trip_matches_ingest(defect_processed):
  """Shards → batches (de-normalised) equal ingest's windows, clip by clip."""
  from egoimu_jax.input_pipeline import pipeline  # pylint: disable=g-import-not-at-top
  out, root, config = defect_processed
  m = manifest_lib.load(out)
  workers = sorted(m["worker_clips"])
  split = lib.split(workers[:3], [], workers[3:])
  pipe = pipeline.InputPipeline(out, split, lib.input_config(eval_batch_size=7),
                                process_index=0, process_count=1)
  got = {}
  for batch in pipe.eval_batches("test"):
    imu = pipe.norm.invert(batch["imu"])
    for i in np.flatnonzero(batch["mask"]):
      got[int(batch["index"][i])] = (imu[i], batch["label"][i],
                                     batch["worker"][i])
  ds_p = processed.ProcessedDataset.open(out)
  ids = ds_p.read(np.array(sorted(got)), ("window_id", "t0_us", "purity"))
  by_wid = dict(zip(ids["window_id"], sorted(got)))
  raw = index_csv.IndexCsvSource.open(root, config)
  rows = [r.row for r in raw.rows if r.worker_id in workers[3:]]
  compared = 0
  for clip in raw.ingest(rows, config, lambda c: False):
    if not hasattr(clip, "imu"):
      continue
    for k in range(len(clip)):
      index = by_wid.pop(f"{clip.clip_id}/{clip.t0_us[k] // 1000:08d}")
      imu, label, worker = got[index]
      np.testing.assert_allclose(imu, clip.imu[k], rtol=1e-5, atol=1e-4)
      assert label == clip.label[k]
      assert m["workers"][worker] == clip.worker_id
      compared += 1
  assert not by_wid and compared == len(got) > 0


def test_resume_skips_finished_and_redoes_deleted(defect_processed, tmp_path,
                                                  monkeypatch):
  finished, root, config = defect_processed
  out = shutil.copytree(finished, str(tmp_path / "p"))
  before = _tree(out)
  written = []
  real = prepare_shard.write_shard
  monkeypatch.setattr(prepare_shard, "write_shard",
                      lambda *a, **k: written.append(a[3]) or real(*a, **k))
  prepare.prepare(config, root, out)
  assert written == []
  m = manifest_lib.load(out)
  os.remove(os.path.join(out, m["shards"]["windows"][1]["path"]))
  prepare.prepare(config, root, out)
  assert written == [1]
  assert _tree(out) == before


def test_interrupted_shard_is_redone(defect_processed, tmp_path,
                                    monkeypatch):
  reference, root, config = defect_processed
  out = str(tmp_path / "p")
  real = prepare_shard.write_shard

  def killed_at_shard_1(plan, data_config, out_dir, shard, dataset=None):
    if shard == 1:  # A killed writer leaves only its temp file.
      path = os.path.join(out_dir, plan_paths(plan, shard))
      os.makedirs(os.path.dirname(path), exist_ok=True)
      with open(path + ".tmp", "wb") as f:
        f.write(b"partial")
      raise KeyboardInterrupt
    return real(plan, data_config, out_dir, shard, dataset)

  def plan_paths(plan, shard):
    from egoimu_jax.input_pipeline.store import tfds_format  # pylint: disable=g-import-not-at-top
    return tfds_format.relative_shard_path("windows", shard, plan.num_shards)

  monkeypatch.setattr(prepare_shard, "write_shard", killed_at_shard_1)
  with pytest.raises(KeyboardInterrupt):
    prepare.prepare(config, root, out)
  assert not manifest_lib.is_complete(out)
  plan = prepare_plan.load(out)
  assert [prepare_shard.load_summary(out, k, plan.num_shards) is not None
          for k in range(plan.num_shards)] == [True, False, False]
  monkeypatch.setattr(prepare_shard, "write_shard", real)
  prepare.prepare(config, root, out)
  assert _tree(out) == _tree(reference)


def test_host_split_equals_single_run(defect_processed, tmp_path):
  single, root, config = defect_processed
  split_dir = str(tmp_path / "split")
  for i in (1, 0):
    prepare.prepare(config, root, split_dir, shard_index=i, shard_count=2)
    assert not manifest_lib.is_complete(split_dir)  # Not finalized yet.
  os.remove(prepare_shard.part_paths(split_dir, 0, 3)[0])
  with pytest.raises(RuntimeError, match="1 of 3 shards are not finished"):
    prepare.finalize(split_dir)
  prepare.prepare(config, root, split_dir, shard_index=0, shard_count=2)
  prepare.finalize(split_dir)
  assert _tree(split_dir) == _tree(single)


def test_other_config_into_same_dir_fails(defect_processed, tmp_path):
  finished, root, _ = defect_processed
  out = shutil.copytree(finished, str(tmp_path / "p"))
  other = lib.data_config(window_seconds=5.0, num_shards=2)
  with pytest.raises(ValueError, match="different raw dataset or config"):
    prepare.prepare(other, root, out)


def test_ensure_caches(tmp_path):
  config = lib.data_config(window_seconds=5.0, num_shards=2)
  config.synthetic.update(num_workers=2, clips_per_worker=3, with_video=False)
  config.cache_dir = str(tmp_path)
  out = prepare.ensure(config)
  assert out.startswith(os.path.join(str(tmp_path), "processed"))
  assert manifest_lib.is_complete(out)
  mtime = os.path.getmtime(os.path.join(out, "manifest.json"))
  assert prepare.ensure(config) == out
  assert os.path.getmtime(os.path.join(out, "manifest.json")) == mtime
  config.prepare.num_shards = 1  # prepare-relevant: another cache entry
  assert prepare.ensure(config) != out
  config.processed_dir = out
  assert prepare.ensure(config) == out


def test_memory_source_quarantine_and_frames(tmp_path):
  clips = lib.memory_clips(num_workers=3, clips_per_worker=3,
                           frames_shape=(2, 4, 4, 3), quarantine_every=4)
  config = lib.data_config(num_shards=3, store_frames=True,
                           frames_fraction=0.5, frames_per_window=2, size=4)
  out = lib.prepare_memory(tmp_path / "p", clips, config)
  ds = processed.ProcessedDataset.open(out)
  m = ds.manifest
  assert m["num_quarantined"] == 2 and m["num_clips"] == 7
  assert m["state_fractions_source"] == "labels"
  has = ds.table.frames_offset >= 0
  assert 0 < has.sum() < len(ds) and m["frames"]["num_records"] == has.sum()
  by_clip = {c.clip_id: c for c in clips if hasattr(c, "imu")}
  got = ds.read(np.arange(len(ds)), ("clip_id", "t0_us", "imu", "label"))
  frames = ds.read(np.flatnonzero(has), ("frames", "clip_id", "t0_us"))
  for k, (clip_id, t0) in enumerate(zip(got["clip_id"], got["t0_us"])):
    clip = by_clip[clip_id]
    j = int(np.flatnonzero(clip.t0_us == t0)[0])
    np.testing.assert_array_equal(got["imu"][k], clip.imu[j])
    assert got["label"][k] == clip.label[j]
  for k, (clip_id, t0) in enumerate(zip(frames["clip_id"], frames["t0_us"])):
    clip = by_clip[clip_id]
    j = int(np.flatnonzero(clip.t0_us == t0)[0])
    np.testing.assert_array_equal(frames["frames"][k], clip.frames[j])
  with pytest.raises(KeyError, match="no stored frames"):
    ds.read(np.flatnonzero(~has)[:2], ("frames",))


@pytest.mark.slow
def test_process_pool_and_cli_match_inline(defect_processed, tmp_path):
  inline, root, config = defect_processed
  pooled = prepare.prepare(config, root, str(tmp_path / "pooled"),
                           num_processes=2)
  assert _tree(pooled) == _tree(inline)
  cli = str(tmp_path / "cli")
  cmd = [sys.executable, "-m", "egoimu_jax.input_pipeline.prepare",
         f"--raw_dir={root}", f"--out_dir={cli}", "--num_shards=3",
         "--num_processes=1"]
  # The CLI takes the default data config; match the test config's window.
  assert config.imu.window_seconds == 5.0
  for i in (0, 1):
    subprocess.run(cmd + [f"--shard_index={i}", "--shard_count=2"],
                   check=True, capture_output=True)
  subprocess.run(cmd + ["--finalize_only"], check=True, capture_output=True)
  assert _tree(cli) == _tree(inline)


_HELD_WRITER = r'''
import os, runpy, sys, time
from egoimu_jax.input_pipeline.store import shard_io
go = os.environ["TEST_GO_FILE"]
close = shard_io.ShardWriter.close

def held_close(self):  # Shard 2's window file waits for the test's go.
  while "windows" in self.path and "00002-of" in self.path and (
      not os.path.exists(go)):
    time.sleep(0.05)
  return close(self)

shard_io.ShardWriter.close = held_close
sys.argv = ["prepare"] + sys.argv[1:]
runpy.run_module("egoimu_jax.input_pipeline.prepare", run_name="__main__")
'''


def _wait_for(condition, timeout, what):
  deadline = time.monotonic() + timeout
  while not condition():
    if time.monotonic() > deadline:
      pytest.fail(f"timed out waiting for {what}")
    time.sleep(0.05)


@pytest.mark.slow
def test_concurrent_runs_on_one_dir_wait_for_each_other(defect_processed,
                                                        tmp_path):
  """A second prepare on the folder waits for the shard the first is still
  writing; before, its finalize deleted the live temp file and the first run
  crashed with FileNotFoundError."""
  reference, root, _ = defect_processed
  out, go = tmp_path / "p", tmp_path / "go"
  args = [f"--raw_dir={root}", f"--out_dir={out}", "--num_shards=3",
          "--num_processes=1"]
  script = tmp_path / "held_writer.py"
  script.write_text(_HELD_WRITER)
  env = dict(os.environ, TEST_GO_FILE=str(go))
  logs = [open(tmp_path / f"{name}.log", "w+") for name in ("a", "b")]
  first = subprocess.Popen([sys.executable, str(script)] + args, env=env,
                           stdout=subprocess.DEVNULL, stderr=logs[0])
  second = None
  try:
    _wait_for(lambda: glob.glob(str(out / "**" / "*00002-of*.tmp*"),
                                recursive=True), 120, "run A's shard 2")
    second = subprocess.Popen(
        [sys.executable, "-m", "egoimu_jax.input_pipeline.prepare"] + args,
        stdout=subprocess.DEVNULL, stderr=logs[1])
    _wait_for(lambda: second.poll() is not None or "waiting for it" in open(
        logs[1].name).read(), 120, "run B to finish or wait")
    go.touch()
    codes = first.wait(timeout=120), second.wait(timeout=120)
  finally:
    go.touch()
    for proc in (first, second):
      if proc is not None and proc.poll() is None:
        proc.kill()
    for f in logs:
      f.close()
  log_a, log_b = (open(f.name).read()[-3000:] for f in logs)
  assert codes == (0, 0), f"A:\n{log_a}\nB:\n{log_b}"
  assert "shard 2/3 is held by another prepare process" in log_b
  assert not glob.glob(str(out / "**" / "*.tmp*"), recursive=True)
  assert _tree(out) == _tree(reference)


_BLOCKED_PARENT = r'''
import os, sys, time
sys.path.insert(0, os.environ["TEST_LIB_DIR"])
from egoimu_jax.input_pipeline import prepare
from egoimu_jax.input_pipeline.raw import memory_dataset
import storage_testlib as lib


class Blocked(memory_dataset.MemoryDataset):
  """Each worker records its pid, then hangs in ingest."""

  def ingest(self, rows, data_cfg, store_frames):
    pid_file = os.path.join(os.environ["TEST_PID_DIR"], str(os.getpid()))
    open(pid_file, "w").close()
    time.sleep(300)
    yield from ()


if __name__ == "__main__":
  ds = Blocked(lib.CLASSES, lib.memory_clips(num_workers=2,
                                             clips_per_worker=2), unit_rows=1)
  prepare.prepare(lib.data_config(num_shards=2), "memory", sys.argv[1],
                  dataset=ds, num_processes=2)
'''


def _alive(pid):
  try:
    with open(f"/proc/{pid}/stat") as f:
      return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # not a zombie
  except FileNotFoundError:
    return False


@pytest.mark.slow
def test_workers_exit_when_parent_is_killed(tmp_path):
  pid_dir = tmp_path / "pids"
  pid_dir.mkdir()
  script = tmp_path / "parent.py"
  script.write_text(_BLOCKED_PARENT)
  env = dict(os.environ, TEST_PID_DIR=str(pid_dir),
             TEST_LIB_DIR=os.path.dirname(os.path.abspath(__file__)))
  parent = subprocess.Popen([sys.executable, str(script), str(tmp_path / "p")],
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
  workers = []
  try:
    _wait_for(lambda: len(os.listdir(pid_dir)) == 2 or (
        parent.poll() is not None), 120, "two workers")
    assert parent.poll() is None, parent.stderr.read()[-3000:]
    workers = [int(p) for p in os.listdir(pid_dir)]
    parent.kill()
    parent.wait(timeout=30)
    _wait_for(lambda: not any(_alive(p) for p in workers), 15,
              f"workers {workers} to exit after their parent was killed")
  finally:
    parent.kill()
    for pid in workers:  # Only the workers this test started.
      if _alive(pid):
        os.kill(pid, signal.SIGKILL)
