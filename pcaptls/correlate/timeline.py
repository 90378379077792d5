"""Capture connections + linked log events -> one pandas timeline, one row per event.

Capture rows come from each :class:`~pcaptls.model.TlsConnection`: its start, every plaintext
handshake message, every alert, and its end (FIN/RST, or "open" if the capture stopped first).
Log rows are the :class:`~pcaptls.correlate.link.Link` s, placed on the capture's clock (the
clock offset applied), with the connection they were linked to. Times are aware UTC ``datetime``
inside the frame (column ``time_utc``) and ISO-8601 text with microseconds in ``time``, the
form the CSV carries.

Columns: ``time``, ``source`` (``capture`` or the log file's name), ``event`` (``ClientHello``,
``alert``, ``RST``... or the log record's kind), ``connection`` (``TlsConnection.id``; for a log
row the linked connection, empty if none), ``server``, ``sni``, ``detail`` (for a log row the
text to read), ``error`` (a fatal alert's description; for a log row the X509_V_ERR name, the
alert or the error text), then ``frame``, ``sender``, ``line`` (in the log file), ``level``, ``link`` (how
the log row was linked: attempt, transaction, nearest, or why not), ``log_time`` (as the log
wrote it, its own clock), ``delta`` (seconds from the connection's moment the record belongs
to), ``time_utc`` and ``epoch``. Text cells are raw: writers neutralise them for their medium.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

import pandas as pd

from ..model import TlsConnection
from ..tls.constants import alert_title
from .link import Correlation

COLUMNS = [
    "time", "source", "event", "connection", "server", "sni", "detail",
    "error", "frame", "sender", "line", "level", "link", "log_time", "delta", "time_utc", "epoch",
]


def iso(t: float) -> str:
    """Epoch seconds -> ``2022-07-11T16:55:26.016000+00:00`` (microseconds always shown)."""
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="microseconds")


def _capture_rows(i: int, c: TlsConnection) -> list[dict[str, object]]:
    base = {"source": "capture", "connection": c.id, "server": str(c.server), "sni": c.sni or ""}
    rows: list[dict[str, object]] = [{
        **base, "epoch": c.start, "event": "connection start", "frame": c.first_frame,
        "sender": "client", "detail": f"{c.client} -> {c.server}" + ("" if c.saw_syn else " (no SYN seen)"),
    }]
    for h in c.handshake:
        rows.append({**base, "epoch": h.time, "event": h.name, "frame": h.frame, "sender": h.sender,
                     "detail": f"{h.name} from {h.sender}"})
    for a in c.alerts:
        if a.encrypted or a.code is None:
            desc = "Alert (encrypted)"
        else:
            level = {1: "Warning", 2: "Fatal"}.get(a.level or 0, str(a.level))
            desc = f"Alert (Level: {level}, Description: {alert_title(a.code)})"
        rows.append({**base, "epoch": a.time, "event": "alert", "frame": a.frame, "sender": a.sender,
                     "detail": f"{desc} from {a.sender}",
                     "error": a.description if a.fatal and a.description else ""})
    if c.closed_by is not None:
        kind = c.close_kind or "close"
        rows.append({**base, "epoch": c.end, "event": kind, "sender": c.closed_by,
                     "detail": f"{kind} from {c.closed_by}"})
    else:
        rows.append({**base, "epoch": c.end, "event": "last packet",
                     "detail": "still open when the capture ended"})
    return rows


def build_timeline(
    conns: Sequence[TlsConnection],
    correlation: Correlation | None = None,
    *,
    only_linked: bool = False,
) -> pd.DataFrame:
    """One row per capture and log event, sorted by time (ties: capture first, then file order).

    ``only_linked`` drops log events that were linked to no connection.
    """
    rows: list[dict[str, object]] = []
    for i, c in enumerate(conns):
        rows.extend(_capture_rows(i, c))
    if correlation is not None:
        for link in correlation.links:
            if only_linked and link.connection is None:
                continue
            e = link.event
            lc = conns[link.connection] if link.connection is not None else None
            rows.append({
                "epoch": link.time, "source": e.source, "event": e.kind.value,
                "connection": link.connection_id or "",
                "server": str(lc.server) if lc is not None else e.server,
                "sni": (lc.sni or "") if lc is not None else "",
                "detail": e.message, "line": e.line_no, "level": e.level or "",
                "error": e.error_code or e.alert or e.error or "",
                "link": link.reason, "log_time": e.local_time, "delta": link.delta,
            })
    df = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("time", "time_utc")])
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    df["_cap"] = (df["source"] != "capture").astype(int)
    df = df.sort_values(["epoch", "_cap"], kind="stable").drop(columns="_cap").reset_index(drop=True)
    df["time_utc"] = pd.to_datetime(df["epoch"], unit="s", utc=True)
    df["time"] = [iso(t) for t in df["epoch"]]
    df["frame"] = df["frame"].astype("Int64")
    df["line"] = df["line"].astype("Int64")
    for col in ("connection", "server", "sni", "detail", "error", "sender", "level", "link", "log_time"):
        df[col] = df[col].fillna("")
    return df[COLUMNS]
