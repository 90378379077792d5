"""Differential check of the Rust TLS stage against pcaptls.tls.session.TlsSession.

Feeds the same byte chunks (real handshakes from tests/helpers/pcapgen.py, synthetic hellos and
records, split at random, with gaps, garbage, truncations and corrupted bytes) to the Python
TlsSession and to `examples/tls_feed.rs`, and compares a text rendering of every field of the
result. Usage: compare_tls.py [--cases N] [--seed S] [--jobs J]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import pickle
import random
import struct
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]  # /work/main
sys.path.insert(0, str(ROOT))

from pcaptls.tcp.facts import Endpoint  # noqa: E402
from pcaptls.tls.session import TlsSession  # noqa: E402

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "rust" / "target"))
FEED = Path(os.environ.get("TLS_FEED", TARGET / "release" / "examples" / "tls_feed"))
WIRES = Path(os.environ.get("TLS_WIRES", "/tmp/tls_wires.pickle"))


def fb(t: float) -> str:
    return struct.pack(">d", t).hex()


def of(t) -> str:
    return "N" if t is None else fb(t)


def on(v) -> str:
    return "N" if v is None else str(v)


# -- base material -------------------------------------------------------------------------

def real_wires() -> list[list[tuple[int, bytes]]]:
    if WIRES.exists():
        return pickle.loads(WIRES.read_bytes())
    from tests.helpers import pcapgen
    out = []
    pki = pcapgen.make_chain(cn="records.example.com")
    eck = pcapgen.make_chain(cn="ec.example.com", ecdsa=True)
    selfs = pcapgen.make_chain(cn="cucm.example.com", ecdsa=True, self_signed=True)
    other = pcapgen.make_chain(rsa_bits=1024)
    for kw in (
        dict(pki=pki, sni="records.example.com", request_client_cert=True, app_data=b"x" * 40000),
        dict(pki=pki, sni="records.example.com", app_data=b"hello"),
        dict(pki=eck, sni=None, tls13=True, app_data=b"hi"),
        dict(pki=eck, sni="ec.example.com", tls13=True, request_client_cert=True, app_data=b"y" * 20000),
        dict(pki=selfs, sni="cucm.example.com", trust_pem=other.ca_pem),
        dict(pki=selfs, sni="cucm.example.com", tls13=True, trust_pem=other.ca_pem),
        dict(pki=eck, sni="ec.example.com"),
    ):
        wire, _ = pcapgen.handshake_bytes(**kw)
        out.append(wire)
    WIRES.write_bytes(pickle.dumps(out))
    return out


UTF8_BITS = [
    b"a", b"Z", b".", b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\xed\x9f\xbf", b"\xee\x80\x80",
    b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xe0\x9f\xbf", b"\xf0\x8f\xbf\xbf",
    b"\xf4\x90\x80\x80", b"\xf5\x80", b"\xff", b"\xfe", b"\x80", b"\xbf", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98",
    b"\xf0\x9f", b"\xe0\xa0", b"\xf4\x8f\xbf\xbf", b"\x00", b"\x7f", b"\xc2\x80", b"\xdf\xbf", b"\xe1", b"\xf1\x80",
    b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80", b"\xed", b"\xe0", b"\xf0", b"\xf4", b"\xc2",
]


def tricky_text(rng: random.Random) -> bytes:
    if rng.random() < 0.2:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(12)))
    return b"".join(rng.choice(UTF8_BITS) for _ in range(rng.randrange(8)))


def vec(rng: random.Random, data: bytes, width: int) -> bytes:
    n = len(data)
    r = rng.random()
    if r < 0.04:
        n += rng.choice((-2, -1, 1, 2, 3))
    elif r < 0.05:
        n = rng.randrange(1 << (8 * width))
    n = max(0, min(n, (1 << (8 * width)) - 1))
    return n.to_bytes(width, "big") + data


def u16s(rng: random.Random, values: list[int]) -> bytes:
    b = b"".join(v.to_bytes(2, "big") for v in values)
    if rng.random() < 0.05:
        b += b"\x01"
    return b


def ext(rng: random.Random, etype: int, data: bytes) -> bytes:
    return etype.to_bytes(2, "big") + vec(rng, data, 2)


def rand_exts_ch(rng: random.Random) -> bytes:
    exts = []
    for _ in range(rng.randrange(9)):
        k = rng.randrange(10)
        if k == 0:
            names = b""
            for _ in range(rng.randrange(3)):
                names += bytes([rng.choice((0, 0, 1, 255))]) + vec(rng, tricky_text(rng), 2)
            exts.append(ext(rng, 0, vec(rng, names, 2) if rng.random() < 0.95 else b""))
        elif k == 1:
            lst = b"".join(vec(rng, tricky_text(rng) or b"h2", 1) for _ in range(rng.randrange(4)))
            exts.append(ext(rng, 16, vec(rng, lst, 2)))
        elif k == 2:
            vs = [rng.choice((0x0304, 0x0303, 0x0A0A, 0x1A1A, 0x7F17, 0x0302, 0xFAFA, 0x0A1A))
                  for _ in range(rng.randrange(5))]
            exts.append(ext(rng, 43, vec(rng, u16s(rng, vs), 1)))
        elif k == 3:
            exts.append(ext(rng, 10, vec(rng, u16s(rng, [rng.randrange(65536) for _ in range(rng.randrange(5))]), 2)))
        elif k == 4:
            exts.append(ext(rng, 13, vec(rng, u16s(rng, [rng.randrange(65536) for _ in range(rng.randrange(5))]), 2)))
        elif k == 5:
            exts.append(ext(rng, rng.randrange(65536), bytes(rng.randrange(256) for _ in range(rng.randrange(6)))))
        elif k == 6:
            exts.append(ext(rng, rng.choice((0, 16, 43, 10, 13)), bytes(rng.randrange(256) for _ in range(rng.randrange(6)))))
        else:
            exts.append(ext(rng, rng.choice((51, 11, 35, 23)), b"\x00\x1d" + bytes(rng.randrange(4))))
    body = b"".join(exts)
    if rng.random() < 0.05:
        body += bytes(rng.randrange(4))
    return body


def client_hello(rng: random.Random) -> bytes:
    b = rng.choice((0x0303, 0x0301, 0x0300, 0x0302, 0x7F1C)).to_bytes(2, "big") + bytes(rng.randrange(256) for _ in range(32))
    b += vec(rng, bytes(rng.randrange(33)), 1)
    b += vec(rng, u16s(rng, [rng.randrange(65536) for _ in range(rng.randrange(1, 8))]), 2)
    b += vec(rng, b"\x00", 1)
    if rng.random() < 0.9:
        b += vec(rng, rand_exts_ch(rng), 2)
    return b


def server_hello(rng: random.Random) -> bytes:
    legacy = rng.choice((0x0303, 0x0303, 0x0301, 0x7F12, 0x7F15, 0x7F16, 0x7F17, 0x7E02, 0xFB1A, 0x0304))
    b = legacy.to_bytes(2, "big")
    from pcaptls.tls.handshake import HRR_RANDOM
    b += HRR_RANDOM if rng.random() < 0.2 else bytes(rng.randrange(256) for _ in range(32))
    draft = (legacy >> 8) == 0x7F and (legacy & 0xFF) < 22
    if not draft or rng.random() < 0.1:
        b += vec(rng, bytes(rng.randrange(33)), 1)
    b += rng.choice((0x1301, 0xC02F, 0x002F, 0x1302)).to_bytes(2, "big")
    if not draft or rng.random() < 0.1:
        b += b"\x00"
    if rng.random() < 0.85:
        exts = []
        for _ in range(rng.randrange(5)):
            k = rng.randrange(6)
            if k == 0:
                exts.append(ext(rng, 43, rng.choice((0x0304, 0x0303, 0x7F17, 0x7E01, 0xFB1A)).to_bytes(2, "big")
                                if rng.random() < 0.9 else b"\x03"))
            elif k == 1:
                lst = b"".join(vec(rng, tricky_text(rng), 1) for _ in range(rng.randrange(3)))
                exts.append(ext(rng, 16, vec(rng, lst, 2) if rng.random() < 0.9 else b""))
            elif k == 2:
                exts.append(ext(rng, rng.choice((51, 40)), rng.choice((b"\x00\x1d", b"\x00\x17\x00\x41", b"\x00"))))
            else:
                exts.append(ext(rng, rng.randrange(65536), bytes(rng.randrange(4))))
        b += vec(rng, b"".join(exts), 2)
    return b


def certificate(rng: random.Random, tls13: bool) -> bytes:
    b = vec(rng, bytes(rng.randrange(3)), 1) if tls13 else b""
    lst = b""
    for _ in range(rng.randrange(4)):
        lst += vec(rng, bytes(rng.randrange(256) for _ in range(rng.randrange(40))), 3)
        if tls13:
            lst += vec(rng, bytes(rng.randrange(5)), 2)
    return b + vec(rng, lst, 3)


def hs_msg(rng: random.Random, htype: int, body: bytes) -> bytes:
    n = len(body)
    if rng.random() < 0.03:
        n += rng.choice((-1, 1, 5))
    n = max(0, n)
    return bytes([htype]) + n.to_bytes(3, "big") + body


def records(rng: random.Random, ct: int, data: bytes, ver: int = 0x0303) -> bytes:
    """``data`` in records of random sizes."""
    out = b""
    pos = 0
    while True:
        size = len(data) - pos if rng.random() < 0.6 else rng.randrange(1, max(2, len(data) - pos + 1))
        out += bytes([ct]) + ver.to_bytes(2, "big") + size.to_bytes(2, "big") + data[pos:pos + size]
        pos += size
        if pos >= len(data):
            return out


def synthetic(rng: random.Random) -> list[tuple[int, bytes]]:
    """A made-up conversation of hellos, certificates, CCS, alerts and application data."""
    cside = rng.randrange(2)
    wire: list[tuple[int, bytes]] = []
    k = rng.random()
    if k < 0.08:  # SSLv2-format hello
        v2 = rng.random() < 0.5
        specs = bytes(rng.randrange(256) for _ in range(3 * rng.randrange(4)))
        if rng.random() < 0.1:
            specs += b"\x01"
        body = b"\x01" + (b"\x00\x02" if v2 else b"\x03\x01") + len(specs).to_bytes(2, "big") + b"\x00\x00\x00\x10" + specs + bytes(16)
        if rng.random() < 0.1:
            body = body[: rng.randrange(len(body))]
        wire.append((cside, bytes([0x80 | (len(body) >> 8), len(body) & 255]) + body))
        if v2 or rng.random() < 0.3:
            cert = bytes(rng.randrange(256) for _ in range(rng.randrange(30)))
            sh = b"\x04\x00\x01\x00\x02" + len(cert).to_bytes(2, "big") + b"\x00\x03\x00\x10" + cert + bytes(3 + 16)
            if rng.random() < 0.2:
                sh = sh[: rng.randrange(1, len(sh))]
            hdr = bytes([0x80 | (len(sh) >> 8), len(sh) & 255]) if rng.random() < 0.7 else bytes([len(sh) >> 8, len(sh) & 255, 0])
            wire.append((1 - cside, hdr + sh))
            for _ in range(rng.randrange(4)):
                m = bytes(rng.randrange(256) for _ in range(rng.randrange(20)))
                wire.append((rng.randrange(2), bytes([0x80 | (len(m) >> 8), len(m) & 255]) + m))
        else:
            wire.append((1 - cside, records(rng, 22, hs_msg(rng, 2, server_hello(rng)))))
        return wire
    tls13 = rng.random() < 0.3
    c_hs = hs_msg(rng, 1, client_hello(rng))
    if rng.random() < 0.1:
        c_hs += hs_msg(rng, 1, client_hello(rng))
    wire.append((cside, records(rng, 22, c_hs, rng.choice((0x0301, 0x0303)))))
    s_hs = b""
    for _ in range(rng.randrange(1, 3)):
        s_hs += hs_msg(rng, 2, server_hello(rng))
    if rng.random() < 0.7:
        s_hs += hs_msg(rng, 11, certificate(rng, tls13 or rng.random() < 0.1))
    if rng.random() < 0.5:
        s_hs += hs_msg(rng, 12, bytes([rng.choice((3, 3, 1))]) + bytes(rng.randrange(256) for _ in range(rng.randrange(5))))
    if rng.random() < 0.3:
        s_hs += hs_msg(rng, 13, b"\x01\x01")
    s_hs += hs_msg(rng, 14, b"")
    if rng.random() < 0.1:
        s_hs += hs_msg(rng, rng.randrange(256), bytes(rng.randrange(10)))
    wire.append((1 - cside, records(rng, 22, s_hs)))
    for _ in range(rng.randrange(6)):
        side = rng.randrange(2)
        r = rng.random()
        if r < 0.2:
            wire.append((side, records(rng, 22, hs_msg(rng, 11, certificate(rng, rng.random() < 0.5)))))
        elif r < 0.35:
            wire.append((side, b"\x14\x03\x03\x00\x01\x01"))
        elif r < 0.5:
            wire.append((side, b"\x15\x03\x03\x00\x02" + bytes([rng.choice((1, 2)), rng.randrange(256)])))
        elif r < 0.6:
            wire.append((side, b"\x15\x03\x03\x00\x1a" + bytes(26)))
        elif r < 0.75:
            n = rng.choice((1, 100, 2000, 16384, 18432))
            wire.append((side, b"\x17\x03\x03" + n.to_bytes(2, "big") + bytes(n)))
        elif r < 0.8:
            wire.append((side, b"\x18\x03\x03\x00\x03\x01\x00\x10"))
        elif r < 0.9:
            wire.append((side, records(rng, 22, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60))))))
        else:
            wire.append((side, records(rng, 22, hs_msg(rng, rng.choice((16, 20, 4, 15, 8)), bytes(rng.randrange(40))))))
    return wire


def flood(rng: random.Random) -> list[tuple[int, bytes]]:
    """Enough alerts, messages or anomalies to hit the session caps, or a capped handshake."""
    k = rng.randrange(4)
    if k == 0:
        return [(0, records(rng, 22, hs_msg(rng, 1, client_hello(rng)))),
                (1, b"".join(b"\x15\x03\x03\x00\x02\x01\x00" for _ in range(rng.randrange(60, 80))))]
    if k == 1:
        return [(0, records(rng, 22, hs_msg(rng, 1, client_hello(rng)))),
                (1, records(rng, 22, b"".join(hs_msg(rng, 14, b"") for _ in range(rng.randrange(240, 300)))))]
    if k == 2:
        return [(0, records(rng, 22, hs_msg(rng, 1, client_hello(rng)))),
                (1, b"".join(b"\x18\x03\x03\x00\x01\x00" for _ in range(rng.randrange(25, 45))))]
    head = b"\x16\x03\x01\x40\x00" + b"\x01" + rng.choice(((16 << 20) - 1, (1 << 19) - 10, (1 << 19) + 1)).to_bytes(3, "big") + b"\x03\x03"
    data = head + b"\0" * (0x4000 - 6)
    for _ in range(rng.randrange(20, 40)):
        data += b"\x16\x03\x01\x40\x00" + b"\0" * 0x4000
    return [(0, data)]


def odd(rng: random.Random) -> list[tuple[int, bytes]]:
    """Rare shapes: plaintext past DETECT_LIMIT, desync chains, a lone alert answer."""
    k = rng.randrange(4)
    if k == 0:
        line = rng.choice((b"GET / HTTP/1.1\r\n", b"\x03\x03\x16", b"x" * 50))
        n = rng.choice((60000, 66000, 70000)) // len(line) + 1
        wire = [(0, line * n)]
        if rng.random() < 0.5:
            wire.append((0, records(rng, 22, hs_msg(rng, 1, client_hello(rng)))))
        return wire
    if k == 1:
        pat = b"\x17\x03\x03\x00\x01A\x17\x03\x03\xff\xff"
        return [(0, records(rng, 22, hs_msg(rng, 1, client_hello(rng)))), (0, pat * rng.randrange(1, 80))]
    if k == 2:
        return [(0, records(rng, 22, hs_msg(rng, 1, client_hello(rng)))),
                (1, b"\x15\x03\x03\x00\x02\x02\x28" + rng.choice((b"", b"\x15\x03\x03\x00\x02\x01\x00")))]
    return [(1, b"\x15\x03"), (0, records(rng, 22, hs_msg(rng, 1, client_hello(rng)))),
            (1, b"\x03\x00\x02\x02\x28")]


PREFIXES = [
    (b"EHLO me\r\nSTARTTLS\r\n", b"220 mx ESMTP\r\n250-STARTTLS\r\n220 Ready\r\n"),
    (b"a STARTTLS\r\n", b"* OK IMAP4 ready\r\n"),
    (b"STLS\r\n", b"+OK\r\n"),
    (b"AUTH TLS\r\n", b"234 ok\r\n"),
    (b"<starttls xmlns='x'/>", b"<proceed/>"),
    (b"\x00\x00\x00\x08\x04\xd2\x16\x2f", b"S"),
    (b"CONNECT a:443 HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n"),
    (b"\x05\x01\x00", b"\x05\x00"),
    (b"", b"J\x00\x00\x00\x0a5.7"),
    (b"helo x STARTTLS", b""),
    (b"x STARTTLS", b"hello IMAP"),
    (b"junk", b""),
    (b"", b"\x03\x03\x03\x16\x03"),
]


def corrupt(rng: random.Random, b: bytes) -> bytes:
    b = bytearray(b)
    for _ in range(rng.randrange(1, 6)):
        if b:
            b[rng.randrange(len(b))] = rng.choice((rng.randrange(256), 0x03, 0x16, 0x80, 0))
    return bytes(b)


def gen_case(rng: random.Random, wires) -> dict:
    r = rng.random()
    if r < 0.45:
        wire = list(rng.choice(wires))
    elif r < 0.9:
        wire = synthetic(rng)
    elif r < 0.97:
        wire = flood(rng)
    elif r < 0.98:
        wire = [(rng.randrange(2), bytes(rng.randrange(256) for _ in range(rng.randrange(300)))) for _ in range(rng.randrange(1, 8))]
    else:
        wire = odd(rng)
    midstream = rng.random() < 0.15
    if rng.random() < 0.1:  # swap who speaks first
        wire = [(1 - s, d) for s, d in wire]
    if rng.random() < 0.15:
        pc, ps = rng.choice(PREFIXES)
        wire = [(0, pc), (1, ps)] + wire if rng.random() < 0.5 else [(1, ps), (0, pc)] + wire
        wire = [(s, d) for s, d in wire if d or rng.random() < 0.5]
    # structural mutations
    ops = []
    gap_rate = rng.choice((0.0, 0.0, 0.005, 0.03))
    mutate = rng.random()
    for side, data in wire:
        if mutate < 0.5:
            x = rng.random()
            if x < 0.08:
                data = corrupt(rng, data)
            elif x < 0.12:
                data = data[: rng.randrange(len(data) + 1)]
            elif x < 0.14:
                continue
            elif x < 0.17:
                data = data[rng.randrange(len(data) + 1):]
            elif x < 0.19:
                ops.append(("D", rng.randrange(2), bytes(rng.randrange(256) for _ in range(rng.randrange(40)))))
        # split into chunks, with gaps now and then
        style = rng.random()
        if len(data) > 5000 and 0.3 <= style < 0.4 or len(data) > 5000 and style >= 0.7:
            style = 0.5  # byte-sized chunks of big flights: slow in Python, nothing new
        pos = 0
        while pos < len(data) or (pos == 0 and not data):
            if style < 0.3:
                n = len(data) - pos
            elif style < 0.4:
                n = 1
            elif style < 0.7:
                n = rng.randrange(1, 1461)
            else:
                n = rng.randrange(0, 40)
            chunk = data[pos:pos + n]
            pos += n
            ops.append(("D", side, chunk))
            if rng.random() < gap_rate:
                g = rng.choice((0, 1, 5, 100, rng.randrange(1, 50000)))
                ops.append(("G", side, g))
                if rng.random() < 0.7:
                    pos += g  # the gap really covers the bytes
            if not data:
                break
    if rng.random() < 0.05:
        ops.append(("G", rng.randrange(2), rng.randrange(1, 100)))
    if rng.random() < 0.3:  # interleave the two directions' chunks, each side keeping its order
        per = ([o for o in ops if o[1] == 0], [o for o in ops if o[1] == 1])
        ops = []
        while per[0] or per[1]:
            side = rng.randrange(2) if per[0] and per[1] else (0 if per[0] else 1)
            ops.append(per[side].pop(0))
    tcp = []
    for _ in range(rng.choice((0, 0, 0, 1, 2))):
        tcp.append((rng.choice(("no_syn", "retransmission")), rng.choice((None, 0, 1, 2)),
                    rng.choice((None, 1.5, 1e-7)), "d" + str(rng.randrange(100))))
    ports = (rng.choice((443, 50000, 25, 8443)), rng.choice((443, 50000, 25, 8443)))
    build = dict(
        ends=((f"10.0.0.{rng.randrange(256)}", ports[0]), (f"192.168.{rng.randrange(256)}.1", ports[1])),
        start=rng.choice((0.0, 1.5, 1_780_000_000.123456)),
        end=rng.choice((1.0, 99.25, 1_780_000_100.5)),
        first_frame=rng.randrange(1, 1000),
        syn=rng.choice((None, 0, 1)),
        close=rng.choice((None, (0, "FIN"), (1, "RST"), (1, "FIN"))),
    )
    base_t = rng.choice((0.0, 1_780_000_000.0, 1e-5))
    return dict(midstream=midstream, ops=ops, tcp=tcp, build=build, base_t=base_t)


def py_run(case: dict) -> str:
    s = TlsSession(case["midstream"])
    readers = s.readers
    t = case["base_t"]
    frame = 0
    for op in case["ops"]:
        frame += 1
        t += 0.000125 * (frame % 7)
        if op[0] == "D":
            readers[op[1]].data(op[2], t, frame)
        else:
            readers[op[1]].gap(op[2], None if frame % 3 == 0 else t)
    from pcaptls.tcp.facts import Anomaly
    b = case["build"]
    tcp = [Anomaly(k, d, tm, None if sd is None else str(sd)) for k, sd, tm, d in case["tcp"]]
    head = f"states {readers[0].state} {readers[1].state} reportable {bool(s.tls and (s.events or s.alerts or s.certs))} tls {s.tls}\n"
    c = s.build(tuple(Endpoint(ip, p) for ip, p in b["ends"]), b["start"], b["end"], b["first_frame"], b["syn"], b["close"], tcp)
    out = [head.replace("True", "true").replace("False", "false")]
    L = out.append
    L(f"client {c.client.ip}:{c.client.port}\n")
    L(f"server {c.server.ip}:{c.server.port}\n")
    L(f"times {fb(c.start)} {fb(c.end)} {c.first_frame}\n")
    L(f"sni {'N' if c.sni is None else c.sni.encode().hex()}\n")
    L(f"client_version {on(c.client_version)}\n")
    for name in ("offered_versions", "offered_ciphers", "offered_groups", "offered_sigalgs"):
        L(f"{name} {','.join(map(str, getattr(c, name)))}\n")
    L(f"alpn_offered {','.join(a.encode().hex() for a in c.alpn_offered)}\n")
    L(f"alpn {'N' if c.alpn is None else c.alpn.encode().hex()}\n")
    L(f"version {on(c.version_id)} cipher {on(c.cipher_id)}\n")
    L(f"hello_retry {str(c.hello_retry).lower()}\n")
    for what, certs in (("server_cert", c.server_certs), ("client_cert", c.client_certs)):
        for d in certs:
            L(f"{what} {d.hex()}\n")
    L(f"certificate_request {str(c.certificate_request).lower()}\n")
    L(f"kex_group {on(c.kex_group)}\n")
    for a in c.alerts:
        L(f"alert {fb(a.time)} {a.frame} {a.sender} {on(a.level)} {on(a.code)} {str(a.encrypted).lower()}\n")
    for e in c.handshake:
        L(f"event {fb(e.time)} {e.frame} {e.sender} {e.type}\n")
    L(f"closed_by {on(c.closed_by)}\n")
    L(f"close_kind {on(c.close_kind)}\n")
    L(f"starttls {on(c.starttls)}\n")
    L(f"flags {str(c.saw_syn).lower()} {str(c.client_hello_seen).lower()} {str(c.server_hello_seen).lower()}\n")
    L(f"appdata {c.appdata[0]} {c.appdata[1]}\n")
    L(f"appdata_times {of(c.client_appdata_first)} {of(c.server_appdata_last)}\n")
    for a in c.anomalies:
        L(f"anomaly {a.kind} {of(a.time)} {on(a.sender)} {a.detail}\n")
    return "".join(out)


def rust_input(case: dict) -> str:
    lines = [f"C {int(case['midstream'])}"]
    t = case["base_t"]
    frame = 0
    for op in case["ops"]:
        frame += 1
        t += 0.000125 * (frame % 7)
        if op[0] == "D":
            lines.append(f"D {op[1]} {fb(t)} {frame} {op[2].hex()}")
        else:
            lines.append(f"G {op[1]} {op[2]} {'N' if frame % 3 == 0 else fb(t)}")
    for k, sd, tm, d in case["tcp"]:
        lines.append(f"A {k} {on(sd)} {of(tm)} {d.encode().hex()}")
    b = case["build"]
    (ip0, p0), (ip1, p1) = b["ends"]
    iph = lambda ip: bytes(int(x) for x in ip.split(".")).hex()  # noqa: E731
    close = "N F" if b["close"] is None else f"{b['close'][0]} {b['close'][1][0]}"
    lines.append(f"B {iph(ip0)} {p0} {iph(ip1)} {p1} {fb(b['start'])} {fb(b['end'])} {b['first_frame']} {on(b['syn'])} {close}")
    return "\n".join(lines) + "\n"


def text_cases(rng: random.Random, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            out.append(tricky_text(rng) + tricky_text(rng))
        else:
            out.append(bytes(rng.choice((rng.randrange(256), rng.randrange(0x80, 0x100), 0xED, 0xE0, 0xF0, 0xF4, 0x80, 0xA0, 0x9F, 0x90, 0x8F, 0xBF)) for _ in range(rng.randrange(10))))
    return out


def batch(args: tuple[int, int]) -> tuple[int, int, list[str]]:
    seed, n = args
    rng = random.Random(seed)
    wires = real_wires()
    cases = [gen_case(rng, wires) for _ in range(n)]
    texts = text_cases(rng, n)
    inp = "".join(rust_input(c) for c in cases) + "".join(f"T {t.hex()}\n" for t in texts)
    res = subprocess.run([str(FEED)], input=inp.encode(), stdout=subprocess.PIPE, check=True)
    outs = res.stdout.decode().split("==END==\n")
    fails = []
    crashed = 0
    for i, c in enumerate(cases):
        try:
            want = py_run(c)
        except RecursionError:  # Python's desync -> _search -> _records recursion; Rust loops
            crashed += 1
            continue
        if outs[i] != want:
            fails.append(f"seed {seed} case {i}\n--- python\n{want}--- rust\n{outs[i]}")
    for k, t in enumerate(texts):
        want = t.decode("utf-8", "backslashreplace").encode().hex() + "\n"
        if outs[n + k] != want:
            fails.append(f"seed {seed} text {t.hex()}: python {want} rust {outs[n + k]}")
    return n - crashed, len(texts), fails


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--batch", type=int, default=500)
    ns = ap.parse_args()
    real_wires()
    nb = (ns.cases + ns.batch - 1) // ns.batch
    jobs = [(ns.seed * 1_000_003 + i, ns.batch) for i in range(nb)]
    total = texts = 0
    fails: list[str] = []
    with mp.Pool(ns.jobs) as pool:
        for n, nt, f in pool.imap_unordered(batch, jobs):
            total += n
            texts += nt
            fails += f
    for f in fails[:5]:
        print(f)
    print(f"{total} cases, {texts} text decodes, {len(fails)} differences")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
