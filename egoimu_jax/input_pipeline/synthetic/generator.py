"""The synthetic pilot: the embedded default dataset for demos and tests.

``ensure(syn_cfg, cache_dir)`` generates a dataset once into
``<cache_dir>/synthetic/<variant>-<hash of the config>/`` (a completion
marker makes a crashed generation start over) and returns its root.
``generate(syn_cfg, root)`` writes it anywhere.

The output is the raw layout of docs/data_layout.md, in either variant:

* ``jsonl``: ``clips/<worker>/<clip>.imu.jsonl`` (absolute epoch ``t_us``;
  ``index.csv`` gives clip time zero in ``imu_t0_us``) and ``<clip>.mp4``;
* ``wds``: ``shards/pilot-NNNNN.tar`` with ``<clip>.mp4``, ``<clip>.imu.npy``
  and ``<clip>.json`` per clip. With ``wds_imu="frames"`` (vendor style) the
  IMU has one row per video frame and no timestamps (rows are stamped with
  frame presentation times on ingest); with ``"native"`` it has the same rows
  as the JSONL variant and the json carries ``imu_t_us``.

The same seed gives the same workers, clips and signals in both variants.
Worker state fractions follow the pilot statistics (defaults.PILOT_CLASSES
order); a few planted hard workers deviate (workers.HARD_PROFILES).
``person_variation`` sizes the differences between people (``variation``:
1 as drawn, 0 everyone the typical person, planted hard workers kept);
``person_shift`` plants a person signature a within-person model can learn
(``signature``: each worker does each class partly as others do another,
with their own tilt, tempo and gain; 0: none).
``defects`` plants damaged clips, listed in ``defects.json``.

``clip_activities`` makes a dataset of another shape, as public HAR data
is: its own classes, one label per clip. Each entry is ``"label=activity"``
(or just the activity) with a worn activity of ``activities.WORN``, e.g.
``("walk=stroll", "sit=sit", "stairs=carry", "cycle=lifting")``; each worker
has its own mixture of the classes (Dirichlet(1)) and each clip is one
activity throughout. With ``imu_rate_hz`` and ``with_video`` it stands in
for a dataset that shares nothing with the pilot but the raw layout.
"""

from __future__ import annotations

import concurrent.futures
import csv
import fcntl
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import sys
import threading
from typing import Dict, List, Optional, Tuple

import ml_collections
import numpy as np

from egoimu_jax.input_pipeline.synthetic import defaults as defaults_lib
from egoimu_jax.input_pipeline.raw import imu_jsonl
from egoimu_jax.input_pipeline.raw import webdataset
from egoimu_jax.input_pipeline.synthetic import activities as activities_lib
from egoimu_jax.input_pipeline.synthetic import defects as defects_lib
from egoimu_jax.input_pipeline.synthetic import motion as motion_lib
from egoimu_jax.input_pipeline.synthetic import variation as variation_lib
from egoimu_jax.input_pipeline.synthetic import workers as workers_lib
from egoimu_jax.input_pipeline.synthetic import video as video_lib

# Bump when the generator's output changes for the same config.
GENERATOR_VERSION = 3
COMPLETE_MARKER = "_COMPLETE"
CLIPS_PER_SHARD = 64
_EPOCH_BASE_US = 1_780_000_000_000_000  # 2026-05-28, where clip clocks start

DEFAULTS = defaults_lib.SYNTHETIC_DEFAULTS


def config(**overrides) -> ml_collections.ConfigDict:
  """A generator config: DEFAULTS with overrides (unknown keys rejected)."""
  unknown = set(overrides) - set(DEFAULTS)
  if unknown:
    raise KeyError(f"unknown synthetic config keys {sorted(unknown)}")
  return ml_collections.ConfigDict({**DEFAULTS, **overrides})


def _full(syn_cfg) -> Dict[str, object]:
  d = dict(DEFAULTS)
  given = syn_cfg.to_dict() if hasattr(syn_cfg, "to_dict") else dict(syn_cfg)
  unknown = set(given) - set(DEFAULTS)
  if unknown:
    raise KeyError(f"unknown synthetic config keys {sorted(unknown)}")
  d.update(given)
  d["video_size"] = [int(x) for x in d["video_size"]]
  d["person_variation"] = float(d["person_variation"])
  if not d["person_variation"] >= 0:
    raise ValueError("synthetic person_variation must be >= 0 (1: as drawn, "
                     f"0: everyone the typical person), got {d['person_variation']}")
  d["person_shift"] = float(d["person_shift"])
  if not d["person_shift"] >= 0:
    raise ValueError("synthetic person_shift must be >= 0 (0: no planted "
                     f"person signature), got {d['person_shift']}")
  if d["variant"] not in ("jsonl", "wds"):
    raise ValueError(f"synthetic variant must be 'jsonl' or 'wds', got {d['variant']!r}")
  if d["wds_imu"] not in ("frames", "native"):
    raise ValueError(f"wds_imu must be 'frames' or 'native', got {d['wds_imu']!r}")
  defects_lib.parse_kinds(d["defects"], d["variant"], d["with_video"])  # validates
  if d["variant"] == "wds" and d["wds_imu"] == "frames" and not d["with_video"]:
    raise ValueError("wds_imu='frames' stamps IMU rows with video frame times; "
                     "it needs with_video=True (or use wds_imu='native')")
  d["clip_activities"] = [f"{label}={kind}" for label, kind in
                          clip_classes(d["clip_activities"])]
  return d


def clip_classes(spec) -> List[Tuple[str, str]]:
  """``clip_activities`` (a sequence, or one comma-separated string) as
  (label, activity) pairs; empty: the pilot's states."""
  items = spec.split(",") if isinstance(spec, str) else list(spec)
  out = []
  for item in (str(i).strip() for i in items):
    if not item:
      continue
    label, _, kind = item.rpartition("=")
    label = label or kind
    if kind not in activities_lib.WORN:
      raise ValueError(f"synthetic clip_activities: {item!r} names no worn "
                       f"activity; known: {sorted(activities_lib.WORN)}")
    out.append((label, kind))
  labels = [label for label, _ in out]
  if len(set(labels)) != len(labels):
    raise ValueError(f"synthetic clip_activities: labels repeat: {labels}")
  if len(out) == 1:
    raise ValueError("synthetic clip_activities needs two classes or more")
  return out


def config_hash(syn_cfg) -> str:
  d = _full(syn_cfg)
  d.pop("num_processes")  # does not change the output
  if not d["clip_activities"]:
    d.pop("clip_activities")  # the pilot: hashes as before the option existed
  if d["person_variation"] == 1.0:
    d.pop("person_variation")  # likewise
  if d["person_shift"] == 0.0:
    d.pop("person_shift")  # likewise
  planted = set(workers_lib.hard_assignment(d["num_workers"],
                                           d["hard_workers"]).values())
  revisions = {p: r for p, r in workers_lib.HARD_PROFILE_REVISIONS.items()
               if p in planted}
  if revisions:
    d["hard_profile_revisions"] = revisions
  blob = json.dumps([GENERATOR_VERSION, d], sort_keys=True).encode()
  return hashlib.sha256(blob).hexdigest()[:16]


# ------------------------------------------------------------------ one clip
def _clip_id(worker: workers_lib.Worker, c: int) -> str:
  return f"{worker.worker_id}_c{c:03d}"


def _plan_clip(cfg, worker, w: int, c: int):
  rng = np.random.default_rng([cfg["seed"], 2, w, c])
  duration = float(cfg["clip_seconds"]) * float(rng.uniform(0.94, 1.06))
  classes = clip_classes(cfg["clip_activities"])
  if not classes:
    return rng, duration, motion_lib.make_clip(worker, rng, duration)
  mix = variation_lib.class_mix(np.random.default_rng(
      [cfg["seed"], 7, w]).dirichlet(np.ones(len(classes))),
                                float(cfg["person_variation"]))
  label = int(np.random.default_rng([cfg["seed"], 8, w, c]).choice(
      len(classes), p=mix))
  clip = motion_lib.make_activity_clip(worker, rng, duration,
                                       classes[label][1], label)
  return rng, duration, clip


def _imu_times_us(cfg, duration: float, rng) -> np.ndarray:
  rate = float(cfg["imu_rate_hz"])
  period = 1e6 / rate
  drift = 1 + rng.normal(0, 30e-6)          # crystal error, ~30 ppm
  offset = rng.uniform(0, 0.5 * period)     # sensor starts just after video
  n = int(np.floor((duration * 1e6 - offset) / (period * drift)))
  jitter = np.clip(rng.normal(0, cfg["imu_jitter"] * period, n),
                   -0.4 * period, 0.4 * period)
  return np.round(offset + np.arange(n) * period * drift + jitter).astype(np.int64)


def _make_clip(cfg, worker, w: int, c: int, defect: Optional[str]):
  """Generates one clip: returns (members {name: bytes}, index row, meta)."""
  rng, duration, clip = _plan_clip(cfg, worker, w, c)
  clip_id = _clip_id(worker, c)
  noise_rng = np.random.default_rng([cfg["seed"], 3, w, c])
  mp4 = None
  frame_t = None
  if cfg["with_video"]:
    frame_t = video_lib.frame_times(duration, float(cfg["video_fps"]),
                                    bool(cfg["vfr"]), rng)
    frames = video_lib.render(clip, frame_t, tuple(cfg["video_size"]), cfg["seed"])
    mp4 = video_lib.encode(frames, frame_t, float(cfg["video_fps"]))
  detail: dict = {}
  frames_sync = cfg["variant"] == "wds" and cfg["wds_imu"] == "frames"
  if frames_sync:
    t_us = np.round(frame_t * 1e6).astype(np.int64)
  else:
    t_us = _imu_times_us(cfg, duration, rng)
  acc, gyro = clip.sample(t_us / 1e6, noise_rng)
  values = np.concatenate([acc, gyro], axis=1)
  if defect:
    t_us, values, detail = defects_lib.damage_rows(defect, t_us, values, rng)
  members: Dict[str, Optional[bytes]] = {}
  if cfg["variant"] == "jsonl":
    t0 = _EPOCH_BASE_US + (w * 1000 + c) * 60_000_000
    data = imu_jsonl.dumps(t_us + t0, values, decimals=4)  # ~sensor LSB
    if defect:
      data, more = defects_lib.damage_jsonl(defect, data)
      detail.update(more)
    members["imu"] = None if defect == "missing_imu" else data
    extra = {"imu_t0_us": str(t0)}
  else:
    arr = values.astype(np.float32)
    if defect:
      arr, more = defects_lib.damage_npy(defect, arr, rng)
      detail.update(more)
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    data = buf.getvalue()
    if defect == "corrupt_npy":
      data = b"not an npy file"
    members["imu"] = None if defect == "missing_imu" else data
    meta = {"clip_id": clip_id, "worker_id": worker.worker_id,
            "fps": float(cfg["video_fps"]) if cfg["with_video"] else None}
    if not frames_sync:
      meta["imu_t_us"] = t_us.tolist()
    members["json"] = json.dumps(meta, sort_keys=True).encode()
    extra = {"imu_t0_us": ""}
  if mp4 is not None and defect:
    mp4, more = defects_lib.damage_mp4(defect, mp4)
    detail.update(more)
  members["mp4"] = mp4
  segments = [(clip_id, round(s, 3), round(e, 3), st)
              for s, e, st in clip.segments]
  row = {"clip_id": clip_id, "worker_id": worker.worker_id,
         "duration_s": f"{duration:.3f}", **extra}
  return members, row, segments, detail


def _workers(cfg) -> List[workers_lib.Worker]:
  hard = workers_lib.hard_assignment(cfg["num_workers"], cfg["hard_workers"])
  return [_worker(cfg, w, hard) for w in range(cfg["num_workers"])]


def _worker(cfg, w: int, hard: Dict[int, str]) -> workers_lib.Worker:
  # Each class's worn activities: the pilot's states, or one per class.
  kinds = ([[kind] for _, kind in clip_classes(cfg["clip_activities"])]
           or [activities_lib.WORK_TASKS, activities_lib.BREAK_STYLES, ()])
  return variation_lib.varied_worker(cfg["seed"], w, hard.get(w),
                                     float(cfg["person_variation"]),
                                     float(cfg["person_shift"]), kinds)


def _defect_plan(cfg, workers) -> Dict[Tuple[int, int], str]:
  """(worker, clip) -> defect kind; distinct clips, typical workers only."""
  kinds = defects_lib.parse_kinds(cfg["defects"], cfg["variant"],
                                  cfg["with_video"])
  if not kinds:
    return {}
  pool = [w for w, wk in enumerate(workers) if wk.profile == "typical"]
  capacity = len(pool) * cfg["clips_per_worker"]
  if len(kinds) > capacity:
    raise ValueError(f"{len(kinds)} defects need as many clips; the dataset has "
                     f"{capacity} clips of typical workers")
  # Last clips first, one worker after another.
  free = [(w, c) for c in range(cfg["clips_per_worker"] - 1, -1, -1)
          for w in pool]
  plan: Dict[Tuple[int, int], str] = {}
  for kind in kinds:
    pick = free[0]
    if kind == "gyro_deg":  # detectable only with motion: a working clip
      for w, c in free:
        _, dur, clip = _plan_clip(cfg, workers[w], w, c)
        work = sum(e - s for s, e, st in clip.segments
                   if st == workers_lib.WORKING)
        if work > 0.9 * dur:
          pick = (w, c)
          break
    free.remove(pick)
    plan[pick] = kind
  return plan


# ------------------------------------------------------------------ tasks
def _task(cfg, root: str, clips: List[Tuple[int, int]], plan, shard: Optional[str]):
  """Writes a group of clips (a worker's files, or one tar shard)."""
  workers = {w: None for w, _ in clips}
  hard = workers_lib.hard_assignment(cfg["num_workers"], cfg["hard_workers"])
  for w in workers:
    workers[w] = _worker(cfg, w, hard)
  rows, segments, defects, tar_members = [], [], [], []
  for w, c in clips:
    worker = workers[w]
    defect = plan.get((w, c))
    members, row, segs, detail = _make_clip(cfg, worker, w, c, defect)
    clip_id = row["clip_id"]
    if cfg["variant"] == "jsonl":
      rel = f"clips/{worker.worker_id}"
      os.makedirs(os.path.join(root, rel), exist_ok=True)
      row["imu_path"] = f"{rel}/{clip_id}.imu.jsonl"
      row["video_path"] = f"{rel}/{clip_id}.mp4" if cfg["with_video"] else ""
      for key, path in (("imu", row["imu_path"]), ("mp4", row["video_path"])):
        if members.get(key) is not None:
          with open(os.path.join(root, path), "wb") as f:
            f.write(members[key])
      imu_ref = row["imu_path"]
      video_ref = row["video_path"]
    else:
      row["imu_path"] = webdataset.member_ref(shard, f"{clip_id}.imu.npy")
      row["video_path"] = (webdataset.member_ref(shard, f"{clip_id}.mp4")
                           if cfg["with_video"] else "")
      for key, name in (("mp4", f"{clip_id}.mp4"), ("imu", f"{clip_id}.imu.npy"),
                        ("json", f"{clip_id}.json")):
        if members.get(key) is not None:
          tar_members.append((name, members[key]))
      imu_ref, video_ref = row["imu_path"], row["video_path"]
    rows.append(row)
    if defect == "no_segments":
      segs = []
    segments.extend(segs)
    if defect:
      exp = defects_lib.expectation(defect, cfg["variant"])
      target = video_ref if defect in ("missing_video", "truncated_mp4") else imu_ref
      if defect == "no_segments":
        target = "segments.csv"
      defects.append({"kind": defect, "clip_id": clip_id,
                      "worker_id": worker.worker_id, "path": target,
                      "detail": detail, **exp})
  if shard is not None:
    os.makedirs(os.path.join(root, os.path.dirname(shard)), exist_ok=True)
    webdataset.write_tar(os.path.join(root, shard), tar_members)
  return rows, segments, defects


def _start_method() -> str:
  """fork is cheap and works from any __main__ (stdin, notebooks), but is
  unsafe once the parent runs threads: Python's, or JAX's (its runtime
  starts C++ threads that ``threading`` does not count, so an imported JAX
  counts as threaded)."""
  threaded = threading.active_count() > 1 or "jax" in sys.modules
  return "spawn" if threaded else "fork"


def generate(syn_cfg, root: str) -> str:
  """Writes the synthetic dataset into ``root`` (a local directory)."""
  cfg = _full(syn_cfg)
  os.makedirs(root, exist_ok=True)
  workers = _workers(cfg)
  plan = _defect_plan(cfg, workers)
  order = [(w, c) for w in range(cfg["num_workers"])
           for c in range(cfg["clips_per_worker"])]
  tasks = []
  if cfg["variant"] == "jsonl":
    for w in range(cfg["num_workers"]):
      tasks.append((order[w * cfg["clips_per_worker"]:(w + 1) * cfg["clips_per_worker"]], None))
  else:
    for k in range(0, len(order), CLIPS_PER_SHARD):
      tasks.append((order[k:k + CLIPS_PER_SHARD],
                    f"shards/pilot-{k // CLIPS_PER_SHARD:05d}.tar"))
  procs = int(cfg["num_processes"]) or min(os.cpu_count() or 1, 8)
  if len(order) < 48:
    procs = 1
  procs = min(procs, len(tasks))
  if procs > 1:
    ctx = multiprocessing.get_context(_start_method())
    with concurrent.futures.ProcessPoolExecutor(procs, mp_context=ctx) as pool:
      results = list(pool.map(_task, *zip(*[(cfg, root, clips, plan, shard)
                                              for clips, shard in tasks])))
  else:
    results = [_task(cfg, root, clips, plan, shard) for clips, shard in tasks]

  classes = ([label for label, _ in clip_classes(cfg["clip_activities"])]
             or list(defaults_lib.PILOT_CLASSES))
  rows = [r for res in results for r in res[0]]
  segments = [s for res in results for s in res[1]]
  defects = [d for res in results for d in res[2]]
  # Realised state fractions per worker, from the written labels.
  dur: Dict[str, np.ndarray] = {wk.worker_id: np.zeros(len(classes))
                                for wk in workers}
  for clip_id, s, e, st in segments:
    dur[clip_id.split("_c")[0]][st] += e - s
  with open(os.path.join(root, "index.csv"), "w", newline="") as f:
    wr = csv.writer(f)
    cols = ["clip_id", "worker_id", "video_path", "imu_path", "imu_t0_us",
            "duration_s"]
    wr.writerow(cols)
    for r in rows:
      wr.writerow([r[k] for k in cols])
  with open(os.path.join(root, "segments.csv"), "w", newline="") as f:
    wr = csv.writer(f)
    wr.writerow(["clip_id", "start_s", "end_s", "label"])
    for clip_id, s, e, st in segments:
      wr.writerow([clip_id, f"{s:.3f}", f"{e:.3f}", classes[st]])
  # A planted signature changes no other table: its column keeps the raw
  # dataset's fingerprint (the tables' bytes) apart from the unshifted one.
  shift = ["person_shift"] if cfg["person_shift"] else []
  with open(os.path.join(root, "workers.csv"), "w", newline="") as f:
    wr = csv.writer(f)
    wr.writerow(["worker_id"] + [f"frac_{c}" for c in classes] +
                ["profile", "device", "site", "tempo_hz"] + shift)
    for wk in workers:
      frac = dur[wk.worker_id] / max(dur[wk.worker_id].sum(), 1e-9)
      wr.writerow([wk.worker_id] + [f"{x:.4f}" for x in frac] +
                  [wk.profile, f"imu-{wk.site % 2}", f"site{wk.site}",
                   f"{wk.tempo_hz:.3f}"] +
                  [f"{cfg['person_shift']:g}" for _ in shift])
  with open(os.path.join(root, "labels.json"), "w") as f:
    json.dump({"classes": classes}, f)
  with open(os.path.join(root, "defects.json"), "w") as f:
    json.dump(defects, f, indent=1, sort_keys=True)
  recorded = dict(cfg)
  if not recorded["person_shift"]:
    recorded.pop("person_shift")  # as before the option existed
  with open(os.path.join(root, "synthetic.json"), "w") as f:
    json.dump({"generator_version": GENERATOR_VERSION, "config": recorded}, f,
              indent=1, sort_keys=True)
  return root


def ensure(syn_cfg, cache_dir: str) -> str:
  """The dataset root for ``syn_cfg`` under ``cache_dir``; generated once.

  Safe against concurrent callers (a file lock) and crashes (the dataset is
  built in a temporary directory and renamed once complete).
  """
  cfg = _full(syn_cfg)
  root = os.path.join(cache_dir, "synthetic", f"{cfg['variant']}-{config_hash(syn_cfg)}")
  marker = os.path.join(root, COMPLETE_MARKER)
  if os.path.exists(marker):
    return root
  os.makedirs(os.path.dirname(root), exist_ok=True)
  with open(root + ".lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if os.path.exists(marker):
      return root
    if os.path.exists(root):  # a crashed earlier attempt
      shutil.rmtree(root)
    tmp = f"{root}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    generate(syn_cfg, tmp)
    with open(os.path.join(tmp, COMPLETE_MARKER), "w") as f:
      f.write(config_hash(syn_cfg) + "\n")
    os.rename(tmp, root)
  return root
