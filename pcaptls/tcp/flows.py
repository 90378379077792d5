"""TCP segments -> connections: who opened, port reuse, FIN/RST, idle eviction.

A connection is keyed by its 4-tuple in both directions. Side 0 is the sender of the first
segment seen (the SYN's sender when the handshake was captured). A new SYN on a 4-tuple whose
connection has closed, or with a different initial sequence number once data has flowed, starts
a new connection (port reuse). Connections that turn out not to carry TLS stop buffering at once
and are forgotten when they close or go idle; memory is bounded by :data:`MAX_CONNECTIONS`.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Callable, Protocol

from .facts import Anomaly, Endpoint
from .reassembly import Consumer, HalfStream


class Layer(Protocol):
    """What follows a connection's two byte streams: the TLS stage's session. The flow table
    makes one per connection (when its first payload arrives) and knows nothing else of TLS."""

    @property
    def readers(self) -> tuple[Consumer, Consumer]:
        """Side 0's and side 1's streams feed these."""
        ...

    def ignoring(self) -> bool:
        """Both streams turned out not to be this layer's: stop buffering them."""
        ...

    def build(self, ends: tuple[Endpoint, Endpoint], start: float, last: float, first_frame: int,
              syn_side: int | None, close: tuple[int, str, int, float] | None, anomalies: list[Anomaly],
              last_frame: int = 0) -> Any:
        """The connection's result, or ``None`` when it carried nothing of this layer's."""
        ...

FIN = 0x01
SYN = 0x02
RST = 0x04
ACK = 0x10

IDLE_TIMEOUT = 600.0  # seconds of capture time without packets before a connection is retired
# A closed connection (RST, or FIN both ways) with nothing waiting behind a hole is handed on
# once it has been quiet this long (Zeek's tcp_close_delay): its record then ends at its last
# packet before that silence, and a retry storm's results stream out instead of waiting.
CLOSE_DELAY = 5.0
# It stays in the table, emptied, this long after its last packet (TCP's TIME_WAIT) so that a
# late ACK, or a FIN or close_notify sent again, is absorbed rather than opening a phantom
# connection; then it is retired at the next sweep.
CLOSED_LINGER = 60.0
SWEEP_EVERY = 1 << 16  # frames between idle sweeps (a power of two)
MAX_CONNECTIONS = 200_000  # live connections kept at once; beyond it the idlest are retired


def _addr(raw: bytes) -> str:
    return str(ipaddress.ip_address(raw))


class TcpConnection:
    """One TCP connection being followed: its two half-streams, how it opened and closed, and
    the layer (TLS session) reading its bytes."""

    __slots__ = (
        "ends_raw", "session", "half", "start", "last", "last_frame", "first_frame", "syn_side", "isn", "close",
        "fins", "dead", "segments", "anomalies", "midstream", "settled", "reset",
    )

    def __init__(self, src: bytes, sport: int, dst: bytes, dport: int, t: float, frame: int, midstream: bool) -> None:
        self.ends_raw = ((src, sport), (dst, dport))
        # The TLS state (session and two record readers, ~2 KB) is made when the first payload
        # arrives: a SYN flood or a scan of half-open connections costs only what TCP needs.
        self.session: Layer | None = None
        self.midstream = midstream
        self.settled = False
        self.half = (HalfStream(None), HalfStream(None))  # type: ignore[arg-type]
        self.start = t
        self.last = t
        self.last_frame = frame
        self.first_frame = frame
        self.syn_side: int | None = None
        self.isn: list[int | None] = [None, None]
        self.close: tuple[int, str, int, float] | None = None  # side, "FIN"/"RST", frame, time
        self.fins = [False, False]
        self.reset = False  # a RST was seen (after a FIN too: ``close`` keeps only the first)
        self.dead = False  # both directions are not TLS: nothing more to look at
        self.segments = 0
        self.anomalies: list[Anomaly] = []

    @property
    def closed(self) -> bool:
        """Reset (even after a FIN), or FIN sent both ways."""
        return self.reset or (self.fins[0] and self.fins[1])

    @property
    def quiet(self) -> bool:
        """Closed, still to be reported, and nothing waits behind a hole: its record is whole
        unless a late packet comes (see :data:`CLOSE_DELAY`)."""
        return self.session is not None and self.closed and not self.half[0].ooo and not self.half[1].ooo

    def start_layer(self, make: Callable[[bool], Layer]) -> Layer:
        s = self.session = make(self.midstream)
        self.half[0].consumer, self.half[1].consumer = s.readers
        return s

    def settle(self) -> None:
        """Both sides sent FIN and nothing waits behind a hole: no more bytes reach TLS. The
        record readers and their buffers (most of a connection's memory) go now; the session's
        facts wait for :meth:`finish`, which builds the result once, with the time of the last
        packet (late ACKs only move ``last``; a new SYN still starts a new connection)."""
        if self.session is not None:
            self.session.readers = ()  # type: ignore[misc,assignment]  # break the reader/session cycle
        for h in self.half:
            h.consumer = None  # type: ignore[assignment]
        self.settled = True
        self.dead = True

    def finish(self) -> Any:
        """Flush waiting segments and build the result, or ``None`` when it carried no TLS."""
        if self.session is None:  # no payload ever: nothing to report
            return None
        if not self.dead:
            for h in self.half:
                h.flush()
        s = self.session
        for side, h in enumerate(self.half):
            if h.retransmitted:
                self.anomalies.append(Anomaly("retransmission", f"{h.retransmitted} retransmitted segments", None, str(side)))
        (a, ap), (b, bp) = self.ends_raw
        if self.syn_side is None:
            self.anomalies.insert(0, Anomaly("no_syn", "capture starts after the TCP handshake", self.start, None))
        return s.build(
            (Endpoint(_addr(a), ap), Endpoint(_addr(b), bp)),
            self.start,
            self.last,
            self.first_frame,
            self.syn_side,
            self.close,
            self.anomalies,
            self.last_frame,
        )


class FlowTable:
    """Routes decoded segments to connections; collects finished TLS connections."""

    def __init__(self, layer: Callable[[bool], Layer], on_done: Callable[[Any], None], shares: int = 1) -> None:
        """``layer(midstream)`` makes the layer that follows a connection's streams (the TLS
        session); ``on_done`` gets each finished connection's result. ``shares``: this table holds
        one of that many shares of the capture's connections (see
        :func:`pcaptls.pipeline.analysis.analyse`); its cap is that share of :data:`MAX_CONNECTIONS`."""
        self.layer = layer
        self.shares = shares
        self.table: dict[tuple[bytes, int, bytes, int], tuple[TcpConnection, int]] = {}
        self.on_done = on_done
        self.packets = 0
        self.connections = 0
        self.evicted = 0

    def segment(self, src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int,
                payload: bytes, missing: int, t: float, frame: int) -> None:
        self.packets += 1
        key = (src, sport, dst, dport)
        entry = self.table.get(key)
        if entry is None:
            if flags & RST and not payload:
                return  # a reset for a connection we never saw tells nothing
            conn = self._open(src, sport, dst, dport, t, frame, not (flags & SYN))
            side = 0
        else:
            conn, side = entry
            if flags & SYN and not flags & ACK and self._reused(conn, side, seq):
                self._retire(conn)
                conn = self._open(src, sport, dst, dport, t, frame, False)
                side = 0
            elif t - conn.last > CLOSE_DELAY and conn.quiet:
                # A late packet: the record ended before it, whether or not a sweep came between.
                self._hand_on(conn)
        conn.last = t
        conn.last_frame = frame
        conn.segments += 1
        half = conn.half[side]
        if flags & SYN:
            if conn.isn[side] is None:
                conn.isn[side] = seq
                half.syn(seq)
                if not flags & ACK:
                    conn.syn_side = side
                elif conn.syn_side is None:
                    conn.syn_side = 1 - side
        if flags & ACK:
            other = conn.half[1 - side]
            if other.ooo:
                other.ack(ack)
            else:
                other.acked = ack
        if (payload or missing) and not conn.dead:
            session = conn.session or conn.start_layer(self.layer)
            half.segment((seq + 1) & 0xFFFFFFFF if flags & SYN else seq, payload, missing, t, frame)
            if session.ignoring():
                conn.dead = True
                for h in conn.half:
                    h.ooo.clear()
                    h.ooo_bytes = 0
        if flags & (FIN | RST):
            if conn.close is None:
                conn.close = (side, "RST" if flags & RST else "FIN", frame, t)
            if flags & FIN:
                conn.fins[side] = True
            if flags & RST:
                conn.reset = True
            if flags & RST or (conn.fins[0] and conn.fins[1]):
                if conn.dead and not conn.settled:
                    self._retire(conn)
                # A settled connection stays for its linger: a FIN (or its close_notify) sent
                # again, or a late RST, is part of it; retired here, the next copy would open a
                # phantom connection on the same 4-tuple. Only a SYN starts a new one.
                elif flags & FIN and not conn.half[0].ooo and not conn.half[1].ooo:
                    conn.settle()

    def _reused(self, conn: TcpConnection, side: int, seq: int) -> bool:
        """Does a SYN from ``side`` start a new connection on the same 4-tuple?"""
        if conn.closed:
            return True
        isn = conn.isn[side]
        return isn is not None and isn != seq and conn.segments > 3

    def _open(self, src: bytes, sport: int, dst: bytes, dport: int, t: float, frame: int, midstream: bool) -> TcpConnection:
        if len(self.table) >= 2 * max(1, MAX_CONNECTIONS // self.shares):
            self._evict_idlest(t)
        conn = TcpConnection(src, sport, dst, dport, t, frame, midstream)
        self.table[(src, sport, dst, dport)] = (conn, 0)
        self.table[(dst, dport, src, sport)] = (conn, 1)
        self.connections += 1
        return conn

    def _retire(self, conn: TcpConnection) -> None:
        (a, ap), (b, bp) = conn.ends_raw
        for key in ((a, ap, b, bp), (b, bp, a, ap)):
            entry = self.table.get(key)
            if entry is not None and entry[0] is conn:
                del self.table[key]
        result = conn.finish()
        # Readers and session refer to each other: break the cycle so a retired connection's
        # memory is freed now, not at the next full collection (a flood retires thousands a second).
        if conn.session is not None:
            conn.session.readers = ()  # type: ignore[misc,assignment]
        if result is not None:
            self.on_done(result)

    def _conns(self) -> list[TcpConnection]:
        return [c for c, side in self.table.values() if side == 0]

    def sweep(self, now: float) -> None:
        """Retire connections idle for :data:`IDLE_TIMEOUT` seconds of capture time at ``now``
        (counted as evicted) and closed ones idle for :data:`CLOSED_LINGER` (they ended); hand
        on closed ones quiet for :data:`CLOSE_DELAY`.

        The capture loop calls this every :data:`SWEEP_EVERY` frames with the frame's time, so
        every share of a split analysis sweeps at the same moments as a serial run."""
        limit = now - IDLE_TIMEOUT
        lingered = now - CLOSED_LINGER
        settled = now - CLOSE_DELAY
        for conn in self._conns():
            if conn.last < lingered and conn.closed:
                self._retire(conn)
            elif conn.last < limit:
                self.evicted += 1
                self._retire(conn)
            elif conn.last < settled and conn.quiet:
                self._hand_on(conn)

    def _evict_idlest(self, now: float) -> None:
        conns = sorted(self._conns(), key=lambda c: c.last)
        for conn in conns[: max(1, len(conns) // 10)]:
            self.evicted += 1
            if not conn.closed:
                # Still open: what it sends later is not part of this record. (A closed one loses nothing.)
                conn.anomalies.append(Anomaly(
                    "cap", f"retired early: connection table full ({MAX_CONNECTIONS} live connections); "
                    "later packets of it start a new record", now, None))
            self._retire(conn)

    def _hand_on(self, conn: TcpConnection) -> None:
        """Report a :attr:`~TcpConnection.quiet` connection now. It stays in the table, emptied,
        until its linger ends, so that a late ACK or a FIN sent again is absorbed rather than
        opening a phantom connection; it is then retired with nothing left to report."""
        result = conn.finish()
        if conn.session is not None:
            conn.session.readers = ()  # type: ignore[misc,assignment]
        conn.session = None  # reported: finish() gives nothing a second time
        conn.dead = True  # nor does a late payload start a new layer
        for h in conn.half:
            h.consumer = None  # type: ignore[assignment]
        if result is not None:
            self.on_done(result)

    def report_closed(self) -> None:
        """Hand on now every closed connection with nothing waiting behind a hole, without
        waiting for :data:`CLOSE_DELAY`: for a live stream (standard input), whose rows should
        appear as connections end (only its end time misses a late packet). Not used when
        reading a file."""
        for conn in self._conns():
            if conn.quiet:
                self._hand_on(conn)

    def close_all(self) -> None:
        """End of capture: every connection still open is finished as it stands."""
        for conn in self._conns():
            self._retire(conn)
