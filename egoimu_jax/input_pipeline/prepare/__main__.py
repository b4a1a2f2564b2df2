r"""``python -m egoimu_jax.input_pipeline.prepare``: the command line of
``prepare`` (one host, or host i of n followed by one ``--finalize_only``).
See ``run.py`` for what it does.
"""

from absl import app

from egoimu_jax import cli
from egoimu_jax.input_pipeline.prepare import run


def main(argv) -> None:
  del argv  # no positional arguments (cli.run)
  from absl import flags  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline import data_config  # pylint: disable=g-import-not-at-top
  f = flags.FLAGS
  data = f.config.data if f.config is not None else data_config.data_config()
  with data.unlocked():
    for name in ("raw_dir", "cache_dir"):
      if f[name].value is not None:
        data[name] = f[name].value
    for name in ("shard_index", "shard_count", "num_processes", "num_shards"):
      if f[name].value is not None:
        data.prepare[name] = f[name].value
  if f.finalize_only:
    if not f.out_dir:
      raise app.UsageError("--finalize_only needs --out_dir")
    run.finalize(f.out_dir)
    print(f.out_dir)
    return
  if not f.out_dir:
    print(run.ensure(data))
    return
  from egoimu_jax.input_pipeline import fs  # pylint: disable=g-import-not-at-top
  raw_root = run.resolve_raw_root(data, fs.default_cache_dir(data))
  print(run.prepare(data, raw_root, f.out_dir))


def _define_flags() -> None:
  from absl import flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  config_flags.DEFINE_config_file(
      "config", None, "Config file; its `data` section is used (defaults: "
      "data_config.data_config()).")
  flags.DEFINE_string("raw_dir", None, "Raw dataset root (overrides config).")
  flags.DEFINE_string("out_dir", None, "Processed output dir. Unset: the "
                      "cache dir of prepare.ensure.")
  flags.DEFINE_string("cache_dir", None, "Cache root (overrides config).")
  flags.DEFINE_integer("shard_index", None, "This host's index.")
  flags.DEFINE_integer("shard_count", None, "Number of hosts.")
  flags.DEFINE_integer("num_processes", None, "Processes; 0 = CPU count.")
  flags.DEFINE_integer("num_shards", None, "Output shards.")
  flags.DEFINE_bool("finalize_only", False, "Only merge finished shards of "
                    "--out_dir into the manifest.")


if __name__ == "__main__":
  _define_flags()
  cli.run(main)
