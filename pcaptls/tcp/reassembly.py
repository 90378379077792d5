"""One direction of a TCP connection: segments in any order -> in-order bytes for a consumer.

Sequence numbers are compared modulo 2^32 (RFC 793/1982 arithmetic), so streams may wrap.
Out-of-order segments wait in a small dict until the hole before them fills; a hole becomes a
reported *gap* when the peer has acknowledged bytes past it (so the capture, not the network,
lost them), when waiting data exceeds :data:`MAX_OOO_BYTES`, or when the connection ends.
Retransmissions and overlaps are trimmed to the bytes not yet delivered (first copy wins, as
the receiving stack keeps it).
"""

from __future__ import annotations

from typing import Protocol

MAX_OOO_BYTES = 1 << 18  # 256 KiB waiting behind a hole per direction, then give up on the hole
MAX_OOO_SEGMENTS = 512

_MASK = 0xFFFFFFFF
_HALF = 0x80000000


class Consumer(Protocol):
    def data(self, chunk: bytes, t: float, frame: int) -> None: ...
    def gap(self, nbytes: int, t: float | None) -> None: ...


def seq_diff(a: int, b: int) -> int:
    """Signed distance a - b in 32-bit sequence space."""
    d = (a - b) & _MASK
    return d - 0x100000000 if d >= _HALF else d


class HalfStream:
    """Reassembles one direction and feeds a :class:`Consumer` (the TLS record reader)."""

    __slots__ = ("consumer", "next", "ooo", "ooo_bytes", "acked", "retransmitted", "gaps", "gap_bytes", "delivered")

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.next: int | None = None  # next expected sequence number
        self.ooo: dict[int, tuple[bytes, int, float, int]] = {}
        self.ooo_bytes = 0
        self.acked: int | None = None  # highest ack the peer sent for this direction
        self.retransmitted = 0
        self.gaps = 0
        self.gap_bytes = 0
        self.delivered = 0

    def syn(self, seq: int) -> None:
        if self.next is None:
            self.next = (seq + 1) & _MASK

    def segment(self, seq: int, payload: bytes, missing: int, t: float, frame: int) -> None:
        """A segment with ``payload``; ``missing`` more bytes were on the wire but not captured."""
        nxt = self.next
        if nxt is None:  # first data of a capture that started mid-connection
            nxt = self.next = seq
        d = (seq - nxt) & _MASK
        if d == 0:
            self._deliver(payload, missing, t, frame)
            if self.ooo:
                self._drain()
            return
        if d >= _HALF:  # behind: retransmission or overlap
            d -= 0x100000000
            n = len(payload) + missing
            if d + n <= 0:
                self.retransmitted += 1
                return
            if -d < len(payload):
                self._deliver(payload[-d:], missing, t, frame)
            else:  # only the uncaptured tail is new
                self._deliver(b"", n + d, t, frame)
            if self.ooo:
                self._drain()
            return
        # Ahead of a hole.
        acked = self.acked
        if acked is not None and 0 < seq_diff(acked, nxt) and seq_diff(acked, nxt) >= d:
            # The peer already acknowledged the hole: the capture lost it, the network did not.
            self._gap(d, t)
            self._deliver(payload, missing, t, frame)
            if self.ooo:
                self._drain()
            return
        old = self.ooo.get(seq)
        if old is None or len(old[0]) + old[1] < len(payload) + missing:
            if old is not None:
                self.ooo_bytes -= len(old[0])
            self.ooo[seq] = (payload, missing, t, frame)
            self.ooo_bytes += len(payload)
            if self.ooo_bytes > MAX_OOO_BYTES or len(self.ooo) > MAX_OOO_SEGMENTS:
                self.skip_hole(t)

    def ack(self, ack: int) -> None:
        """The peer acknowledged up to ``ack``; a hole it covers will never be filled."""
        self.acked = ack
        nxt = self.next
        if self.ooo and nxt is not None:
            lowest = min(seq_diff(s, nxt) for s in self.ooo)
            if seq_diff(ack, nxt) >= lowest > 0:
                self.skip_hole(None)

    def _deliver(self, payload: bytes, missing: int, t: float, frame: int) -> None:
        n = len(payload)
        if n:
            self.delivered += n
            self.consumer.data(payload, t, frame)
        self.next = (self.next + n) & _MASK  # type: ignore[operator]
        if missing:
            self._gap(missing, t)

    def _gap(self, n: int, t: float | None) -> None:
        self.gaps += 1
        self.gap_bytes += n
        self.next = (self.next + n) & _MASK  # type: ignore[operator]
        self.consumer.gap(n, t)

    def _drain(self) -> None:
        ooo = self.ooo
        while ooo:
            nxt = self.next
            item = ooo.pop(nxt, None)  # type: ignore[arg-type]
            if item is not None:
                self.ooo_bytes -= len(item[0])
                self._deliver(item[0], item[1], item[2], item[3])
                continue
            # Segments that start before ``next`` (overlaps): deliver their new tail or drop them.
            behind = [s for s in ooo if seq_diff(s, nxt) < 0]  # type: ignore[arg-type]
            if not behind:
                return
            for s in behind:
                payload, missing, t, frame = ooo.pop(s)
                self.ooo_bytes -= len(payload)
                d = seq_diff(s, self.next)  # type: ignore[arg-type]
                if d + len(payload) + missing > 0:
                    if -d < len(payload):
                        self._deliver(payload[-d:], missing, t, frame)
                    else:
                        self._deliver(b"", len(payload) + missing + d, t, frame)
                else:
                    self.retransmitted += 1

    def skip_hole(self, t: float | None) -> None:
        """Give up waiting for the hole before the earliest buffered segment."""
        if not self.ooo or self.next is None:
            return
        nxt = self.next
        first = min(self.ooo, key=lambda s: seq_diff(s, nxt))
        d = seq_diff(first, nxt)
        if d > 0:
            self._gap(d, t if t is not None else self.ooo[first][2])
        self._drain()

    def flush(self) -> None:
        """End of connection or capture: deliver what waits behind holes, reporting the holes."""
        while self.ooo:
            self.skip_hole(None)
