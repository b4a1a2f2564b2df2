"""``jax.distributed`` settings from a cluster's environment (SLURM).

``launch``'s SLURM executor starts a multi-host job as ``srun`` with one task
per host. Each task calls ``initialize_from_env()`` before touching devices:

* coordinator: the first host of ``SLURM_STEP_NODELIST`` (the ``srun`` step;
  falls back to ``SLURM_JOB_NODELIST``), at port ``EGOIMU_COORDINATOR_PORT``
  or one derived from ``SLURM_JOB_ID`` (so that array tasks sharing a node do
  not collide);
* ``num_processes`` = ``SLURM_NTASKS``, ``process_id`` = ``SLURM_PROCID``.

Outside SLURM, or with a single task, nothing is initialised.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
from typing import List, Mapping, Optional

PORT_ENV = "EGOIMU_COORDINATOR_PORT"
_PORT_BASE, _PORT_SPAN = 20000, 20000


@dataclasses.dataclass(frozen=True)
class DistributedSettings:
  coordinator_address: str
  num_processes: int
  process_id: int

  def kwargs(self) -> dict:
    """Keyword arguments for ``jax.distributed.initialize``."""
    return dataclasses.asdict(self)


def expand_hostlist(hostlist: str) -> List[str]:
  """Expands a SLURM host list: ``"gpu[01-03,7],cpu1"`` -> gpu01 gpu02 gpu03 gpu7 cpu1.

  Handles zero padding and several bracket groups in one name (``a[1-2]b[3-4]``).
  """
  items, depth, start = [], 0, 0
  for i, ch in enumerate(hostlist + ","):
    if ch == "[":
      depth += 1
    elif ch == "]":
      depth -= 1
    elif ch == "," and depth == 0:
      if hostlist[start:i].strip():
        items.append(hostlist[start:i].strip())
      start = i + 1
  if depth:
    raise ValueError(f"unbalanced brackets in host list {hostlist!r}")
  hosts = []
  for item in items:
    pieces = re.split(r"(\[[^\]]*\])", item)
    choices = []
    for piece in pieces:
      if piece.startswith("["):
        choices.append(_expand_range(piece[1:-1], hostlist))
      else:
        choices.append([piece])
    hosts += ["".join(p) for p in itertools.product(*choices)]
  return hosts


def _expand_range(spec: str, hostlist: str) -> List[str]:
  out = []
  for part in spec.split(","):
    lo, sep, hi = part.partition("-")
    if not lo.isdigit() or (sep and not hi.isdigit()):
      raise ValueError(f"bad range {part!r} in host list {hostlist!r}")
    width = len(lo)
    out += [str(n).zfill(width) for n in range(int(lo), int(hi or lo) + 1)]
  return out


def from_slurm(env: Mapping[str, str] = os.environ) -> Optional[DistributedSettings]:
  """Settings for a multi-task SLURM step, or None (not SLURM, or one task)."""
  ntasks = env.get("SLURM_STEP_NUM_TASKS") or env.get("SLURM_NTASKS")
  nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST")
  if not ntasks or not nodelist or int(ntasks) <= 1:
    return None
  if "SLURM_PROCID" not in env:
    raise ValueError("SLURM_NTASKS > 1 but no SLURM_PROCID: start each process "
                     "with srun")
  if env.get(PORT_ENV):
    port = int(env[PORT_ENV])
  else:
    job_id = int(env.get("SLURM_JOB_ID", "0"))
    port = _PORT_BASE + job_id % _PORT_SPAN
  return DistributedSettings(
      coordinator_address=f"{expand_hostlist(nodelist)[0]}:{port}",
      num_processes=int(ntasks),
      process_id=int(env["SLURM_PROCID"]))


def initialize_from_env(env: Mapping[str, str] = os.environ) -> bool:
  """Calls ``jax.distributed.initialize`` when under a multi-task SLURM step."""
  settings = from_slurm(env)
  if settings is None:
    return False
  import jax  # pylint: disable=g-import-not-at-top
  jax.distributed.initialize(**settings.kwargs())
  return True
