r"""Checks the benchmark's measurements on data where the answer is known.

The within- vs cross-person gap and the per-person difficulty (issue 22) are
computed here exactly as the report computes them (``report.tables.
matched_gaps``, ``report.hard_cases_section.difficulty``), from a random
forest (configs/classical.py, in-process) trained on synthetic data whose
person shift is known:

  NULL      the pilot at person_variation=0 (every worker the same
            person in distribution): the matched gap's 95% CI contains 0.
  DOSE      a planted person signature (``data.synthetic.person_shift``:
            each worker does each class partly the way others do another
            class, with their own tilt, tempo and gain, the same in every
            clip) at three levels, on typical people (person_variation=0)
            in a dataset of one class per clip (``--dose_classes``, so each
            person has most classes in several clips): the gap grows
            monotonically, each step by more than the steps' combined
            standard error over folds.
  HARD      planted hard workers (``hard_workers``) rank among the hardest
            25% by difficulty (cross − within macro-F1 on matched windows).
  NO-SKILL  a constant (training majority) and a random (training class
            prior) predictor, submitted through export -> evaluate ->
            report, on every dataset above (the DOSE levels, which share
            labels and splits, once) and on the generator's defaults: the constant one |gap| < 0.02; the random one, whose
            two arms are independent draws, no bias (95% CI contains 0 and
            |gap| <= 2 standard errors over folds); and the constant predictor's difficulty
            does not track the people's share of its class (|ρ| < 0.3).

Every check prints one PASS/FAIL line with its numbers; the exit status is
1 if any fails. Runs are kept under ``--out`` and skipped when present, so a
second invocation only rebuilds the reports.

  nice -n 10 python benchmarks/measurement_validity.py --out=/tmp/validity
  python benchmarks/measurement_validity.py --quick   # smaller, for a laptop

Default scale: the README's CPU data (30 workers x 6 clips, IMU only), all
5 folds of ``within`` and ``l20wo``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

CROSS = "l20wo"
PROTOCOLS = ("within", CROSS)
NO_SKILL = ("constant_majority", "random_prior")
GAP_LIMIT = 0.02     # |gap| a predictor without skill may show
RHO_LIMIT = 0.3      # |Spearman ρ| of difficulty vs class share
HARD_QUANTILE = 0.25


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--out", default="/tmp/measurement_validity",
                 help="runs, exports and reports go here")
  p.add_argument("--cache_dir", default="",
                 help="synthetic + processed data cache (default: <out>/cache)")
  p.add_argument("--workers", type=int, default=30)
  p.add_argument("--clips", type=int, default=6, help="clips per worker")
  p.add_argument("--clip_seconds", type=float, default=27.0)
  p.add_argument("--folds", type=int, default=5)
  p.add_argument("--seed", type=int, default=0,
                 help="generator seed (the split and forest seeds follow "
                      "the config)")
  p.add_argument("--levels", default="0,0.5,1",
                 help="person_shift levels of DOSE")
  p.add_argument("--variation", type=float, default=0.0,
                 help="person_variation of the NULL and DOSE data")
  p.add_argument("--dose_classes", default="sit,phone,inspect,stroll",
                 help="DOSE data: one class per clip, these worn activities "
                      "(synthetic clip_activities)")
  p.add_argument("--dose_clips", type=int, default=12,
                 help="DOSE data: clips per worker")
  p.add_argument("--dose_clip_seconds", type=float, default=16.0)
  p.add_argument("--hard", type=int, default=3, help="planted hard workers")
  p.add_argument("--trees", type=int, default=0,
                 help="random-forest trees (0: the config's)")
  p.add_argument("--n_boot", type=int, default=1000)
  p.add_argument("--within_test", default="all", choices=("all", "fold"),
                 help="protocol.within_test: all (every window gets a "
                      "within-person prediction, the matched set is every "
                      "cross-person test window) or fold (1/K of them)")
  p.add_argument("--quick", action="store_true",
                 help="20 workers x 4 clips of 20 s, 3 folds, 100 trees")
  args = p.parse_args(argv)
  if args.quick:
    args.workers, args.clips, args.clip_seconds = 20, 4, 20.0
    args.folds, args.trees = 3, args.trees or 100
  args.levels = [float(v) for v in args.levels.split(",")]
  args.dose_classes = tuple(c for c in args.dose_classes.split(",") if c)
  args.cache_dir = args.cache_dir or os.path.join(args.out, "cache")
  return args


# ------------------------------------------------------------ runs
class Data(NamedTuple):
  """One synthetic dataset of the benchmark: its name under ``--out``,
  ``person_variation``, ``person_shift``, ``hard_workers``, and for a
  dataset of its own classes (``clip_activities``) those, with its clips
  per worker and their length."""
  name: str
  variation: float
  shift: float
  hard: int
  classes: Tuple[str, ...] = ()
  clips: int = 0
  clip_seconds: float = 0.0


def rf_config(args, data, protocol: str, fold: int):
  """configs/classical.py on the synthetic data ``data`` (a ``Data``)."""
  from configs import classical  # pylint: disable=g-import-not-at-top
  config = classical.get_config(None)
  config.data.cache_dir = args.cache_dir
  config.data.synthetic.update(
      num_workers=args.workers, clips_per_worker=data.clips or args.clips,
      clip_seconds=data.clip_seconds or args.clip_seconds,
      clip_activities=data.classes, with_video=False, seed=args.seed,
      hard_workers=data.hard, person_variation=data.variation,
      person_shift=data.shift)
  config.protocol.update(name=protocol, fold=fold, num_folds=args.folds,
                         within_test=args.within_test)
  if args.trees:
    config.classical.rf.n_estimators = args.trees
  return config


def run_forest(args, root: str, data) -> str:
  """Trains and scores the forest on every fold of both protocols; returns
  the processed dataset."""
  from egoimu_jax import jobs  # pylint: disable=g-import-not-at-top
  processed_dir = ""
  for protocol in PROTOCOLS:
    for fold in range(args.folds):
      workdir = os.path.join(root, "runs", "classical_rf", protocol,
                             f"fold{fold}")
      if not os.path.exists(os.path.join(workdir, "results.json")):
        config = rf_config(args, data, protocol, fold)
        jobs.JOBS.get("classical")(config, workdir)
      with open(os.path.join(workdir, "results.json")) as f:
        processed_dir = json.load(f)["extra"]["processed_dir"]
  return processed_dir


def prepare_only(args, data) -> str:
  """The processed dataset of the forest's config, without training."""
  from egoimu_jax.input_pipeline import prepare  # pylint: disable=g-import-not-at-top
  return prepare.ensure(rf_config(args, data, CROSS, 0).data)


def no_skill_predictions(export_dir: str, kind: str, seed: int
                         ) -> Dict[str, np.ndarray]:
  """A submission without skill for an export's test windows: the training
  majority class for all (``constant_majority``) or classes drawn from the
  training class prior (``random_prior``)."""
  with open(os.path.join(export_dir, "export.json")) as f:
    classes = json.load(f)["classes"]
  train = np.load(os.path.join(export_dir, "train", "label.npy"))
  window_id = np.load(os.path.join(export_dir, "test", "window_id.npy"))
  prior = np.bincount(train, minlength=len(classes)) / len(train)
  if kind == "constant_majority":
    pred = np.full(len(window_id), int(np.argmax(prior)))
  elif kind == "random_prior":
    pred = np.random.default_rng(seed).choice(len(classes), len(window_id),
                                              p=prior)
  else:
    raise ValueError(f"unknown no-skill predictor {kind!r}")
  return {"window_id": window_id, "pred": np.asarray(classes)[pred]}


def write_submission(path: str, sub: Mapping[str, np.ndarray]) -> str:
  with open(path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["window_id", "pred"])
    writer.writerows(zip(sub["window_id"], sub["pred"]))
  return path


def run_no_skill(root: str, processed_dir: str, protocol_cfgs: Sequence[
    Mapping[str, object]], seed: int = 0) -> None:
  """Exports each split, writes both no-skill submissions and scores them
  with ``evaluate`` into ``<root>/runs/<predictor>/<protocol>/fold<k>``."""
  from egoimu_jax.evaluation import submission  # pylint: disable=g-import-not-at-top
  from egoimu_jax.export import windows  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline import splits  # pylint: disable=g-import-not-at-top
  from egoimu_jax.input_pipeline.store import processed  # pylint: disable=g-import-not-at-top
  ds = processed.ProcessedDataset.open(processed_dir)
  for k, cfg in enumerate(protocol_cfgs):
    tag = f"{cfg['name']}/fold{cfg['fold']}"
    workdirs = {kind: os.path.join(root, "runs", kind, tag) for kind in NO_SKILL}
    if all(os.path.exists(os.path.join(w, "results.json"))
           for w in workdirs.values()):
      continue
    export_dir = os.path.join(root, "exports", tag)
    if not os.path.exists(os.path.join(export_dir, windows.EXPORT_FILE)):
      windows.export_split(ds, splits.make_split(cfg, ds.manifest), export_dir,
                           formats=("npy",), frames="no", teachers="none")
    for kind, workdir in workdirs.items():
      os.makedirs(workdir, exist_ok=True)
      sub = no_skill_predictions(export_dir, kind, seed=seed * 1000 + k)
      path = write_submission(os.path.join(workdir, "submission.csv"), sub)
      submission.evaluate(path, export_dir, workdir=workdir, name=kind)


# ------------------------------------------------------------ measures
def measure(root: str, models: Sequence[str], n_boot: int, report_name: str):
  """Builds the report of ``<root>/runs/<model>`` for ``models`` and returns
  (report,
  {(model, cross protocol): matched gap}, difficulty per model as
  ``{model: {worker: cross − within macro-F1}}``)."""
  from egoimu_jax.report import aggregate  # pylint: disable=g-import-not-at-top
  from egoimu_jax.report import build  # pylint: disable=g-import-not-at-top
  from egoimu_jax.report import hard_cases_section  # pylint: disable=g-import-not-at-top
  from egoimu_jax.report import tables  # pylint: disable=g-import-not-at-top
  patterns = [os.path.join(root, "runs", m, "*", "fold*") for m in models]
  report = build.build_report(patterns, os.path.join(root, report_name),
                              n_boot=n_boot, hard_cases="off")
  groups = aggregate.models_only(aggregate.group(
      aggregate.load_runs(patterns)))
  gaps, _ = tables.matched_gaps(groups, n_boot=n_boot)
  difficulty = {}
  for name in {k[0] for k in groups}:
    one = {k: v for k, v in groups.items() if k[0] == name}
    found = hard_cases_section.difficulty(one)
    if found is not None:
      difficulty[name] = found[2]
  return report, gaps, difficulty


def worker_share(root: str, model: str, label: int) -> Dict[str, float]:
  """Each person's share of class ``label`` among their cross-person test
  windows (from ``model``'s predictions)."""
  from egoimu_jax.evaluation import results  # pylint: disable=g-import-not-at-top
  num, den = {}, {}
  base = os.path.join(root, "runs", model, CROSS)
  for fold in sorted(os.listdir(base)):
    p = results.read_predictions(os.path.join(base, fold))
    for w, y in zip(p.worker_id.tolist(), p.label.tolist()):
      num[w] = num.get(w, 0) + (y == label)
      den[w] = den.get(w, 0) + 1
  return {w: num[w] / den[w] for w in den}


def fmt_gap(g) -> str:
  return (f"{g.value:+.4f} [95% CI {g.low:+.3f}, {g.high:+.3f}] (within "
          f"{g.within:.3f}, cross {g.cross:.3f}; {g.folds} folds, "
          f"{g.workers} workers, {g.windows} matched windows)")


def verdict(ok: bool) -> str:
  return "PASS" if ok else "FAIL"


# ------------------------------------------------------------ checks
def check_null(null, variation: float) -> bool:
  """The gap's CI on data without person shift contains 0."""
  ok = null.low <= 0.0 <= null.high
  print(f"NULL      person_variation={variation:g}: gap {fmt_gap(null)}: "
        f"{verdict(ok)} (CI {'contains' if ok else 'excludes'} 0)")
  return ok


def check_dose(gaps_by_level: Mapping[float, object]) -> bool:
  """Each level's gap exceeds the one before by more than their combined
  standard error (over folds)."""
  levels = list(gaps_by_level)
  gaps = [gaps_by_level[v] for v in levels]
  steps = [(b.value - a.value, float(np.hypot(a.se, b.se)))
           for a, b in zip(gaps, gaps[1:])]
  ok_dose = all(step > se for step, se in steps)
  print(f"DOSE      gap at person_shift "
        f"{' / '.join(f'{v:g}' for v in levels)}: "
        f"{' / '.join(f'{g.value:+.3f}' for g in gaps)} (CIs "
        + ", ".join(f"[{g.low:+.3f}, {g.high:+.3f}]" for g in gaps)
        + "; within / cross macro-F1 " + ", ".join(
            f"{g.within:.3f} / {g.cross:.3f}" for g in gaps)
        + "; steps " + ", ".join(f"{d:+.3f} (se {e:.3f})" for d, e in steps)
        + f"): {verdict(ok_dose)} ("
        + ("grows monotonically, each step > its se" if ok_dose else
           "not monotonic by more than the steps' se") + ")")
  return ok_dose


def check_hard(difficulty: Mapping[str, float], hard_ids: Sequence[str],
               profiles: Mapping[str, str]) -> bool:
  values = np.array(list(difficulty.values()))
  cut = int(np.floor(HARD_QUANTILE * len(values)))
  # Ties count against: a rank is how many people are at least as hard.
  ranks = {w: int(np.sum(values <= difficulty[w])) if w in difficulty
           else None for w in hard_ids}
  ok = bool(hard_ids) and all(r is not None and r <= cut
                              for r in ranks.values())
  parts = ", ".join(
      f"{w} ({profiles[w]}) rank {r}" + (f" ({difficulty[w]:+.3f})" if r else "")
      for w, r in ranks.items())
  print(f"HARD      planted hard workers by difficulty (cross − within "
        f"macro-F1; rank: people at least as hard, of {len(values)}): {parts}; hardest 25% = "
        f"rank <= {cut}: {verdict(ok)}")
  return ok


def check_no_skill(dataset: str, gaps: Mapping, difficulty: Mapping,
                   shares: Mapping[str, Mapping[str, float]]) -> List[bool]:
  from scipy import stats  # pylint: disable=g-import-not-at-top
  out = []
  for kind in NO_SKILL:
    g = gaps.get((kind, CROSS))
    if kind == "constant_majority":
      ok, rule = g is not None and abs(g.value) < GAP_LIMIT, f"|gap| < {GAP_LIMIT}"
    else:
      # Independent random draws on both arms: the gap is unbiased but its
      # spread is a sample-size matter, so the check is for bias.
      ok = (g is not None and g.low <= 0.0 <= g.high
            and abs(g.value) <= 2 * g.se)
      rule = (f"CI contains 0 and |gap| <= 2 se = {2 * g.se:.3f}" if g
              else "CI contains 0")
    print(f"NO-SKILL  {dataset}: {kind} gap "
          f"{fmt_gap(g) if g else 'missing'}: {verdict(ok)} ({rule})")
    out.append(ok)
  kind = "constant_majority"
  diff, share = difficulty.get(kind, {}), shares.get(kind, {})
  workers = sorted(set(diff) & set(share))
  d = np.array([diff[w] for w in workers])
  s = np.array([share[w] for w in workers])
  if not workers:
    ok, text = False, "no difficulty measure"
  elif np.ptp(d) == 0:
    ok, text = True, (f"difficulty is {d[0]:+.3f} for all {len(workers)} "
                      "people: ρ undefined")
  else:
    rho = float(stats.spearmanr(s, d).statistic)
    ok, text = abs(rho) < RHO_LIMIT, f"Spearman ρ = {rho:+.3f} over {len(workers)} people"
  print(f"NO-SKILL  {dataset}: {kind} difficulty vs each person's share of "
        f"the predicted class: {text}: {verdict(ok)} (|ρ| < {RHO_LIMIT})")
  out.append(ok)
  return out


def dataset_root(args, data: Data) -> str:
  return os.path.join(args.out, f"{data.name}_w{args.workers}x"
                      f"{data.clips or args.clips}_"
                      f"f{args.folds}_s{args.seed}_{args.within_test}")


def planted(args) -> Dict[str, str]:
  from egoimu_jax.input_pipeline.synthetic import workers  # pylint: disable=g-import-not-at-top
  return {f"w{i:04d}": p for i, p in
          workers.hard_assignment(args.workers, args.hard).items()}


def protocol_cfgs(args, data) -> List[Dict[str, object]]:
  return [dict(rf_config(args, data, p, f).protocol)
          for p in PROTOCOLS for f in range(args.folds)]


def main(argv: Optional[Sequence[str]] = None) -> int:
  args = parse_args(argv)
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
      __file__))))  # the repository: configs/
  t0 = time.time()
  print(f"measurement validity: {args.workers} workers x {args.clips} clips "
        f"of {args.clip_seconds:g} s, {args.folds} folds of within and "
        f"{CROSS}, seed {args.seed}, random forest"
        + (f" ({args.trees} trees)" if args.trees else ""), flush=True)
  ok: List[bool] = []
  # Each dataset; no-skill runs on every one ("and on any dataset").
  datasets = [Data(f"variation{args.variation:g}", args.variation, 0.0, 0)]
  datasets += [Data(f"variation{args.variation:g}_shift{v:g}", args.variation,
                    v, 0, args.dose_classes, args.dose_clips,
                    args.dose_clip_seconds) for v in args.levels]
  datasets.append(Data(f"hard{args.hard}", 1.0, 0.0, args.hard))
  # The generator's defaults (one planted hard worker per 30): no-skill only.
  datasets.append(Data("default", 1.0, 0.0, -1))
  null, gaps_by_level, hard_difficulty = None, {}, None
  for data in datasets:
    root = dataset_root(args, data)
    if data.name == "default":
      processed_dir = prepare_only(args, data)
    else:
      processed_dir = run_forest(args, root, data)
    # The DOSE levels share labels and splits (the signature changes the
    # signals only), so a predictor that sees labels alone runs on one.
    if not (data.classes and data.shift != args.levels[0]):
      run_no_skill(root, processed_dir, protocol_cfgs(args, data),
                   seed=args.seed)
      shares = {"constant_majority": worker_share(
          root, "constant_majority", _predicted_class(root))}
      _, ns_gaps, ns_difficulty = measure(root, NO_SKILL, args.n_boot,
                                          "report_no_skill")
      ok += check_no_skill(data.name, ns_gaps, ns_difficulty, shares)
    if data.name == "default":
      continue
    _, rf_gaps, rf_difficulty = measure(root, ["classical_rf"], args.n_boot,
                                        "report_rf")
    if data.hard:
      hard_difficulty = rf_difficulty.get("classical_rf", {})
    elif data.classes:
      gaps_by_level[data.shift] = rf_gaps[("classical_rf", CROSS)]
    else:
      null = rf_gaps[("classical_rf", CROSS)]
    print(f"  ({data.name}: {time.time() - t0:.0f} s so far; reports under "
          f"{root})", flush=True)
  ok += [check_null(null, args.variation), check_dose(gaps_by_level)]
  if args.hard:
    ok.append(check_hard(hard_difficulty or {}, list(planted(args)),
                         planted(args)))
  print(f"{sum(ok)} of {len(ok)} checks pass; wall time "
        f"{time.time() - t0:.0f} s")
  return 0 if all(ok) else 1


def _predicted_class(root: str) -> int:
  """The class the constant predictor predicts (its first cross run's)."""
  from egoimu_jax.evaluation import results  # pylint: disable=g-import-not-at-top
  base = os.path.join(root, "runs", "constant_majority", CROSS)
  p = results.read_predictions(os.path.join(base, sorted(os.listdir(base))[0]))
  return int(np.bincount(p.pred).argmax())


if __name__ == "__main__":
  sys.exit(main())
