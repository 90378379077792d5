"""Log events + capture connections -> which connection each log event is about, on one clock.

Three steps, all pure functions of the inputs:

1. **Candidates.** An event that names a server (ip and port, ip alone, or a host name matched
   against the SNI) has as candidates the connections to that server.
2. **Clock offset.** The log's clock may be off the capture's (another box, a wrong NTP). Every
   (event, candidate) pair in a wide window proposes ``log time - capture anchor``; the offset is
   the value most events agree on most tightly (a vote, each event once, then the median of the
   agreeing events), so repeated connections and unrelated noise do not drag it. It can be forced.
3. **Assignment.** Failure records (WARNING/ERROR) are grouped into *attempts*, one per failed
   handshake (a verification WARNING and its "SSL connection failed" ERROR are one attempt). Per
   server, attempts and connections are both in time order, so they are matched by an
   order-preserving alignment that prefers connections that failed: ten failures against the
   same server:port go to ten connections, not all to the nearest. Other records follow their
   transaction: a failed one's request goes with its first attempt and its 502 with the last; a
   successful one goes with the connection its Sending Request was linked to (the nearest).
   Records outside any transaction go to the nearest connection within ``tolerance``.

``clock_offset`` is the log's clock minus the capture's, in seconds (positive: the log is ahead);
capture time = log time - offset.
"""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from ..logs.events import EventKind, LogEvent
from ..tls.model import TlsConnection

WINDOW = 900.0  # seconds either side in which a pair may propose an offset
MAX_ESTIMATORS = 500  # records used to estimate the offset
MIN_OWN_PAIRS = 3  # records of one log that must agree for it to get an offset of its own
VOTE_TOLERANCE = 0.05  # seconds: proposals this close agree (log ms vs capture: a few ms)
TOLERANCE = 2.0  # seconds: farthest a linked event may be from its connection (after the offset)
NOT_FAILED_PENALTY = 1.0  # seconds added when a failure record is matched to a connection that worked
_TERMINAL = frozenset({EventKind.SSL_CONNECTION_FAILED, EventKind.ALERT_RECEIVED})
# Records written at a fixed moment of a connection: the request as it opens, failures as it fails.
_ESTIMATORS = frozenset(
    {k for k in EventKind if k.is_failure} | {EventKind.REQUEST, EventKind.CONNECT_FAILED_502}
)


@dataclass(frozen=True, slots=True)
class ClockOffset:
    """How far the log's clock is ahead of the capture's, and how that was found."""

    seconds: float
    method: str  # "forced" | "estimated" | "none" (nothing to estimate from: 0 assumed)
    pairs: int = 0  # events that agreed on it
    spread: float | None = None  # median absolute deviation of those events, seconds

    def __str__(self) -> str:
        if self.method == "forced":
            return f"{self.seconds:+.3f} s (forced)"
        if self.method == "none":
            return "0 s (no log event could be paired with a connection)"
        return f"{self.seconds:+.3f} s (estimated from {self.pairs} events, spread {self.spread or 0:.3f} s)"


@dataclass(frozen=True, slots=True)
class Link:
    """One log event and the connection it was linked to (``None`` if none)."""

    event: LogEvent
    connection: int | None  # index into the connections given
    connection_id: str | None  # TlsConnection.id, as ``inspect`` prints it
    time: float  # the event's time on the capture's clock (epoch seconds)
    delta: float | None  # ``time`` minus the connection's anchor, seconds
    reason: str  # attempt | transaction | nearest | no_server | no_candidate | too_far


@dataclass(frozen=True, slots=True)
class Correlation:
    """The clock offsets used, and one :class:`Link` per log event.

    ``offset`` is the one offset for all logs (estimated over all of them, or forced);
    ``offsets`` the one applied to each log source (logs from different boxes run on different
    clocks: each source with enough records of its own gets its own estimate). ``by_connection``
    maps a connection index to the links that landed on it, in event order.
    """

    offset: ClockOffset
    links: tuple[Link, ...]  # one per event, in the order given
    by_connection: Mapping[int, tuple[Link, ...]] = field(
        hash=False, default_factory=lambda: MappingProxyType({})
    )
    offsets: Mapping[str, ClockOffset] = field(hash=False, default_factory=lambda: MappingProxyType({}))

    @property
    def linked(self) -> int:
        return sum(1 for k in self.links if k.connection is not None)

    @property
    def reasons(self) -> dict[str, int]:
        """How many events were linked (or not) for each reason."""
        out: dict[str, int] = {}
        for k in self.links:
            out[k.reason] = out.get(k.reason, 0) + 1
        return out


# --- connection facts ---------------------------------------------------------------------------

_FAILURE_KINDS = frozenset(k for k in EventKind if k.is_failure)
# Records written when the handshake was decided (not when the connection opened).
_AT_VERDICT = _FAILURE_KINDS | {EventKind.CONNECT_FAILED_502, EventKind.RESPONSE}
_LOOKBACK = 256  # connections to one server scanned back for a keep-alive one holding a request
_MAX_HANDSHAKE = 60.0  # seconds from a connection's start to its verdict, at most


def _verdict_time(c: TlsConnection) -> float:
    """When the client decided about the server's certificate: the first fatal alert, else the
    last handshake message, else the last packet."""
    t = min((a.time for a in c.alerts if a.fatal), default=None)
    if t is not None:
        return t
    if c.handshake:
        return max(h.time for h in c.handshake)
    return c.end


def anchor(c: TlsConnection, kind: EventKind) -> float:
    """The moment in a connection a record of this kind is written at."""
    return _verdict_time(c) if kind in _AT_VERDICT else c.start


class _Index:
    """Connections by server (address and port, address, SNI), in start order, with the times
    correlation needs computed once."""

    def __init__(self, conns: Sequence[TlsConnection]) -> None:
        self.conns = conns
        self.start = [c.start for c in conns]
        self.end = [c.end for c in conns]
        self.verdict = [_verdict_time(c) for c in conns]
        self.failed = [
            any(a.fatal for a in c.alerts) or not c.handshake_done for c in conns
        ]
        lists: dict[tuple[str, object], list[int]] = defaultdict(list)
        for i in sorted(range(len(conns)), key=lambda i: (self.start[i], i)):
            c = conns[i]
            ip = c.server.ip.lower()
            lists[("addr", (ip, c.server.port))].append(i)
            lists[("ip", ip)].append(i)
            if c.sni:
                name = c.sni.lower().rstrip(".")
                lists[("sni", (name, None))].append(i)
                lists[("sni", (name, c.server.port))].append(i)
        self.lists = dict(lists)
        self.starts = {k: [self.start[i] for i in v] for k, v in self.lists.items()}
        self.longest = {k: max(self.end[i] - self.start[i] for i in v) for k, v in self.lists.items()}

    def anchor(self, i: int, kind: EventKind) -> float:
        return self.verdict[i] if kind in _AT_VERDICT else self.start[i]

    def distance(self, i: int, kind: EventKind, t: float) -> float:
        if kind in _AT_VERDICT:
            return abs(t - self.verdict[i])
        # A request may travel on a connection opened earlier (keep-alive): inside it is distance 0.
        if self.start[i] - 0.05 <= t <= self.end[i] + 0.05:
            return 0.0
        return min(abs(t - self.start[i]), abs(t - self.end[i]))

    def key(self, e: LogEvent) -> tuple[str, object] | None:
        """The server an event names, as a key of :attr:`lists` that has connections."""
        ip = e.server_ip.lower() if e.server_ip else None
        port = e.server_port
        if ip and port and ("addr", (ip, port)) in self.lists:
            return ("addr", (ip, port))
        if ip and not port and ("ip", ip) in self.lists:
            return ("ip", ip)
        if e.server_name:
            k = ("sni", (e.server_name.rstrip("."), port))
            if k in self.lists:
                return k
        return None

    def around(self, key: tuple[str, object], lo: float, hi: float) -> list[int]:
        """Connections of ``key`` that started between ``lo`` and ``hi``."""
        starts = self.starts[key]
        return self.lists[key][bisect.bisect_left(starts, lo):bisect.bisect_right(starts, hi)]

    def nearest(self, key: tuple[str, object], kind: EventKind, t: float) -> int | None:
        """The connection of ``key`` nearest to a record at ``t``; ``None`` if there is none."""
        starts, idx = self.starts[key], self.lists[key]
        pos = bisect.bisect_right(starts, t)
        # Back from t while a connection could still be open at t (none lasted longer than
        # ``longest``), at most _LOOKBACK; forward, the first one starting after t.
        oldest = t - self.longest[key] - TOLERANCE - 0.1
        best: tuple[float, float, int] | None = None
        for n, j in enumerate(range(pos - 1, -1, -1)):
            if n >= _LOOKBACK or (starts[j] < oldest and best is not None):
                break
            i = idx[j]
            cand = (self.distance(i, kind, t), abs(t - self.start[i]), i)
            if best is None or cand < best:
                best = cand
        for j in range(pos, min(pos + 2, len(idx))):
            i = idx[j]
            cand = (self.distance(i, kind, t), abs(t - self.start[i]), i)
            if best is None or cand < best:
                best = cand
        return None if best is None else best[2]


# --- the clock offset ---------------------------------------------------------------------------


def estimate_offset(
    conns: Sequence[TlsConnection],
    events: Sequence[LogEvent],
    *,
    window: float = WINDOW,
    vote_tolerance: float = VOTE_TOLERANCE,
) -> ClockOffset:
    """The log clock minus the capture clock that most events agree on (see module docstring)."""
    index = _Index(conns)
    usable = [k for k, e in enumerate(events) if e.kind in _ESTIMATORS and index.key(e) is not None]
    # A few hundred records agree on an offset as well as a million: sample evenly.
    usable = usable[:: max(1, len(usable) // MAX_ESTIMATORS)]
    pairs: list[tuple[float, int, float]] = []  # (proposed offset, event, weight)
    for k in usable:
        e = events[k]
        key = index.key(e)
        assert key is not None
        t = e.timestamp
        lo = t - window - (_MAX_HANDSHAKE if e.kind in _AT_VERDICT else 0.0)
        failure = e.kind in _FAILURE_KINDS
        for i in index.around(key, lo, t + window):
            d = t - index.anchor(i, e.kind)
            if abs(d) <= window:
                # A failure record is about a connection that failed far more often than not.
                pairs.append((d, k, 0.5 if failure and not index.failed[i] else 1.0))
    if not pairs:
        return ClockOffset(0.0, "none")
    pairs.sort()
    ds = [d for d, _, _ in pairs]
    # Score every proposal as a centre: each event counts once, with its best proposal, the
    # closer the more (1 at 0, 0 at the tolerance; half for a failure record paired with a
    # connection that worked). A centre all events hit exactly beats one they hit roughly, which
    # tells apart retries a few ms apart; equal scores: the smaller offset.
    step = max(1, len(pairs) // 5000)  # bounded work on huge logs: a sample of centres
    best_score, centre = -1.0, 0.0
    for c in ds[::step]:
        lo = bisect.bisect_left(ds, c - vote_tolerance)
        hi = bisect.bisect_right(ds, c + vote_tolerance)
        near: dict[int, float] = {}
        for d, k, w in pairs[lo:hi]:
            v = w * (1.0 - ((d - c) / vote_tolerance) ** 2)
            if v > near.get(k, 0.0):
                near[k] = v
        score = sum(near.values())
        # Log times are rounded to the millisecond: scores this close are a tie.
        tie = 5e-4 * max(score, best_score)
        if score > best_score + tie or (abs(score - best_score) <= tie and abs(c) < abs(centre)):
            best_score, centre = score, c
    nearest: dict[int, float] = {}
    for _ in range(2):
        # Each event votes once, with its proposal nearest the centre.
        nearest = {}
        for d, k, _ in pairs[bisect.bisect_left(ds, centre - vote_tolerance):
                          bisect.bisect_right(ds, centre + vote_tolerance)]:
            if k not in nearest or abs(d - centre) < abs(nearest[k] - centre):
                nearest[k] = d
        if not nearest:
            break
        centre = statistics.median(nearest.values())
    spread = statistics.median(abs(d - centre) for d in nearest.values()) if nearest else None
    return ClockOffset(round(centre, 6), "estimated", len(nearest), spread)


# --- assignment ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Attempt:
    key: tuple[str, object]
    events: list[int]  # indexes into events
    time: float  # first record's time on the capture clock
    terminal: bool = False
    kinds: set[EventKind] = field(default_factory=set)


def _attempts(events: Sequence[LogEvent], times: Sequence[float], index: _Index
              ) -> tuple[list[_Attempt], dict[int, str]]:
    """Group failure records into one attempt per failed handshake."""
    attempts: list[_Attempt] = []
    open_by: dict[object, _Attempt] = {}
    unlinked: dict[int, str] = {}
    order = sorted((k for k, e in enumerate(events) if e.kind in _FAILURE_KINDS), key=lambda k: (times[k], k))
    for k in order:
        e = events[k]
        key = index.key(e)
        if key is None:
            unlinked[k] = "no_candidate" if e.names_server else "no_server"
            continue
        # Without a transaction, traffic_server's thread keeps concurrent handshakes apart.
        group = (e.transaction, key) if e.transaction else (e.process, e.pid, e.thread, key)
        a = open_by.get(group)
        # A new attempt when the last one ended (its ERROR came), repeats a WARNING, or is old.
        if (a is None or a.terminal or (e.kind in a.kinds and e.kind not in _TERMINAL)
                or times[k] - a.time > 1.0):
            a = _Attempt(key, [], times[k])
            attempts.append(a)
            open_by[group] = a
        a.events.append(k)
        a.kinds.add(e.kind)
        if e.kind in _TERMINAL:
            a.terminal = True
    return attempts, unlinked


def _clusters(attempts: list[_Attempt], index: _Index, tol: float) -> list[tuple[list[_Attempt], list[int]]]:
    """Split time-sorted attempts of one server where no connection can reach across: the
    alignment is quadratic, and a day of logs is many short bursts."""
    parts: list[tuple[list[_Attempt], list[int]]] = []
    for a in attempts:
        if parts and a.time - parts[-1][0][-1].time <= 2 * tol:
            parts[-1][0].append(a)
        else:
            parts.append(([a], []))
    for part, cs in parts:
        lo, hi = part[0].time - tol, part[-1].time + tol
        cs.extend(i for i in index.around(part[0].key, lo - _MAX_HANDSHAKE, hi)
                  if lo <= index.verdict[i] <= hi)
    return parts


def _align(attempts: list[_Attempt], index: _Index, cand: list[int], tol: float,
           used: set[int]) -> list[int | None]:
    """Order-preserving match of attempts to connections minimising the total time distance;
    a connection that did not fail costs ``NOT_FAILED_PENALTY`` more."""
    cs = sorted((i for i in cand if i not in used), key=lambda i: (index.verdict[i], i))
    n, m = len(attempts), len(cs)
    skip = tol + NOT_FAILED_PENALTY + 1.0  # leaving an attempt unlinked costs more than any match
    vt = [index.verdict[i] for i in cs]
    pen = [0.0 if index.failed[i] else NOT_FAILED_PENALTY for i in cs]
    dp = [[0.0] * (m + 1) for _ in range(n + 1)]
    move = [[0] * (m + 1) for _ in range(n + 1)]  # 0 skip conn, 1 skip attempt, 2 match
    for i in range(1, n + 1):
        dp[i][0], move[i][0] = dp[i - 1][0] + skip, 1
        at = attempts[i - 1].time
        row, prev, mv_row = dp[i], dp[i - 1], move[i]
        for j in range(1, m + 1):
            best, mv = row[j - 1], 0
            s = prev[j] + skip
            if s < best:
                best, mv = s, 1
            d = abs(at - vt[j - 1])
            if d <= tol:
                c = prev[j - 1] + d + pen[j - 1]
                if c < best:
                    best, mv = c, 2
            row[j], mv_row[j] = best, mv
    out: list[int | None] = [None] * n
    i, j = n, m
    while i > 0:
        mv = move[i][j] if j > 0 else 1
        if mv == 2:
            out[i - 1] = cs[j - 1]
            i, j = i - 1, j - 1
        elif mv == 1:
            i -= 1
        else:
            j -= 1
    return out


def _linked_by_transaction(result: dict[int, tuple[int | None, str]], events: Sequence[LogEvent],
                           times: list[float]) -> dict[str, list[tuple[float, int]]]:
    """Transaction -> (time, connection) of its records linked so far, in time order."""
    out: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for k, (ci, _) in result.items():
        txn = events[k].transaction
        if ci is not None and txn:
            out[txn].append((times[k], ci))
    for v in out.values():
        v.sort()
    return out


def _follow(seq: list[tuple[float, int]], t: float) -> int:
    """The connection of a transaction's linked record at or before ``t`` (else its first)."""
    pos = bisect.bisect_right(seq, (t, float("inf")))
    return seq[pos - 1][1] if pos > 0 else seq[0][1]


def correlate(
    conns: Sequence[TlsConnection],
    events: Sequence[LogEvent],
    *,
    clock_offset: float | Mapping[str, float] | None = None,
    tolerance: float = TOLERANCE,
    window: float = WINDOW,
) -> Correlation:
    """Link every log event to the connection it describes (see the module docstring).

    ``clock_offset`` forces the log-minus-capture offset in seconds, for all sources or (a
    mapping) per source name; ``None`` estimates it. Events that name no server, or none in the
    capture, or none within ``tolerance`` seconds after the offset, stay unlinked with the reason
    in :attr:`Link.reason`.
    """
    sources: dict[str, list[int]] = defaultdict(list)
    for k, e in enumerate(events):
        sources[e.source].append(k)
    if isinstance(clock_offset, Mapping):
        forced = {src: ClockOffset(float(v), "forced") for src, v in clock_offset.items()}
        offset = next(iter(forced.values()), ClockOffset(0.0, "none"))
        offsets = {src: forced.get(src, ClockOffset(0.0, "none")) for src in sources}
    elif clock_offset is not None:
        offset = ClockOffset(float(clock_offset), "forced")
        offsets = {src: offset for src in sources}
    else:
        offset = estimate_offset(conns, events, window=window)
        offsets = {src: offset for src in sources}
        if len(sources) > 1:
            for src, ks in sources.items():
                own = estimate_offset(conns, [events[k] for k in ks], window=window)
                if own.pairs >= MIN_OWN_PAIRS:
                    offsets[src] = own
    index = _Index(conns)
    times = [e.timestamp - offsets[e.source].seconds for e in events]
    result: dict[int, tuple[int | None, str]] = {}

    attempts, unlinked = _attempts(events, times, index)
    result.update((k, (None, why)) for k, why in unlinked.items())
    # Known ports first: their connections are then not handed to a port-less warning as well.
    groups: dict[tuple[str, object], list[_Attempt]] = defaultdict(list)
    for a in attempts:
        groups[a.key].append(a)
    used: set[int] = set()
    for gkey in sorted(groups, key=lambda g: (g[0] != "addr", str(g))):
        group = sorted(groups[gkey], key=lambda a: a.time)
        matched: list[int | None] = []
        for part, cand in _clusters(group, index, tolerance):
            matched.extend(_align(part, index, cand, tolerance, used))
        for a, ci in zip(group, matched):
            if ci is not None:
                used.add(ci)
            for k in a.events:
                result[k] = (ci, "attempt" if ci is not None else "too_far")

    # Transactions that failed: a request goes with the first attempt, the 502 with the last.
    txn_attempts = _linked_by_transaction(result, events, times)

    for k, e in enumerate(events):
        if k in result:
            continue
        if e.transaction in txn_attempts:
            result[k] = (_follow(txn_attempts[e.transaction], times[k]), "transaction")
            continue
        if not e.names_server:
            result[k] = (None, "no_server")
            continue
        key = index.key(e)
        best = None if key is None else index.nearest(key, e.kind, times[k])
        if best is None:
            result[k] = (None, "no_candidate")
        elif index.distance(best, e.kind, times[k]) > tolerance:
            result[k] = (None, "too_far")
        else:
            result[k] = (best, "nearest")

    # A transaction that did not fail goes over one connection: the one its Sending Request
    # (the record written as the connection is opened) was linked to.
    opened: dict[str, int] = {}
    for k, e in enumerate(events):
        ci, why = result[k]
        if (ci is not None and why == "nearest" and e.transaction and e.kind is EventKind.REQUEST
                and e.server_ip and e.transaction not in txn_attempts and e.transaction not in opened):
            opened[e.transaction] = ci
    for k, e in enumerate(events):
        if e.transaction in opened and result[k][1] in ("nearest", "too_far", "no_server", "no_candidate"):
            result[k] = (opened[e.transaction], "transaction")

    # Records of a transaction that name no server (a Receive Request without a proxy target)
    # follow the records of the same transaction that were linked.
    txn_links = _linked_by_transaction(result, events, times)
    for k, e in enumerate(events):
        ci, why = result[k]
        if ci is None and e.transaction in txn_links and why in ("no_server", "no_candidate"):
            result[k] = (_follow(txn_links[e.transaction], times[k]), "transaction")

    links = []
    by_conn: dict[int, list[Link]] = defaultdict(list)
    for k, e in enumerate(events):
        ci, why = result[k]
        delta = None if ci is None else round(times[k] - index.anchor(ci, e.kind), 6)
        link = Link(e, ci, None if ci is None else conns[ci].id, times[k], delta, why)
        links.append(link)
        if ci is not None:
            by_conn[ci].append(link)
    return Correlation(offset, tuple(links), MappingProxyType({i: tuple(v) for i, v in by_conn.items()}),
                       MappingProxyType(offsets))
