"""Build captures from real TLS byte streams, for tests and benchmarks.

``handshake_bytes`` runs a real OpenSSL handshake (Python ``ssl`` over memory BIOs) and returns
what each side put on the wire; ``tcp_flow`` cuts those bytes into TCP segments (with a real
three-way handshake, MSS-sized segments, optional reordering, duplication and loss) and
``write_pcap`` writes Ethernet/IPv4/TCP frames. Checksums are left zero: pcaptls and tshark
(with its default preferences) do not validate them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import random
import ssl
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

MSS = 1460


@dataclass
class Pki:
    cert_pem: bytes
    key_pem: bytes
    chain_der: list[bytes]  # leaf first, as sent
    ca_pem: bytes


def make_chain(cn: str = "server.example.com", ecdsa: bool = False, intermediate: bool = True,
               san: Sequence[str] = (), days: int = 365, self_signed: bool = False, rsa_bits: int = 2048) -> Pki:
    """A root CA, optionally an intermediate, and a leaf for ``cn`` (or one self-signed leaf)."""
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

    def key():
        return ec.generate_private_key(ec.SECP384R1()) if ecdsa else rsa.generate_private_key(65537, rsa_bits)

    def name(s: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, s)])

    def cert(subject: str, skey, issuer: str, ikey, ca: bool) -> x509.Certificate:
        b = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
             .public_key(skey.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=days))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            names: list[x509.GeneralName] = []
            for s in san or (cn,):
                try:
                    names.append(x509.IPAddress(ipaddress.ip_address(s)))
                except ValueError:
                    names.append(x509.DNSName(s))
            b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return b.sign(ikey, hashes.SHA384() if ecdsa else hashes.SHA256())

    lkey = key()
    if self_signed:
        leaf = cert(cn, lkey, cn, lkey, False)
        chain = [leaf]
        ca_pem = leaf.public_bytes(serialization.Encoding.PEM)
    else:
        rkey = key()
        root = cert("Test Root CA", rkey, "Test Root CA", rkey, True)
        ikey, iname = rkey, "Test Root CA"
        chain_extra = []
        if intermediate:
            ikey = key()
            inter = cert("Test Intermediate CA", ikey, "Test Root CA", rkey, True)
            iname = "Test Intermediate CA"
            chain_extra = [inter]
        leaf = cert(cn, lkey, iname, ikey, False)
        chain = [leaf, *chain_extra]
        ca_pem = root.public_bytes(serialization.Encoding.PEM)
    return Pki(
        cert_pem=b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain),
        key_pem=lkey.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        chain_der=[c.public_bytes(serialization.Encoding.DER) for c in chain],
        ca_pem=ca_pem,
    )


@dataclass
class MemoryTls:
    """Both ends of a handshake run over memory BIOs, and what crossed the wire."""

    client: ssl.SSLObject
    server: ssl.SSLObject
    cin: ssl.MemoryBIO
    cout: ssl.MemoryBIO
    sin: ssl.MemoryBIO
    sout: ssl.MemoryBIO
    wire: list[tuple[int, bytes]]  # (sender 0=client|1=server, bytes) in order
    error: str | None
    done: bool


def memory_handshake(cctx: ssl.SSLContext, sctx: ssl.SSLContext, sni: str | None) -> MemoryTls:
    """Pump a real OpenSSL handshake between two contexts until both finish or one fails."""
    cin, cout, sin, sout = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = cctx.wrap_bio(cin, cout, server_hostname=sni)
    server = sctx.wrap_bio(sin, sout, server_side=True)
    wire: list[tuple[int, bytes]] = []
    error = None
    done_c = done_s = False
    for _ in range(20):
        if not done_c:
            try:
                client.do_handshake()
                done_c = True
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as e:
                error = getattr(e, "verify_message", None) or e.reason or str(e)
        out = cout.read()
        if out:
            wire.append((0, out))
            sin.write(out)
        if error:
            break
        if not done_s:
            try:
                server.do_handshake()
                done_s = True
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError as e:
                error = e.reason or str(e)
        out = sout.read()
        if out:
            wire.append((1, out))
            cin.write(out)
        if error:
            break
        if done_c and done_s and not cout.pending and not sout.pending:
            break
    return MemoryTls(client, server, cin, cout, sin, sout, wire, error, done_c and done_s)


def handshake_bytes(pki: Pki, sni: str | None = "server.example.com", tls13: bool = False,
                    verify: bool = True, request_client_cert: bool = False, app_data: bytes = b"",
                    trust_pem: bytes | None = None) -> tuple[list[tuple[int, bytes]], str | None]:
    """Run a real handshake in memory. Returns ([(sender 0=client|1=server, bytes)], error or None)."""
    with tempfile.TemporaryDirectory() as d:
        cp, kp, ca = Path(d, "c.pem"), Path(d, "k.pem"), Path(d, "ca.pem")
        cp.write_bytes(pki.cert_pem)
        kp.write_bytes(pki.key_pem)
        ca.write_bytes(trust_pem if trust_pem is not None else pki.ca_pem)
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(cp, kp)
        cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cctx.load_verify_locations(ca)
        if request_client_cert:
            sctx.verify_mode = ssl.CERT_OPTIONAL
            sctx.load_verify_locations(ca)
        if not verify:
            cctx.check_hostname = False
            cctx.verify_mode = ssl.CERT_NONE
        if not tls13:
            cctx.maximum_version = ssl.TLSVersion.TLSv1_2
    m = memory_handshake(cctx, sctx, sni)
    client, server, cout, sin, sout, wire, error = m.client, m.server, m.cout, m.sin, m.sout, m.wire, m.error
    if not error and app_data:
        client.write(app_data)
        wire.append((0, cout.read()))
        try:
            sin.write(wire[-1][1])
            server.read(len(app_data))
        except ssl.SSLError:
            pass
        server.write(app_data)
        wire.append((1, sout.read()))
    return wire, error


# -- TCP and pcap -------------------------------------------------------------------------

Frame = tuple[float, bytes]


@dataclass
class Endpoints:
    client: str = "10.0.0.1"
    server: str = "10.0.0.2"
    cport: int = 50000
    sport: int = 443


def _ip_tcp(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0x4000, 64, 6, 0, s.packed, d.packed)
        eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
    else:
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(tcp) + len(payload), 6, 64, s.packed, d.packed)
        eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x86\xdd"
    return eth + ip + tcp + payload


def tcp_flow(messages: Iterable[tuple[int, bytes]], ep: Endpoints = Endpoints(), t0: float = 1_780_000_000.0,
             mss: int = MSS, syn: bool = True, fin: bool = True, isn: tuple[int, int] = (1000, 5000),
             rng: random.Random | None = None, reorder: float = 0.0, duplicate: float = 0.0, drop: float = 0.0,
             rst_by: int | None = None) -> list[Frame]:
    """Ethernet frames of one TCP connection carrying ``messages`` (sender, bytes) in order."""
    frames: list[Frame] = []
    t = t0
    seq = [isn[0], isn[1]]
    addr = [(ep.client, ep.cport), (ep.server, ep.sport)]

    def emit(side: int, flags: int, payload: bytes = b"", at_seq: int | None = None) -> None:
        nonlocal t
        t += 0.0005
        (src, sp), (dst, dp) = addr[side], addr[1 - side]
        s = seq[side] if at_seq is None else at_seq
        frames.append((t, _ip_tcp(src, dst, sp, dp, s, seq[1 - side], flags, payload)))

    if syn:
        emit(0, 0x02)
        seq[0] += 1
        emit(1, 0x12)
        seq[1] += 1
        emit(0, 0x10)
    else:
        seq[0] += 1
        seq[1] += 1
    for side, data in messages:
        segs = []
        for i in range(0, len(data), mss):
            segs.append((seq[side] + i, data[i : i + mss]))
        seq[side] += len(data)
        order = list(range(len(segs)))
        if rng and reorder and len(segs) > 1 and rng.random() < reorder:
            rng.shuffle(order)
        for i in order:
            s, chunk = segs[i]
            if rng and drop and rng.random() < drop:
                continue
            emit(side, 0x18, chunk, at_seq=s)
            if rng and duplicate and rng.random() < duplicate:
                emit(side, 0x18, chunk, at_seq=s)
        emit(1 - side, 0x10)
    if rst_by is not None:
        emit(rst_by, 0x14)
    elif fin:
        emit(0, 0x11)
        seq[0] += 1
        emit(1, 0x11)
        seq[1] += 1
        emit(0, 0x10)
    return frames


def write_pcap(path: str | Path, frames: Iterable[Frame], linktype: int = 1, nanos: bool = False, big_endian: bool = False,
               snaplen: int = 262144) -> None:
    o = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    scale = 1e9 if nanos else 1e6
    with open(path, "wb") as f:
        f.write(struct.pack(o + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        for t, data in frames:
            sec = int(t)
            frac = int(round((t - sec) * scale))
            kept = data[:snaplen]
            f.write(struct.pack(o + "IIII", sec, frac, len(kept), len(data)))
            f.write(kept)


def pcap_bytes(frames: Iterable[Frame], linktype: int = 1) -> bytes:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)]
    for t, data in frames:
        sec = int(t)
        out.append(struct.pack("<IIII", sec, int((t - sec) * 1e6), len(data), len(data)))
        out.append(data)
    return b"".join(out)


def retry_storm(path: str | Path, wire: Sequence[tuple[int, bytes]], count: int, gap: float = 0.01,
                rst_by: int | None = 0) -> None:
    """``count`` connections replaying one real handshake ``wire``, each from its own client
    address and port, ``gap`` seconds apart, reset by the client (or closed with FIN when
    ``rst_by`` is None): clients retrying a failing handshake. Written as frames are made."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for i in range(count):
            ep = Endpoints(client=f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", cport=1024 + i % 60000, sport=6972)
            for t, data in tcp_flow(wire, ep=ep, t0=1_780_000_000.0 + i * gap, rst_by=rst_by):
                sec = int(t)
                f.write(struct.pack("<IIII", sec, int(round((t - sec) * 1e6)), len(data), len(data)))
                f.write(data)
