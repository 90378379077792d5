"""Fixed-width text tables for the terminal (every cell passed through :func:`safe.terminal`)."""

from __future__ import annotations

from typing import Sequence

from .safe import terminal


def render(headers: Sequence[str], rows: Sequence[Sequence[object]], max_width: dict[int, int] | None = None) -> str:
    """Columns padded to their widest cell (capped per column by ``max_width``, cut with '…')."""
    caps = max_width or {}
    cells = [[terminal(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    for i, cap in caps.items():
        widths[i] = min(widths[i], max(cap, len(headers[i])))

    def fmt(row: Sequence[str]) -> str:
        out = []
        for i, c in enumerate(row):
            if len(c) > widths[i]:
                c = c[: widths[i] - 1] + "…"
            out.append(c.ljust(widths[i]))
        return "  ".join(out).rstrip()

    lines = [fmt(list(headers)), fmt(["-" * w for w in widths])]
    lines.extend(fmt(r) for r in cells)
    return "\n".join(lines)
