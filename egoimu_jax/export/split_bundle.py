"""The official splits of a dataset as one versioned, content-addressed file.

A bundle lists every split of every protocol and fold that ``splits.make_split``
builds for one processed dataset, so two papers can say they used the same
splits by quoting one id (``bundle_id``)::

  {"format": "egoimu_jax.splits", "version": 1,
   "bundle_id": "egoimu-splits-v1-<12 hex>", "sha256": "<hex of the splits>",
   "manifest_fingerprint": "...",     # the processed dataset (raw + prepare)
   "dataset_fingerprint": "sha256:...", # what splits depend on (population.py)
   "settings": {"num_folds": 5, "seed": 0, "lowo_count": 10, ...},
   "splits": [{Contract-2 split}, ...],
   "unavailable": [{"protocol", "fold", "scale", "pretrain_on", "reason"}]}

``unavailable`` lists the splits this dataset cannot support (e.g.
within-person folds whose test workers have no test windows); ``l20wo``
must be possible. Within-person splits of workers with a few long
recordings list time ranges of clips (``*_ranges``, ``protocols/within.py``).

``sha256`` covers the canonical JSON of ``splits`` (sorted keys, no spaces),
so it does not change with formatting; ``load`` recomputes it, and
``check`` rebuilds every split from a manifest and compares. A path ending
in ``.gz`` is gzip-compressed (clip lists of large datasets are long).

Contents (with the default settings): ``l20wo`` and ``within`` folds
0..K-1; ``lowo`` one fold per chosen worker; ``worker_scaling`` and
``data_scaling`` at the fraction scales of ``launch/sweeps/scaling.py``,
folds 0..K-1; ``pretrain`` on ``all`` workers and on each fold's ``train``
workers, folds 0..K-1.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from typing import Any, Dict, Mapping, Optional, Sequence

from egoimu_jax import errors
from egoimu_jax.input_pipeline import protocols
from egoimu_jax.input_pipeline import splits

FORMAT = "egoimu_jax.splits"
VERSION = 1
# The fraction scales of launch/sweeps/scaling.py (Experiment F's ratios).
WORKER_SCALES = (0.125, 0.25, 0.5, 0.75, 1.0)
DATA_SCALES = (0.026, 0.1, 0.2, 0.5, 1.0)
DEFAULT_SETTINGS = {
    "num_folds": 5, "seed": 0, "lowo_count": 10, "lowo_rule": "most_clips",
    "stratify_label": "auto", "pretrain_val_fraction": 0.1,
    "worker_scales": list(WORKER_SCALES), "data_scales": list(DATA_SCALES),
}


class BundleError(errors.UserError, ValueError):
  """A bundle is malformed, altered, or does not fit the dataset."""


def population_for(split: Mapping[str, Any], manifest: Mapping[str, Any],
                   source: str = "split") -> splits.Population:
  """The dataset's population the split was made from, or a ``SplitError``.

  A split records the fingerprint of the population it was built from but
  not the stratify label; the derived label (``"auto"``) is tried first,
  then every class of the manifest. The split is then validated against that population.
  """
  wanted = split.get("dataset_fingerprint")
  classes = list(manifest.get("classes", ()))
  for label in [splits.AUTO] + classes:
    try:
      pop = splits.from_manifest(manifest, label)
    except splits.SplitError:
      continue
    if pop.fingerprint() == wanted:
      splits.validate_split(split, pop, source=source)
      return pop
  raise splits.SplitError(
      f"{source} was made for dataset {wanted}, not for this processed "
      f"dataset (manifest {manifest.get('fingerprint')}); export and "
      "evaluate against the dataset the split came from")


def build(manifest: Mapping[str, Any],
          settings: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
  """Every protocol's splits for ``manifest`` (a processed dataset's dict)."""
  s = dict(DEFAULT_SETTINGS, **(settings or {}))
  unknown = set(s) - set(DEFAULT_SETTINGS)
  if unknown:
    raise BundleError(f"unknown bundle settings {sorted(unknown)}; known: "
                      f"{sorted(DEFAULT_SETTINGS)}")
  pop = splits.from_manifest(manifest, s["stratify_label"])
  k = int(s["num_folds"])
  base = {"num_folds": k, "seed": int(s["seed"]),
          "lowo_count": int(s["lowo_count"]), "lowo_rule": s["lowo_rule"],
          "stratify_label": s["stratify_label"],
          "pretrain_val_fraction": float(s["pretrain_val_fraction"])}
  plan = [dict(name=p.name, **variant) for p in protocols.all_protocols()
          for variant in p.bundle_variants(k, s, len(pop.workers))]
  out, unavailable = [], []
  for p in plan:
    try:
      out.append(splits.make_split(dict(base, **p), pop))
    except splits.SplitError as e:   # e.g. too few clips for within-person
      unavailable.append({"protocol": p["name"], "fold": p["fold"],
                          "scale": p.get("scale"),
                          "pretrain_on": p.get("pretrain_on"),
                          "reason": str(e)})
  if not any(s["protocol"] == "l20wo" for s in out):
    raise BundleError(f"no l20wo split can be made: "
                      f"{unavailable[0]['reason']}")
  digest = _digest(out)
  return {"format": FORMAT, "version": VERSION,
          "bundle_id": f"egoimu-splits-v{VERSION}-{digest[:12]}",
          "sha256": digest,
          "manifest_fingerprint": manifest.get("fingerprint"),
          "dataset_fingerprint": pop.fingerprint(),
          "settings": s, "splits": out, "unavailable": unavailable}


def write(path: str, bundle: Mapping[str, Any]) -> None:
  """Writes atomically; gzip-compressed when ``path`` ends with ``.gz``."""
  data = (json.dumps(bundle, indent=1, sort_keys=True) + "\n").encode()
  if path.endswith(".gz"):
    data = gzip.compress(data, mtime=0)   # same bytes for the same bundle
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "wb") as f:
    f.write(data)
  os.replace(tmp, path)


def is_bundle(obj: Mapping[str, Any]) -> bool:
  return obj.get("format") == FORMAT


def read_json(path: str) -> Dict[str, Any]:
  """A JSON file (a split, a bundle), gzip-compressed or not."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no such file")
  with open(path, "rb") as f:
    data = f.read()
  if data[:2] == b"\x1f\x8b":
    data = gzip.decompress(data)
  try:
    return json.loads(data)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise BundleError(f"{path}: not valid JSON ({e})") from None


def load(path: str) -> Dict[str, Any]:
  """Reads a bundle and checks its version, digest and every split."""
  bundle = read_json(path)
  if not is_bundle(bundle):
    raise BundleError(f"{path}: not a split bundle (format "
                      f"{bundle.get('format')!r}, expected {FORMAT!r})")
  if bundle.get("version") != VERSION:
    raise BundleError(f"{path}: bundle version {bundle.get('version')}, this "
                      f"code reads version {VERSION}")
  if _digest(bundle["splits"]) != bundle.get("sha256"):
    raise BundleError(f"{path}: its splits do not match its sha256 (edited "
                      "by hand or truncated); use the original file")
  for i, split in enumerate(bundle["splits"]):
    splits.validate_split(split, source=f"{path} splits[{i}]")
  return bundle


def check(bundle: Mapping[str, Any], manifest: Mapping[str, Any]) -> None:
  """Raises ``BundleError`` unless ``manifest`` reproduces the bundle."""
  rebuilt = build(manifest, bundle["settings"])
  if rebuilt["dataset_fingerprint"] != bundle["dataset_fingerprint"]:
    raise BundleError(
        f"bundle {bundle['bundle_id']} is for dataset "
        f"{bundle['dataset_fingerprint']}, this one is "
        f"{rebuilt['dataset_fingerprint']}")
  if rebuilt["sha256"] != bundle["sha256"]:
    raise BundleError(
        f"bundle {bundle['bundle_id']}: this code builds different splits "
        f"from the same dataset ({rebuilt['bundle_id']}); the split code "
        "changed since the bundle was made")


def select(bundle: Mapping[str, Any], protocol: str, fold: int,
           scale: Optional[float] = None,
           pretrain_on: Optional[str] = None) -> Dict[str, Any]:
  """The bundle's split of ``protocol`` / ``fold`` (/ ``scale``)."""
  found = [s for s in bundle["splits"] if s["protocol"] == protocol]
  if not found:
    have = sorted({s["protocol"] for s in bundle["splits"]})
    raise BundleError(f"bundle {bundle.get('bundle_id')} has no protocol "
                      f"{protocol!r}; it has {have}")
  if scale is not None and protocols.is_scaling(protocol):
    scales = sorted({s["scale"] for s in found})
    found = [s for s in found if abs(s["scale"] - scale) < 1e-9]
    if not found:
      raise BundleError(f"bundle {bundle.get('bundle_id')} has no {protocol} "
                        f"at scale {scale:g}; scales: {scales}")
  if pretrain_on is not None and protocol == "pretrain":
    found = [s for s in found if s.get("pretrain_on") == pretrain_on]
  matches = [s for s in found if s["fold"] == fold]
  if not matches:
    folds = sorted({s["fold"] for s in found})
    raise BundleError(f"bundle {bundle.get('bundle_id')} has no {protocol} "
                      f"fold {fold}; folds: {folds}")
  if len(matches) > 1:
    options = sorted({(s["scale"], s.get("pretrain_on")) for s in matches})
    raise BundleError(f"{protocol} fold {fold} has {len(matches)} splits in "
                      f"the bundle; pick one with scale / pretrain_on: "
                      f"{options}")
  return dict(matches[0])


def summary(bundle: Mapping[str, Any]) -> Dict[str, int]:
  """Number of splits per protocol."""
  out: Dict[str, int] = {}
  for s in bundle["splits"]:
    out[s["protocol"]] = out.get(s["protocol"], 0) + 1
  return out


def _digest(split_list: Sequence[Mapping[str, Any]]) -> str:
  blob = json.dumps(list(split_list), sort_keys=True, separators=(",", ":"))
  return hashlib.sha256(blob.encode()).hexdigest()
