"""After a sweep: the report (``egoimu_jax.report``) over its finished workdirs.

The report runs as ``python -m egoimu_jax.report`` with the jobs' interpreter,
so that launch itself needs neither numpy nor jax (and can be driven from an
XManager environment).
"""

from __future__ import annotations

import subprocess
import sys
from typing import Sequence

from absl import logging

from launch.job import Job
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
  """Writes ``report_dir/report.md`` etc. over the done jobs' runs; False if none."""
  done = [j for j in jobs if j.is_done()]
  if not done:
    logging.error("no finished runs among %d jobs; no report", len(jobs))
    return False
  if len(done) < len(jobs):
    logging.warning("report covers %d of %d jobs (the others are not done)",
                    len(done), len(jobs))
  patterns = [p for j in done for p in j.runs()]
  proc = subprocess.run(report_command(patterns, report_dir, python), cwd=REPO_ROOT,
                        capture_output=True, text=True, check=False)
  if proc.returncode:
    raise RuntimeError(f"report failed (exit {proc.returncode}):\n"
                       f"{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
  logging.info("report: %s", proc.stdout.strip())
  return True
