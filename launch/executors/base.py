"""What every executor returns."""

from __future__ import annotations

import dataclasses
from typing import List

from launch.job import Job


@dataclasses.dataclass
class Outcome:
  """Jobs by fate. ``submitted``: handed to a scheduler, fate not known yet;
  ``not_run``: never started, because a job they wait for failed."""

  finished: List[Job] = dataclasses.field(default_factory=list)
  failed: List[Job] = dataclasses.field(default_factory=list)
  skipped: List[Job] = dataclasses.field(default_factory=list)
  submitted: List[Job] = dataclasses.field(default_factory=list)
  not_run: List[Job] = dataclasses.field(default_factory=list)

  @property
  def ok(self) -> bool:
    return not self.failed and not self.not_run

  def summary(self) -> str:
    parts = [f"{len(self.finished)} finished", f"{len(self.failed)} failed",
             f"{len(self.skipped)} done before"]
    if self.not_run:
      parts.append(f"{len(self.not_run)} not run (a job they wait for failed)")
    if self.submitted:
      parts.append(f"{len(self.submitted)} submitted")
    return ", ".join(parts)
