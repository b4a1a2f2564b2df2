"""Entry point.

  python -m egoimu_jax.main --config=configs/x.py[:arg] --workdir=DIR


Only flag parsing lives here; the work happens in library functions picked by
``config.job`` (see ``egoimu_jax.jobs``) so that it can be imported and tested.
Override any field with ``--config.a.b=value``.

Multi-process runs join with ``jax.distributed`` first: from ``--coordinator``,
``--num_processes`` and ``--process_id``, else from ``EGOIMU_COORDINATOR`` /
``EGOIMU_NUM_PROCESSES`` / ``EGOIMU_PROCESS_ID`` or a SLURM step
(``training/distributed.py``). A single process skips it. A preempted run
(SIGTERM) checkpoints and exits with status 75; rerun it to resume. A run
holds its workdir (``workdir_lock.py``): a second run there refuses with one
line while the first is alive.

A user error (a misspelt ``--config.a.b`` override, a missing processed
dataset, a fold out of range: an ``errors.UserError``) is printed as one
line and exits with status 2 (``egoimu_jax/cli.py``), and a workdir this run
created is removed again if it stayed empty; anything else keeps its
traceback.
"""

import os
import re
import sys

from absl import flags
from absl import logging
from ml_collections import config_flags

from egoimu_jax import cli
from egoimu_jax import durations
from egoimu_jax import errors
from egoimu_jax import jobs
from egoimu_jax import logs
from egoimu_jax import workdir_lock
from egoimu_jax.training import distributed
from egoimu_jax.training import preemption

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "Path to a config file, optionally with ':arg'.",
    lock_config=True)
flags.DEFINE_string("workdir", None,
                    "Directory for checkpoints, logs and results.")
flags.DEFINE_string("coordinator", None,
                    "host:port of process 0 (multi-process runs).")
flags.DEFINE_integer("num_processes", None,
                     "Processes in the job (multi-process runs).")
flags.DEFINE_integer("process_id", None,
                     "This process's id in [0, num_processes).")
flags.DEFINE_integer(
    "distributed_timeout", 300,
    "Seconds to wait for every process to reach the coordinator.")
flags.DEFINE_integer(
    "heartbeat_timeout", 100,
    "Seconds without a heartbeat before a process counts as dead.")
flags.DEFINE_bool(
    "library_logs", False,
    "Also show libraries' INFO logs (orbax, grain, JAX); by default only "
    "their warnings, next to our progress lines (also: EGOIMU_LIBRARY_LOGS=1).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv  # no positional arguments (cli.run)
  logs.quiet_libraries(None if not FLAGS.library_logs else False)
  spec = distributed.detect(FLAGS.coordinator, FLAGS.num_processes,
                            FLAGS.process_id)
  distributed.initialize(spec, timeout_s=FLAGS.distributed_timeout,
                         heartbeat_timeout_s=FLAGS.heartbeat_timeout)
  config = FLAGS.config
  durations.prefer_overrides(config, [
      a[len("--config."):].partition("=")[0] for a in sys.argv
      if a.startswith("--config.")])
  check_values(config)  # before any work: nothing is created yet
  job = config.get("job", "train")
  logging.info("job %s, workdir %s", job, FLAGS.workdir)
  created = _first_missing(FLAGS.workdir)
  lock = None
  # A user error exits inside fail_fast: at once in a multi-process job.
  with distributed.fail_fast(spec), cli.exit_on_user_error(
      multi_process=spec.multi_process):
    try:
      if job not in jobs.JOBS:
        known = list(jobs.JOBS.names())
        raise errors.UserError(
            f"config.job={job!r} is not a job (known: {', '.join(known)})"
            f"{errors.did_you_mean(job, known)}")
      lock = workdir_lock.acquire(FLAGS.workdir, spec.process_id)
      jobs.JOBS.get(job)(config, FLAGS.workdir)
    except preemption.Preempted as e:
      logging.warning("%s", e)
      sys.exit(preemption.EXIT_CODE)
    except errors.UserError:
      if lock is not None:
        lock.release(remove=bool(created))
      if created:
        _remove_empty_dirs(created)
      raise


_DURATION = re.compile(rf"({'|'.join(durations.PREFIXES)})_"
                       rf"({'|'.join(durations.UNITS)})")


def check_values(config, path: str = "config") -> None:
  """UserError for a value no run can use, anywhere in ``config``: a batch
  size below 1, a negative duration, a total duration of 0."""
  for key, value in config.items():
    where = f"{path}.{key}"
    if hasattr(value, "items"):
      check_values(value, where)
      continue
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      continue
    if (key == "batch_size" or key.endswith("_batch_size")) and value < 1:
      raise errors.UserError(f"{where}={value}: a batch size must be >= 1")
    duration = _DURATION.fullmatch(key)
    if duration and value < 0:
      raise errors.UserError(f"{where}={value}: a duration must be >= 0")
    if duration and duration.group(1) == "total" and value == 0:
      raise errors.UserError(f"{where}=0: a run must train for at least one "
                             "step")


def _first_missing(path: str) -> str | None:
  """The outermost folder of ``path`` that does not exist yet, if any."""
  path, missing = os.path.abspath(path), None
  while not os.path.exists(path):
    path, missing = os.path.dirname(path), path
  return missing


def _remove_empty_dirs(root: str) -> None:
  """Removes ``root`` and folders under it that hold no file."""
  for path, _, _ in sorted(os.walk(root), key=lambda w: -len(w[0])):
    try:
      os.rmdir(path)
    except OSError:
      pass  # not empty (or another process removed it)


if __name__ == "__main__":
  cli.run(main)
