"""Capture connections + linked log events -> one timeline, one row per event, in time order.

Capture rows come from each :class:`~pcaptls.tls.model.TlsConnection`: its start, every plaintext
handshake message, every alert, and its end (FIN/RST, or "open" if the capture stopped first).
Log rows are the :class:`~pcaptls.correlate.link.Link` s, placed on the capture's clock (the
clock offset applied), with the connection they were linked to.

:func:`timeline_rows` yields the rows one at a time, as plain dicts, for the CLI's writers
(:func:`timeline_cells` as tuples, for CSV);
:func:`build_timeline` is the same rows as a pandas DataFrame, for notebooks. The CLI streams
because the frame costs what the rows do many times over: on a retry storm of 32,000 failing
connections (256,000 rows), building, sorting and converting the frame took 7 of the command's
9 s and 500 MB (docs/LIMITS.md). Only each row's time and number are held to put them in order
(about 80 bytes a row, measured).

Columns: ``time`` (ISO-8601 UTC with microseconds and ``Z``, :func:`pcaptls.times.iso`), ``source`` (``capture`` or the log file's
name), ``event`` (``ClientHello``, ``alert``, ``RST``... or the log record's kind),
``connection`` (``TlsConnection.id``; for a log row the linked connection, empty if none),
``server``, ``sni``, ``detail`` (for a log row the text to read), ``error`` (a fatal alert's
description; for a log row the X509_V_ERR name, the alert or the error text), then ``frame``,
``sender``, ``line`` (in the log file), ``level``, ``link`` (how the log row was linked:
attempt, transaction, nearest, or why not), ``log_time`` (as the log wrote it, its own clock),
``delta`` (seconds from the connection's moment the record belongs to); the DataFrame adds
``time_utc`` (aware UTC ``datetime``) and ``epoch``. Text cells are raw: writers neutralise them
for their medium. A cell with nothing to say is "" (text) or ``None`` (``frame``, ``line``, ``delta``).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from ..times import iso
from ..tls.constants import alert_title
from ..tls.model import HandshakeEvent, TlsConnection
from .link import Correlation, Link

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = [
    "time", "source", "event", "connection", "server", "sni", "detail",
    "error", "frame", "sender", "line", "level", "link", "log_time", "delta", "time_utc", "epoch",
]
ROW_COLUMNS = COLUMNS[:-2]  # the keys of each row from timeline_rows, in this order


# A row is a tuple of its cells in ROW_COLUMNS order: timeline_cells() hands them to the CSV
# writer as they are (800,000 rows on a retry storm: a dict each cost a fifth of the command),
# timeline_rows() as dicts.
Cells = tuple[object, ...]


def _after_time(source: str, event: str, connection: str, server: str, sni: str, detail: str,
                      error: str = "", frame: int | None = None, sender: str = "", line: int | None = None,
                      level: str = "", link: str = "", log_time: str = "", delta: float | None = None) -> Cells:
    return (source, event, connection, server, sni, detail, error, frame, sender, line, level, link, log_time, delta)


def _capture_times(c: TlsConnection) -> list[float]:
    """The times of :func:`_capture_cells`' rows 0, 1, ... for ``c``."""
    end = c.close_time if c.close_time is not None else c.end  # the FIN/RST's own time
    return [c.start, *(h.time for h in c.handshake), *(a.time for a in c.alerts), end]


def _base(c: TlsConnection) -> tuple[str, str, str]:
    """The cells every row of ``c`` has: connection, server, sni."""
    return c.id, str(c.server), c.sni or ""


def _capture_cells(c: TlsConnection, j: int, base: tuple[str, str, str]) -> Cells:
    """Row ``j`` of connection ``c`` (``base``: :func:`_base` of it), without its time cell: its
    start, its handshake messages, its alerts, its end. Each tuple is written out in
    :func:`_after_time`'s order rather than made by it: a call with keywords for each of a
    retry storm's 800,000 rows was a sixth of them."""
    if j == 0:
        return ("capture", "connection start", *base,
                f"{c.client} -> {base[1]}" + ("" if c.saw_syn else " (no SYN seen)"),
                "", c.first_frame, "client", None, "", "", "", None)
    j -= 1
    if j < len(c.handshake):
        h = c.handshake[j]
        name, detail = _message(h.type, h.sender)
        return ("capture", name, *base, detail, "", h.frame, h.sender, None, "", "", "", None)
    j -= len(c.handshake)
    if j < len(c.alerts):
        a = c.alerts[j]
        if a.encrypted or a.code is None:
            desc = "Alert (encrypted)"
        else:
            level = _LEVELS.get(a.level or 0) or str(a.level)
            desc = f"Alert (Level: {level}, Description: {alert_title(a.code)})"
        return ("capture", "alert", *base, f"{desc} from {a.sender}",
                a.description if a.fatal and a.description else "", a.frame, a.sender, None, "", "", "", None)
    if c.closed_by is not None:
        kind = c.close_kind or "close"
        return ("capture", kind, *base, f"{kind} from {c.closed_by}", "", c.close_frame, c.closed_by, None, "", "", "",
                None)
    return ("capture", "last packet", *base, "still open when the capture ended", "", c.last_frame or None, "", None,
            "", "", "", None)


_LEVELS = {1: "Warning", 2: "Fatal"}


@lru_cache(maxsize=1024)
def _message(htype: int, sender: str) -> tuple[str, str]:
    """A handshake message's event and detail cells."""
    name = HandshakeEvent(0.0, 0, sender, htype).name
    return name, f"{name} from {sender}"


def _capture_row(c: TlsConnection, j: int, base: tuple[str, str, str]) -> dict[str, object]:
    """Row ``j`` of connection ``c`` as a dict (keys :data:`ROW_COLUMNS`)."""
    return dict(zip(ROW_COLUMNS, (iso(_capture_times(c)[j]), *_capture_cells(c, j, base))))


def _log_cells(link: Link, conns: Sequence[TlsConnection]) -> Cells:
    e = link.event
    lc = conns[link.connection] if link.connection is not None else None
    return (iso(link.time), *_after_time(
        e.source, e.kind.value, link.connection_id or "",
        str(lc.server) if lc is not None else e.server or "", (lc.sni or "") if lc is not None else "",
        e.message or "", error=e.error_code or e.alert or e.error or "", line=e.line_no, level=e.level or "",
        link=link.reason or "", log_time=e.local_time or "", delta=None if link.delta is None else float(link.delta)))


def _log_row(link: Link, conns: Sequence[TlsConnection]) -> dict[str, object]:
    """:func:`_log_cells` as a dict (keys :data:`ROW_COLUMNS`)."""
    return dict(zip(ROW_COLUMNS, _log_cells(link, conns)))


def _ordered(conns: Sequence[TlsConnection], correlation: Correlation | None,
             only_linked: bool) -> Iterator[tuple[float, Cells]]:
    # Rows are numbered in build order (each connection's rows, then the log rows) and sorted
    # stably by time: at equal times capture rows come first, then build order. Only the times
    # (8 bytes a row) and the sorted row numbers are held; each row is made as it is written.
    times = array("d")
    firsts = array("q")  # each connection's first row number
    for c in conns:
        firsts.append(len(times))
        times.extend(_capture_times(c))
    n_capture = len(times)
    links = [] if correlation is None else [k for k in correlation.links if not (only_linked and k.connection is None)]
    times.extend(k.time for k in links)
    order = sorted(range(len(times)), key=times.__getitem__)
    # A connection's rows are mostly near each other in time: its base cells are made once while it is recent.
    base = lru_cache(maxsize=1024)(lambda ci: _base(conns[ci]))
    for i in order:
        if i < n_capture:
            ci = bisect_right(firsts, i) - 1
            t = times[i]
            yield t, (iso(t), *_capture_cells(conns[ci], i - firsts[ci], base(ci)))
        else:
            yield times[i], _log_cells(links[i - n_capture], conns)


def timeline_cells(conns: Sequence[TlsConnection], correlation: Correlation | None = None, *,
                   only_linked: bool = False) -> Iterator[Cells]:
    """:func:`timeline_rows` as tuples of cells in :data:`ROW_COLUMNS` order (for writers that
    take rows as sequences: :func:`pcaptls.report.writers.write_csv_rows`)."""
    for _, cells in _ordered(conns, correlation, only_linked):
        yield cells


def timeline_rows(conns: Sequence[TlsConnection], correlation: Correlation | None = None, *,
                  only_linked: bool = False) -> Iterator[dict[str, object]]:
    """One dict per capture and log event (keys :data:`ROW_COLUMNS`), sorted by time (ties:
    capture first, then file order). ``only_linked`` drops log events linked to no connection."""
    for _, cells in _ordered(conns, correlation, only_linked):
        yield dict(zip(ROW_COLUMNS, cells))


def build_timeline(
    conns: Sequence[TlsConnection],
    correlation: Correlation | None = None,
    *,
    only_linked: bool = False,
) -> pd.DataFrame:
    """:func:`timeline_rows` as a DataFrame, with ``time_utc`` and ``epoch`` (for plots and queries)."""
    import pandas as pd  # ~0.2 s and ~50 MB to import: only here

    epochs: list[float] = []
    rows: list[dict[str, object]] = []
    for t, cells in _ordered(conns, correlation, only_linked):
        epochs.append(t)
        rows.append(dict(zip(ROW_COLUMNS, cells)))
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    df = pd.DataFrame(rows, columns=ROW_COLUMNS)
    df["frame"] = df["frame"].astype("Int64")
    df["line"] = df["line"].astype("Int64")
    df["delta"] = df["delta"].astype("float64")
    df["epoch"] = pd.Series(epochs, dtype="float64")
    df["time_utc"] = pd.to_datetime(df["epoch"], unit="s", utc=True)
    return df[COLUMNS]
