"""Rows out as data: JSON lines and CSV, the same way for every command.

CSV: a header, then every cell through :func:`~pcaptls.report.safe.csv_cells` (no cell a
spreadsheet would evaluate) and every text cell quoted (a CR in a cell stays in its cell).
"""

from __future__ import annotations

import csv
import io
import json
from typing import IO, Any, Iterable, Mapping, Sequence

from .safe import csv_cells, json_line


def jsonl(records: Iterable[dict[str, Any]]) -> str:
    return "".join(json_line(json.dumps(r, ensure_ascii=False, separators=(",", ":"))) + "\n" for r in records)


# Every text cell quoted: with "\n" line ends the csv module would leave a CR in a cell
# unquoted, and a spreadsheet would start a new row there (and evaluate what follows).
_CSV_DIALECT: dict[str, Any] = {"lineterminator": "\n", "quoting": csv.QUOTE_NONNUMERIC}


def write_csv(out: IO[str], rows: Iterable[Mapping[str, Any]], fields: Sequence[str] | None = None,
              header_when_empty: bool = False) -> int:
    """``rows`` as CSV, written as they come: a header of ``fields`` (default: the first row's
    keys), then each row's values in that order (one it lacks is empty), every cell through
    :func:`~pcaptls.report.safe.csv_cells`; nothing at all when there are no rows (unless
    ``header_when_empty``, with ``fields``). Returns how many rows were written."""
    w = None
    names: Sequence[str] = ()
    n = 0
    for r in rows:
        if w is None:
            names = list(r) if fields is None else fields
            w = csv.writer(out, **_CSV_DIALECT)
            w.writerow(names)
        w.writerow(csv_cells(map(r.get, names)))
        n += 1
    if w is None and header_when_empty and fields is not None:
        csv.writer(out, **_CSV_DIALECT).writerow(fields)
    return n


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """:func:`write_csv` into a string, with a column for every key any row has."""
    buf = io.StringIO()
    write_csv(buf, rows, list(dict.fromkeys(k for r in rows for k in r)))
    return buf.getvalue()
