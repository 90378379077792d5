"""Attacker-controlled text made safe for terminals, JSON lines and spreadsheets."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pcaptls.report.safe import csv_cell, csv_cells, json_line, terminal

# Every character str.splitlines() breaks on: a JSON line must hold none of them raw.
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


# -- terminal ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, shown", [
    ("cucm.example.com", "cucm.example.com"),
    ("\x1b[2J\x1b[31mok", "\\x1b[2J\\x1b[31mok"),  # clear screen, colour
    ("a\rb\nc\td", "a\\x0db\\x0ac\\x09d"),
    ("bell\x07back\x08", "bell\\x07back\\x08"),
    ("\x00\x7f\x9b", "\\x00\\x7f\\x9b"),  # NUL, DEL, C1 CSI
    ("\x85", "\\x85"),  # NEL
    ("evil\u202egnp.exe", "evil\\u202egnp.exe"),  # right-to-left override
    ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),
    ("Ünïcode ✓ 证书", "Ünïcode ✓ 证书"),  # printable text is kept as it is
    (None, ""),
    (443, "443"),
])
def test_terminal_escapes_control_characters(text: object, shown: str) -> None:
    assert terminal(text) == shown


def test_terminal_escapes_every_control_and_bidi_character() -> None:
    controls = [chr(c) for c in range(0x20)] + [chr(c) for c in range(0x7F, 0xA0)] + list(BIDI + "\u2028\u2029")
    for c in controls:
        out = terminal(c)
        assert out.startswith("\\") and out.isascii() and out.isprintable(), repr(c)


@given(st.text())
def test_terminal_output_has_no_control_characters(text: str) -> None:
    out = terminal(text)
    # Only format characters (Cf) other than the bidi controls may remain, e.g. U+00AD soft hyphen.
    assert not any(unicodedata.category(c) == "Cc" or c in BIDI or c in LINE_BREAKS for c in out)
    assert out == text or "\\" in out  # unchanged, or something was escaped


# -- JSON lines --------------------------------------------------------------------------------

@pytest.mark.parametrize("char, escaped", [
    ("\x85", "\\u0085"),  # NEL
    ("\u2028", "\\u2028"),
    ("\u2029", "\\u2029"),
    ("\x7f", "\\u007f"),  # DEL
    ("\x9b", "\\u009b"),  # C1 CSI
    ("\u202e", "\\u202e"),
])
def test_json_line_escapes_what_json_dumps_leaves_raw(char: str, escaped: str) -> None:
    value = {"sni": f"a{char}b"}
    raw = _dumps(value)
    assert char in raw  # json.dumps really does leave it raw
    out = json_line(raw)
    assert out == raw.replace(char, escaped)
    assert json.loads(out) == value


def test_json_line_keeps_plain_text_and_printable_unicode_unchanged() -> None:
    for value in ({"sni": "cucm.example.com", "n": 3}, ["Ünïcode ✓ 证书", None, 1.5]):
        raw = _dumps(value)
        assert json_line(raw) == raw


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_json_line_is_the_same_value_on_one_line(value: object) -> None:
    out = json_line(_dumps(value))
    assert json.loads(out) == value
    assert len(out.splitlines()) == 1
    assert not any(c in LINE_BREAKS for c in out)
    assert not any(c in BIDI or 0x7F <= ord(c) <= 0x9F for c in out)


# -- CSV cells ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value, cell", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1+1", "'+1+1"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("cucm.example.com", "cucm.example.com"),
    ("a=b", "a=b"),  # only the first character makes a formula
    (" =1", " =1"),
    ("", ""),
    ("'quoted", "'quoted"),
])
def test_csv_cell_text(value: str, cell: str) -> None:
    assert csv_cell(value) == cell
    assert csv_cells([value]) == [cell]


@pytest.mark.parametrize("value", [0, -5, 443, 1.5, -0.25, True, False, None])
def test_csv_numbers_pass_through_unchanged(value: object) -> None:
    got = csv_cell(value)
    assert got is value or (got == value and type(got) is type(value))
    assert csv_cells([value]) == [value] and type(csv_cells([value])[0]) is type(value)


def test_csv_other_objects_become_text() -> None:
    class Name:
        def __str__(self) -> str:
            return "=cmd|' /C calc'!A0"

    assert csv_cell(Name()) == "'=cmd|' /C calc'!A0"
    assert csv_cells([Name(), b"-x"]) == ["'=cmd|' /C calc'!A0", "b'-x'"]


class _Str(str):
    """A str subclass: csv_cells' fast path is for exact str only."""


cell_values = st.one_of(
    st.text(), st.text(st.sampled_from("=+-@\t\r a1'")), st.integers(), st.floats(allow_nan=False), st.booleans(),
    st.none(), st.text().map(_Str),
)


@given(st.lists(cell_values, max_size=20))
def test_csv_cells_is_csv_cell_of_each(values: list[object]) -> None:
    assert csv_cells(values) == list(map(csv_cell, values))


@given(st.text())
def test_no_text_cell_starts_a_formula(value: str) -> None:
    cell = csv_cell(value)
    assert isinstance(cell, str)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell in (value, "'" + value)
