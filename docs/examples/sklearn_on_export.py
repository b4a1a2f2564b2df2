r"""Trains a scikit-learn model on an egoimu_jax export and writes a submission.

Needs only numpy and scikit-learn (no egoimu_jax, no PyTorch, no JAX), as a
model from another stack would. It reads the export's memory-mapped .npy
columns, computes a few per-window statistics of the raw IMU in chunks,
fits a standardised logistic regression on the training windows, and writes
``window_id, pred, prob_<class>...`` for every test window:

  python docs/examples/sklearn_on_export.py --export=/data/export/l20wo_fold0 \
      --out=preds.csv
  python -m egoimu_jax.evaluate --predictions=preds.csv \
      --split=/data/export/l20wo_fold0 --out=runs/my_logreg/l20wo/fold0 \
      --name=my_logreg

See docs/evaluate_your_model.md.
"""

import argparse
import csv
import json
import os

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def load_part(export_dir, part, columns):
  """Columns of one part as memory-mapped arrays (nothing read yet)."""
  return {c: np.load(os.path.join(export_dir, part, f"{c}.npy"), mmap_mode="r")
          for c in columns}


def window_features(imu, chunk=2048):
  """Per-window statistics of ``imu`` [n, L, 6], ``chunk`` windows at a time.

  Per channel and for the acceleration / rotation magnitudes: mean, standard
  deviation, 10th / 50th / 90th percentile and the mean absolute difference
  between consecutive samples (a jerk proxy).
  """
  out = []
  for start in range(0, len(imu), chunk):
    x = np.asarray(imu[start:start + chunk], np.float32)
    mags = np.stack([np.linalg.norm(x[..., :3], axis=-1),
                     np.linalg.norm(x[..., 3:], axis=-1)], -1)
    x = np.concatenate([x, mags], -1)                      # [b, L, 8]
    q = np.percentile(x, [10, 50, 90], axis=1)             # [3, b, 8]
    jerk = np.abs(np.diff(x, axis=1)).mean(1)
    out.append(np.concatenate(
        [x.mean(1), x.std(1), q[0], q[1], q[2], jerk], axis=1))
  return np.concatenate(out)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--export", required=True, help="export directory")
  parser.add_argument("--out", required=True, help="submission CSV to write")
  parser.add_argument("--c", type=float, default=1.0,
                      help="inverse regularisation strength")
  args = parser.parse_args()

  with open(os.path.join(args.export, "export.json")) as f:
    info = json.load(f)
  classes = info["classes"]
  train = load_part(args.export, "train", ["imu", "label"])
  test = load_part(args.export, "test", ["imu", "window_id"])

  model = make_pipeline(StandardScaler(),
                        LogisticRegression(C=args.c, max_iter=2000))
  model.fit(window_features(train["imu"]), np.asarray(train["label"]))
  seen = model.predict_proba(window_features(test["imu"]))
  # Classes absent from the training windows get probability 0.
  probs = np.zeros((len(seen), len(classes)))
  probs[:, model.classes_] = seen

  with open(args.out, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["window_id", "pred"] + [f"prob_{c}" for c in classes])
    for wid, p in zip(test["window_id"], probs):
      writer.writerow([wid, classes[int(p.argmax())]] +
                      [f"{v:.6f}" for v in p])
  print(f"{len(probs)} test windows -> {args.out}")


if __name__ == "__main__":
  main()
