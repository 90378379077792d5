"""Neutralise attacker-controlled strings for terminals and spreadsheets.

SNI, ALPN, certificate fields and log text come off the wire. In a terminal, control
characters (ESC sequences, BEL, backspace, bidi overrides) could rewrite what the engineer
sees; in a spreadsheet, a cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR becomes a
formula (OWASP "CSV injection"). JSON keeps every character exactly; :func:`json_line` writes
the few that ``json.dumps(ensure_ascii=False)`` leaves raw as ``\\u`` escapes.
"""

from __future__ import annotations

import re
from typing import Iterable

# C0, DEL, C1, and the Unicode bidi/line controls that can reorder or hide text (the marks
# LRM, RLM and ALM, embeddings, overrides and isolates; line and paragraph separators).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
# What json.dumps(ensure_ascii=False) leaves raw: C1 (with NEL), bidi controls, line separators.
_JSON_RAW = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    o = ord(c)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def terminal(text: object) -> str:
    """Text safe to print: control characters shown as ``\\xNN`` escapes."""
    s = "" if text is None else str(text)
    return _CONTROL.sub(_escape, s)


def json_line(text: str) -> str:
    """JSON text from ``json.dumps(..., ensure_ascii=False)`` with the characters it leaves raw
    that split lines (``str.splitlines`` breaks on NEL, U+2028/9) or steer a terminal written as
    ``\\uXXXX``: the same JSON value, safe to print and to split on lines."""
    if text.isascii() and "\x7f" not in text:  # nothing _JSON_RAW matches (DEL is its only ASCII)
        return text
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def csv_cell(value: object) -> object:
    """A CSV cell that no spreadsheet will evaluate (numbers pass through unchanged)."""
    if value is None or isinstance(value, (int, float, bool)):
        return value
    s = str(value)
    if s.startswith(_FORMULA_START):
        return "'" + s
    return s


FORMULA_FIRST = frozenset(_FORMULA_START)  # the first characters csv_cell neutralises


def csv_cells(values: Iterable[object]) -> list[object]:
    """:func:`csv_cell` of each value; text, most cells, without a call each (timelines have
    millions): a set lookup of the first character instead of ``startswith`` of six prefixes."""
    first = FORMULA_FIRST
    return [("'" + v if v[:1] in first else v) if type(v) is str else csv_cell(v) for v in values]
