"""Entry point: ``python -m egoimu_jax.main --config=configs/x.py[:arg] --workdir=DIR``.

Only flag parsing lives here; the work happens in library functions picked by
``config.job`` (see ``egoimu_jax.jobs``) so that it can be imported and tested.
Override any field with ``--config.a.b=value``.
"""

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from egoimu_jax import jobs

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
    "config", None, "Path to a config file, optionally with ':arg'.",
    lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and results.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  config = FLAGS.config
  job = config.get("job", "train")
  logging.info("job %s, workdir %s", job, FLAGS.workdir)
  jobs.JOBS.get(job)(config, FLAGS.workdir)


if __name__ == "__main__":
  app.run(main)
