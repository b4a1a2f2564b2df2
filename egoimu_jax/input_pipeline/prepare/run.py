r"""``prepare``: raw dataset → sharded ArrayRecord windows + manifest.

Library::

  processed_dir = prepare.ensure(config.data)          # cached, for jobs
  prepare.prepare(config.data, raw_root, out_dir)      # explicit

Command line (one host, or host i of n followed by one finalize)::

  python -m egoimu_jax.input_pipeline.prepare --config=configs/x.py \
      --raw_dir=gs://bucket/pilot --out_dir=/data/pilot_processed \
      [--shard_index=i --shard_count=n] [--num_processes=0]
  python -m egoimu_jax.input_pipeline.prepare --out_dir=... --finalize_only

Properties:
  * process-parallel (``data.prepare.num_processes``; 0 = CPU count), one
    output shard per task, processes started with "spawn";
  * resumable: a shard whose summary exists and whose files have the recorded
    sizes is skipped; files are written under temp names and renamed;
  * safe to run twice at once on one output folder: a shard is written under
    an exclusive lock (``parts/shard-k-of-n.lock``), so a second run waits
    for the shards the first is writing and then skips them; ``finalize``
    holds ``parts/finalize.lock``. Worker processes exit when their parent
    dies (e.g. ``kill -9``).
  * host-splittable: host ``i`` of ``n`` writes shards ``k`` with
    ``k % n == i``; ``finalize`` merges every shard's summary;
  * deterministic: work units go to shards by ``prepare_plan.assign_units``
    and a shard's records keep plan order, whatever the process count;
  * streaming: memory holds one clip's windows at a time per process.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from typing import Iterator, Optional, Sequence

from egoimu_jax import errors
from egoimu_jax.input_pipeline.prepare import merge
from egoimu_jax.input_pipeline.prepare import plan as prepare_plan
from egoimu_jax.input_pipeline.prepare import shard as prepare_shard
from egoimu_jax.input_pipeline.store import manifest as manifest_lib

FINALIZE_LOCK = "finalize.lock"


@contextlib.contextmanager
def _exclusive(path: str, what: str) -> Iterator[None]:
  """Holds an exclusive ``flock`` on ``path``, waiting (and saying so) while
  another process holds it. The kernel drops the lock when its holder dies."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "a") as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      logging.warning("prepare: %s is held by another prepare process; "
                      "waiting for it (%s)", what, path)
      fcntl.flock(f, fcntl.LOCK_EX)
    except OSError as e:  # A file system without locks.
      logging.warning("prepare: cannot lock %s (%s); running unlocked", path, e)
    yield


def finalize(out_dir: str) -> dict:
  """``merge.finalize`` under the output folder's finalize lock (two at once
  would delete each other's temp files)."""
  with _exclusive(os.path.join(prepare_plan.parts_dir(out_dir), FINALIZE_LOCK),
                  "finalize"):
    return merge.finalize(out_dir)


def _shard_lock(out_dir: str, shard: int, num_shards: int) -> str:
  return os.path.splitext(prepare_shard.part_paths(out_dir, shard,
                                                   num_shards)[0])[0] + ".lock"


def write_shard_locked(plan: prepare_plan.Plan, data_config, out_dir: str,
                       shard: int, dataset=None) -> None:
  """Writes shard ``shard`` unless it is finished, holding its lock: another
  run writing it is waited for, and then its result is kept."""
  n = plan.num_shards
  with _exclusive(_shard_lock(out_dir, shard, n), f"shard {shard}/{n}"):
    if prepare_shard.load_summary(out_dir, shard, n) is None:
      prepare_shard.write_shard(plan, data_config, out_dir, shard, dataset)


def _write_shard_task(plan_json: dict, data_config, out_dir: str,
                      shard: int, dataset) -> None:
  write_shard_locked(prepare_plan.Plan.from_json(plan_json), data_config,
                     out_dir, shard, dataset)


def _exit_with_parent() -> None:
  """Pool initializer: ends this worker as soon as its parent dies.

  A killed parent (``kill -9``) cannot shut its pool down, and the workers
  would wait on their task queue forever. The parent sentinel (a pipe whose
  write end only the parent holds) becomes readable when the parent is gone.
  """
  parent = multiprocessing.parent_process()
  if parent is None:
    return

  def watch():
    multiprocessing.connection.wait([parent.sentinel])
    os._exit(1)  # pylint: disable=protected-access

  threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def pending_shards(plan: prepare_plan.Plan, out_dir: str, shard_index: int,
                   shard_count: int) -> list[int]:
  """This host's shards that are not finished yet."""
  return [k for k in range(plan.num_shards)
          if k % shard_count == shard_index
          and prepare_shard.load_summary(out_dir, k, plan.num_shards) is None]


def run_shards(plan: prepare_plan.Plan, data_config, out_dir: str,
               shards: Sequence[int], num_processes: int,
               dataset=None) -> None:
  """Writes ``shards``; ``dataset`` (if given) is pickled to the processes,
  else each process opens ``plan.raw_root``."""
  if not shards:
    return
  processes = num_processes or os.cpu_count() or 1
  processes = max(1, min(processes, len(shards)))
  if processes == 1:
    for k in shards:
      write_shard_locked(plan, data_config, out_dir, k, dataset)
      logging.info("prepare: shard %d/%d done", k, plan.num_shards)
    return
  plan_json = plan.to_json()
  context = multiprocessing.get_context("spawn")
  with concurrent.futures.ProcessPoolExecutor(
      processes, mp_context=context,
      initializer=_exit_with_parent) as pool:
    futures = {pool.submit(_write_shard_task, plan_json, data_config, out_dir,
                           k, dataset): k for k in shards}
    for future in concurrent.futures.as_completed(futures):
      future.result()  # Re-raises a worker's error.
      logging.info("prepare: shard %d/%d done", futures[future],
                   plan.num_shards)


def prepare(data_config, raw_root: str, out_dir: str, *,
            shard_index: Optional[int] = None,
            shard_count: Optional[int] = None,
            num_processes: Optional[int] = None,
            run_finalize: Optional[bool] = None, dataset=None) -> str:
  """Writes this host's shards of ``raw_root`` into ``out_dir``.

  Args:
    data_config: ``config.data``.
    raw_root: raw dataset root (local path or fsspec URL).
    out_dir: processed dataset directory (local or mounted file system).
    shard_index, shard_count, num_processes: default to ``data.prepare.*``.
    run_finalize: merge all shards into the manifest afterwards. Default:
      only when this call covers every shard (``shard_count == 1``).
    dataset: an already opened ``raw.source.RawSource`` (e.g. a
      ``memory_dataset.MemoryDataset``); default: ``raw_root`` opened by the
      source ``data.layout`` names.

  Returns:
    ``out_dir``.
  """
  from egoimu_jax.input_pipeline.raw import source  # pylint: disable=g-import-not-at-top
  cfg = data_config.prepare
  shard_index = cfg.shard_index if shard_index is None else shard_index
  shard_count = cfg.shard_count if shard_count is None else shard_count
  num_processes = cfg.num_processes if num_processes is None else num_processes
  if not 0 <= shard_index < shard_count:
    raise ValueError(f"need 0 <= shard_index < shard_count, got "
                     f"{shard_index}, {shard_count}")
  if run_finalize is None:
    run_finalize = shard_count == 1
  os.makedirs(out_dir, exist_ok=True)
  ds = (dataset if dataset is not None else
        source.open_source(raw_root, data_config))
  from egoimu_jax.input_pipeline.prepare import native_rate  # pylint: disable=g-import-not-at-top
  data_config, rate_source = native_rate.resolve(ds, data_config)
  plan = prepare_plan.make_plan(ds, raw_root, data_config, rate_source)
  prepare_plan.save_or_check(plan, out_dir)
  todo = pending_shards(plan, out_dir, shard_index, shard_count)
  logging.info("prepare %s -> %s: %d rows, %d shards, %d to write here",
               raw_root, out_dir, plan.num_rows, plan.num_shards, len(todo))
  run_shards(plan, data_config, out_dir, todo, num_processes, dataset)
  if run_finalize:
    finalize(out_dir)
  return out_dir


def resolve_raw_root(data_config, cache_dir: str) -> str:
  """``data.raw_dir``, or the synthetic dataset generated under the cache."""
  if data_config.raw_dir:
    return data_config.raw_dir
  from egoimu_jax.input_pipeline import synthetic  # pylint: disable=g-import-not-at-top
  return synthetic.ensure(data_config.synthetic, cache_dir)


def ensure(data_config, cache_dir: Optional[str] = None) -> str:
  """The processed dataset for ``config.data``, prepared on first use.

  ``data.processed_dir`` if set (must be complete). Otherwise the raw root is
  ``data.raw_dir`` or the synthetic dataset (generated under the cache), and
  the result lives in ``<cache>/processed/<raw fingerprint>-<config hash>``;
  a complete one is reused, an incomplete one resumed.
  """
  if data_config.processed_dir:
    try:
      manifest_lib.load(data_config.processed_dir)
    except FileNotFoundError as e:  # The user's path: one line in main.
      raise errors.MissingDataError(
          f"config.data.processed_dir: {errors.one_line(e)}") from e
    return data_config.processed_dir
  from egoimu_jax.input_pipeline import fs  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline.raw import source  # pylint: disable=g-import-not-at-top
  cache_dir = cache_dir or fs.default_cache_dir(data_config)
  raw_root = resolve_raw_root(data_config, cache_dir)
  fingerprint = source.open_source(raw_root, data_config).fingerprint()
  key = f"{fingerprint[:16]}-{prepare_plan.config_hash(data_config)[:16]}"
  out_dir = os.path.join(cache_dir, "processed", key)
  if manifest_lib.is_complete(out_dir):
    return out_dir
  os.makedirs(out_dir, exist_ok=True)
  # Jobs started together on one machine prepare once; the others wait.
  with open(out_dir + ".lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not manifest_lib.is_complete(out_dir):
      prepare(data_config, raw_root, out_dir, shard_index=0, shard_count=1,
              run_finalize=True)
  return out_dir
