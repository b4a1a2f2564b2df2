"""The table model: a titled ``Table`` of cells, rendered as Markdown and
CSV.

Cells are plain values or :class:`MeanStd` / :class:`ValueSE` /
:class:`Interval` estimates; Markdown prints ``0.712 ± 0.031`` (or
``0.712 [0.690, 0.735]``), CSV expands each estimate into numeric columns
(``<col>_mean``, ``<col>_std``, ``<col>_n`` ...) so spreadsheets and plots
never parse strings. A spread over folds is shown only with two or more
folds (one fold: the value alone, and an empty std in CSV).

An estimate may carry a ``flag`` (a key of :data:`FLAGS`): Markdown appends
its mark and a footnote under the table, CSV adds a ``<col>_flag`` column.

A table's ``random_init`` names the runs whose model or teacher started from
random weights although released ones exist (``init_record``): a row naming
one (a cell equal to it, or its first three cells joined by ``/``, as the
distillation table splits ``<student>/<method>/<way>``) gets
``RANDOM_INIT_MARK`` after the name (else its first cell) in Markdown, with
a footnote, and ``random_init`` True in a CSV column of its own.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any, ClassVar, List, Mapping, Optional, Sequence, Tuple, Union

from egoimu_jax.evaluation import metrics as metrics_lib
from egoimu_jax.evaluation import stats as stats_lib

# flag -> (Markdown mark, footnote).
FLAGS = {
    "few_workers": ("‡", f"interval from fewer than "
                         f"{stats_lib.MIN_CI_WORKERS} test workers: a "
                         "bootstrap over so few people is unreliable (too "
                         "narrow, often stuck at a bound)."),
    "constant": ("§", "predicts one class for every test window in at least "
                      "one fold (see the note)."),
    "low_support": ("¶", "a class has few or no test windows in at least one "
                         "fold (see the note)."),
}


@dataclasses.dataclass(frozen=True)
class Estimate:
  """A cell with a spread or an interval; ``flag`` (keyword only) is a key
  of ``FLAGS`` or empty. ``csv_suffixes`` name the CSV columns of
  ``csv_values``."""
  flag: str = dataclasses.field(default="", kw_only=True)
  csv_suffixes: ClassVar[Tuple[str, str, str]]

  def csv_values(self) -> List[Any]:
    raise NotImplementedError

  def markdown(self, digits: int) -> str:
    raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class MeanStd(Estimate):
  mean: float
  std: float
  n: int
  csv_suffixes = ("_mean", "_std", "_n")

  def csv_values(self) -> List[Any]:
    return [self.mean, self.std if self.n > 1 else None, self.n]

  def markdown(self, digits: int) -> str:
    return (f"{self.mean:.{digits}f} ± {self.std:.{digits}f}" if self.n > 1
            else f"{self.mean:.{digits}f}")


@dataclasses.dataclass(frozen=True)
class ValueSE(Estimate):
  value: float
  se: float
  paired: bool
  n: Optional[int] = None    # folds behind the SE; < 2: no SE is shown
  csv_suffixes = ("", "_se", "_paired")

  def csv_values(self) -> List[Any]:
    return [self.value, None if (self.n or 2) < 2 else self.se, self.paired]

  def markdown(self, digits: int) -> str:
    se = f" ± {self.se:.{digits}f}" if (self.n or 2) > 1 else ""
    return f"{self.value:+.{digits}f}{se}{' †' if self.paired else ''}"


@dataclasses.dataclass(frozen=True)
class Interval(Estimate):
  value: float
  low: float
  high: float
  signed: bool = False       # a difference: printed with its sign
  csv_suffixes = ("", "_low", "_high")

  def csv_values(self) -> List[Any]:
    return [self.value, self.low, self.high]

  def markdown(self, digits: int) -> str:
    f = f"{'+' if self.signed else ''}.{digits}f"
    return f"{self.value:{f}} [{self.low:{f}}, {self.high:{f}}]"


Cell = Union[None, str, int, float, Estimate]
RANDOM_INIT_MARK = "°"
RANDOM_INIT_NOTE = ("random init: no pretrained weights given, although the "
                    "model (or its teacher) has released ones "
                    "(docs/pretrained_weights.md).")


@dataclasses.dataclass
class Table:
  """A titled table; ``note`` (and a footnote per flag used) is printed
  under it in Markdown."""
  title: str
  columns: List[str]
  rows: List[List[Cell]]
  note: str = ""
  random_init: frozenset = frozenset()

  def flags(self) -> List[str]:
    used = {c.flag for row in self.rows for c in row
            if isinstance(c, Estimate) and c.flag}
    return [f for f in FLAGS if f in used]

  def random_init_row(self, row: Sequence[Cell]) -> bool:
    """Whether ``row`` names a run in ``random_init``."""
    if not self.random_init:
      return False
    names = {c for c in row if isinstance(c, str)}
    if len(row) >= 3 and all(isinstance(c, str) for c in row[:3]):
      names.add("/".join(row[:3]))
    return bool(names & self.random_init)

  def to_markdown(self, digits: int = 3) -> str:
    fmt = lambda c: _format(c, digits)
    marked = [self.random_init_row(row) for row in self.rows]
    lines = [f"### {self.title}", "",
             "| " + " | ".join(self.columns) + " |",
             "|" + "|".join(" --- " for _ in self.columns) + "|"]
    for row, mark in zip(self.rows, marked):
      cells = [fmt(c) for c in row]
      if mark:   # after the run's name, else after the first cell
        at = next((j for j, c in enumerate(row) if isinstance(c, str) and
                   c in self.random_init), 0)
        cells[at] += f" {RANDOM_INIT_MARK}"
      lines.append("| " + " | ".join(cells) + " |")
    if self.note:
      lines += ["", self.note]
    for flag in self.flags():
      lines += ["", f"{FLAGS[flag][0]} {FLAGS[flag][1]}"]
    if any(marked):
      lines += ["", f"{RANDOM_INIT_MARK} {RANDOM_INIT_NOTE}"]
    return "\n".join(lines) + "\n"

  def to_csv(self) -> str:
    kinds = [_column_kind(self.rows, j) for j in range(len(self.columns))]
    flagged = [any(isinstance(row[j], Estimate) and row[j].flag
                   for row in self.rows) for j in range(len(self.columns))]
    header: List[str] = []
    for col, kind, flag in zip(self.columns, kinds, flagged):
      header += ([col + s for s in kind.csv_suffixes] if kind else [col])
      header += [f"{col}_flag"] if flag else []
    marked = [self.random_init_row(row) for row in self.rows]
    header += ["random_init"] if any(marked) else []
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row, mark in zip(self.rows, marked):
      out: List[Any] = []
      for c, kind, flag in zip(row, kinds, flagged):
        if kind:
          values = (c.csv_values() if isinstance(c, Estimate) else
                    [c, None, None])   # a value without a spread or interval
          out += [_csv_value(v) for v in values]
        else:
          out.append(_csv_value(c))
        if flag:
          out.append(c.flag if isinstance(c, Estimate) else "")
      writer.writerow(out + ([mark] if any(marked) else []))
    return buf.getvalue()

  @classmethod
  def from_dicts(cls, title: str, rows: Sequence[Mapping[str, Any]],
                 note: str = "") -> "Table":
    columns: List[str] = []
    for r in rows:
      columns += [k for k in r if k not in columns]
    return cls(title, columns, [[r.get(c) for c in columns] for r in rows], note)


def mean_std(values: Sequence[float], flag: str = "") -> MeanStd:
  return MeanStd(**metrics_lib.mean_std(values), flag=flag)


def few_workers(n_workers: int) -> str:
  return "few_workers" if n_workers < stats_lib.MIN_CI_WORKERS else ""


def _column_kind(rows, j):
  for row in rows:
    if isinstance(row[j], Estimate):
      return type(row[j])
  return None


def _format(c: Cell, digits: int) -> str:
  if c is None:
    return "–"
  if isinstance(c, Estimate):
    mark = f" {FLAGS[c.flag][0]}" if c.flag else ""
    return c.markdown(digits) + mark
  if isinstance(c, bool):
    return str(c)
  if isinstance(c, float):
    return f"{c:.{digits}g}" if 0 < abs(c) < 10 ** -digits else f"{c:.{digits}f}"
  return str(c).replace("|", "\\|")


def _csv_value(v: Any) -> Any:
  if v is None:
    return ""
  if isinstance(v, float):
    return repr(v)
  return v
