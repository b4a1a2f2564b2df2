"""A predictor without skill shows no within- vs cross-person gap and no
per-person difficulty, through export -> evaluate -> report
(benchmarks/measurement_validity.py, issue 22)."""

import importlib.util
import pathlib

import numpy as np
import pytest

from egoimu_jax import config_lib
from egoimu_jax.input_pipeline import prepare
from egoimu_jax.input_pipeline.raw import ingest
from egoimu_jax.input_pipeline.raw import memory_dataset
from egoimu_jax.report import figures

_BENCH = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / (
    "measurement_validity.py")
_SPEC = importlib.util.spec_from_file_location("measurement_validity", _BENCH)
validity = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(validity)

CLASSES = ("working", "break", "not_on_person")
WORKERS, CLIPS, WINDOWS, FOLDS = 12, 4, 250, 3


def _dataset(out_dir: str) -> str:
  """12 people x 4 clips x 250 short windows whose class mix differs a lot
  between people (one mostly working, another mostly on break, a rare
  third class), as the composition artefact needs."""
  rng = np.random.default_rng(0)
  clips = []
  for w in range(WORKERS):
    working = rng.uniform(0.2, 0.95)
    prior = np.array([working, (1 - working) * 0.85, (1 - working) * 0.15])
    for c in range(CLIPS):
      clips.append(ingest.ClipWindows(
          clip_id=f"w{w:02d}_c{c}", worker_id=f"w{w:02d}",
          imu=rng.normal(size=(WINDOWS, 10, 6)).astype(np.float32),
          t0_us=np.arange(WINDOWS, dtype=np.int64) * 50_000,
          label=rng.choice(3, WINDOWS, p=prior).astype(np.int32),
          purity=np.ones(WINDOWS, np.float32), frames=None,
          native_rate_hz=200.0, dropped={}, notes={}))
  config = config_lib.data_config()
  config.imu.window_seconds = 0.05
  config.prepare.num_shards = 2
  return prepare.prepare(config, "memory", out_dir, num_processes=1,
                         dataset=memory_dataset.MemoryDataset(CLASSES, clips))


@pytest.fixture(scope="module")
def no_skill(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("no_skill"))
  processed_dir = _dataset(f"{root}/processed")
  protocol = config_lib.base().protocol
  cfgs = [dict(protocol, name=p, fold=f, num_folds=FOLDS)
          for p in validity.PROTOCOLS for f in range(FOLDS)]
  validity.run_no_skill(root, processed_dir, cfgs)
  with pytest.MonkeyPatch.context() as m:   # the figures are not tested here
    m.setattr(figures, "save", lambda fig, stem, **kwargs: [])
    return root, validity.measure(root, validity.NO_SKILL, 200, "report")


@pytest.mark.parametrize("kind", validity.NO_SKILL)
def test_no_skill_shows_no_gap_in_the_report(no_skill, kind):
  _, (report, gaps, _) = no_skill
  gap = gaps[(kind, validity.CROSS)]
  assert gap.folds == FOLDS and gap.workers == WORKERS
  assert abs(gap.value) < validity.GAP_LIMIT
  assert gap.low <= 0 <= gap.high
  rows = {(r[0], r[1]): r for r in report.tables["gap"].rows}
  assert rows[(kind, validity.CROSS)][4].value == pytest.approx(gap.value)


def test_constant_difficulty_does_not_track_class_share(no_skill, capsys):
  root, (_, gaps, difficulty) = no_skill
  majority = validity._predicted_class(root)  # pylint: disable=protected-access
  shares = {"constant_majority": validity.worker_share(
      root, "constant_majority", majority)}
  assert np.ptp(list(shares["constant_majority"].values())) > 0.3
  assert set(difficulty["constant_majority"].values()) == {0.0}
  assert all(validity.check_no_skill("tiny", gaps, difficulty, shares)[::2])
  assert "ρ undefined" in capsys.readouterr().out
