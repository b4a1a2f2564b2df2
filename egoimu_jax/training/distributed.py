"""Multi-host start-up: ``jax.distributed.initialize`` from flags or env.

Where the coordinator, process count and process id come from, first match wins:

1. explicit arguments (``main``'s ``--coordinator``, ``--num_processes``,
   ``--process_id`` flags);
2. ``EGOIMU_COORDINATOR`` (``host:port``), ``EGOIMU_NUM_PROCESSES``,
   ``EGOIMU_PROCESS_ID``;
3. SLURM (``cluster_env.from_slurm``): the first host of the step's node
   list, ``SLURM_NTASKS``, ``SLURM_PROCID``; with more tasks than nodes, each
   task gets the device ``SLURM_LOCALID``;
4. nothing: a single process, and ``jax.distributed`` is not touched.

A peer that never arrives must not hang a job. XLA's own deadline aborts the
process from C++ with a terse ``DEADLINE_EXCEEDED``, so ``initialize`` runs the
connection in a helper thread, gives XLA a longer deadline than ours, and
raises :class:`DistributedTimeoutError` naming the coordinator and process when
``timeout_s`` passes.

A process that fails after joining must not leave its peers waiting either:
``fail_fast`` exits it at once (skipping JAX's shutdown barrier, which would
hold it for minutes), so the peers' next collective fails, or the
coordination service's heartbeat check stops them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading
from typing import Any, Callable, Mapping, Optional, Sequence

from absl import logging
import jax

from egoimu_jax.training import cluster_env

# XLA gets this much longer than we wait, so our error is the one reported.
_XLA_GRACE_S = 30


class DistributedTimeoutError(TimeoutError):
  """Not every process reached the coordinator in time."""


@dataclasses.dataclass(frozen=True)
class ProcessSpec:
  """Where this process sits in a multi-process job."""
  coordinator: Optional[str]   # "host:port"; None for a single process
  num_processes: int
  process_id: int
  source: str                  # "flags" | "env" | "slurm" | "single"
  local_device_ids: Optional[Sequence[int]] = None

  @property
  def multi_process(self) -> bool:
    return self.num_processes > 1


def detect(coordinator: Optional[str] = None,
           num_processes: Optional[int] = None,
           process_id: Optional[int] = None,
           local_device_ids: Optional[Sequence[int]] = None,
           environ: Optional[Mapping[str, str]] = None) -> ProcessSpec:
  """This process's :class:`ProcessSpec` (see the module docstring)."""
  env = os.environ if environ is None else environ
  explicit = (coordinator, num_processes, process_id)
  if any(v is not None for v in explicit):
    if coordinator is None or num_processes is None or process_id is None:
      raise ValueError(
          "distributed flags: give all of coordinator, num_processes and "
          f"process_id (got {coordinator!r}, {num_processes!r}, "
          f"{process_id!r})")
    return _checked(ProcessSpec(coordinator, int(num_processes),
                                int(process_id), "flags", local_device_ids))
  names = ("EGOIMU_COORDINATOR", "EGOIMU_NUM_PROCESSES", "EGOIMU_PROCESS_ID")
  present = [n for n in names if env.get(n)]
  if present:
    if len(present) != len(names):
      missing = sorted(set(names) - set(present))
      raise ValueError(f"environment sets {present} but not {missing}")
    return _checked(ProcessSpec(
        env["EGOIMU_COORDINATOR"], _int_env(env, "EGOIMU_NUM_PROCESSES"),
        _int_env(env, "EGOIMU_PROCESS_ID"), "env", local_device_ids))
  slurm = cluster_env.from_slurm(env)
  if slurm is not None:
    ntasks = slurm.num_processes
    nodes = int(env.get("SLURM_NNODES", ntasks))
    if local_device_ids is None and ntasks > nodes:
      # Several tasks per node: the SLURM convention is one task per device.
      local_device_ids = [_int_env(env, "SLURM_LOCALID")]
    return _checked(ProcessSpec(slurm.coordinator_address, ntasks,
                                slurm.process_id, "slurm", local_device_ids))
  return ProcessSpec(None, 1, 0, "single", local_device_ids)


def initialize(spec: ProcessSpec, timeout_s: int = 300,
               heartbeat_timeout_s: int = 100) -> None:
  """Joins the job described by ``spec``; a no-op for a single process.

  Raises:
    DistributedTimeoutError: not all ``spec.num_processes`` processes reached
      the coordinator within ``timeout_s`` seconds.
  """
  if not spec.multi_process:
    return
  logging.info("jax.distributed: process %d of %d, coordinator %s (from %s), "
               "waiting up to %d s for all processes", spec.process_id,
               spec.num_processes, spec.coordinator, spec.source, timeout_s)
  errors = []

  def connect():
    try:
      jax.distributed.initialize(
          coordinator_address=spec.coordinator,
          num_processes=spec.num_processes, process_id=spec.process_id,
          local_device_ids=spec.local_device_ids,
          initialization_timeout=int(timeout_s) + _XLA_GRACE_S,
          heartbeat_timeout_seconds=int(heartbeat_timeout_s))
    except BaseException as e:  # pylint: disable=broad-except
      errors.append(e)

  # A daemon thread: if it is still blocked in XLA when we give up, it must
  # not keep the interpreter alive.
  thread = threading.Thread(target=connect, name="jax-distributed-init",
                            daemon=True)
  thread.start()
  thread.join(timeout_s)
  if thread.is_alive():
    raise DistributedTimeoutError(
        f"jax.distributed: process {spec.process_id} of {spec.num_processes} "
        f"waited {timeout_s} s at coordinator {spec.coordinator} (from "
        f"{spec.source}) but not every process arrived. Check that all "
        f"{spec.num_processes} processes were started with the same "
        "coordinator address and distinct process ids, and that the port is "
        "reachable.")
  if errors:
    raise errors[0]


@contextlib.contextmanager
def fail_fast(spec: ProcessSpec):
  """In a multi-process job, turns an exception into an immediate exit(1)."""
  try:
    yield
  except Exception:  # pylint: disable=broad-except
    if not spec.multi_process:
      raise
    logging.exception("process %d of %d failed; exiting now so that the other "
                      "processes stop too", spec.process_id, spec.num_processes)
    logging.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)  # pylint: disable=protected-access


def process0_first(fn: Callable[[], Any], name: str) -> Any:
  """Runs ``fn`` on process 0, then on the others (shared files once)."""
  if jax.process_count() == 1:
    return fn()
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  result = fn() if jax.process_index() == 0 else None
  multihost_utils.sync_global_devices(f"process0_first:{name}")
  return result if jax.process_index() == 0 else fn()


def _checked(spec: ProcessSpec) -> ProcessSpec:
  if spec.num_processes < 1:
    raise ValueError(f"num_processes must be >= 1, got {spec.num_processes} "
                     f"(from {spec.source})")
  if not 0 <= spec.process_id < spec.num_processes:
    raise ValueError(f"process_id {spec.process_id} is not in "
                     f"[0, {spec.num_processes}) (from {spec.source})")
  if spec.num_processes > 1 and ":" not in (spec.coordinator or ""):
    raise ValueError(f"coordinator must be 'host:port', got "
                     f"{spec.coordinator!r} (from {spec.source})")
  return spec


def _int_env(env: Mapping[str, str], name: str) -> int:
  try:
    return int(env[name])
  except KeyError:
    raise ValueError(f"environment variable {name} is not set") from None
  except ValueError:
    raise ValueError(f"environment variable {name}={env[name]!r} is not an "
                     "integer") from None
