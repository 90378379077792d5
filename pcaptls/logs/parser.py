"""Log lines -> :class:`LogEvent` records (sans-IO: text in, events out).

A :class:`LineParser` is fed one decoded line at a time (by :mod:`pcaptls.logs.reader`, or by a
test) and returns the events that are complete. A record is complete when the next line starts
another one, because Expressway may follow a record with an ``HTTPMSG:`` line and ``|``
continuation lines that belong to it; :meth:`LineParser.close` returns the last one.

Every line ends up either in an event or counted as skipped with a reason; nothing in here raises
on content (the Hypothesis tests hold it to that). Memory is bounded: lines and blocks are capped,
and the per-transaction state used to tie WARNING/ERROR lines to their request is an LRU.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from types import MappingProxyType
from typing import Any

from . import expressway as xw
from .events import EventKind, LogEvent, ParseSummary, ProxyTarget
from .timestamps import (
    ISO_SEARCH,
    UTC,
    from_match,
    parse_eventlog_time,
    parse_tz,
    parse_utctime,
)

MAX_LINE = 64 * 1024  # characters of one line that are kept; the rest is cut and counted
MAX_BLOCK = 64 * 1024  # characters of one HTTPMSG block
MAX_TXNS = 4096  # open transactions remembered per parser
TXN_WINDOW = 30.0  # seconds a WARNING/ERROR may come after the request of its transaction
HANDSHAKE_WINDOW = 5.0  # seconds from Sending Request to a failed handshake, at most
BURST = 0.5  # seconds: requests sent this close together are in flight together

_LEVEL_WORD = re.compile(
    r"\b(EMERG|ALERT|CRIT(?:ICAL)?|ERR(?:OR)?|WARN(?:ING)?|NOTICE|INFO|DEBUG|TRACE|FATAL|SEVERE)\b", re.A
)
_LEVEL_ALIASES = {"WARN": "WARNING", "ERR": "ERROR", "CRIT": "CRITICAL", "SEVERE": "ERROR"}
_URL_HOST = re.compile(
    r"^[a-z][a-z0-9+.-]*://(?P<host>\[[^\]]+\]|[^/:?#\s]+)(?::(?P<port>\d{1,5}))?", re.I | re.A
)
_ADDRESS = re.compile(r"\[?(?P<ip>[0-9A-Fa-f:.]+?)\]?:(?P<port>\d{1,5})", re.A)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")  # C0 (but tab), DEL, C1 (8-bit CSI)
_LOOPBACK = ("127.", "::1")
_DIGITS = frozenset("0123456789")
_BSD_FIRST = frozenset("<ADFJMNOS")
_TLS_FAILED = re.compile(r"\bTLS\b.*\b(?:negotiation|handshake)\b.*\b(?:error|fail)|STARTTLS failed", re.I)


@dataclass(slots=True)
class _Pending:
    """A record whose continuation lines may still follow."""

    line_no: int
    head: str
    block: list[str] = field(default_factory=list)
    block_chars: int = 0


@dataclass(slots=True)
class _Txn:
    """What is known of one proxied request while its lines come in."""

    key: str
    stream: tuple[str | None, int | None]  # (process, pid)
    time: float  # last record
    sent: float | None = None  # when the request went to the server (Sending Request)
    names: set[str] = field(default_factory=set)
    ips: set[str] = field(default_factory=set)
    server_name: str | None = None
    server_ip: str | None = None
    port: int | None = None
    answered: bool = False  # the server sent a response: its TLS handshake worked
    failures: int = 0  # failed handshakes logged for it (retries make more than one)
    pending: str | None = None  # thread whose WARNING awaits its ERROR
    closed: bool = False  # the response went back to the client: nothing more will fail


class LineParser:
    """Turns the lines of one log source into events; see the module docstring.

    ``log_tz`` is the zone of timestamps that carry no offset (``None`` = UTC; ``"+02:00"``,
    ``"Europe/Berlin"`` and ``tzinfo`` objects are accepted; a bad name raises ``InputError``).
    """

    def __init__(
        self,
        source: str,
        *,
        log_tz: str | tzinfo | None = None,
        max_line: int = MAX_LINE,
        max_block: int = MAX_BLOCK,
        txn_window: float = TXN_WINDOW,
    ) -> None:
        self.source = source
        self.tz = parse_tz(log_tz)
        self.max_line = max_line
        self.max_block = max_block
        self.txn_window = txn_window
        self._pending: _Pending | None = None
        self._line_no = 0
        self._lines = 0
        self._events = 0
        self._cut = 0
        self._skipped: Counter[str] = Counter()
        self._problems: list[str] = []
        self._txns: OrderedDict[str, _Txn] = OrderedDict()
        self._tracking: OrderedDict[str, str] = OrderedDict()
        self._year: int | None = None  # of the last dated record, for syslog stamps without one
        self._month: int | None = None
        # (stream, thread) -> (time, name, ip, port) of the last WARNING with no transaction
        self._warned: OrderedDict[object, tuple[float, str | None, str | None, int | None]] = OrderedDict()

    # -- feeding -----------------------------------------------------------------------------

    def feed(self, line: str, line_no: int | None = None, *, cut: bool = False) -> list[LogEvent]:
        """Take one line (without its newline); return the events it completed (usually 0 or 1).

        ``cut`` says the reader already cut this line at its length cap.
        """
        self._line_no = line_no if line_no is not None else self._line_no + 1
        self._lines += 1
        line = line.rstrip("\r\n")
        if cut or len(line) > self.max_line:
            self._cut += 1
            line = line[: self.max_line]
        if not line.isprintable():
            clean = self._sanitise(line)
            if clean is None:
                return self._skip("binary")
            line = clean
        stripped = line.strip()
        if not stripped:
            return self._skip("blank")
        if line[0] == "|" or stripped == "HTTPMSG:":
            return self._continuation(line)
        out = self._flush()
        self._pending = _Pending(self._line_no, line)
        return out

    def close(self) -> list[LogEvent]:
        """End of input: return the record still waiting for continuation lines."""
        return self._flush()

    def problem(self, text: str) -> None:
        """Record a problem the reader met (a file cut short), for the summary."""
        self._problems.append(text)

    @property
    def summary(self) -> ParseSummary:
        return ParseSummary(
            lines=self._lines,
            events=self._events,
            skipped=sum(self._skipped.values()),
            reasons=MappingProxyType(dict(self._skipped)),
            cut_lines=self._cut,
            problems=tuple(self._problems),
        )

    # -- line handling -----------------------------------------------------------------------

    def _skip(self, reason: str) -> list[LogEvent]:
        self._skipped[reason] += 1
        return []

    @staticmethod
    def _sanitise(line: str) -> str | None:
        """Drop NULs, neutralise control characters; ``None`` if the line is mostly junk."""
        line = line.replace("\x00", "")
        if not line:
            return None
        bad = sum(1 for c in line if (c < " " and c != "\t") or "\x7f" <= c <= "\x9f" or c == "\ufffd")
        if bad * 4 > len(line):
            return None
        # Log text reaches terminals and spreadsheets: no escape sequences survive in it.
        return _CONTROL.sub("\ufffd", line)

    def _continuation(self, line: str) -> list[LogEvent]:
        p = self._pending
        if p is None:
            return self._skip("orphan_continuation")
        if p.block_chars + len(line) > self.max_block:
            return self._skip("block_too_long")
        p.block.append(line)
        p.block_chars += len(line) + 1
        return []

    def _flush(self) -> list[LogEvent]:
        p, self._pending = self._pending, None
        if p is None:
            return []
        ev = self._record(p)
        if ev is None:
            return []
        self._events += 1
        return [ev]

    # -- one record --------------------------------------------------------------------------

    def _record(self, p: _Pending) -> LogEvent | None:
        head = p.head
        host = process = None
        pid: int | None = None
        local = ""
        rest = head
        m = xw.PREFIX.match(head) if head[0] in _DIGITS else None
        bsd = xw.BSD_PREFIX.match(head) if m is None and head[0] in _BSD_FIRST else None
        if m is not None or bsd is not None:
            pm = m or bsd
            assert pm is not None
            host, process, rest = pm.group("host"), pm.group("proc"), pm.group("rest")
            pid = int(pm.group("pid")) if pm.group("pid") else None
            local = pm.group("ts")
        flds = xw.fields(rest) if '="' in rest else {}
        time: datetime | None = None
        if "UTCTime" in flds:
            time = parse_utctime(flds["UTCTime"])
            local = local or flds["UTCTime"]
        if time is None and m is not None:
            tm = ISO_SEARCH.match(local)
            time = from_match(tm, self.tz) if tm else None
        if time is None and bsd is not None:
            time = self._bsd_time(bsd)
            if time is None and self._year is None:
                self._skipped["no_year"] += 1 + len(p.block)
                return None
        if time is None and "Time" in flds:
            time = parse_eventlog_time(flds["Time"], self.tz)
            local = local or flds["Time"]
        generic_msg: str | None = None
        if time is None and m is None and not local:
            g = ISO_SEARCH.search(head, 0, 128)
            if g is not None:
                time = from_match(g, self.tz)
                local = g.group()
                generic_msg = head[g.end():].strip(" \t]:-|")
        if time is None:
            n = 1 + len(p.block)
            self._skipped["bad_timestamp" if (m is not None or local) else "no_timestamp"] += n
            return None
        local_now = time.astimezone(self.tz)
        self._year, self._month = local_now.year, local_now.month

        block = "\n".join(b[1:] if b.startswith("|") else b for b in p.block if b.strip() != "HTTPMSG:")
        level: str | None = None
        thread: str | None = None
        ts: xw.TrafficServerLine | None = None
        message = generic_msg if generic_msg is not None else rest.strip()
        if not flds and (t := xw.TS_LEVEL.match(rest)) is not None:
            level, thread = t.group("level"), t.group("thread")
            message = t.group("msg").strip()
            ts = xw.traffic_server_message(message)
        elif "Level" in flds:
            level = flds["Level"].strip().upper() or None
        else:
            lw = _LEVEL_WORD.search(message, 0, 160)
            if lw is not None:
                level = lw.group(1)
        if level is not None:
            level = _LEVEL_ALIASES.get(level, level)

        kind = EventKind.OTHER
        server_name = server_ip = None
        server_port: int | None = None
        target: ProxyTarget | None = None
        msg_field = flds.get("Msg")
        first_block_line = block.split("\n", 1)[0].strip() if block else ""
        if flds:
            detail = flds.get("Detail", "")
            http = msg_field if msg_field is not None else first_block_line
            if "Event" in flds:
                kind = EventKind.EVENT
            elif "Request" in detail:
                kind = EventKind.REQUEST
            elif "Response" in detail:
                kind = EventKind.CONNECT_FAILED_502 if xw.http_status(http) == 502 else EventKind.RESPONSE
            parts = [x for x in (flds.get("Event"), detail, http) if x]
            message = ": ".join(dict.fromkeys(parts)) or message
            if detail.startswith("Sending Request") or (kind is not EventKind.REQUEST and "Dst-ip" in flds):
                server_ip, server_port = self._addr(flds.get("Dst-ip"), flds.get("Dst-port"))
            elif detail.startswith("Receive Response"):
                server_ip, server_port = self._addr(flds.get("Src-ip"), flds.get("Src-port"))
            elif kind is EventKind.OTHER and (a := _ADDRESS.fullmatch(flds.get("Address", ""))):
                # XCP (IM&P/XMPP) lines: Server="imp.lab" Address="10.0.0.2:5222"
                server_ip, server_port = self._addr(a.group("ip"), a.group("port"))
                if flds.get("Server"):
                    server_name, _ = xw.split_host_ip(flds["Server"])
                if flds.get("Reason"):
                    message = f"{message}: {flds['Reason']}"
            if "Request" in flds and kind is EventKind.EVENT and (u := _URL_HOST.match(flds["Request"])):
                server_name, uip = xw.split_host_ip(u.group("host"))
                server_ip = server_ip or uip
                server_port = server_port or xw.parse_port(u.group("port"))
            if kind is EventKind.REQUEST:  # only requests carry the proxied URL
                target = xw.proxy_target(msg_field or "") or (xw.proxy_target(block) if block else None)
            if _TLS_FAILED.search(f"{flds.get('Event', '')} {detail}"):
                # Event-log TLS failures ("Outbound TLS Negotiation Error", "STARTTLS failed"):
                # the reason is in Detail or Reason, the server in Dst-ip/Address.
                reason = flds.get("Reason") or detail
                ts = xw.TrafficServerLine(EventKind.SSL_CONNECTION_FAILED, error=reason or None,
                                          alert=xw.alert_description(reason))
                if ts.alert:
                    ts = dataclasses.replace(ts, kind=EventKind.ALERT_RECEIVED)
        elif ts is None and ("fail" in message or "SNI" in message):
            # A generic log may still carry traffic_server's sentences.
            ts = xw.traffic_server_message(message)
        if ts is not None and ts.kind is not EventKind.OTHER:
            kind = ts.kind
            server_name = ts.server_name or server_name
            server_ip = ts.server_ip or server_ip
        if target is not None:
            tname, tip = xw.split_host_ip(target.host)
            server_name = server_name or tname
            server_ip = server_ip or tip
            server_port = server_port or target.port

        txn_id = flds.get("Txn-id") or None
        tracking = flds.get("TrackingID") or None
        transaction, server_name, server_ip, server_port = self._transaction(
            (process, pid), time.timestamp(), kind, flds.get("Detail", ""), thread,
            txn_id, tracking, server_name, server_ip, server_port,
        )
        text = head if not p.block else head + "\n" + "\n".join(p.block)
        return LogEvent(
            time=time, local_time=local, source=self.source, line_no=p.line_no, kind=kind,
            message=message, text=text, host=host, process=process, pid=pid, level=level, thread=thread,
            fields=MappingProxyType(flds) if flds else MappingProxyType({}),
            server_name=server_name, server_ip=server_ip, server_port=server_port, target=target,
            error=ts.error if ts else None, error_code=ts.error_code if ts else None,
            alert=ts.alert if ts else None, depth=ts.depth if ts else None,
            txn_id=txn_id, tracking_id=tracking, transaction=transaction,
        )

    def _bsd_time(self, bsd: re.Match[str]) -> datetime | None:
        """A syslog stamp has no year: take the year of the record before (a stamp in January
        after records of December is the next year). ``None`` before any dated record."""
        if self._year is None:
            return None
        month = xw.MONTHS[bsd.group("mon")]
        year = self._year + 1 if self._month is not None and month < self._month - 6 else self._year
        h, mi, sec = (int(x) for x in bsd.group("hms").split(":"))
        f = bsd.group("f")
        try:
            local = datetime(year, month, int(bsd.group("day")), h, mi, sec,
                             int(f.ljust(6, "0")) if f else 0, tzinfo=self.tz)
            return local.astimezone(UTC)
        except (ValueError, OverflowError):
            return None

    @staticmethod
    def _addr(ip: str | None, port: str | None) -> tuple[str | None, int | None]:
        if not ip or not xw.is_ip(ip.strip("[] ")) or ip.startswith(_LOOPBACK):
            # Loopback is the MRA client side inside Expressway, never the server a TLS
            # connection in the capture went to.
            return None, None
        return ip.strip("[] "), xw.parse_port(port)

    # -- transactions ------------------------------------------------------------------------

    def _transaction(
        self,
        stream: tuple[str | None, int | None],
        t: float,
        kind: EventKind,
        detail: str,
        thread: str | None,
        txn_id: str | None,
        tracking: str | None,
        name: str | None,
        ip: str | None,
        port: int | None,
    ) -> tuple[str | None, str | None, str | None, int | None]:
        """Tie a record to its transaction; fill the server fields it lacks from the transaction.

        Records with a Txn-id (or a TrackingID seen with one) join it directly. traffic_server's
        WARNING/ERROR lines carry neither: they join an unanswered transaction of the same process
        whose server they name, within ``txn_window`` seconds (see :meth:`_find_txn`). The stream is
        (process, pid), not the host: one file is one node, and the host name in a line has been
        seen misspelt (the seed article's "vcsc"/"vscs").
        """
        key: str | None = None
        if txn_id is not None:
            key = f"{stream[0]}[{stream[1]}]#{txn_id}"
            if tracking is not None:
                self._remember(self._tracking, tracking, key)
        elif tracking is not None:
            key = self._tracking.get(tracking) or f"tracking:{tracking}"
        if key is not None:
            txn = self._txns.get(key)
            if txn is None:
                txn = _Txn(key, stream, t)
                self._remember(self._txns, key, txn)
            else:
                self._txns.move_to_end(key)
                txn.time = t
        elif kind.is_failure and (ip or name):
            terminal = kind in (EventKind.SSL_CONNECTION_FAILED, EventKind.ALERT_RECEIVED)
            txn = self._find_txn(stream, t, ip, name, terminal, thread)
            if txn is None:
                return (None, *self._same_thread(stream, thread, t, terminal, name, ip, port))
            if txn.pending is None or not terminal:
                txn.failures += 1
            txn.pending = None if terminal else thread
        else:
            return None, name, ip, port
        if name:
            txn.names.add(name)
            txn.server_name = txn.server_name or name
        if ip:
            txn.ips.add(ip)
            txn.server_ip = txn.server_ip or ip
        if port and txn.port is None:
            txn.port = port
        if detail.startswith("Sending Request") and txn.sent is None:
            txn.sent = t
        if detail.startswith("Receive Response") and ip:
            txn.answered = True
        elif detail.startswith("Sending Response"):
            txn.closed = True
        return txn.key, name or txn.server_name, ip or txn.server_ip, port or txn.port

    def _same_thread(self, stream: tuple[str | None, int | None], thread: str | None, t: float,
                     terminal: bool, name: str | None, ip: str | None, port: int | None
                     ) -> tuple[str | None, str | None, int | None]:
        """Without a transaction (a log without the request lines), an ERROR still belongs to the
        WARNING its thread wrote just before: it takes the server that one named."""
        key = (stream, thread)
        if not terminal:
            self._remember(self._warned, key, (t, name, ip, port))
            return name, ip, port
        w = self._warned.pop(key, None)
        if w is not None and t - w[0] <= 1.0 and ((name and name == w[1]) or (ip and ip == w[2])):
            return name or w[1], ip or w[2], port or w[3]
        return name, ip, port

    def _find_txn(self, stream: tuple[str | None, int | None], t: float, ip: str | None,
                  name: str | None, terminal: bool, thread: str | None) -> _Txn | None:
        """The transaction a WARNING/ERROR without Txn-id is about.

        An ERROR closes the WARNING its thread left pending. Otherwise, among the requests to the
        server that have not failed yet, those of the last burst (sent within ``BURST`` seconds
        of the newest) are the candidates, and handshakes fail in the order they started: the
        oldest of the burst wins. Requests sent longer ago are on established connections (or
        would have failed long before); failing all that, the most recent transaction.
        """
        matches: list[_Txn] = []
        for i, txn in enumerate(reversed(self._txns.values())):
            if i >= 256 or t - txn.time > self.txn_window:
                break
            if txn.stream != stream or txn.answered or txn.closed:
                continue
            if (ip and ip in txn.ips) or (name and name in txn.names):
                matches.append(txn)
        if not matches:
            return None
        if terminal:
            for txn in matches:
                if txn.pending is not None and txn.pending == thread:
                    return txn
        fresh = [x for x in matches if x.failures == 0 and x.pending is None and x.sent is not None
                 and -0.05 <= t - x.sent <= HANDSHAKE_WINDOW]
        if not fresh:
            return matches[0]
        # The burst of requests sent just before: a request sent seconds earlier would have
        # failed seconds earlier. Within the burst, handshakes fail in the order they started.
        newest = min(t - x.sent for x in fresh)  # type: ignore[operator]
        burst = [x for x in fresh if t - x.sent <= newest + BURST]  # type: ignore[operator]
        return max(burst, key=lambda x: t - x.sent)  # type: ignore[operator]  # sent is set in fresh

    @staticmethod
    def _remember(d: OrderedDict[Any, Any], key: object, value: object) -> None:
        d[key] = value
        d.move_to_end(key)
        if len(d) > MAX_TXNS:
            d.popitem(last=False)


def parse_lines(
    lines: str | Iterable[str],
    source: str = "<log>",
    *,
    log_tz: str | tzinfo | None = None,
    max_line: int = MAX_LINE,
    max_block: int = MAX_BLOCK,
    txn_window: float = TXN_WINDOW,
) -> tuple[list[LogEvent], ParseSummary]:
    """Parse lines (or one string, split at line ends) in memory: ``(events, summary)``."""
    parser = LineParser(source, log_tz=log_tz, max_line=max_line, max_block=max_block,
                        txn_window=txn_window)
    if isinstance(lines, str):
        lines = lines.splitlines()
    out: list[LogEvent] = []
    for line in lines:
        out.extend(parser.feed(line))
    out.extend(parser.close())
    return out, parser.summary
