r"""``python -m egoimu_jax.report --workdirs='runs/*/*' --out=report/``.

Aggregates finished runs into tables (Markdown + CSV) and figures (PNG +
PDF); see ``egoimu_jax.report.build`` for the layout.
"""

from absl import flags

from egoimu_jax import cli
from egoimu_jax.report import build

_WORKDIRS = flags.DEFINE_list(
    "workdirs", None, "Comma-separated workdir globs (local or gs://).")
_OUT = flags.DEFINE_string("out", None, "Output directory.")
_N_BOOT = flags.DEFINE_integer("n_boot", 2000, "Bootstrap resamples.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of all resampling.")
_HARD_CASES = flags.DEFINE_enum(
    "hard_cases", "auto", ["auto", "on", "off"],
    "Per-worker IMU statistics vs F1: auto = when predictions and data exist.")
_PROCESSED_DIR = flags.DEFINE_string(
    "processed_dir", "", "Processed dataset for IMU statistics (default: the "
    "runs' config.data.processed_dir).")
_MAX_WINDOWS = flags.DEFINE_integer(
    "max_windows_per_worker", 64, "Windows read per worker for IMU statistics.")
_THRESHOLD = flags.DEFINE_float(
    "worker_f1_threshold", 0.7, "Worst-person metrics: the share of test "
    "workers whose macro-F1 is below this.")
_REFERENCE = flags.DEFINE_string(
    "reference", "", "Model (row name) that every other is compared with in "
    "the paired comparisons; default: the random-forest baseline "
    "(classical_rf) if present, else the best mean cross-person macro-F1.")
flags.mark_flags_as_required(["workdirs", "out"])


def main(argv):
  del argv  # no positional arguments (cli.run)
  report = build.build_report(
      _WORKDIRS.value, _OUT.value, n_boot=_N_BOOT.value, seed=_SEED.value,
      hard_cases=_HARD_CASES.value, processed_dir=_PROCESSED_DIR.value,
      max_windows_per_worker=_MAX_WINDOWS.value,
      worker_f1_threshold=_THRESHOLD.value, reference=_REFERENCE.value)
  print(f"{report.runs} runs -> {report.out}/report.md "
        f"({len(report.tables)} tables, {len(report.figures)} figure files)")
  for note in report.notes:
    print(note)


if __name__ == "__main__":
  cli.run(main)
