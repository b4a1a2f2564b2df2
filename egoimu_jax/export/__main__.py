r"""``python -m egoimu_jax.export``: a fold's windows, or the split bundle.

  # train/val/test windows + metadata of l20wo fold 2, as .npy and Parquet:
  python -m egoimu_jax.export --processed_dir=/data/pilot_processed \
      --protocol=l20wo --fold=2 --out=/data/export/l20wo_fold2
  # every protocol's and fold's splits as one versioned file:
  python -m egoimu_jax.export --processed_dir=/data/pilot_processed \
      --splits_bundle=/data/export/splits.json
  # HAPT's windows on UCI-HAR's official split (protocol fixed):
  python -m egoimu_jax.export --processed_dir=/data/hapt_processed \
      --protocol=fixed --preset=uci_har --out=/data/export/uci_har

``--split`` exports a given split instead (a run's ``split.json``, or one
split of a bundle picked with ``--protocol`` / ``--fold`` / ``--scale``).
Layout and columns: ``egoimu_jax/export/windows.py``; the bundle:
``egoimu_jax/export/split_bundle.py``. A user mistake prints one line and
exits with status 2.
"""

from absl import flags

from egoimu_jax import cli
from egoimu_jax import logs
from egoimu_jax.export import split_bundle
from egoimu_jax.export import windows
from egoimu_jax.input_pipeline import protocols
from egoimu_jax.input_pipeline import splits
from egoimu_jax.input_pipeline.store import processed

_PROCESSED_DIR = flags.DEFINE_string(
    "processed_dir", None, "Processed dataset (python -m "
    "egoimu_jax.input_pipeline.prepare).")
_OUT = flags.DEFINE_string("out", "", "Export directory for the windows.")
_SPLITS_BUNDLE = flags.DEFINE_string(
    "splits_bundle", "", "Write every protocol's splits to this JSON file "
    "(.json.gz: compressed).")
_SPLIT = flags.DEFINE_string(
    "split", "", "Export this split (a split.json or a split bundle) instead "
    "of building one from --protocol/--fold.")
_PROTOCOL = flags.DEFINE_string("protocol", "l20wo",
                                f"One of {', '.join(protocols.names())}.")
_FOLD = flags.DEFINE_integer("fold", 0, "Fold.")
_NUM_FOLDS = flags.DEFINE_integer("num_folds", 5, "protocol.num_folds.")
_SEED = flags.DEFINE_integer("seed", 0, "protocol.seed.")
_SCALE = flags.DEFINE_float("scale", -1.0, "protocol.scale (scaling "
                            "protocols): count, fraction, < 0 for all.")
_LOWO_COUNT = flags.DEFINE_integer("lowo_count", 10, "protocol.lowo_count.")
_LOWO_RULE = flags.DEFINE_string("lowo_rule", "most_clips",
                                 "protocol.lowo_rule.")
_STRATIFY = flags.DEFINE_string("stratify_label", "auto",
                                "protocol.stratify_label.")
_PRETRAIN_ON = flags.DEFINE_string("pretrain_on", "all",
                                   "protocol.pretrain_on.")
_PRESET = flags.DEFINE_string("preset", "", "protocol.preset (fixed), e.g. "
                              "uci_har.")
_TEST_WORKERS = flags.DEFINE_list("test_workers", [],
                                  "protocol.test_workers (fixed).")
_VAL_WORKERS = flags.DEFINE_list("val_workers", [],
                                 "protocol.val_workers (fixed).")
_FORMATS = flags.DEFINE_list("formats", ["npy", "parquet"],
                             f"Any of {', '.join(windows.FORMATS)}.")
_FRAMES = flags.DEFINE_string("frames", "auto",
                              "auto (when stored), yes or no.")
_TEACHERS = flags.DEFINE_string(
    "teachers", "auto", "Teacher embedding sets: auto (all stored), none, "
    "or comma-separated names.")
_CHUNK_WINDOWS = flags.DEFINE_integer("chunk_windows", 4096,
                                      "Most windows read and written at once.")
_CHUNK_MB = flags.DEFINE_integer("chunk_mb", 256,
                                 "Most MiB of window data per chunk.")
flags.mark_flag_as_required("processed_dir")


def protocol_config():
  return {"name": _PROTOCOL.value, "fold": _FOLD.value,
          "num_folds": _NUM_FOLDS.value, "seed": _SEED.value,
          "scale": _SCALE.value, "lowo_count": _LOWO_COUNT.value,
          "lowo_rule": _LOWO_RULE.value, "stratify_label": _STRATIFY.value,
          "pretrain_on": _PRETRAIN_ON.value, "preset": _PRESET.value,
          "test_workers": tuple(_TEST_WORKERS.value),
          "val_workers": tuple(_VAL_WORKERS.value)}


def run() -> str:
  """Does what the flags ask; returns a summary line."""
  if not (_OUT.value or _SPLITS_BUNDLE.value):
    raise windows.ExportError("nothing to do: pass --out (windows) and/or "
                              "--splits_bundle (the official splits)")
  ds = open_dataset(_PROCESSED_DIR.value)
  lines = []
  if _SPLITS_BUNDLE.value:
    bundle = split_bundle.build(ds.manifest, {
        "num_folds": _NUM_FOLDS.value, "seed": _SEED.value,
        "lowo_count": _LOWO_COUNT.value, "lowo_rule": _LOWO_RULE.value,
        "stratify_label": _STRATIFY.value})
    split_bundle.write(_SPLITS_BUNDLE.value, bundle)
    lines.append(f"{bundle['bundle_id']}: {len(bundle['splits'])} splits "
                 f"{split_bundle.summary(bundle)} -> {_SPLITS_BUNDLE.value}")
    if bundle["unavailable"]:
      lines.append(f"  not possible on this dataset: "
                   f"{len(bundle['unavailable'])} split(s), e.g. "
                   f"{bundle['unavailable'][0]['reason']}")
  if _OUT.value:
    split, source = resolve_split(ds, _SPLIT.value, protocol_config())
    info = windows.export_split(
        ds, split, _OUT.value, formats=_FORMATS.value, frames=_FRAMES.value,
        teachers=_TEACHERS.value, chunk_windows=_CHUNK_WINDOWS.value,
        chunk_bytes=_CHUNK_MB.value << 20, split_source=source)
    counts = ", ".join(f"{p} {v['n']}" for p, v in info["parts"].items())
    lines.append(f"{split['protocol']} fold {split['fold']}: {counts} windows "
                 f"({', '.join(info['formats'])}) -> {_OUT.value}")
  return "\n".join(lines)


def open_dataset(processed_dir: str) -> processed.ProcessedDataset:
  try:
    return processed.ProcessedDataset.open(processed_dir)
  except (ValueError, KeyError) as e:   # e.g. an older schema version
    raise windows.ExportError(f"{processed_dir}: {e}") from None


def resolve_split(ds, path: str, protocol_cfg):
  """(split, name for messages) from a split file, a bundle or the flags."""
  if not path:
    return splits.make_split(protocol_cfg, splits.from_manifest(
        ds.manifest, protocol_cfg["stratify_label"])), "the split"
  obj = split_bundle.read_json(path)
  if split_bundle.is_bundle(obj):
    bundle = split_bundle.load(path)
    scale = protocol_cfg["scale"] if protocol_cfg["scale"] >= 0 else None
    split = split_bundle.select(bundle, protocol_cfg["name"],
                                protocol_cfg["fold"], scale,
                                protocol_cfg["pretrain_on"])
    return split, f"{path} ({bundle['bundle_id']})"
  splits.validate_split(obj, source=path)
  return obj, path


def main(argv):
  del argv  # no positional arguments (cli.run)
  logs.quiet_libraries()
  print(run())


if __name__ == "__main__":
  cli.run(main, user_errors=(FileNotFoundError,))  # e.g. --processed_dir
