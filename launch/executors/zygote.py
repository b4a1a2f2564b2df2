"""Job processes forked from a process that has imported the engine once.

A short job spends most of its CPU importing jax, flax, optax, orbax, grain
and scipy: 3 s of a tiny run's 4 s on a 2-core machine, paid again by every
job of a sweep. A zygote is a ``python -m launch.executors.zygote`` process
that has done those imports, and nothing else (no JAX backend, no devices, no
threads but numpy's BLAS pool, which is fork-safe), and forks one child per
job. The child becomes ``python -m egoimu_jax.main ARGS`` (``runpy``, as
``-m`` does) in the job's directory, with stdout and stderr in the job's log,
so it is the process a fresh interpreter is once its imports are done: same
environment (the zygote's, given when it starts), same flags parsing, same
exit status, ``atexit`` handlers and tracebacks.

Protocol: one JSON request per line on stdin, ``{"id": N, "argv": [...],
"cwd": DIR, "log": FILE}`` (``argv``: the arguments after ``-m
egoimu_jax.main``); the zygote forks a child for each at once and answers
``N STATUS`` when that child ends (negative: killed by that signal, as
``subprocess`` reports it). It exits at the end of stdin, once its children
have ended. :class:`Pool` keeps one zygote per environment the jobs run in;
``LocalExecutor`` uses it, so a sweep imports the engine once.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import json
import os
import runpy
import select
import subprocess
import sys
import threading
from typing import Dict, List, Mapping, Optional

ENGINE = "egoimu_jax.main"
# What every job imports (the engine's own modules; ENGINE itself is run as
# __main__ in the child, so it must not be imported here).
PRELOAD = ("jax", "flax.linen", "optax", "orbax.checkpoint", "grain",
           "tensorflow_datasets", "scipy.ndimage", "scipy.stats",
           "egoimu_jax.cli", "egoimu_jax.jobs", "egoimu_jax.config_lib",
           "egoimu_jax.training.trainer", "egoimu_jax.training.writers")


def _preload() -> None:
  from egoimu_jax.training import writers  # pylint: disable=g-import-not-at-top
  for name in PRELOAD:
    importlib.import_module(name)
  with writers.without_torch():  # as the writer imports it (no torch)
    importlib.import_module("tensorboardX")


def _become_job(request: Mapping[str, object]) -> None:
  """In the forked child: ``python -m egoimu_jax.main *argv`` from here on
  (raises SystemExit, like the interpreter ending that module)."""
  log = os.open(str(request["log"]), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
  null = os.open(os.devnull, os.O_RDONLY)
  os.dup2(null, 0)
  os.dup2(log, 1)
  os.dup2(log, 2)
  os.close(log)
  os.close(null)
  cwd = str(request["cwd"])
  os.chdir(cwd)
  sys.path[0] = cwd  # what `python -m` puts first
  sys.argv = [ENGINE, *request["argv"]]  # runpy sets argv[0] to the file
  runpy.run_module(ENGINE, run_name="__main__", alter_sys=True)
  sys.exit(0)


def serve(requests: int, replies) -> None:
  """Forks a child per request line read from fd ``requests``; writes
  ``<id> <exit status>`` to ``replies`` as each child ends. Returns once
  ``requests`` is closed and every child has ended."""
  children: Dict[int, object] = {}   # pid -> request id
  pending, open_ = b"", True
  while open_ or children:
    # Children are polled for (every 50 ms while any run): a zygote has no
    # threads to wait for them, so that forking it stays safe.
    ready, _, _ = select.select([requests] if open_ else [], [], [],
                                0.05 if children else None)
    if ready:
      chunk = os.read(requests, 65536)
      open_ = bool(chunk)
      pending += chunk
      *lines, pending = pending.split(b"\n")
      for line in filter(None, lines):
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
          _become_job(request)
        children[pid] = request["id"]
    while children:
      pid, status = os.waitpid(-1, os.WNOHANG)
      if pid == 0:
        break
      replies.write(f"{children.pop(pid)} {os.waitstatus_to_exitcode(status)}\n")
      replies.flush()


class Zygote:
  """One zygote process (started with ``env``), running any number of jobs
  at once: requests are written under a lock, and a reader thread hands
  each reply to the thread waiting for it."""

  def __init__(self, python: str, cwd: str, env: Mapping[str, str]):
    self.env = dict(env)
    self._proc = subprocess.Popen(
        [python, "-m", "launch.executors.zygote"], cwd=cwd, env=self.env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    self._lock = threading.Lock()
    self._waiting: Dict[int, concurrent.futures.Future] = {}
    self._next_id = 0
    self._reader = threading.Thread(target=self._read_replies, daemon=True,
                                    name="zygote-replies")
    self._reader.start()

  def _read_replies(self) -> None:
    for line in self._proc.stdout:
      rid, rc = (int(x) for x in line.split())
      with self._lock:
        future = self._waiting.pop(rid)
      future.set_result(rc)
    with self._lock:  # the zygote is gone: nothing more will end
      waiting, self._waiting = self._waiting, {}
    for future in waiting.values():
      future.set_result(None)

  def run(self, argv: List[str], cwd: str, log_path: str) -> Optional[int]:
    """The job's exit status; None if the zygote is gone (it failed to
    start, or was killed): the caller runs the job another way."""
    future: concurrent.futures.Future = concurrent.futures.Future()
    with self._lock:
      rid, self._next_id = self._next_id, self._next_id + 1
      self._waiting[rid] = future
      try:
        self._proc.stdin.write(json.dumps(
            {"id": rid, "argv": argv, "cwd": cwd, "log": log_path}) + "\n")
        self._proc.stdin.flush()
      except (BrokenPipeError, OSError, ValueError):
        self._waiting.pop(rid, None)
        return None
    return future.result()

  def close(self) -> None:
    with self._lock:
      try:
        self._proc.stdin.close()
      except OSError:
        pass
    self._proc.wait()
    self._reader.join()


class Pool:
  """The zygotes of a local executor: one per environment its jobs run in,
  started on first use, closed by :meth:`close`."""

  def __init__(self, python: str, cwd: str):
    self.python, self.cwd = python, cwd
    self._zygotes: List[Zygote] = []
    self._lock = threading.Lock()

  def run(self, argv: List[str], log_path: str,
          env: Mapping[str, str]) -> Optional[int]:
    """Runs ``python -m egoimu_jax.main *argv`` in a child of the zygote
    whose environment is ``env``; None if no zygote could run it."""
    env = dict(env)
    with self._lock:
      zygote = next((z for z in self._zygotes if z.env == env), None)
      if zygote is None:
        zygote = Zygote(self.python, self.cwd, env)
        self._zygotes.append(zygote)
    return zygote.run(argv, self.cwd, log_path)

  def close(self) -> None:
    with self._lock:
      zygotes, self._zygotes = self._zygotes, []
    for z in zygotes:
      z.close()


def main() -> None:
  _preload()
  serve(sys.stdin.fileno(), sys.stdout)


if __name__ == "__main__":
  main()
