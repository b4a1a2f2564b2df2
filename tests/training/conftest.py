"""Shared fixtures for the engine tests: one tiny prepared dataset per
session, and a runner for ``python -m egoimu_jax.main`` in subprocesses with
a chosen CPU device count (JAX reads ``XLA_FLAGS`` only at start-up).

The subprocesses share the session's persistent JAX compilation cache
(``jax_cache_env``); cached executables are the ones a fresh compile
produces, so bitwise comparisons between runs are unaffected."""

import dataclasses
import os
import pathlib
import socket
import subprocess
import sys

import pytest


ROOT = pathlib.Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class MainRunner:
  """``python -m egoimu_jax.main`` on the tiny DeepConvLSTM config."""
  cache: str
  compilation_cache: str
  config: str = str(ROOT / "configs" / "deepconvlstm.py") + ":tiny"

  def command(self, workdir, overrides=(), flags=()):
    cmd = [sys.executable, "-m", "egoimu_jax.main", f"--config={self.config}",
           f"--workdir={workdir}", f"--config.data.cache_dir={self.cache}"]
    return cmd + [f"--config.{k}={v}" for k, v in dict(overrides).items()
                  ] + list(flags)

  def env(self, devices: int = 1) -> dict:
    env = dict(os.environ)
    env.update(JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1",
               XLA_FLAGS=" ".join(filter(None, [
                   os.environ.get("XLA_FLAGS"),
                   f"--xla_force_host_platform_device_count={devices}"])),
               JAX_COMPILATION_CACHE_DIR=self.compilation_cache,
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    env.pop("EGOIMU_CACHE", None)
    return env

  def popen(self, workdir, overrides=(), devices=1, flags=(), log=None):
    return subprocess.Popen(
        self.command(workdir, overrides, flags), env=self.env(devices),
        stdout=subprocess.DEVNULL, stderr=log or subprocess.PIPE, text=True)

  def run(self, workdir, overrides=(), devices=1, flags=(), timeout=300):
    """Runs to completion; fails the test with the log's tail otherwise."""
    proc = subprocess.run(self.command(workdir, overrides, flags),
                          env=self.env(devices), capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode:
      pytest.fail(f"main exited {proc.returncode}:\n{proc.stderr[-6000:]}")
    return proc


  def run_processes(self, workdir, overrides=(), count=2, log_dir=None):
    """One run as ``count`` processes (``jax.distributed`` on localhost, a
    CPU device each); fails the test with each process's log tail."""
    with socket.socket() as s:
      s.bind(("127.0.0.1", 0))
      port = s.getsockname()[1]
    log_dir = pathlib.Path(log_dir or workdir).parent
    paths = [log_dir / f"process_{i}.log" for i in range(count)]
    logs = [open(path, "w") for path in paths]
    procs = [self.popen(workdir, overrides, devices=1, log=logs[i], flags=[
        f"--coordinator=127.0.0.1:{port}", f"--num_processes={count}",
        f"--process_id={i}", "--distributed_timeout=120"])
             for i in range(count)]
    codes = [p.wait(timeout=300) for p in procs]
    for f in logs:
      f.close()
    if any(codes):
      pytest.fail(f"exit codes {codes}:\n" + "\n----\n".join(
          path.read_text()[-3000:] for path in paths))


@pytest.fixture(scope="session")
def main_runner(tiny_cache, jax_cache_env) -> MainRunner:
  return MainRunner(tiny_cache, jax_cache_env["JAX_COMPILATION_CACHE_DIR"])
