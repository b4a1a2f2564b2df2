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
"""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any, List, Mapping, Optional, Sequence, Union

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
}


@dataclasses.dataclass(frozen=True)
class MeanStd:
  mean: float
  std: float
  n: int
  flag: str = ""

  def csv_values(self) -> List[Any]:
    return [self.mean, self.std if self.n > 1 else None, self.n]


@dataclasses.dataclass(frozen=True)
class ValueSE:
  value: float
  se: float
  paired: bool
  n: Optional[int] = None    # folds behind the SE; < 2: no SE is shown
  flag: str = ""

  def csv_values(self) -> List[Any]:
    return [self.value, None if (self.n or 2) < 2 else self.se, self.paired]


@dataclasses.dataclass(frozen=True)
class Interval:
  value: float
  low: float
  high: float
  flag: str = ""
  signed: bool = False       # a difference: printed with its sign

  def csv_values(self) -> List[Any]:
    return [self.value, self.low, self.high]


Cell = Union[None, str, int, float, MeanStd, ValueSE, Interval]
_ESTIMATES = (MeanStd, ValueSE, Interval)
_CSV_SUFFIXES = {MeanStd: ("_mean", "_std", "_n"),
                 ValueSE: ("", "_se", "_paired"),
                 Interval: ("", "_low", "_high")}


@dataclasses.dataclass
class Table:
  """A titled table; ``note`` (and a footnote per flag used) is printed
  under it in Markdown."""
  title: str
  columns: List[str]
  rows: List[List[Cell]]
  note: str = ""

  def flags(self) -> List[str]:
    used = {c.flag for row in self.rows for c in row
            if isinstance(c, _ESTIMATES) and c.flag}
    return [f for f in FLAGS if f in used]

  def to_markdown(self, digits: int = 3) -> str:
    fmt = lambda c: _format(c, digits)
    lines = [f"### {self.title}", "",
             "| " + " | ".join(self.columns) + " |",
             "|" + "|".join(" --- " for _ in self.columns) + "|"]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in self.rows]
    if self.note:
      lines += ["", self.note]
    for flag in self.flags():
      lines += ["", f"{FLAGS[flag][0]} {FLAGS[flag][1]}"]
    return "\n".join(lines) + "\n"

  def to_csv(self) -> str:
    kinds = [_column_kind(self.rows, j) for j in range(len(self.columns))]
    flagged = [any(isinstance(row[j], _ESTIMATES) and row[j].flag
                   for row in self.rows) for j in range(len(self.columns))]
    header: List[str] = []
    for col, kind, flag in zip(self.columns, kinds, flagged):
      header += ([col + s for s in _CSV_SUFFIXES[kind]] if kind else [col])
      header += [f"{col}_flag"] if flag else []
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in self.rows:
      out: List[Any] = []
      for c, kind, flag in zip(row, kinds, flagged):
        if kind:
          values = (c.csv_values() if isinstance(c, _ESTIMATES) else
                    [c, None, None])   # a value without a spread or interval
          out += [_csv_value(v) for v in values]
        else:
          out.append(_csv_value(c))
        if flag:
          out.append(c.flag if isinstance(c, _ESTIMATES) else "")
      writer.writerow(out)
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
    if isinstance(row[j], _ESTIMATES):
      return type(row[j])
  return None


def _format(c: Cell, digits: int) -> str:
  if c is None:
    return "–"
  if isinstance(c, _ESTIMATES):
    mark = f" {FLAGS[c.flag][0]}" if c.flag else ""
    return _format_estimate(c, digits) + mark
  if isinstance(c, bool):
    return str(c)
  if isinstance(c, float):
    return f"{c:.{digits}g}" if 0 < abs(c) < 10 ** -digits else f"{c:.{digits}f}"
  return str(c).replace("|", "\\|")


def _format_estimate(c: Union[MeanStd, ValueSE, Interval], digits: int) -> str:
  if isinstance(c, MeanStd):
    return (f"{c.mean:.{digits}f} ± {c.std:.{digits}f}" if c.n > 1
            else f"{c.mean:.{digits}f}")
  if isinstance(c, ValueSE):
    se = f" ± {c.se:.{digits}f}" if (c.n or 2) > 1 else ""
    return f"{c.value:+.{digits}f}{se}{' †' if c.paired else ''}"
  f = f"{'+' if c.signed else ''}.{digits}f"
  return f"{c.value:{f}} [{c.low:{f}}, {c.high:{f}}]"


def _csv_value(v: Any) -> Any:
  if v is None:
    return ""
  if isinstance(v, float):
    return repr(v)
  return v
