"""A large, realistic capture for benchmarks, built from real TLS handshakes and streamed to disk.

Usage: ``python benchmarks/gen_capture.py SIZE_MB OUT [--seed N] [--kind bulk|handshakes]``

A pool of real OpenSSL sessions (Python ``ssl`` over memory BIOs, certificates made with
``tests/helpers/pcapgen.make_chain``) is made once: TLS 1.2 with RSA 2048/4096 and ECDSA chains (the
4096-bit chain spans several 1460-byte segments), TLS 1.3, client certificates, and failures
(unknown_ca, a required client certificate that is missing). Each pooled session keeps its
wire bytes and a few real encrypted application-data records. The pool is then replicated into
thousands of TCP connections over a 1500-byte MTU, each with its own addresses, ports, initial
sequence numbers and times, interleaved as on a busy link: SYN, handshake, a request, bulk
application data (most of the file's bytes), ACKs every second segment, then FIN or RST.
Plain HTTP connections and DNS over UDP are mixed in. Frames are written as they are made, so
memory stays flat whatever the size.

``--kind handshakes`` (:func:`generate_handshakes`, pool :func:`handshake_pool`) is the shape of
a failing MRA deployment among normal traffic instead: short connections, every one a full
handshake, a third of them failing at the client (fatal ``unknown_ca`` or ``bad_certificate``
after the server's Certificate) in retry series; the others exchange a few requests and
responses and close (half with close_notify). About 37 KB per connection: 8,000 or more full
handshakes per 300 MB.

The pool is random (fresh keys) but the layout is fixed by ``--seed``: the same arguments give
the same connections, sizes and order.
"""

from __future__ import annotations

import argparse
import os
import random
import ssl
import struct
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers.pcapgen import MSS, Pki, make_chain, memory_handshake  # noqa: E402

# -- a pool of real sessions ----------------------------------------------------------------


@dataclass
class Session:
    """One real TLS conversation: handshake wire bytes and encrypted records to replay."""

    name: str
    wire: list[tuple[int, bytes]]  # (sender 0=client|1=server, bytes) in order
    ok: bool
    request: bytes = b""  # client's application-data record(s)
    bulk: tuple[bytes, ...] = ()  # server's application-data records, replayed to make up the volume
    error: str | None = None
    close: tuple[bytes, bytes] = (b"", b"")  # client's and server's close_notify alerts (encrypted)

    @property
    def alert(self) -> int | None:
        """The description of the fatal alert that ended a failed handshake (from either side)."""
        _side, last = self.wire[-1]
        return last[6] if not self.ok and len(last) >= 7 and last[0] == 21 else None


def _files(d: str, name: str, pki: Pki) -> tuple[str, str]:
    cert, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    Path(cert).write_bytes(pki.cert_pem)
    Path(key).write_bytes(pki.key_pem)
    return cert, key


def real_session(name: str, server: Pki, sni: str, tls13: bool, trust: Pki | None = None,
                 client: Pki | None = None, require_client_cert: bool = False) -> Session:
    """Run one handshake in memory; on success, encrypt a request and 64 KiB of bulk data."""
    with tempfile.TemporaryDirectory() as d:
        scert, skey = _files(d, "server", server)
        ca = os.path.join(d, "ca.pem")
        Path(ca).write_bytes((trust or server).ca_pem)
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(scert, skey)
        cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cctx.load_verify_locations(ca)
        if not tls13:
            cctx.maximum_version = ssl.TLSVersion.TLSv1_2
        if require_client_cert:
            sctx.verify_mode = ssl.CERT_REQUIRED
            cca = os.path.join(d, "client-ca.pem")
            Path(cca).write_bytes((client or server).ca_pem)
            sctx.load_verify_locations(cca)
        if client is not None:
            ccert, ckey = _files(d, "client", client)
            cctx.load_cert_chain(ccert, ckey)
    m = memory_handshake(cctx, sctx, sni)
    c, s, cout, sin, sout, wire, error = m.client, m.server, m.cout, m.sin, m.sout, m.wire, m.error
    if error or not m.done:
        return Session(name, wire, False, error=error or "handshake did not finish")
    if tls13:
        # TLS 1.3 client certificate failures surface only when the client reads after its Finished.
        try:
            c.write(b"")
        except ssl.SSLError:
            pass
    c.write(f"GET /{name} HTTP/1.1\r\nHost: {sni}\r\nUser-Agent: bench\r\n\r\n".encode())
    request = cout.read()
    sin.write(request)
    try:
        s.read(65536)
    except ssl.SSLError as e:  # a TLS 1.3 server rejecting the client's certificate
        tail = sout.read()
        if tail:
            wire.append((1, tail))
        return Session(name, wire, False, error=e.reason or str(e))
    tail = sout.read()  # TLS 1.3 session tickets
    if tail:
        wire.append((1, tail))
    rnd = random.Random(name)
    records = []
    for n in (16384, 16384, 1200, 16384, 16384, 16384, 4000, 300, 16384, 16384, 9000):
        s.write(rnd.randbytes(n))
        records.append(sout.read())
    return Session(name, wire, True, request=request, bulk=tuple(records), close=_close_notify(c, s, cout, sin, sout))


def _close_notify(c: ssl.SSLObject, s: ssl.SSLObject, cout: ssl.MemoryBIO, sin: ssl.MemoryBIO,
                  sout: ssl.MemoryBIO) -> tuple[bytes, bytes]:
    """The client's close_notify, then the server's answer: what a clean TLS shutdown puts on the wire."""
    try:
        c.unwrap()
    except ssl.SSLError:  # SSLWantReadError: waiting for the server's close_notify
        pass
    mine = cout.read()
    sin.write(mine)
    try:
        s.unwrap()
    except ssl.SSLError:
        pass
    return mine, sout.read()


SERVERS = {  # kind: (SNI, its chain)
    "rsa2048": ("www.example.com", lambda: make_chain("www.example.com", san=("www.example.com", "example.com"))),
    "rsa4096": ("expressway.example.net", lambda: make_chain("expressway.example.net", rsa_bits=4096)),
    "ecdsa": ("api.example.org", lambda: make_chain("api.example.org", ecdsa=True)),
    "rsa-direct": ("mail.example.com", lambda: make_chain("mail.example.com", intermediate=False)),
    "selfsigned": ("printer.local", lambda: make_chain("printer.local", self_signed=True)),
}


def _every_pool(key: str, pki: Pki, sni: str, tls13: bool, client: Pki, other_ca: Pki) -> list[Session]:
    """What both pools hold for one server and version: plain, with a client certificate, and
    failing with unknown_ca (the client's trust store lacks the server's root)."""
    v = "13" if tls13 else "12"
    return [real_session(f"{key}-{v}", pki, sni, tls13),
            real_session(f"{key}-{v}-mtls", pki, sni, tls13, client=client, require_client_cert=True),
            real_session(f"{key}-{v}-unknown-ca", pki, sni, tls13, trust=other_ca)]


def session_pool(kinds: Sequence[str] = tuple(SERVERS), log: bool = False) -> list[Session]:
    """Seven real sessions per server kind in :data:`SERVERS`: TLS 1.2 and 1.3, each plain, with
    a client certificate and failing with unknown_ca, and TLS 1.2 missing a required client
    certificate (35 for all five kinds)."""
    client = make_chain("alice@example.com", intermediate=False)
    other_ca = make_chain("Unrelated Root CA", self_signed=True)  # a trust store without our CAs
    pool: list[Session] = []
    for key in kinds:
        sni, chain = SERVERS[key]
        pki = chain()
        for tls13 in (False, True):
            pool += _every_pool(key, pki, sni, tls13, client, other_ca)
        pool.append(real_session(f"{key}-12-no-client-cert", pki, sni, False, require_client_cert=True))
    if log:
        for s in pool:
            hs = sum(len(b) for _, b in s.wire)
            print(f"  {s.name:28} {'ok' if s.ok else 'FAIL ' + str(s.error):40} handshake {hs} B", file=sys.stderr)
    return pool


# -- frames ---------------------------------------------------------------------------------

_TCP = struct.Struct("!HHIIBBHHH")
_U16 = struct.Struct("!H")
_REC = struct.Struct("<IIII")
_ETH = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


class Pair:
    """Header templates for both directions of one IPv4 TCP conversation."""

    __slots__ = ("pre", "post", "ports")

    def __init__(self, client: bytes, cport: int, server: bytes, sport: int) -> None:
        self.pre = _ETH + b"\x45\x00"
        # ip id 0, DF, ttl 64, proto TCP, checksum 0 (nobody here validates it), src, dst
        self.post = (b"\x00\x00\x40\x00\x40\x06\x00\x00" + client + server,
                     b"\x00\x00\x40\x00\x40\x06\x00\x00" + server + client)
        self.ports = ((cport, sport), (sport, cport))

    def tcp(self, side: int, seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
        sp, dp = self.ports[side]
        return b"".join((self.pre, _U16.pack(40 + len(payload)), self.post[side],
                         _TCP.pack(sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 65535, 0, 0), payload))

    def udp(self, side: int, payload: bytes) -> bytes:
        sp, dp = self.ports[side]
        post = self.post[side]
        post = post[:5] + b"\x11" + post[6:]
        return b"".join((self.pre, _U16.pack(28 + len(payload)), post,
                         struct.pack("!HHHH", sp, dp, 8 + len(payload), 0), payload))


def _stream(p: Pair, seq: list[int], side: int, data: bytes | Iterator[bytes], acks: bool = True) -> Iterator[bytes]:
    """MSS-sized segments of ``data`` from ``side``, the peer ACKing every second one."""
    chunks = iter((data,)) if isinstance(data, bytes) else data
    n = 0
    for blob in chunks:
        for i in range(0, len(blob), MSS):
            part = blob[i : i + MSS]
            yield p.tcp(side, seq[side], seq[1 - side], ACK | PSH, part)
            seq[side] += len(part)
            n += 1
            if acks and n % 2 == 0:
                yield p.tcp(1 - side, seq[1 - side], seq[side], ACK)
    if acks and n % 2:
        yield p.tcp(1 - side, seq[1 - side], seq[side], ACK)


def _repeat(records: tuple[bytes, ...], nbytes: int) -> Iterator[bytes]:
    """Whole records, round and round, until at least ``nbytes`` were given."""
    sent = 0
    i = 0
    while sent < nbytes:
        r = records[i % len(records)]
        yield r
        sent += len(r)
        i += 1


def _open(p: Pair, seq: list[int]) -> Iterator[bytes]:
    yield p.tcp(0, seq[0], 0, SYN)
    seq[0] += 1
    yield p.tcp(1, seq[1], seq[0], SYN | ACK)
    seq[1] += 1
    yield p.tcp(0, seq[0], seq[1], ACK)


def _close(p: Pair, seq: list[int], rst: bool, by: int = 0) -> Iterator[bytes]:
    if rst:
        yield p.tcp(by, seq[by], seq[1 - by], RST | ACK)
        return
    yield p.tcp(by, seq[by], seq[1 - by], FIN | ACK)
    seq[by] += 1
    yield p.tcp(1 - by, seq[1 - by], seq[by], FIN | ACK)
    seq[1 - by] += 1
    yield p.tcp(by, seq[by], seq[1 - by], ACK)


def tls_connection(p: Pair, isn: tuple[int, int], s: Session, bulk_bytes: int, rst: bool) -> Iterator[bytes]:
    seq = list(isn)
    yield from _open(p, seq)
    for side, data in s.wire:
        yield from _stream(p, seq, side, data)
    if s.ok:
        yield from _stream(p, seq, 0, s.request)
        yield from _stream(p, seq, 1, _repeat(s.bulk, bulk_bytes))
    yield from _close(p, seq, rst, 0)


def http_connection(p: Pair, isn: tuple[int, int], rnd: random.Random, body: int) -> Iterator[bytes]:
    seq = list(isn)
    yield from _open(p, seq)
    yield from _stream(p, seq, 0, b"GET /status HTTP/1.1\r\nHost: intranet\r\nAccept: */*\r\n\r\n")
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body}\r\n\r\n".encode()
    yield from _stream(p, seq, 1, head + b"x" * body)
    yield from _close(p, seq, False, 0)


def dns_exchange(p: Pair, rnd: random.Random, qname: str) -> Iterator[bytes]:
    tid = rnd.getrandbits(16)
    q = b"".join(bytes([len(x)]) + x.encode() for x in qname.split(".")) + b"\x00"
    query = struct.pack("!HHHHHH", tid, 0x0100, 1, 0, 0, 0) + q + b"\x00\x01\x00\x01"
    answer = (struct.pack("!HHHHHH", tid, 0x8180, 1, 1, 0, 0) + q + b"\x00\x01\x00\x01"
              + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04" + bytes([192, 168, 1, rnd.randrange(1, 250)]))
    yield p.udp(0, query)
    yield p.udp(1, answer)


# -- the capture ----------------------------------------------------------------------------


@dataclass
class Summary:
    """What was written: the numbers a reader of the capture should find."""

    bytes: int = 0
    frames: int = 0
    tls: int = 0
    tls_failed: int = 0
    http: int = 0
    dns: int = 0
    by_session: dict[str, int] = field(default_factory=dict)
    # handshake-heavy kind only
    tls13: int = 0  # connections whose handshake is TLS 1.3 (the rest TLS 1.2)
    alerts: dict[str, int] = field(default_factory=dict)  # fatal handshake alerts by description
    retry_series: int = 0  # failing clients, each retrying one or more times
    close_notify: int = 0  # successful connections ended by a close_notify exchange


def _weights(pool: list[Session]) -> list[float]:
    """Mostly successful sessions; failures are a few percent of connections."""
    return [(1.0 if s.ok else 0.06) for s in pool]


PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)


def _weave(out: str | os.PathLike[str], rnd: random.Random, new_flow: Callable[[], tuple[Iterator[bytes], int]],
           target: int, active: int, summ: Summary) -> None:
    """Interleave flows frame by frame into a pcap at ``out``: at most ``active`` flows live, new
    ones opened while the bytes they promise stay under ``target``; a 1 MiB write buffer.

    A flow is an iterator of frames; an empty frame is a tick in which that flow sends nothing."""
    t = 1_760_000_000.0
    planned = 24  # bytes promised by connections opened so far (estimate), to stop near the target
    live: list[Iterator[bytes]] = []
    out_chunks: list[bytes] = []
    pending = 0
    rec = _REC.pack
    with open(out, "wb", buffering=1 << 20) as f:
        f.write(PCAP_HEADER)
        summ.bytes = 24
        while True:
            while len(live) < active and planned < target:
                flow, est = new_flow()
                live.append(flow)
                planned += est
            if not live:
                break
            i = rnd.randrange(len(live))
            frame = next(live[i], None)
            if frame is None:
                live[i] = live[-1]
                live.pop()
                continue
            if not frame:
                continue
            t += rnd.expovariate(1 / 40e-6)  # ~25k frames/s: a busy gigabit link
            sec = int(t)
            out_chunks.append(rec(sec, int((t - sec) * 1e6), len(frame), len(frame)))
            out_chunks.append(frame)
            summ.frames += 1
            pending += 16 + len(frame)
            if pending >= 1 << 20:
                f.write(b"".join(out_chunks))
                summ.bytes += pending
                out_chunks.clear()
                pending = 0
        f.write(b"".join(out_chunks))
        summ.bytes += pending


def generate(size_mb: float, out: str | os.PathLike[str], seed: int = 1, pool: list[Session] | None = None,
             active: int = 64) -> Summary:
    """Write a pcap of about ``size_mb`` MB (10^6 bytes) to ``out``; return what it holds."""
    rnd = random.Random(seed)
    pool = pool if pool is not None else session_pool()
    weights = _weights(pool)
    target = int(size_mb * 1e6)
    summ = Summary()
    servers = [bytes([192, 168, 10 + i // 250, 1 + i % 250]) for i in range(40)]
    resolver = bytes([192, 168, 0, 53])
    clients = 0

    def client_addr() -> tuple[bytes, int]:
        nonlocal clients
        clients += 1
        host = 1 + clients % 4000
        return bytes([10, 1 + host // 250 % 250, 1 + host % 250, 1 + clients // 1_000_000]), 32768 + clients % 28000

    def new_flow() -> tuple[Iterator[bytes], int]:
        caddr, cport = client_addr()
        isn = (rnd.getrandbits(32), rnd.getrandbits(32))
        r = rnd.random()
        if r < 0.08:
            body = int(rnd.expovariate(1 / 8000))
            summ.http += 1
            return http_connection(Pair(caddr, cport, rnd.choice(servers), 80), isn, rnd, body), body + 2000
        if r < 0.2:
            summ.dns += 1
            return dns_exchange(Pair(caddr, cport, resolver, 53), rnd, f"host{rnd.randrange(500)}.example.com"), 300
        s = rnd.choices(pool, weights)[0]
        summ.tls += 1
        summ.tls_failed += not s.ok
        summ.by_session[s.name] = summ.by_session.get(s.name, 0) + 1
        # Most connections are short; a few are long downloads carrying most of the bytes.
        bulk = 0
        if s.ok:
            bulk = int(rnd.expovariate(1 / 30_000)) if rnd.random() < 0.9 else int(rnd.expovariate(1 / 500_000))
        sport = 443 if rnd.random() < 0.9 else 8443
        hs = sum(len(b) for _, b in s.wire)
        est = int((hs + bulk + len(s.request)) * 1.08) + (9000 if s.ok else 800)  # + half a record of overshoot
        return tls_connection(Pair(caddr, cport, rnd.choice(servers), sport), isn, s, bulk, rnd.random() < 0.05), est

    _weave(out, rnd, new_flow, target, active, summ)
    return summ


# -- the handshake-heavy capture ------------------------------------------------------------

HANDSHAKE_KINDS = ("rsa4096", "rsa2048", "ecdsa", "rsa-direct")
MRA_KIND = "rsa4096"  # the Expressway edge: the failing clients' usual target


def handshake_pool(kinds: Sequence[str] = HANDSHAKE_KINDS, log: bool = False) -> list[Session]:
    """Eight real sessions per server kind, each in TLS 1.2 and 1.3: plain, with a client
    certificate, and failing at the client after the server's Certificate, with ``unknown_ca``
    (the client does not trust the server's root) and ``bad_certificate`` (the client asked for
    a name that the certificate does not hold: ``collab-edge.`` in front of the server's)."""
    client = make_chain("alice@example.com", intermediate=False)
    other_ca = make_chain("Unrelated Root CA", self_signed=True)
    pool: list[Session] = []
    for key in kinds:
        sni, chain = SERVERS[key]
        pki = chain()
        for tls13 in (False, True):
            pool += _every_pool(key, pki, sni, tls13, client, other_ca)
            wrong = "collab-edge." + sni.split(".", 1)[1]
            pool.append(real_session(f"{key}-{'13' if tls13 else '12'}-bad-cert", pki, wrong, tls13))
    for s in pool:
        want_ok = not s.name.endswith(("unknown-ca", "bad-cert"))
        if s.ok != want_ok or (not s.ok and ALERTS.get(s.alert or 0) not in ("unknown_ca", "bad_certificate")):
            raise RuntimeError(f"session {s.name}: ok={s.ok}, error {s.error}, alert {s.alert}")
    if log:
        for s in pool:
            hs = sum(len(b) for _, b in s.wire)
            what = "ok" if s.ok else f"FAIL {ALERTS.get(s.alert or 0, s.alert)}"
            print(f"  {s.name:28} {what:24} handshake {hs} B", file=sys.stderr)
    return pool


ALERTS = {40: "handshake_failure", 42: "bad_certificate", 46: "certificate_unknown", 48: "unknown_ca"}


def _records(records: tuple[bytes, ...], start: int, nbytes: int) -> Iterator[bytes]:
    """Whole records from ``start`` on, round and round, until at least ``nbytes`` (one at least)."""
    sent = 0
    i = start
    while True:
        r = records[i % len(records)]
        yield r
        sent += len(r)
        i += 1
        if sent >= nbytes:
            return


def tls_exchange(p: Pair, isn: tuple[int, int], s: Session, rounds: Sequence[tuple[int, int]],
                 close_notify: bool, rst: bool) -> Iterator[bytes]:
    """A full handshake; if it succeeds, a few requests each answered by whole records, then
    optionally close_notify both ways; closed by the client (FIN, or RST)."""
    seq = list(isn)
    yield from _open(p, seq)
    for side, data in s.wire:
        yield from _stream(p, seq, side, data)
    if s.ok:
        for start, nbytes in rounds:
            yield from _stream(p, seq, 0, s.request)
            yield from _stream(p, seq, 1, _records(s.bulk, start, nbytes))
        if close_notify:
            yield from _stream(p, seq, 0, s.close[0])
            yield from _stream(p, seq, 1, s.close[1])
    yield from _close(p, seq, rst, 0)


def _stream_bytes(blobs: Iterable[int]) -> int:
    """File bytes :func:`_stream` writes for blobs of these lengths: each blob cut into
    MSS-sized segments, 70 bytes of headers a frame (pcap 16, Ethernet 14, IPv4 20, TCP 20),
    and an ACK for every second segment."""
    size = segs = 0
    for n in blobs:
        k = -(-n // MSS)
        segs += k
        size += n + 70 * k
    return size + 70 * -(-segs // 2)


def _series(connections: Sequence[tuple[Pair, tuple[int, int], bool, int]], s: Session) -> Iterator[bytes]:
    """One client retrying a failing handshake: each attempt a new connection from the next
    source port, separated by idle ticks (the client's back-off)."""
    for p, isn, rst, idle in connections:
        yield from tls_exchange(p, isn, s, (), False, rst)
        for _ in range(idle):
            yield b""


def generate_handshakes(size_mb: float, out: str | os.PathLike[str], seed: int = 1,
                        pool: list[Session] | None = None, active: int = 64, fail_share: float = 1 / 3,
                        max_retries: int = 8, response_mean: int = 8_000) -> Summary:
    """Write a handshake-heavy pcap of about ``size_mb`` MB to ``out``: a failing MRA deployment
    (clients retrying handshakes the client side rejects) among normal short TLS connections.

    Every TLS connection is a full handshake (no resumption). About ``fail_share`` of them fail:
    the client sends a fatal ``unknown_ca`` or ``bad_certificate`` alert after the server's
    Certificate and closes (70% FIN, 30% RST); they come in retry series of 1 to ``max_retries``
    connections from one client to one server (port 8443 or 5061), most to the Expressway edge
    (RSA 4096 with an intermediate: three segments of Certificate). The others succeed and
    exchange 1 to 4 requests, each answered by whole application-data records (about
    ``response_mean`` bytes, exponential), half of them end with close_notify both ways, then
    FIN (5% RST). 5% of flows are DNS over UDP. About 37 KB per TLS connection: 8,000 or more
    per 300 MB."""
    rnd = random.Random(seed)
    pool = pool if pool is not None else handshake_pool()
    good = [s for s in pool if s.ok]
    bad = [s for s in pool if not s.ok]
    good_w = [0.3 if s.name.endswith("mtls") else 1.0 for s in good]
    bad_w = [3.0 if s.name.startswith(MRA_KIND + "-") else 1.0 for s in bad]
    # A failing series holds (1 + max_retries) / 2 connections on average: the share of series
    # among TLS flows that makes ``fail_share`` of the connections fail.
    k = (1 + max_retries) / 2
    series_share = fail_share / (k * (1 - fail_share) + fail_share)
    target = int(size_mb * 1e6)
    summ = Summary()
    servers = [bytes([192, 168, 10 + i // 250, 1 + i % 250]) for i in range(40)]
    edges = servers[:4]
    resolver = bytes([192, 168, 0, 53])
    clients = 0

    def client_addr() -> tuple[bytes, int]:
        nonlocal clients
        clients += 1
        host = 1 + clients % 4000
        return bytes([10, 1 + host // 250 % 250, 1 + host % 250, 1 + clients // 1_000_000]), 32768 + clients % 28000

    def count(s: Session, n: int = 1) -> None:
        summ.tls += n
        summ.tls13 += n * ("-13" in s.name)
        summ.by_session[s.name] = summ.by_session.get(s.name, 0) + n
        if not s.ok:
            summ.tls_failed += n
            a = ALERTS.get(s.alert or 0, str(s.alert))
            summ.alerts[a] = summ.alerts.get(a, 0) + n

    def new_flow() -> tuple[Iterator[bytes], int]:
        caddr, cport = client_addr()
        r = rnd.random()
        if r < 0.05:
            summ.dns += 1
            return dns_exchange(Pair(caddr, cport, resolver, 53), rnd, f"host{rnd.randrange(500)}.example.com"), 300
        if rnd.random() < series_share:
            s = rnd.choices(bad, bad_w)[0]
            n = rnd.randint(1, max_retries)
            server, sport = rnd.choice(edges), (8443 if rnd.random() < 0.7 else 5061)
            conns = []
            for j in range(n):
                isn = (rnd.getrandbits(32), rnd.getrandbits(32))
                conns.append((Pair(caddr, 32768 + (cport - 32768 + j) % 28000, server, sport), isn,
                              rnd.random() < 0.3, rnd.randrange(20, 200)))
            summ.retry_series += 1
            count(s, n)
            each = sum(_stream_bytes((len(b),)) for _, b in s.wire) + 3 * 70
            return _series(conns, s), sum(each + (70 if rst else 3 * 70) for _, _, rst, _ in conns)
        s = rnd.choices(good, good_w)[0]
        isn = (rnd.getrandbits(32), rnd.getrandbits(32))
        rounds = [(rnd.randrange(len(s.bulk)), int(rnd.expovariate(1 / response_mean))) for _ in range(rnd.randint(1, 4))]
        close_notify = rnd.random() < 0.5
        summ.close_notify += close_notify
        r = rnd.random()
        sport = 443 if r < 0.7 else 8443 if r < 0.9 else 5061
        count(s)
        rst = rnd.random() < 0.05
        est = sum(_stream_bytes((len(b),)) for _, b in s.wire) + 3 * 70 + (70 if rst else 3 * 70)
        for start, nbytes in rounds:
            est += _stream_bytes((len(s.request),)) + _stream_bytes(len(x) for x in _records(s.bulk, start, nbytes))
        if close_notify:
            est += sum(_stream_bytes((len(b),)) for b in s.close)
        flow = tls_exchange(Pair(caddr, cport, rnd.choice(servers), sport), isn, s, rounds, close_notify, rst)
        return flow, est

    _weave(out, rnd, new_flow, target, active, summ)
    return summ


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("size_mb", type=float, help="approximate size in MB (10^6 bytes)")
    ap.add_argument("out", help="output pcap path (e.g. benchmarks/data/300.pcap)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kind", choices=("bulk", "handshakes"), default="bulk",
                    help="bulk: mostly application data (the default); handshakes: short connections, "
                         "a third failing in retry series (at least 8,000 full handshakes per 300 MB)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    if a.kind == "handshakes":
        s = generate_handshakes(a.size_mb, a.out, a.seed, handshake_pool(log=not a.quiet))
        alerts = ", ".join(f"{n} {k}" for k, n in sorted(s.alerts.items()))
        print(f"{a.out}: {s.bytes / 1e6:.1f} MB, {s.frames} frames, {s.tls} TLS connections, full handshakes "
              f"({s.tls - s.tls13} TLS 1.2, {s.tls13} TLS 1.3), {s.tls_failed} failing ({alerts}; "
              f"{s.retry_series} retrying clients), {s.close_notify} with close_notify, {s.dns} DNS", file=sys.stderr)
        return 0
    pool = session_pool(log=not a.quiet)
    s = generate(a.size_mb, a.out, a.seed, pool)
    print(f"{a.out}: {s.bytes / 1e6:.1f} MB, {s.frames} frames, {s.tls} TLS connections "
          f"({s.tls_failed} failing), {s.http} HTTP, {s.dns} DNS", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
