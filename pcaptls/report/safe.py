"""Neutralise attacker-controlled strings for terminals and spreadsheets.

SNI, ALPN, certificate fields and log text come off the wire. In a terminal, control
characters (ESC sequences, BEL, backspace, bidi overrides) could rewrite what the engineer
sees; in a spreadsheet, a cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR becomes a
formula (OWASP "CSV injection"). JSON needs neither: ``json.dumps`` escapes every character.
"""

from __future__ import annotations

import re

# C0, DEL, C1, and the Unicode bidi/line controls that can reorder or hide text.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    o = ord(c)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def terminal(text: object) -> str:
    """Text safe to print: control characters shown as ``\\xNN`` escapes."""
    s = "" if text is None else str(text)
    return _CONTROL.sub(_escape, s)


def csv_cell(value: object) -> object:
    """A CSV cell that no spreadsheet will evaluate (numbers pass through unchanged)."""
    if value is None or isinstance(value, (int, float, bool)):
        return value
    s = str(value)
    if s.startswith(_FORMULA_START):
        return "'" + s
    return s
