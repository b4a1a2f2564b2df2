"""Entry point.

  python -m egoimu_jax.main --config=configs/x.py[:arg] --workdir=DIR


Only flag parsing lives here; the work happens in library functions picked by
``config.job`` (see ``egoimu_jax.jobs``) so that it can be imported and tested.
Override any field with ``--config.a.b=value``.

Multi-process runs join with ``jax.distributed`` first: from ``--coordinator``,
``--num_processes`` and ``--process_id``, else from ``EGOIMU_COORDINATOR`` /
``EGOIMU_NUM_PROCESSES`` / ``EGOIMU_PROCESS_ID`` or a SLURM step
(``training/distributed.py``). A single process skips it. A preempted run
(SIGTERM) checkpoints and exits with status 75; rerun it to resume.

A user error (a misspelt ``--config.a.b`` override, a missing processed
dataset, a fold out of range: ``errors.user_errors()``) is printed as one
line and exits with status 2, and a workdir this run created is removed again
if it stayed empty; anything else keeps its traceback.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from egoimu_jax import errors
from egoimu_jax import jobs
from egoimu_jax import logs
from egoimu_jax.training import distributed
from egoimu_jax.training import durations
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
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  logs.quiet_libraries(None if not FLAGS.library_logs else False)
  spec = distributed.detect(FLAGS.coordinator, FLAGS.num_processes,
                            FLAGS.process_id)
  distributed.initialize(spec, timeout_s=FLAGS.distributed_timeout,
                         heartbeat_timeout_s=FLAGS.heartbeat_timeout)
  config = FLAGS.config
  try:
    config.get("job")
  except OSError as e:  # ml_collections defers "config file not found" here.
    lines = str(e.__cause__ or e).strip().splitlines()
    _exit_with_message(f"--config: {lines[-1].strip()}")
  durations.prefer_overrides(config, [
      a[len("--config."):].partition("=")[0] for a in sys.argv
      if a.startswith("--config.")])
  job = config.get("job", "train")
  logging.info("job %s, workdir %s", job, FLAGS.workdir)
  created = _first_missing(FLAGS.workdir)
  with distributed.fail_fast(spec):
    try:
      if job not in jobs.JOBS:
        known = list(jobs.JOBS.names())
        raise errors.UserError(
            f"config.job={job!r} is not a job (known: {', '.join(known)})"
            f"{errors.did_you_mean(job, known)}")
      jobs.JOBS.get(job)(config, FLAGS.workdir)
    except preemption.Preempted as e:
      logging.warning("%s", e)
      sys.exit(preemption.EXIT_CODE)
    except errors.user_errors() as e:  # pylint: disable=catching-non-exception
      if created:
        _remove_empty_dirs(created)
      _exit_with_message(errors.one_line(e), multi_process=spec.multi_process)


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


def _exit_with_message(message: str, multi_process: bool = False) -> None:
  print(f"egoimu_jax.main: error: {message}", file=sys.stderr, flush=True)
  if multi_process:  # Exit now, as fail_fast does, so the others stop too.
    logging.flush()
    os._exit(errors.EXIT_CODE)  # pylint: disable=protected-access
  sys.exit(errors.EXIT_CODE)


def _override_error(argv) -> str | None:
  """The first ``--config.a.b=v`` of ``argv`` naming no field of the config
  (with the closest field), or None."""
  paths = [a[len("--config."):].partition("=")[0] for a in argv
           if a.startswith("--config.")]
  spec = [a.partition("=")[2] for a in argv if a.startswith("--config=")]
  if not paths or not spec:
    return None
  node = FLAGS["config"].parser.parse(spec[-1])
  for path in paths:
    node_path, node_now = "config", node
    for part in path.split("."):
      if hasattr(node_now, "keys") and part in node_now:
        node_now, node_path = node_now[part], f"{node_path}.{part}"
        continue
      fields = list(node_now.keys()) if hasattr(node_now, "keys") else []
      return (f"--config.{path}: {node_path} has no field {part!r}"
              f"{errors.did_you_mean(part, fields)}")
  return None


def _parse_flags(argv):
  """absl's flag parsing, with a one-line error for a misspelt override
  (ml_collections raises it as an AttributeError with a traceback)."""
  try:
    return app.parse_flags_with_usage(argv)
  except (AttributeError, KeyError):
    message = _override_error(argv)
    if message is None:
      raise
    _exit_with_message(message)


if __name__ == "__main__":
  app.run(main, flags_parser=_parse_flags)
