"""A plain mutation fuzzer for volume: seeds -> random mutations -> a target -> counts.

Hypothesis (the ``test_fuzz_*`` modules) shrinks what it finds; this loop is for numbers: it
runs each target over hundreds of thousands of inputs in worker processes, with no per-input
overhead beyond the mutation. A target takes bytes and either returns, or raises a
:class:`~pcaptls.errors.PcaptlsError` where its contract allows one (counted as *rejected*).
Anything else is a finding: its input is written to ``FINDINGS`` to be replayed with
:func:`replay`.

Run by ``make fuzz`` (through ``tests/fuzz/test_fuzz_volume.py``) or directly::

    .venv/bin/python tests/fuzz/engine.py --inputs 1000000 --jobs 2
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import random
import struct
import sys
import time
import traceback
import warnings
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pcaptls.capture.decode import LINKTYPES, decode, new_counts
from pcaptls.capture.files import read_all
from pcaptls.capture.frames import ReadStats
from pcaptls.errors import PcaptlsError
from pcaptls.logs import LineParser
from pcaptls.pipeline import analysis
from pcaptls.pipeline.analysis import analyse, analyse_frames
from pcaptls.pipeline.result import merge
from pcaptls.report import connections as view
from pcaptls.report import writers
from pcaptls.report.records import connection_line, connection_record, json_text
from pcaptls.tcp.facts import Endpoint
from pcaptls.tcp.flows import FlowTable
from pcaptls.tcp.reassembly import MAX_OOO_BYTES, HalfStream
from pcaptls.tls import handshake as hs
from pcaptls.tls.session import TlsSession
from tests.helpers import craft, pcapgen

TESTS = Path(__file__).resolve().parent.parent

FINDINGS = Path(os.environ.get("PCAPTLS_FUZZ_FINDINGS", TESTS.parent / ".fuzz-findings"))
CORPUS = Path(os.environ.get("PCAPTLS_CORPUS", TESTS.parent.parent / "shared" / "corpus"))
ENDS = (Endpoint("10.0.0.1", 50000), Endpoint("10.0.0.2", 443))
REPORTS: list[str] = []  # volume reports of this pytest run, printed by tests/fuzz/conftest.py

# -- seeds -----------------------------------------------------------------------------------

_SEEDS: dict[str, list[bytes]] = {}


def _wires() -> list[list[tuple[int, bytes]]]:
    """Real handshakes: TLS 1.2 with a client certificate request, TLS 1.3, a rejected chain."""
    if "wires" not in _SEEDS:
        good = pcapgen.make_chain(cn="fuzz.example.com", ecdsa=True)
        bad = pcapgen.make_chain(cn="fuzz.example.com", ecdsa=True, self_signed=True)
        w1, _ = pcapgen.handshake_bytes(good, sni="fuzz.example.com", request_client_cert=True, app_data=b"GET /")
        w2, _ = pcapgen.handshake_bytes(good, sni="fuzz.example.com", tls13=True, app_data=b"GET /")
        w3, _ = pcapgen.handshake_bytes(bad, sni="fuzz.example.com", trust_pem=good.ca_pem)
        _SEEDS["wires"] = [w1, w2, w3]  # type: ignore[list-item]
    return _SEEDS["wires"]  # type: ignore[return-value]


def pcap_seeds() -> list[bytes]:
    if "pcap" not in _SEEDS:
        out = [pcapgen.pcap_bytes(pcapgen.tcp_flow(w)) for w in _wires()]
        out.append(pcapgen.pcap_bytes(pcapgen.tcp_flow(_wires()[0], rng=random.Random(5), reorder=0.5, duplicate=0.3)))
        # Many application-data records of mixed sizes after the handshake (several to a
        # segment, headers cut by segment ends): the record reader skips them by count.
        rng = random.Random(7)
        sealed = b"".join(bytes((23, 3, 3)) + n.to_bytes(2, "big") + rng.randbytes(n)
                          for n in (rng.choice((0, 3, 40, 700, 1500, 2900)) for _ in range(40)))
        out.append(pcapgen.pcap_bytes(pcapgen.tcp_flow([*_wires()[0], (1, sealed), (0, sealed[:3000])])))
        if CORPUS.is_dir():
            out += [p.read_bytes() for p in sorted(CORPUS.glob("*.pcap")) if p.stat().st_size <= 24_000]
        _SEEDS["pcap"] = out
    return _SEEDS["pcap"]


def pcapng_seeds() -> list[bytes]:
    if "pcapng" not in _SEEDS:
        out = []
        for blob in pcap_seeds()[:4]:
            frames = list(read_all(blob))
            out.append(craft.pcapng_shb() + craft.pcapng_idb(1)
                       + b"".join(craft.pcapng_epb(t, d) for _, t, _, d, _ in frames))
        if CORPUS.is_dir():
            out += [p.read_bytes() for p in sorted(CORPUS.glob("*.pcapng")) if p.stat().st_size <= 70_000]
        _SEEDS["pcapng"] = out
    return _SEEDS["pcapng"]


def frame_seeds() -> list[bytes]:
    if "frames" not in _SEEDS:
        frames = [d for blob in pcap_seeds()[:4] for _, _, _, d, _ in read_all(blob)]
        # Tunnels and link layers the decoder walks through.
        ip = frames[3][14:]
        frames += [
            b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x81\x00\x00\x01\x08\x00" + ip,  # VLAN
            b"\x00" * 12 + b"\x88\x64" + b"\x11\x00\x00\x01" + struct.pack("!H", len(ip) + 2) + b"\x00\x21" + ip,
            bytes([0x45, 0, 0, 20 + len(ip), 0, 0, 0x40, 0, 64, 4, 0, 0]) + b"\x01" * 8 + ip,  # IP in IP
            bytes([0x45, 0, 0, 24 + len(ip), 0, 0, 0x40, 0, 64, 47, 0, 0]) + b"\x01" * 8 + b"\x00\x00\x08\x00" + ip,
            b"\x02\x00\x00\x00" + ip,  # BSD loopback
        ]
        _SEEDS["frames"] = frames
    return _SEEDS["frames"]


def record_seeds() -> list[list[tuple[int, bytes]]]:
    return _wires()


def handshake_seeds() -> list[tuple[int, bytes]]:
    """(handshake type, body) of every message in the seed handshakes."""
    if "hs" not in _SEEDS:
        out: list[tuple[int, bytes]] = []

        class Grab:
            tls = True

            def __getattr__(self, name: str) -> Callable[..., None]:
                return lambda *a: None

            def on_handshake(self, side: int, htype: int, body: bytes, t: float, frame: int) -> None:
                out.append((htype, body))

        from pcaptls.tls.records import RecordReader

        for w in _wires():
            readers = (RecordReader(0, Grab()), RecordReader(1, Grab()))  # type: ignore[arg-type]
            for side, data in w:
                readers[side].data(data, 0.0, 1)
        out.append((1, hs_sslv2_hello()))
        _SEEDS["hs"] = out  # type: ignore[assignment]
    return _SEEDS["hs"]  # type: ignore[return-value]


def hs_sslv2_hello() -> bytes:
    specs = b"\x00\x00\x2f\x00\x00\x35\x01\x00\x80"
    return b"\x01\x03\x01" + struct.pack("!HHH", len(specs), 0, 16) + specs + b"\x11" * 16


def log_seeds() -> list[str]:
    if "logs" not in _SEEDS:
        p = TESTS / "logs" / "data" / "expressway_x14.log"
        _SEEDS["logs"] = p.read_text().splitlines() if p.exists() else []  # type: ignore[assignment]
    return _SEEDS["logs"]  # type: ignore[return-value]


# -- mutation ----------------------------------------------------------------------------------

_INTERESTING = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\x00\x00", b"\xff\xff", b"\x40\x00", b"\x00\x01",
                b"\x7f\xff", b"\x80\x00", b"\x00\x00\x00", b"\xff\xff\xff", b"\x01\x00\x00", b"\x00\x40\x00",
                b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x16\x03\x03", b"\x15\x03\x03\x00\x02\x02\x28"]


def mutate(rng: random.Random, data: bytes, seeds: list[bytes] | None = None) -> bytes:
    """One to eight stacked mutations: flips, interesting values, inserts, deletes, splices, cuts."""
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 8))):
        n = len(b)
        op = rng.randrange(9)
        if op == 0 and n:
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            b[rng.randrange(n)] = rng.randrange(256)
        elif op == 2 and n:
            v = rng.choice(_INTERESTING)
            i = rng.randrange(n)
            b[i : i + len(v)] = v
        elif op == 3:
            i = rng.randrange(n + 1)
            b[i:i] = rng.randbytes(rng.choice((1, 2, 4, 16, 100)))
        elif op == 4 and n:
            i = rng.randrange(n)
            del b[i : i + rng.choice((1, 2, 4, 16, 200, 2000))]
        elif op == 5 and n:
            i = rng.randrange(n)
            j = min(n, i + rng.choice((4, 16, 100, 1000)))
            k = rng.randrange(n)
            b[k:k] = b[i:j]
        elif op == 6 and n:
            del b[rng.randrange(n) :]
        elif op == 7 and seeds:
            other = rng.choice(seeds)
            if other:
                i = rng.randrange(len(other))
                b[rng.randrange(n + 1) :] = other[i:]
        elif op == 8 and n:  # a length-sized field set to something the bytes around cannot back
            i = rng.randrange(n)
            w = rng.choice((1, 2, 3, 4))
            b[i : i + w] = rng.choice((0, 1, rng.randrange(1 << (8 * w)), (1 << (8 * w)) - 1)).to_bytes(w, "big")
    return bytes(b)


# -- targets -----------------------------------------------------------------------------------

@dataclass
class Target:
    """``make(rng)`` builds one input (bytes); ``run(input)`` feeds it to pcaptls."""

    name: str
    make: Callable[[random.Random], bytes]
    run: Callable[[bytes], None]
    share: float  # of the total inputs of a run: cheap targets take more


def _capture_make(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.45:
        return mutate(rng, rng.choice(pcap_seeds()), pcap_seeds())
    if kind < 0.9:
        return mutate(rng, rng.choice(pcapng_seeds()), pcapng_seeds())
    head = rng.choice((b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\x0a\x0d\x0d\x0a"))
    return head + rng.randbytes(rng.randrange(600))


def _capture_run(data: bytes) -> None:
    for num, ts, linktype, frame, wirelen in read_all(data):
        assert isinstance(frame, bytes) and num > 0 and wirelen >= 0


def _decode_make(rng: random.Random) -> bytes:
    lt = rng.choice(sorted(LINKTYPES) + [rng.randrange(300)])
    frame = mutate(rng, rng.choice(frame_seeds())) if rng.random() < 0.8 else rng.randbytes(rng.randrange(80))
    return struct.pack("!H", lt) + frame


def _decode_run(data: bytes) -> None:
    counts = new_counts()
    s = decode(struct.unpack_from("!H", data)[0], data[2:], counts)
    if s is None:
        assert sum(counts.values()) >= 1
        return
    src, dst, sport, dport, seq, ack, flags, payload, missing = s
    assert len(src) in (4, 16) and len(dst) == len(src) and 0 <= sport < 65536 and 0 <= dport < 65536
    assert isinstance(payload, bytes) and missing >= 0 and len(payload) <= len(data)


def _segments_make(rng: random.Random) -> bytes:
    """A stream and its segments: (mode, stream length, then per segment offset, length, flags)."""
    mode = rng.randrange(3)  # 0: exact cover, shuffled/duplicated; 1: random; 2: flood through FlowTable
    n = rng.choice((10, 100, 3000, 70000))
    segs = []
    if mode == 0:
        off = 0
        while off < n:
            ln = rng.choice((1, 7, 536, 1460, 5000))
            segs.append((off, min(ln, n - off)))
            off += ln
        for _ in range(rng.randrange(4)):  # retransmissions and overlaps
            a = rng.randrange(n)
            segs.append((a, min(n - a, rng.randrange(1, 3000))))
        rng.shuffle(segs)
    else:
        for _ in range(rng.randrange(1, 60)):
            segs.append((rng.randrange(-1000, n + 1000) & 0xFFFFFFFF, rng.randrange(0, 3000)))
    head = struct.pack("!BIIB", mode, n, rng.getrandbits(32), rng.randrange(256))
    return head + b"".join(struct.pack("!IHB", o & 0xFFFFFFFF, ln, rng.randrange(256)) for o, ln in segs)


class _Collect:
    def __init__(self) -> None:
        self.out = bytearray()
        self.gaps = 0

    def data(self, chunk: bytes, t: float, frame: int) -> None:
        self.out += chunk

    def gap(self, nbytes: int, t: float | None) -> None:
        assert nbytes > 0
        self.gaps += nbytes
        self.out += b"\0" * min(nbytes, 1 << 20)


def _segments_run(data: bytes) -> None:
    mode, n, isn, _ = struct.unpack_from("!BIIB", data)
    stream = hashlib.shake_128(data[:9]).digest(n)
    segs = [struct.unpack_from("!IHB", data, p) for p in range(10, len(data) - 6, 7)]
    if mode == 2:
        table = FlowTable(TlsSession, lambda c: None)
        for off, ln, flags in segs:
            seq = (isn + off) & 0xFFFFFFFF
            table.segment(b"\x0a\0\0\1", b"\x0a\0\0\2", 40000 + (flags & 3), 443, seq, (isn ^ off) & 0xFFFFFFFF,
                          flags & 0x3F, stream[off % max(n, 1) :][:ln], 0, float(off & 0xFF), 1)
        table.close_all()
        return
    c = _Collect()
    h = HalfStream(c)
    h.syn((isn - 1) & 0xFFFFFFFF)
    for off, ln, flags in segs:
        payload = stream[off : off + ln] if off < n else b""
        missing = (flags & 0x0F) if mode == 1 and flags & 0x80 else 0
        h.segment((isn + off) & 0xFFFFFFFF, payload, missing, 0.0, 1)
        if mode == 1 and flags & 0x40:
            h.ack((isn + off + (flags & 0x3F)) & 0xFFFFFFFF)
        assert h.ooo_bytes <= MAX_OOO_BYTES + 3000 and h.ooo_bytes >= 0
    h.flush()
    assert not h.ooo and h.ooo_bytes == 0
    if mode == 0 and n <= MAX_OOO_BYTES:
        # Every byte was sent at least once and nothing was acknowledged past a hole: the
        # stream must come out exactly, whatever the order, duplication and overlap.
        assert bytes(c.out) == stream and c.gaps == 0


def _records_make(rng: random.Random) -> bytes:
    wire = rng.choice(record_seeds())
    out = bytearray([rng.randrange(4)])  # flags: midstream, STARTTLS-like prefix
    seeds = [d for _, d in wire]
    for side, d in wire:
        if rng.random() < 0.3:
            d = mutate(rng, d, seeds)
        step = rng.choice((0, 0, 1, 5, 100, 1460))
        gap = rng.random() < 0.05
        out += struct.pack("!BBHI", side, gap, step, len(d)) + d
    return bytes(out)


def _records_run(data: bytes) -> None:
    flags = data[0]
    s = TlsSession(bool(flags & 1))
    if flags & 2:
        s.readers[0].data(b"EHLO x\r\nSTARTTLS\r\n", 0.0, 1)
        s.readers[1].data(b"220 ready\r\n", 0.0, 1)
    p = 1
    while p + 8 <= len(data):
        side, gap, step, ln = struct.unpack_from("!BBHI", data, p)
        p += 8
        d = data[p : p + ln]
        p += ln
        r = s.readers[side & 1]
        if gap:
            r.gap(ln or 1, None)
        if step:
            for i in range(0, len(d), step):
                r.data(d[i : i + step], 0.0, 2)
        else:
            r.data(d, 0.0, 2)
    c = s.build(ENDS, 0.0, 1.0, 1, None, None, [])
    if c is not None:  # None: nothing in it was TLS
        connection_record(c)


def _handshake_make(rng: random.Random) -> bytes:
    htype, body = rng.choice(handshake_seeds())
    if rng.random() < 0.1:
        htype = rng.choice((1, 2, 11, 12, 100))
    return bytes([htype, rng.randrange(2)]) + mutate(rng, body)


def _handshake_run(data: bytes) -> None:
    htype, tls13, body = data[0], data[1], data[2:]
    if htype == 1:
        ch = hs.parse_client_hello(body)
        assert all(isinstance(x, int) for x in ch.ciphers) and (ch.sni is None or isinstance(ch.sni, str))
        if body[:1] == b"\x01":
            hs.parse_sslv2_client_hello(body)
    elif htype == 2:
        hs.parse_server_hello(body)
    elif htype == 11:
        for der in hs.parse_certificate(body, bool(tls13)):
            assert isinstance(der, bytes)
    elif htype == 12:
        hs.parse_server_key_exchange_group(body)
    else:
        hs.parse_client_hello(body)


def _pipeline_make(rng: random.Random) -> bytes:
    return mutate(rng, rng.choice(pcap_seeds()[:4] + pcapng_seeds()[:2]), pcap_seeds())


def _pipeline_run(data: bytes) -> None:
    frames = []
    try:
        for f in read_all(data):
            frames.append(f)
    except PcaptlsError:
        pass  # the cut: analyse what came before it, as the CLI does
    a = analyse_frames(iter(frames), ReadStats(path="<fuzz>"))
    recs = [connection_record(c) for c in a.connections]
    for c in a.connections:  # the direct JSON-line writer says what the generic encoder says
        assert connection_line(c, None) == json_text(connection_record(c, None, with_verify=True)) + "\n"
    view.table(recs)
    view.failure_details(recs)
    view.csv_text(recs)
    view.summary(a, recs)
    writers.jsonl(recs)


_SCRATCH: list[str] = []


def _scratch() -> str:
    """A per-process file for targets that read a capture from a path."""
    if not _SCRATCH:
        import tempfile

        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        fd, path = tempfile.mkstemp(prefix="pcaptls-fuzz-", suffix=".pcap", dir=shm)
        os.close(fd)
        _SCRATCH.append(path)
    return _SCRATCH[0]


def _split_make(rng: random.Random) -> bytes:
    return mutate(rng, rng.choice(pcap_seeds()), pcap_seeds())


def _split_run(data: bytes) -> None:
    """The shares of a split run (--jobs), merged, are the serial result (here in one process),
    on the engine in use."""
    path = _scratch()
    with open(path, "wb") as f:
        f.write(data)
    try:
        whole = analyse(path)
    except PcaptlsError:
        return
    merged = merge([analysis._share(path, None, k, 2) for k in (0, 1)])
    assert merged.connections == whole.connections
    assert (merged.counts, merged.tcp_segments, merged.anomalies) == (whole.counts, whole.tcp_segments, whole.anomalies)


def _facts(a: analysis.Analysis) -> tuple[object, ...]:
    st = a.stats
    return (st.format, st.frames, st.snapped, sorted(st.linktypes), st.truncated, a.counts, a.tcp_segments,
            a.tcp_connections, a.evicted, a.anomalies)


def _engines_make(rng: random.Random) -> bytes:
    data = mutate(rng, rng.choice(pcap_seeds() + pcapng_seeds()), pcap_seeds())
    return gzip.compress(data, mtime=0) if rng.random() < 0.05 else data


def _engines_run(data: bytes) -> None:
    """Differential: the Rust engine and the Python reference agree on the file, field by field."""
    path = _scratch()
    with open(path, "wb") as f:
        f.write(data)
    try:
        py = analyse(path, engine="python")
    except PcaptlsError as e:
        try:
            analyse(path, engine="rust")
        except PcaptlsError as r:
            assert str(r) == str(e), (str(r), str(e))
            return
        raise AssertionError(f"the Rust engine read a file the Python one refused: {e}")
    rs = analyse(path, engine="rust")
    assert _facts(rs) == _facts(py), (_facts(rs), _facts(py))
    assert rs.connections == py.connections


def _rust_make(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.9:
        data = mutate(rng, rng.choice(pcap_seeds() + pcapng_seeds()), pcap_seeds())
        return gzip.compress(data, mtime=0) if rng.random() < 0.03 else data
    head = rng.choice((b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\x0a\x0d\x0d\x0a"))
    return head + rng.randbytes(rng.randrange(600))


def _rust_run(data: bytes) -> None:
    """The Rust engine alone, from memory (fast, for volume): no panic, sane results."""
    from pcaptls import _core

    scan = _core.Scan("<fuzz>", data=data)
    n = last = 0
    for batch in scan:
        for c in batch:
            assert c.first_frame >= 1
            last = max(last, c.first_frame)
            n += 1
    s = scan.summary()
    assert not s["panicked"], s["truncated"]
    assert n <= s["tcp_connections"] and last <= s["frames"]


def _logs_make(rng: random.Random) -> bytes:
    lines = log_seeds()
    out = []
    for _ in range(rng.randrange(1, 12)):
        if lines and rng.random() < 0.85:
            line = rng.choice(lines).encode()
            if rng.random() < 0.7:
                line = mutate(rng, line, [x.encode() for x in lines[:20]])
        else:
            line = rng.randbytes(rng.randrange(200))
        out.append(line.replace(b"\n", b" "))
    return b"\n".join(out)


def _logs_run(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    tz = (None, "+05:30", "Europe/Berlin")[len(data) % 3]
    p = LineParser("fuzz.log", log_tz=tz, max_line=400, max_block=1000)
    events = []
    lines = text.split("\n")
    for i, line in enumerate(lines):
        events += p.feed(line, i + 1, cut=len(line) > 400)
    events += p.close()
    s = p.summary
    assert s.lines == len(lines) and s.events == len(events)
    assert s.lines == sum(e.text.count("\n") + 1 for e in events) + s.skipped
    for e in events:
        assert e.time.utcoffset() is not None and e.time.utcoffset().total_seconds() == 0


# -- key logs and decryption (issue 16): the key-log parser, and sealed records under real keys ----------

@functools.lru_cache(maxsize=1)
def keylog_seeds() -> tuple[bytes, bytes, bytes]:
    """(key log text, its capture, the TLS 1.2 lab capture's key log): real peers' secrets."""
    lab = TESTS.parent / "captures"
    return ((lab / "11-tls13-keylog" / "keylog.txt").read_bytes(), (lab / "11-tls13-keylog" / "capture.pcap").read_bytes(),
            (lab / "12-tls12-keylog" / "keylog.txt").read_bytes())


def _keylog_make(rng: random.Random) -> bytes:
    text, _cap, other = keylog_seeds()
    base = rng.choice((text, other, text + other))
    return mutate(rng, base, [text, other]) if rng.random() < 0.9 else rng.randbytes(rng.randrange(300))


def _keylog_run(data: bytes) -> None:
    """Never raises on content; every line is a secret, a comment/blank, or counted as skipped."""
    from pcaptls.tls import keylog

    k = keylog.parse(data, "fuzz")
    assert k.lines == len(data.decode("utf-8", "replace").splitlines())
    assert sum(k.skipped_count.values()) <= k.lines
    try:  # a pcapng block read as a Decryption Secrets Block: secrets, or a project error
        keylog.dsb_secrets(data)
    except PcaptlsError:
        pass


def _unseal_make(rng: random.Random) -> bytes:
    _text, cap, _other = keylog_seeds()
    return mutate(rng, cap, [cap])


def _unseal_run(data: bytes) -> None:
    """A damaged TLS 1.3 capture under its real key log: decrypted or an anomaly, never a crash,
    and no secret in any text."""
    from pcaptls.tls import keylog

    keys = keylog.parse(keylog_seeds()[0], "fuzz")
    path = _scratch()
    with open(path, "wb") as f:
        f.write(data)
    try:
        a = analyse(path, keys=keys)
    except PcaptlsError:
        return
    secrets = {v.hex() for d in keys.secrets.values() for v in d.values()}
    for c in a.connections:
        line = connection_line(c, None)
        assert not any(x in line for x in secrets)


TARGETS = {t.name: t for t in [
    Target("capture", _capture_make, _capture_run, 0.20),
    Target("decode", _decode_make, _decode_run, 0.30),
    Target("reassembly", _segments_make, _segments_run, 0.07),
    Target("tls_records", _records_make, _records_run, 0.06),
    Target("handshake", _handshake_make, _handshake_run, 0.25),
    Target("pipeline", _pipeline_make, _pipeline_run, 0.03),
    Target("split", _split_make, _split_run, 0.02),
    Target("logs", _logs_make, _logs_run, 0.08),
    Target("keylog", _keylog_make, _keylog_run, 0.04),
    Target("unseal", _unseal_make, _unseal_run, 0.01),
]}
if analysis._engine.rust_available():
    # The Rust engine: alone, from memory, for volume; and against the Python reference, for sameness.
    TARGETS["rust"] = Target("rust", _rust_make, _rust_run, 1.0)
    TARGETS["engines"] = Target("engines", _engines_make, _engines_run, 1.0)
# Where each target may legitimately refuse an input with a PcaptlsError (its contract).
MAY_REJECT = {"capture", "handshake", "rust"}


# -- running -------------------------------------------------------------------------------------

@dataclass
class Result:
    target: str
    inputs: int = 0
    rejected: int = 0  # PcaptlsError where the contract allows it
    seconds: float = 0.0
    findings: list[str] = field(default_factory=list)  # "ExcType: message at where -> saved input"
    repeats: int = 0  # further inputs that failed the same way


def run_target(name: str, inputs: int, seed: int, max_findings: int = 20) -> Result:
    """Run ``inputs`` inputs of one target; return counts (findings saved under FINDINGS)."""
    t = TARGETS[name]
    rng = random.Random(seed)
    # Mutated certificates make cryptography warn (negative serials ...): expected, not findings.
    warnings.simplefilter("ignore")
    res = Result(name)
    start = time.monotonic()
    seen: set[str] = set()
    for _ in range(inputs):
        data = t.make(rng)
        res.inputs += 1
        try:
            t.run(data)
        except PcaptlsError:
            if name in MAY_REJECT:
                res.rejected += 1
                continue
            _finding(res, name, data, seen, max_findings)
        except Exception:  # noqa: BLE001 - any other exception (or failed invariant) is the finding
            _finding(res, name, data, seen, max_findings)
    res.seconds = time.monotonic() - start
    while _SCRATCH:
        os.unlink(_SCRATCH.pop())
    return res


def _finding(res: Result, name: str, data: bytes, seen: set[str], max_findings: int) -> None:
    tb = traceback.format_exc()
    last = tb.strip().splitlines()
    where = next((x.strip() for x in reversed(last) if x.strip().startswith("File ")), "?")
    key = f"{last[-1]} {where}"
    if key in seen or len(res.findings) >= max_findings:
        res.repeats += 1
        return
    seen.add(key)
    FINDINGS.mkdir(parents=True, exist_ok=True)
    path = FINDINGS / f"{name}-{hashlib.sha256(data).hexdigest()[:16]}.bin"
    path.write_bytes(data)
    (path.with_suffix(".txt")).write_text(tb)
    res.findings.append(f"{last[-1]} at {where} -> {path}")


def replay(path: str | Path) -> None:
    """Run a saved finding again (raises what it raised)."""
    p = Path(path)
    TARGETS[p.name.split("-")[0]].run(p.read_bytes())


def run_all(total: int, jobs: int = 2, seed: int = 1, slices: int = 8) -> list[Result]:
    """``total`` inputs shared between the targets by their ``share``, on ``jobs`` processes."""
    work = []
    for name, t in TARGETS.items():
        n = max(1, int(total * t.share))
        per = -(-n // slices)
        for k in range(slices):
            work.append((name, min(per, n - k * per), seed * 1000 + k * 17 + zlib.crc32(name.encode()) % 997))
    work = [w for w in work if w[1] > 0]
    for seeds in (pcap_seeds, pcapng_seeds, frame_seeds, handshake_seeds, log_seeds):
        seeds()  # build once here; forked workers inherit them
    merged = {name: Result(name) for name in TARGETS}
    if jobs <= 1:
        results = [run_target(*w) for w in work]
    else:
        import multiprocessing

        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            results = list(pool.map(run_target, *zip(*work)))
    for r in results:
        m = merged[r.target]
        m.inputs += r.inputs
        m.rejected += r.rejected
        m.seconds += r.seconds
        m.findings += r.findings
        m.repeats += r.repeats
    return list(merged.values())


def report(results: list[Result], wall: float) -> str:
    lines = [f"{'target':<12} {'inputs':>10} {'rejected':>10} {'findings':>8} {'busy s':>8} {'inputs/s':>9}"]
    for r in results:
        rate = r.inputs / r.seconds if r.seconds else 0.0
        lines.append(f"{r.target:<12} {r.inputs:>10,} {r.rejected:>10,} {len(r.findings):>8} {r.seconds:>8.1f} {rate:>9,.0f}")
    total = sum(r.inputs for r in results)
    lines.append(f"{'total':<12} {total:>10,} {sum(r.rejected for r in results):>10,} "
                 f"{sum(len(r.findings) for r in results):>8} {sum(r.seconds for r in results):>8.1f}   wall {wall:.1f} s")
    for r in results:
        lines += [f"  {r.target}: {f}" for f in r.findings]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=1_000_000)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--replay", help="run one saved finding again")
    a = ap.parse_args(argv)
    if a.replay:
        replay(a.replay)
        return 0
    t = time.monotonic()
    results = run_all(a.inputs, a.jobs, a.seed)
    print(report(results, time.monotonic() - t))
    return 1 if any(r.findings for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
