"""What every executor returns."""

from __future__ import annotations

import dataclasses
from typing import List

from launch.job import Job


@dataclasses.dataclass
class Outcome:
  """Jobs by fate. ``submitted``: handed to a scheduler, fate not known yet."""

  finished: List[Job] = dataclasses.field(default_factory=list)
  failed: List[Job] = dataclasses.field(default_factory=list)
  skipped: List[Job] = dataclasses.field(default_factory=list)
  submitted: List[Job] = dataclasses.field(default_factory=list)

  @property
  def ok(self) -> bool:
    return not self.failed

  def summary(self) -> str:
    parts = [f"{len(self.finished)} finished", f"{len(self.failed)} failed",
             f"{len(self.skipped)} done before"]
    if self.submitted:
      parts.append(f"{len(self.submitted)} submitted")
    return ", ".join(parts)
