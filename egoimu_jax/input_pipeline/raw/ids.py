"""Ids read from the raw tables, and the dataset warnings they raise.

Ids are read NFC-normalised and stripped in every table; what is suspicious
but usable (ids spelled two ways, ids differing only in case) is counted and
the first few of each kind described (``Warnings``), which prepare copies
into the manifest.
"""

from __future__ import annotations

import collections
import unicodedata
from typing import Callable, Dict, List

# Warnings of one kind described in ``Warnings.messages`` (all are counted).
MAX_WARNINGS_PER_KIND = 5
INDEX = "index.csv"


class Warnings:
  """Counted dataset warnings; the first few of each kind described."""

  def __init__(self):
    self.counts: Dict[str, int] = collections.Counter()
    self.messages: List[str] = []
    self._described: Dict[str, int] = collections.Counter()

  def add(self, kind: str, message: "str | Callable[[], str]",
          count: int = 1) -> None:
    """Counts a warning; ``message`` may be a callable (built if described)."""
    self.counts[kind] += count
    self._described[kind] += 1
    if self._described[kind] <= MAX_WARNINGS_PER_KIND:
      self.messages.append(message() if callable(message) else message)
    elif self._described[kind] == MAX_WARNINGS_PER_KIND + 1:
      self.messages.append(f"... more {kind} warnings (all counted in "
                           "dataset_warning_counts)")


class Ids:
  """Ids of one kind (clip or worker), normalised in every table.

  Ids are registered from the index (first line kept, and the raw spelling
  when it is not the id itself); a cell of any table spelling a known id
  differently (Unicode normal form, surrounding spaces) is warned about.
  """

  def __init__(self, name: str, index_path: str, warnings: Warnings):
    self.name = name                  # "worker_id" or "clip_id"
    self.index_path = index_path
    self.line: Dict[str, int] = {}    # id -> first index line
    self._raw: Dict[str, str] = {}    # id -> first spelling, if not the id
    self._warnings = warnings

  def __call__(self, raw: str, path: str, line: int,
               register: bool = False) -> str:
    ident = raw.strip()
    if not ident.isascii():
      ident = unicodedata.normalize("NFC", ident)
    first_line = self.line.get(ident)
    if first_line is not None:
      first = self._raw.get(ident, ident)
      if first != raw:
        self._warnings.add(f"{self.name}_spellings", lambda: (
            f"{path}: line {line}: {self.name} {ascii(raw)} is {ascii(first)} "
            f"({INDEX} line {first_line}) {how_equal(raw, first)}; read as "
            "the same id"))
    elif register:
      self.line[ident] = line
      if raw != ident:
        self._raw[ident] = raw
    return ident

  def spelling(self, ident: str) -> str:
    return self._raw.get(ident, ident)

  def case_twins(self) -> None:
    """Warns about registered ids that differ only in case."""
    first_of: Dict[str, str] = {}
    twins: Dict[str, List[str]] = {}
    for ident in self.line:
      folded = ident.casefold()
      other = first_of.setdefault(ident if folded == ident else folded, ident)
      if other != ident:
        twins.setdefault(folded, [other]).append(ident)
    for group in twins.values():
      lines = " and ".join(str(self.line[t]) for t in group)
      self._warnings.add(f"{self.name}_case", (
          f"{self.index_path}: {self.name.replace('_id', ' ids')} "
          f"{' and '.join(ascii(t) for t in group)} (lines {lines}) differ "
          "only in case; kept apart — if they are the same, spell them the "
          "same"))


def how_equal(a: str, b: str) -> str:
  """Why two spellings are one id: "after Unicode NFC normalisation", ..."""
  how = []
  if a.strip() != a or b.strip() != b:
    how.append("once surrounding spaces are removed")
  if a.strip() != b.strip():
    how.append("after Unicode NFC normalisation")
  return " and ".join(how)
