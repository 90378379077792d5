"""Encrypted records kept for later decryption: what a key log can open, copied while it passes.

The record layer skips encrypted bodies. When the analysis has session keys to try (a key log,
or a pcapng file's Decryption Secrets Blocks), each connection's :class:`SealedLog` keeps a
bounded copy of the records a key could open, with the sequence numbers their keys need, and
the hellos' randoms; :func:`pcaptls.tls.unseal.unseal` decrypts them after the connection is
finished. The engines know no keys: they only copy bytes.

Per direction (both engines alike):

- TLS 1.3: from the ServerHello on, every ``application_data`` record (all protected records),
  numbered from the direction's first one (a client's 0-RTT records count: they came first);
- TLS <= 1.2: from the direction's first ChangeCipherSpec on, every record, numbered from 0 (the
  TLS sequence number); handshake and alert bodies are kept, application data only counted.
  A second ChangeCipherSpec (a renegotiation's new keys) ends the collection.

The first :data:`HEAD_RECORDS` records and :data:`HEAD_BYTES` bytes are kept (the encrypted
handshake is there); after that only records of at most :data:`SMALL` bytes (alerts,
KeyUpdates), the last :data:`TAIL` of them. A gap in the stream ends the direction's collection
(the numbering is lost with the bytes); a gap inside a record drops only that record.
"""

from __future__ import annotations

from dataclasses import dataclass

HEAD_RECORDS = 32
HEAD_BYTES = 32 << 10
SMALL = 256
TAIL = 8
MAX_HELLO = 4096  # a ServerHello kept for its random and extensions; larger ones are not kept

_OFF, _TLS12, _TLS13 = 0, 12, 13
_CT_APPDATA = 23


@dataclass(frozen=True, slots=True)
class SealedRecord:
    """One encrypted record: its number in the direction's protected stream (see the module),
    outer content type, and the time and frame in which its last byte arrived."""

    sender: str
    seq: int
    type: int
    time: float
    frame: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Sealed:
    """What one connection carries for decryption: the ClientHello's random (the key log's
    index), the raw ServerHello body (random, extensions), the records in order (client's,
    then server's, each by ``seq``)."""

    client_random: bytes | None
    server_hello: bytes | None
    records: tuple[SealedRecord, ...]


class SealedLog:
    """The collector of one connection; the record readers and the session feed it."""

    __slots__ = ("mode", "n", "head_n", "head_bytes", "pend", "head", "tail", "client_random", "server_hello")

    def __init__(self) -> None:
        self.mode = [_OFF, _OFF]
        self.n = [0, 0]  # records numbered so far
        self.head_n = [0, 0]
        self.head_bytes = [0, 0]
        # The record being copied: [seq, content type, length, bytes so far, into head?]
        self.pend: list[list | None] = [None, None]
        self.head: tuple[list[tuple[int, int, float, int, bytes]], ...] = ([], [])
        self.tail: tuple[list[tuple[int, int, float, int, bytes]], ...] = ([], [])
        self.client_random: bytes | None = None
        self.server_hello: bytes | None = None

    # -- the session ------------------------------------------------------------------------
    def hello(self, client: bool, body: bytes) -> None:
        if client:
            if self.client_random is None and len(body) >= 34:
                self.client_random = bytes(body[2:34])
        elif len(body) <= MAX_HELLO:
            self.server_hello = bytes(body)

    def start13(self, appdata: list[int]) -> None:
        """A TLS 1.3 ServerHello: both directions' protected records count from their first
        application_data record (``appdata``: how many each side already sent)."""
        for side in (0, 1):
            self.mode[side] = _TLS13
            self.n[side] = appdata[side]

    def ccs(self, side: int) -> None:
        """A ChangeCipherSpec outside TLS 1.3: the direction's first starts its sequence, a
        second (new keys) ends the collection."""
        if self.mode[side] == _OFF and self.n[side] == 0 and not self.head[side]:
            self.mode[side] = _TLS12
        else:
            self.mode[side] = _OFF
            self.pend[side] = None

    # -- the record reader ------------------------------------------------------------------
    def record(self, side: int, ct: int, ln: int) -> bool:
        """A record header whose body the reader passes over; ``True``: copy the body (with
        :meth:`body`). Numbers it either way."""
        mode = self.mode[side]
        if mode == _OFF or (mode == _TLS13 and ct != _CT_APPDATA):
            return False
        seq = self.n[side]
        self.n[side] = seq + 1
        if mode == _TLS12 and ct == _CT_APPDATA:
            return False
        if self.head_n[side] < HEAD_RECORDS and self.head_bytes[side] + ln <= HEAD_BYTES:
            self.head_n[side] += 1
            self.head_bytes[side] += ln
            self.pend[side] = [seq, ct, ln, bytearray(), True]
            return True
        if ln <= SMALL:
            self.pend[side] = [seq, ct, ln, bytearray(), False]
            return True
        return False

    def body(self, side: int, data: bytes | bytearray, t: float, frame: int) -> None:
        """Bytes of the body being copied (all of it, or the next part)."""
        p = self.pend[side]
        if p is None:
            return
        buf: bytearray = p[3]
        buf += data[: p[2] - len(buf)]
        if len(buf) >= p[2]:
            self.pend[side] = None
            rec = (p[0], p[1], t, frame, bytes(buf))
            if p[4]:
                self.head[side].append(rec)
            else:
                tail = self.tail[side]
                tail.append(rec)
                if len(tail) > TAIL:
                    del tail[0]

    def copying(self, side: int) -> bool:
        return self.pend[side] is not None

    def lost(self, side: int, whole_stream: bool) -> None:
        """A gap: inside the record being passed over (``whole_stream`` False: that record is
        lost), or anywhere else (the numbering is lost: collection ends)."""
        self.pend[side] = None
        if whole_stream:
            self.mode[side] = _OFF

    # -- result -----------------------------------------------------------------------------
    def result(self, client_side: int, names: tuple[str, str]) -> Sealed | None:
        """The carry, ``names`` by side; ``None`` when nothing was kept."""
        recs = []
        for side in (client_side, 1 - client_side):
            for seq, ct, t, frame, body in (*self.head[side], *self.tail[side]):
                recs.append(SealedRecord(names[side], seq, ct, t, frame, body))
        if not recs:
            return None
        return Sealed(self.client_random, self.server_hello, tuple(recs))
