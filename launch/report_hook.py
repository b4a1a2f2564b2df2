"""After a sweep: the report (``egoimu_jax.report``) over its finished workdirs.

The report runs as ``python -m egoimu_jax.report`` with the jobs' interpreter,
so that launch itself needs neither numpy nor jax (and can be driven from an
XManager environment).

Jobs tagged ``tags[REPORT_TAG]`` (``launch/sweeps/reproduce.py`` tags each
experiment's jobs) get one report per tag value, in ``<report_dir>/<value>/``,
and ``<report_dir>/README.md`` indexes them with the provenance of every run:
the command that made it and the hash of its resolved config.
"""

from __future__ import annotations

import copy
import glob
import hashlib
import json
import os
import subprocess
import sys
from typing import Dict, List, Sequence

from absl import logging

from launch.job import Job
from launch.job import REPORT_TAG
from launch.job import RESULTS_FILE
from launch.sweep import REPO_ROOT


def report_command(patterns: Sequence[str], report_dir: str,
                   python: str = sys.executable) -> list:
  for p in patterns:
    if "," in p:
      raise ValueError(f"workdir {p!r} has a comma; the report's --workdirs "
                       f"flag is comma-separated")
  return [python, "-m", "egoimu_jax.report", f"--workdirs={','.join(patterns)}",
          f"--out={report_dir}"]


def write_report(jobs: Sequence[Job], report_dir: str,
                 python: str = sys.executable) -> bool:
  """Writes the report(s) over the done jobs' runs; False if none is done.

  Untagged jobs: ``report_dir/report.md`` etc. Tagged jobs (``REPORT_TAG``):
  one report per tag in ``report_dir/<tag>/`` plus ``report_dir/README.md``.
  Jobs with no runs (``run_globs=()``, e.g. ``prepare``) are left out.
  """
  jobs = [j for j in jobs if j.run_globs]
  groups: Dict[str, List[Job]] = {}
  for j in jobs:
    groups.setdefault(str(j.tags.get(REPORT_TAG, "")), []).append(j)
  if list(groups) == [""]:
    return _report(jobs, report_dir, python)
  written = {}
  for tag, members in sorted(groups.items()):
    out = os.path.join(report_dir, tag or "other")
    if _report(members, out, python):
      written[tag or "other"] = members
  if written:
    _write_index(report_dir, written, python)
  return bool(written)


def _report(jobs: Sequence[Job], report_dir: str, python: str) -> bool:
  done = [j for j in jobs if j.is_done()]
  if not done:
    logging.error("no finished runs among %d jobs; no report in %s", len(jobs),
                  report_dir)
    return False
  if len(done) < len(jobs):
    logging.warning("report %s covers %d of %d jobs (the others are not done)",
                    report_dir, len(done), len(jobs))
  patterns = [p for j in done for p in j.runs()]
  proc = subprocess.run(report_command(patterns, report_dir, python), cwd=REPO_ROOT,
                        capture_output=True, text=True, check=False)
  if proc.returncode:
    raise RuntimeError(f"report failed (exit {proc.returncode}):\n"
                       f"{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
  logging.info("report: %s", proc.stdout.strip())
  return True


# Where this machine keeps data: not part of a config's identity.
LOCAL_PATHS = ("processed_dir", "cache_dir")


def config_hash(results: dict) -> str:
  """First 12 hex digits of the SHA-256 of a run's resolved config (the
  ``config`` of its results.json, keys sorted), less where this machine
  keeps data (``data.processed_dir``, ``data.cache_dir``: the prepared set is
  resolved from the raw data and the prepare config, which stay in)."""
  config = copy.deepcopy(results.get("config", {}))
  for key in LOCAL_PATHS:
    config.get("data", {}).pop(key, None)
  text = json.dumps(config, sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:12]


def provenance(job: Job, root: str) -> List[Dict[str, str]]:
  """One row per finished run of a (local) job: run dir (relative to
  ``root``), name, protocol, fold, config hash, and the job's command."""
  rows = []
  for pattern in job.runs():
    for path in sorted(glob.glob(os.path.join(pattern, RESULTS_FILE))):
      with open(path) as f:
        res = json.load(f)
      rows.append({"run": os.path.relpath(os.path.dirname(path), root),
                   "name": str(res.get("name", "")),
                   "protocol": str(res.get("protocol", "")),
                   "fold": str(res.get("fold", "")),
                   "config_hash": config_hash(res),
                   "command": job.shell("python")})
  return rows


def _write_index(report_dir: str, groups: Dict[str, List[Job]],
                 python: str) -> None:
  del python  # commands are written with a plain ``python``
  lines = ["# Reproduced results", "",
           "One report per experiment; every number in them comes from the "
           "runs listed under it, each with the command that made it (run "
           "from the repository root) and the hash of its resolved config "
           "(`launch.report_hook.config_hash` of its results.json).", ""]
  local = [j.workdir for js in groups.values() for j in js
           if "://" not in j.workdir]
  root = os.path.commonpath(local) if local else ""
  for tag, jobs in groups.items():
    lines += [f"## {tag}", "", f"[report]({tag}/report.md)", "",
              "| run | name | protocol | fold | config hash | command |",
              "| --- | --- | --- | --- | --- | --- |"]
    for j in jobs:
      if "://" in j.workdir or not j.is_done():
        continue
      for r in provenance(j, root):
        lines.append(f"| {r['run']} | {r['name']} | {r['protocol']} | "
                     f"{r['fold']} | `{r['config_hash']}` | "
                     f"`{r['command']}` |")
    lines.append("")
  os.makedirs(report_dir, exist_ok=True)
  with open(os.path.join(report_dir, "README.md"), "w") as f:
    f.write("\n".join(lines))
