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

from launch.job import is_done
from launch.sweep import REPO_ROOT


def report_command(workdirs: Sequence[str], report_dir: str,
                   python: str = sys.executable) -> list:
  for w in workdirs:
    if "," in w:
      raise ValueError(f"workdir {w!r} has a comma; the report's --workdirs "
                       f"flag is comma-separated")
  return [python, "-m", "egoimu_jax.report", f"--workdirs={','.join(workdirs)}",
          f"--out={report_dir}"]


def write_report(workdirs: Sequence[str], report_dir: str,
                 python: str = sys.executable) -> bool:
  """Writes ``report_dir/report.md`` etc. over the done workdirs; False if none."""
  done = [w for w in workdirs if is_done(w)]
  if not done:
    logging.error("no finished runs among %d workdirs; no report", len(workdirs))
    return False
  if len(done) < len(workdirs):
    logging.warning("report covers %d of %d runs (the others are not done)",
                    len(done), len(workdirs))
  proc = subprocess.run(report_command(done, report_dir, python), cwd=REPO_ROOT,
                        capture_output=True, text=True, check=False)
  if proc.returncode:
    raise RuntimeError(f"report failed (exit {proc.returncode}):\n"
                       f"{proc.stdout[-2000:]}{proc.stderr[-4000:]}")
  logging.info("report: %s", proc.stdout.strip())
  return True
