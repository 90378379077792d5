"""Fixed-width text tables for the terminal (every cell passed through :func:`safe.terminal`).

A table may be given a width (the terminal's): :func:`fit` then narrows the widest columns down
to their minimums, and when even that is too wide leaves out whole columns, least useful first,
and says which (:attr:`Fitted.note`). Cut cells end in '…'.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence

from .safe import terminal

GAP = 2  # spaces between columns


def render(headers: Sequence[str], rows: Sequence[Sequence[object]], max_width: dict[int, int] | None = None,
           width: int | None = None, mins: Mapping[int, int] | None = None, drop: Sequence[int] = (),
           narrow: Sequence[int] = ()) -> str:
    """Columns padded to their widest cell (capped per column by ``max_width``, cut with '…'),
    fitted to ``width`` when given (see :func:`fit`), with the fit's note under the table."""
    cells = [[terminal(c) for c in row] for row in rows]
    fitted = fit(headers, column_widths(headers, cells, max_width), width, mins, drop, narrow)
    lines = list(fitted.lines(headers, cells))
    if fitted.note:
        lines.append(fitted.note if width is None or len(fitted.note) <= width
                     else "\n".join(textwrap.wrap(fitted.note, width, subsequent_indent="  ")))
    return "\n".join(lines)


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


@dataclass(frozen=True, slots=True)
class Fitted:
    """Which columns a table keeps (indexes into the full row) and at what widths."""

    keep: tuple[int, ...]
    widths: tuple[int, ...]  # of the kept columns, in order
    dropped: tuple[str, ...]  # headers of the columns left out
    limit: int | None

    @property
    def note(self) -> str | None:
        """The line that says which columns were left out, or ``None``."""
        if not self.dropped:
            return None
        return (f"(left out to fit {self.limit} columns: {', '.join(self.dropped)}; a wider terminal, "
                "COLUMNS=N, or --format csv shows them)")

    def lines(self, headers: Sequence[str], cells: Iterable[Sequence[str]]) -> Iterator[str]:
        """:func:`render_lines` of the kept columns."""
        pick = self.keep
        return render_lines([headers[i] for i in pick], ([row[i] for i in pick] for row in cells), self.widths,
                            wrap=self.limit is not None)


def fit(headers: Sequence[str], widths: Sequence[int], limit: int | None, mins: Mapping[int, int] | None = None,
        drop: Sequence[int] = (), narrow: Sequence[int] = ()) -> Fitted:
    """Columns and widths for a table no wider than ``limit`` (``None``: as they are).

    Columns narrow down to ``mins`` (default: the header's width, at least 6): those in
    ``narrow`` first, each as far as needed in that order, then the one with most room left;
    while even their minimums are too wide, the columns in ``drop`` are left out in that order.
    Columns not in ``drop`` are always kept (a table of only those may still be wider)."""
    keep = list(range(len(headers)))
    if limit is None:
        return Fitted(tuple(keep), tuple(widths), (), limit)
    floor = {i: min(widths[i], max((mins or {}).get(i, max(len(headers[i]), 6)), len(headers[i])))
             for i in keep}
    order = [i for i in drop if i in floor]

    def total(ws: Iterable[int], n: int) -> int:
        return sum(ws) + GAP * (n - 1)

    while order and total((floor[i] for i in keep), len(keep)) > limit:
        keep.remove(order.pop(0))
    w = {i: widths[i] for i in keep}
    excess = total(w.values(), len(keep)) - limit
    for i in narrow:
        if excess <= 0:
            break
        if i in w:
            step = min(excess, w[i] - floor[i])
            w[i] -= step
            excess -= step
    while excess > 0:
        # Narrow the column with the most room above its floor, one character at a time.
        i = max(keep, key=lambda k: (w[k] - floor[k], w[k]))
        if w[i] <= floor[i]:
            break
        w[i] -= 1
        excess -= 1
    dropped = tuple(headers[i] for i in range(len(headers)) if i not in keep)
    return Fitted(tuple(keep), tuple(w[i] for i in keep), dropped, limit)


WRAP_LINES = 3  # lines a wrapped cell may take before it is cut


def render_lines(headers: Sequence[str], cells: Iterable[Sequence[str]], widths: Sequence[int],
                 wrap: bool = False) -> Iterator[str]:
    """The table's lines (header, rule, rows; cells already passed through :func:`safe.terminal`),
    one at a time: a table of many rows is written without being held. A cell wider than its
    column is cut with '…', or with ``wrap`` continued on up to :data:`WRAP_LINES` lines."""

    def cut(c: str, w: int) -> str:
        return c if len(c) <= w else c[: w - 1] + "…"

    def fmt(row: Sequence[str]) -> str:
        return "  ".join(cut(c, widths[i]).ljust(widths[i]) for i, c in enumerate(row)).rstrip()

    yield fmt(list(headers))
    yield fmt(["-" * w for w in widths])
    for row in cells:
        if not wrap or all(len(c) <= widths[i] for i, c in enumerate(row)):
            yield fmt(row)
            continue
        parts = [_wrap(c, widths[i]) for i, c in enumerate(row)]
        for n in range(max(map(len, parts))):
            yield fmt([p[n] if n < len(p) else "" for p in parts])


def _wrap(cell: str, width: int) -> list[str]:
    """``cell`` over lines of ``width``, broken at spaces where it can be; at most
    :data:`WRAP_LINES`, the last cut with '…' if the cell goes on."""
    lines: list[str] = []
    rest = cell
    while rest and len(lines) < WRAP_LINES:
        if len(rest) <= width:
            lines.append(rest)
            rest = ""
            break
        at = rest.rfind(" ", 1, width + 1)
        at = width if at <= 0 else at
        lines.append(rest[:at].rstrip())
        rest = rest[at:].lstrip(" ")
    if rest:
        lines[-1] = lines[-1][: width - 1] + "…" if len(lines[-1]) >= width else lines[-1] + "…"
    return lines or [""]
