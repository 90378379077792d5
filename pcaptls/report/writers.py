"""Rows out as data: JSON lines and CSV, the same way for every command.

CSV: a header, then every cell through :func:`~pcaptls.report.safe.csv_cells` (no cell a
spreadsheet would evaluate) and every text cell quoted (a CR in a cell stays in its cell).
"""

from __future__ import annotations

import csv
import io
import json
from typing import IO, Any, Iterable, Mapping, Sequence

from .safe import FORMULA_FIRST, json_line


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
    names: Sequence[str] = () if fields is None else fields
    n = 0
    for r in rows:
        if n == 0:
            if fields is None:
                names = list(r)
            out.write(csv_header(names))
        out.write(",".join(map(csv_text, map(r.get, names))) + "\n")
        n += 1
    if n == 0 and header_when_empty and fields is not None:
        out.write(csv_header(fields))
    return n


def write_csv_rows(out: IO[str], fields: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """:func:`write_csv` of rows given as sequences of cells in ``fields`` order, each cell a
    ``str`` (not a subclass), ``int``, ``float``, ``bool`` or ``None``: the same text, made
    without a dict or a Python call per cell (a retry storm's timeline has 800,000 rows)."""
    text = _CellTexts()
    n = 0
    for cells in rows:
        if n == 0:
            out.write(csv_header(fields))
        out.write(",".join(map(text.__getitem__, cells)) + "\n")
        n += 1
    return n


class _CellTexts(dict[object, str]):
    """Cell -> :func:`csv_text` of it: looked up in C, made in Python only the first time a text
    is seen. Only ``str`` keys and ``None`` (equal to no other cell) are kept (``1``, ``1.0``
    and ``True`` are equal keys with three texts); emptied when full, as :data:`_CELL_TEXT`."""

    def __init__(self) -> None:
        super().__init__(_NONE_TEXT)

    def __missing__(self, value: object) -> str:
        # csv_text's cases, the common ones without its call: a timeline's times and frames
        # are all different, a call each.
        if type(value) is str:
            got = _quoted(value)
            if len(value) <= 256:
                if len(self) >= _CELL_TEXT_MAX:
                    self.clear()
                    self.update(_NONE_TEXT)
                self[value] = got
            return got
        if type(value) is int or type(value) is float:
            return str(value)
        return csv_text(value)


_NONE_TEXT: dict[object, str] = {None: '""'}


def csv_header(fields: Sequence[str]) -> str:
    """The header line: each name quoted, as ``csv.writer`` (:data:`_CSV_DIALECT`) writes it."""
    buf = io.StringIO()
    csv.writer(buf, **_CSV_DIALECT).writerow(fields)
    return buf.getvalue()


# A cell's text by the str it is made of: the same server, SNI, event names and messages fill
# most cells of a large CSV. Small (a timeline's times are all different) and emptied when full,
# so that the texts that keep coming stay.
_CELL_TEXT: dict[str, str] = {}
_CELL_TEXT_MAX = 4096


def csv_text(value: object) -> str:
    """One cell as :func:`write_csv` writes it: :func:`~pcaptls.report.safe.csv_cell` of it,
    then as ``csv.writer`` with :data:`_CSV_DIALECT` writes that (text quoted, ``"`` doubled,
    nothing else escaped; ``None`` as ``""``; numbers, bools included, as ``str`` writes them).
    Made here rather than by the csv module: a call per row of ``writerow`` and a list of
    cells cost three times this. ``tests/report/test_writers.py`` holds it to the csv module."""
    if type(value) is str:
        got = _CELL_TEXT.get(value)
        if got is None:
            got = _quoted(value)
            if len(value) <= 256:
                if len(_CELL_TEXT) >= _CELL_TEXT_MAX:
                    _CELL_TEXT.clear()
                _CELL_TEXT[value] = got
        return got
    if value is None:
        return '""'
    if isinstance(value, (int, float)):
        return str(value)  # csv writes numbers (and bools) as str() does, unquoted
    return _quoted(str(value))  # what csv_cell makes of anything else: its text


def _quoted(text: str) -> str:
    return ('"\'' if text[:1] in FORMULA_FIRST else '"') + text.replace('"', '""') + '"'


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """:func:`write_csv` into a string, with a column for every key any row has."""
    buf = io.StringIO()
    write_csv(buf, rows, list(dict.fromkeys(k for r in rows for k in r)))
    return buf.getvalue()
