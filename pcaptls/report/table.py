"""Fixed-width text tables for the terminal (every cell passed through :func:`safe.terminal`)."""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence

from .safe import terminal


def render(headers: Sequence[str], rows: Sequence[Sequence[object]], max_width: dict[int, int] | None = None) -> str:
    """Columns padded to their widest cell (capped per column by ``max_width``, cut with '…')."""
    cells = [[terminal(c) for c in row] for row in rows]
    return "\n".join(render_lines(headers, cells, column_widths(headers, cells, max_width)))


def column_widths(headers: Sequence[str], cells: Iterable[Sequence[str]], max_width: dict[int, int] | None = None) -> list[int]:
    """Each column's width: its widest cell or header, capped by ``max_width`` (never below the header)."""
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            if len(c) > widths[i]:
                widths[i] = len(c)
    for i, cap in (max_width or {}).items():
        widths[i] = min(widths[i], max(cap, len(headers[i])))
    return widths


def render_lines(headers: Sequence[str], cells: Iterable[Sequence[str]], widths: Sequence[int]) -> Iterator[str]:
    """The table's lines (header, rule, rows; cells already passed through :func:`safe.terminal`),
    one at a time: a table of many rows is written without being held."""

    def fmt(row: Sequence[str]) -> str:
        out = []
        for i, c in enumerate(row):
            if len(c) > widths[i]:
                c = c[: widths[i] - 1] + "…"
            out.append(c.ljust(widths[i]))
        return "  ".join(out).rstrip()

    yield fmt(list(headers))
    yield fmt(["-" * w for w in widths])
    for row in cells:
        yield fmt(row)
