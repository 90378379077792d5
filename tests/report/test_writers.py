"""report.writers: the CSV text is the csv module's (QUOTE_NONNUMERIC, "\\n") of csv_cells of each
row, byte for byte: write_csv and write_csv_rows encode cells themselves (faster), and the csv
module is the oracle."""

from __future__ import annotations

import csv
import io
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pcaptls.report import writers
from pcaptls.report.safe import csv_cells


def oracle(fields: list[str], rows: list[list[Any]], header_when_empty: bool = False) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    if rows or header_when_empty:
        w.writerow(fields)
    for cells in rows:
        w.writerow(csv_cells(cells))
    return buf.getvalue()


class _Str(str):
    """A str subclass (written as its text, as csv_cell takes it)."""


class _Named:
    def __str__(self) -> str:
        return '=cmd|"x"'


plain_cells = st.one_of(
    st.text(), st.text(st.sampled_from('=+-@\t\r\n a1\'",\x00\u2028')), st.integers(), st.floats(), st.booleans(),
    st.none(),
)
any_cells = st.one_of(plain_cells, st.text().map(_Str), st.just(_Named()), st.binary(max_size=4))
FIELDS = [f"c{i}" for i in range(6)]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(any_cells, min_size=6, max_size=6), max_size=8))
def test_write_csv_is_the_csv_module(rows: list[list[Any]]) -> None:
    buf = io.StringIO()
    n = writers.write_csv(buf, [dict(zip(FIELDS, r)) for r in rows])
    assert n == len(rows)
    assert buf.getvalue() == oracle(FIELDS, rows)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(plain_cells, min_size=6, max_size=6), max_size=8))
def test_write_csv_rows_is_the_csv_module(rows: list[list[Any]]) -> None:
    buf = io.StringIO()
    assert writers.write_csv_rows(buf, FIELDS, rows) == len(rows)
    assert buf.getvalue() == oracle(FIELDS, rows)


def test_equal_cells_of_other_types_keep_their_own_text() -> None:
    # 1, 1.0 and True are equal dict keys: the per-text lookups must not mix them up.
    rows: list[list[Any]] = [["1", 1, 1.0, True, None, ""], [True, 1.0, 1, "1", "", None]] * 3
    for write in (lambda b: writers.write_csv(b, [dict(zip(FIELDS, r)) for r in rows]),
                  lambda b: writers.write_csv_rows(b, FIELDS, rows)):
        buf = io.StringIO()
        write(buf)
        assert buf.getvalue() == oracle(FIELDS, rows)


def test_fields_missing_keys_and_empty() -> None:
    buf = io.StringIO()
    writers.write_csv(buf, [{"a": "=x"}, {"b": 2}], fields=["a", "b"])
    assert buf.getvalue() == oracle(["a", "b"], [["=x", None], [None, 2]])
    buf = io.StringIO()
    assert writers.write_csv(buf, [], fields=["a", "b"], header_when_empty=True) == 0
    assert buf.getvalue() == oracle(["a", "b"], [], header_when_empty=True)
    buf = io.StringIO()
    assert writers.write_csv(buf, []) == 0 and writers.write_csv_rows(buf, FIELDS, []) == 0
    assert buf.getvalue() == ""


def test_the_text_caches_stay_bounded() -> None:
    buf = io.StringIO()
    rows = [[f"row {i}", "server", "=sni", i, None, ""] for i in range(3 * writers._CELL_TEXT_MAX)]
    writers.write_csv(buf, [dict(zip(FIELDS, r)) for r in rows])
    assert len(writers._CELL_TEXT) <= writers._CELL_TEXT_MAX
    assert buf.getvalue() == oracle(FIELDS, rows)
