"""Figures a paper can use (issue 22, item 9): the per-worker figure is sized
by its content and turns horizontal past a few models; test-time variants
are left out of it and get the robustness figure."""

import numpy as np
import pytest

from egoimu_jax.report import aggregate
from egoimu_jax.report import figures
from egoimu_jax.report import per_worker_figure
from egoimu_jax.report import robustness_figure

WORKERS = [f"w{i}" for i in range(8)]


def _run(name, protocol, fold, f1, variant=None):
  rng = np.random.default_rng(abs(hash((name, protocol, fold))) % 2**32)
  per_worker = {w: {"macro_f1": float(np.clip(f1 + rng.normal(0, 0.1), 0, 1))}
                for w in WORKERS}
  return aggregate.Run(
      workdir=f"/r/{name}/{protocol}/{fold}", name=name, model=name,
      protocol=protocol, fold=fold, scale=None, classes=["a", "b"],
      test={"macro_f1": f1}, per_worker=per_worker,
      test_workers=tuple(WORKERS),
      results={"extra": {"variant": variant} if variant else {}})


def _groups(n_models, variants=(), prefix="model_with_a_long_name_"):
  runs = []
  for i in range(n_models):
    name = f"{prefix}{i:02d}"
    for protocol in ("within", "l20wo"):
      for fold in range(2):
        runs.append(_run(name, protocol, fold, 0.5 + 0.02 * i))
        for variant, drop in variants:
          runs.append(_run(f"{name} / {variant}", protocol, fold,
                           0.5 + 0.02 * i - drop, variant=variant))
  return aggregate.group(runs)


def _labels(fig):
  ax = fig.axes[0]
  return ([t.get_text() for t in ax.get_yticklabels()],
          [t.get_text() for t in ax.get_xticklabels()])


def test_many_models_lie_horizontally_and_the_figure_grows():
  variants = (("video_low_light", 0.3), ("without_imu", 0.1))
  fig18 = per_worker_figure.figure(_groups(18, variants))
  fig10 = per_worker_figure.figure(_groups(10))
  y18, x18 = _labels(fig18)
  assert y18 == [f"model_with_a_long_name_{i:02d}" for i in range(18)]
  assert not any("model" in t for t in x18)   # F1 on x, not names
  # One row per model: 18 rows are taller than 10; full width at most.
  (w18, h18), (_, h10) = fig18.get_size_inches(), fig10.get_size_inches()
  assert h18 > h10 > 2.8 and h18 >= 0.3 * 18 and w18 <= 7.2
  # Variants are test conditions, not models: not in the figure.
  assert not any("/" in t for t in y18)
  # A few models stand side by side, named on the x axis...
  few = per_worker_figure.figure(_groups(4, prefix="rf_"))
  y4, x4 = _labels(few)
  assert [t.split("\n")[0] for t in x4] == ["rf_00", "rf_01", "rf_02", "rf_03"]
  assert few.get_size_inches()[1] == pytest.approx(2.8)
  # ... unless their names would not fit under the boxes.
  long = per_worker_figure.figure(_groups(4))
  assert _labels(long)[0][0] == "model_with_a_long_name_00"


def test_variants_get_the_robustness_figure(tmp_path):
  groups = _groups(3, (("video_low_light", 0.3), ("without_imu", 0.1)))
  d = robustness_figure.deltas(groups)
  assert len(d) == 3 * 2 * 2   # models x variants x protocols
  assert d["model_with_a_long_name_01", "video_low_light", "l20wo"] == (
      pytest.approx([-0.3, -0.3]))
  fig = robustness_figure.robustness_figure(groups)
  labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
  assert labels[0] == "model_with_a_long_name_00 · video_low_light"
  assert len(labels) == 6
  assert robustness_figure.robustness_figure(_groups(3)) is None
  paths = robustness_figure.robustness(groups, str(tmp_path / "robustness"))
  assert [p.rsplit(".", 1)[1] for p in paths] == ["png", "pdf"]
  assert figures.caption(paths[0]).startswith("Test-time variants against")
