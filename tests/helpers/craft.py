"""Hostile captures built on the spot: bad files, memory attacks, attacker-chosen strings.

Everything here writes bytes a test (or the fuzz runner) then feeds to pcaptls. Large captures
are streamed to disk frame by frame so building a 40 MB file costs the test little memory.
Frames are Ethernet/IPv4/TCP from :mod:`pcapgen` (checksums zero: pcaptls does not check them).
"""

from __future__ import annotations

import gzip
import os
import random
import struct
from pathlib import Path
from typing import Iterable, Iterator

from . import pcapgen

PCAP_MAGIC = 0xA1B2C3D4
T0 = 1_780_000_000.0


def pcap_header(linktype: int = 1, snaplen: int = 262144) -> bytes:
    return struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(t: float, data: bytes, orig: int | None = None) -> bytes:
    sec = int(t)
    return struct.pack("<IIII", sec, int((t - sec) * 1e6), len(data), len(data) if orig is None else orig) + data


def pcapng_block(btype: int, body: bytes, blen: int | None = None) -> bytes:
    """A pcapng block; ``blen`` overrides the (correct) total length in the leading length field."""
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack("<II", btype, n if blen is None else blen) + body + struct.pack("<I", n)


def pcapng_shb() -> bytes:
    return pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))


def pcapng_idb(linktype: int = 1) -> bytes:
    return pcapng_block(1, struct.pack("<HHI", linktype, 0, 0))


def pcapng_epb(t: float, data: bytes, iface: int = 0) -> bytes:
    ticks = int(t * 1e6)
    return pcapng_block(6, struct.pack("<IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)) + data)


def tcp_frame(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
    return pcapgen._ip_tcp(src, dst, sport, dport, seq, ack, flags, payload)


def write_frames(path: Path, frames: Iterable[tuple[float, bytes]], linktype: int = 1) -> Path:
    with open(path, "wb", buffering=1 << 20) as f:
        f.write(pcap_header(linktype))
        for t, data in frames:
            f.write(pcap_record(t, data))
    return path


# -- real handshakes -------------------------------------------------------------------------

_HANDSHAKES: dict[tuple[str, bool], list[tuple[int, bytes]]] = {}


def real_handshake(sni: str = "hostile.example.com", tls13: bool = False) -> list[tuple[int, bytes]]:
    """A real OpenSSL handshake's wire bytes, (sender, bytes); memoised per process."""
    key = (sni, tls13)
    if key not in _HANDSHAKES:
        wire, err = pcapgen.handshake_bytes(pcapgen.make_chain(cn=sni, ecdsa=True), sni=sni, tls13=tls13, app_data=b"GET /")
        assert err is None, err
        _HANDSHAKES[key] = wire
    return _HANDSHAKES[key]


def real_capture(sni: str = "hostile.example.com", tls13: bool = False) -> bytes:
    """A whole pcap of one real handshake with SYN and FIN: the seed for mutation."""
    return pcapgen.pcap_bytes(pcapgen.tcp_flow(real_handshake(sni, tls13)))


def client_hello(sni: bytes, alpn: Iterable[bytes] = ()) -> bytes:
    """A ClientHello record carrying any bytes as SNI and ALPN names (attacker's choice)."""
    exts = b""
    name = b"\x00" + struct.pack("!H", len(sni)) + sni
    exts += struct.pack("!HH", 0, len(name) + 2) + struct.pack("!H", len(name)) + name
    protos = b"".join(bytes([len(p)]) + p for p in alpn)
    if protos:
        exts += struct.pack("!HH", 16, len(protos) + 2) + struct.pack("!H", len(protos)) + protos
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x02\xc0\x2f" + b"\x01\x00" + struct.pack("!H", len(exts)) + exts
    msg = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(msg)) + msg


def server_flight(chain_der: list[bytes], alpn: bytes | None = None, alert: int | None = 42) -> bytes:
    """ServerHello (+ALPN), Certificate with ``chain_der``, then optionally a fatal alert."""
    exts = b""
    if alpn is not None:
        lst = bytes([len(alpn)]) + alpn
        exts = struct.pack("!HH", 16, len(lst) + 2) + struct.pack("!H", len(lst)) + lst
    sh = b"\x03\x03" + b"\x22" * 32 + b"\x00" + b"\xc0\x2f" + b"\x00" + struct.pack("!H", len(exts)) + exts
    certs = b"".join(len(d).to_bytes(3, "big") + d for d in chain_der)
    cert = len(certs).to_bytes(3, "big") + certs
    hs = b"\x02" + len(sh).to_bytes(3, "big") + sh + b"\x0b" + len(cert).to_bytes(3, "big") + cert
    out = b""
    for i in range(0, len(hs), 16384):
        part = hs[i : i + 16384]
        out += b"\x16\x03\x03" + struct.pack("!H", len(part)) + part
    if alert is not None:
        out += b"\x15\x03\x03\x00\x02\x02" + bytes([alert])
    return out


# -- memory attacks --------------------------------------------------------------------------

def never_ending_handshake(path: Path, size: int, claim: int = (16 << 20) - 1, seed: int = 7) -> Path:
    """A ClientHello, then a server Certificate message claiming ``claim`` bytes, then junk
    handshake records until the file is ``size`` bytes: one connection that never finishes."""
    rng = random.Random(seed)
    hello = real_handshake()[0][1]
    c, s = ("10.66.0.1", 51000), ("10.66.0.2", 443)
    seq = [1000, 9000]
    t = T0
    with open(path, "wb", buffering=1 << 20) as f:
        f.write(pcap_header())

        def emit(side: int, flags: int, payload: bytes = b"") -> None:
            nonlocal t
            t += 0.0001
            (a, ap), (b, bp) = (c, s) if side == 0 else (s, c)
            f.write(pcap_record(t, tcp_frame(a, b, ap, bp, seq[side], seq[1 - side], flags, payload)))
            seq[side] += len(payload) + (1 if flags & 0x02 else 0)

        emit(0, 0x02)
        emit(1, 0x12)
        emit(0, 0x10)
        emit(0, 0x18, hello)
        first = b"\x0b" + claim.to_bytes(3, "big")
        stream = b"\x16\x03\x03\x40\x00" + first + rng.randbytes(0x4000 - len(first))
        while f.tell() < size:
            for i in range(0, len(stream), pcapgen.MSS):
                emit(1, 0x10, stream[i : i + pcapgen.MSS])
            stream = b"\x16\x03\x03\x40\x00" + rng.randbytes(0x4000)
    return path


def syn_flood(n: int, t0: float = T0, rate: float = 100_000.0) -> Iterator[tuple[float, bytes]]:
    """``n`` SYNs from distinct 4-tuples (``rate`` per second of capture time), never answered."""
    for i in range(n):
        src = f"10.{(i >> 16) & 0xFF}.{(i >> 8) & 0xFF}.{i & 0xFF}"
        yield t0 + i / rate, tcp_frame(src, "10.255.0.1", 1024 + i % 50000, 443, i * 7919, 0, 0x02)


def tiny_flows(n: int, t0: float = T0) -> Iterator[tuple[float, bytes]]:
    """``n`` short connections each carrying a few bytes of (non-TLS) data, closed by FIN."""
    for i in range(n):
        c = f"10.{(i >> 16) & 0xFF}.{(i >> 8) & 0xFF}.{i & 0xFF}"
        t = t0 + i * 0.001
        yield t, tcp_frame(c, "10.255.0.2", 2000 + i % 60000, 443, 1, 0, 0x02)
        yield t, tcp_frame("10.255.0.2", c, 443, 2000 + i % 60000, 1, 2, 0x12)
        yield t, tcp_frame(c, "10.255.0.2", 2000 + i % 60000, 443, 2, 2, 0x18, b"\x16\x03\x01\x00")
        yield t, tcp_frame(c, "10.255.0.2", 2000 + i % 60000, 443, 6, 2, 0x11)


def tiny_tls_flows(n: int, t0: float = T0) -> Iterator[tuple[float, bytes]]:
    """``n`` connections each sending one ClientHello and nothing more (no FIN: left open)."""
    hello = client_hello(b"tiny.example.com")
    for i in range(n):
        c = f"10.{(i >> 16) & 0xFF}.{(i >> 8) & 0xFF}.{i & 0xFF}"
        yield t0 + i * 0.001, tcp_frame(c, "10.255.0.3", 3000 + i % 60000, 443, 1, 0, 0x18, hello)


# -- bad files -------------------------------------------------------------------------------

def bad_files(d: Path) -> dict[str, tuple[Path, str]]:
    """Name -> (file, words the one-line error must contain)."""
    good = real_capture()
    out: dict[str, tuple[bytes, str]] = {
        "empty": (b"", "empty"),
        "text": (b"This is not a capture at all\n" * 10, "a text file, not a capture"),
        "elf": (b"\x7fELF\x02\x01\x01" + os.urandom(200), "an ELF executable, not a capture"),
        "header_only_cut": (pcap_header()[:13], "24 bytes"),
        "garbage_after_header": (pcap_header() + b"\xff" * 5000, "claims"),
        "pcapng_absurd_length": (pcapng_shb() + pcapng_idb() + struct.pack("<II", 6, 0xFFFFFFF0) + b"\0" * 64,
                                 "impossible length"),
        "pcapng_unaligned_length": (pcapng_shb() + pcapng_idb() + struct.pack("<II", 6, 33) + b"\0" * 64,
                                    "impossible length"),
        "pcapng_bad_bom": (pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0xDEADBEEF, 1, 0, -1)), "byte-order"),
        "pcapng_undeclared_iface": (pcapng_shb() + pcapng_epb(T0, b"x" * 60, iface=3), "undeclared interface"),
        # 20 bytes on disk, ~130 in memory each: a file of nothing but interfaces must not balloon.
        "pcapng_interface_flood": (pcapng_shb() + b"".join(pcapng_block(1, struct.pack("<HHI", 1, 0, i))
                                                           for i in range(70_000)), "interfaces"),
        "not_gzip": (b"\x1f\x8b" + b"this is not deflate data" * 20, "gzip"),
        "gzip_of_text": (gzip.compress(b"hello, not a capture\n" * 50), "a gzip-compressed text file, not a capture"),
        "gzip_cut": (gzip.compress(good)[: len(gzip.compress(good)) // 2], "gzip"),
    }
    files = {}
    for name, (data, needle) in out.items():
        p = d / (name + (".pcap.gz" if "gzip" in name else ".pcapng" if "pcapng" in name else ".pcap"))
        p.write_bytes(data)
        files[name] = (p, needle)
    return files
