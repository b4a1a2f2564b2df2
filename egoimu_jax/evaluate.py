r"""``python -m egoimu_jax.evaluate``: scores predictions of any model.

  python -m egoimu_jax.evaluate --predictions=preds.csv \
      --split=/data/export/l20wo_fold2 --out=runs/mymodel/l20wo/fold2 \
      --name=mymodel
  python -m egoimu_jax.report --workdirs='runs/*/l20wo/fold*' --out=report/

``--split`` is an export directory (``python -m egoimu_jax.export``), a
``split.json``, or a split bundle with ``--protocol`` / ``--fold``; the last
two need ``--processed_dir``. The submission format and the checks are in
``egoimu_jax/evaluation/submission.py``. Writes ``results.json``,
``predictions.npz`` and ``split.json`` into ``--out``, as our runs do. A
refused submission or another user mistake prints one line and exits with
status 2.
"""

import os

from absl import flags

from egoimu_jax import cli
from egoimu_jax import logs
from egoimu_jax.evaluation import metrics as metrics_lib
from egoimu_jax.evaluation import submission

_PREDICTIONS = flags.DEFINE_string(
    "predictions", None, "Submission: .csv / .parquet (window_id, pred and/or "
    "prob_<class>) or .npz (window_id, pred and/or probs).")
_SPLIT = flags.DEFINE_string(
    "split", None, "Export directory, split.json, or split bundle.")
_OUT = flags.DEFINE_string("out", None, "Workdir for results.json.")
_NAME = flags.DEFINE_string("name", "external", "Row label in report tables.")
_PROCESSED_DIR = flags.DEFINE_string(
    "processed_dir", "", "Processed dataset (labels); optional with an "
    "export directory.")
_PROTOCOL = flags.DEFINE_string("protocol", None, "Bundle: protocol.")
_FOLD = flags.DEFINE_integer("fold", None, "Bundle: fold.")
_SCALE = flags.DEFINE_float("scale", None, "Bundle: scale (scaling protocols).")
_PRETRAIN_ON = flags.DEFINE_string("pretrain_on", None,
                                   "Bundle: pretrain_on (all | train).")
_THRESHOLD = flags.DEFINE_float(
    "worker_f1_threshold", metrics_lib.WORKER_F1_THRESHOLD,
    "Per-worker macro-F1 under which a test worker counts as badly served.")
flags.mark_flags_as_required(["predictions", "split", "out"])


def summary(res) -> str:
  m = res["metrics"]["test"]
  return (f"{res['name']} on {res['protocol']} fold {res['fold']}: macro-F1 "
          f"{m['macro_f1']:.4f}, accuracy {m['accuracy']:.4f}; per worker "
          f"(n={m['n_workers']}): mean {m['per_worker_f1_mean']:.4f}, "
          f"p10 {m['worker_f1_p10']:.4f}, min {m['worker_f1_min']:.4f}, "
          f"{m['share_workers_below']:.0%} below "
          f"{m['worker_f1_threshold']:g}")


def main(argv):
  del argv  # no positional arguments (cli.run)
  logs.quiet_libraries()
  if os.path.exists(_OUT.value) and not os.path.isdir(_OUT.value):
    raise submission.SubmissionError(
        f"--out={_OUT.value} is a file; --out names the directory that gets "
        "results.json")
  res = submission.evaluate(
      _PREDICTIONS.value, _SPLIT.value, processed_dir=_PROCESSED_DIR.value,
      workdir=_OUT.value, name=_NAME.value, protocol=_PROTOCOL.value,
      fold=_FOLD.value, scale=_SCALE.value, pretrain_on=_PRETRAIN_ON.value,
      worker_f1_threshold=_THRESHOLD.value)
  print(summary(res))
  print(f"-> {_OUT.value}/results.json")


if __name__ == "__main__":
  cli.run(main, user_errors=(FileNotFoundError,))  # e.g. --predictions
