"""The report prints a dataset's published anchors (dataset.json
about.anchors, HAPT's here) next to our runs on the same split."""

import json

from egoimu_jax.datasets import hapt
from egoimu_jax.datasets import layout_writer
from egoimu_jax.report import aggregate
from egoimu_jax.report import anchors


def _run(raw_dir, name, protocol, preset, seed, accuracy):
  config = {"seed": seed, "data": {"raw_dir": raw_dir,
                                   "imu": {"window_seconds": 2.56}},
            "input": {"train_stride_seconds": 1.28},
            "protocol": {"name": protocol, "preset": preset}}
  return aggregate.Run(workdir=f"/r/{name}/{seed}", name=name, model=name,
                       protocol=protocol, fold=0, scale=None, classes=["a"],
                       test={"accuracy": accuracy}, per_worker={},
                       test_workers=(), results={"config": config})


def test_anchors_sit_next_to_our_runs_of_their_split(tmp_path):
  raw = tmp_path / "hapt"
  raw.mkdir()
  decl = layout_writer.declaration(hapt.Hapt(), "basic")
  (raw / "dataset.json").write_text(json.dumps(decl))
  runs = [_run(str(raw), "deepconvlstm", "fixed", "uci_har", 0, 0.90),
          _run(str(raw), "deepconvlstm", "fixed", "uci_har", 1, 0.92),
          _run(str(raw), "classical_rf", "fixed", "uci_har", 0, 0.93),
          _run(str(raw), "classical_rf", "l20wo", "", 0, 0.50),
          _run(str(raw), "other", "fixed", "", 0, 0.10)]
  table = anchors.anchors_table(runs)
  names = [row[0] for row in table.rows]
  assert names == ["Anguita et al. 2013",
                   "deep CNN/LSTM models in the literature",
                   "classical_rf", "deepconvlstm"]
  text = table.to_markdown()
  assert "| 0.96 |" in text and "| 0.91–0.95 |" in text
  assert "| 0.910 ± 0.014 |" in text and "| 0.930 |" in text
  assert "2.56 s windows, training windows every 1.28 s (2 seeds)" in text
  # No run on the anchored split, or no readable dataset.json: no table.
  assert anchors.anchors_table(runs[3:]) is None
  assert anchors.anchors_table(
      [_run(str(tmp_path / "gone"), "m", "fixed", "uci_har", 0, 0.9)]) is None
