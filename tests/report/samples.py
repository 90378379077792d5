"""Inputs for the HTML report's tests: a capture and a log full of hostile strings, and a
10,000-connection capture, both built from real OpenSSL handshakes (tests/pcapgen.py)."""

from __future__ import annotations

import datetime as dt
import struct
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from tests.helpers import craft, pcapgen

T0 = 1_780_000_000.0  # 2026-05-28T20:26:40Z
# What a page must show as text and never run: a script element, an attribute break-out with an
# event handler, and terminal escapes (which the report shows as \x1b text, as on a terminal).
SNI = '<script>alert("sni")</script>"><img src=x onerror=alert(1)>\x1b[2J'
CN = '<script>alert("cn")</script>\'"><img src=x onerror=alert(2)>'  # a CN holds 64 characters at most
ORG = "\x1b]0;owned\x07 Evil \u202e Org"
LOG_NAME = '<script>alert("log")</script>"><img src=x onerror=alert(3)>'
SHOWN = ['<script>alert("sni")</script>"><img src=x onerror=alert(1)>\\x1b[2J',
         '<script>alert("cn")</script>\'"><img src=x onerror=alert(2)>',
         '<script>alert("log")</script>"><img src=x onerror=alert(3)>']


def _hostile_cert() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CN), x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG)])
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(start).not_valid_after(start + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("x.example")]), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(Encoding.DER)


def hostile_inputs(d: Path) -> tuple[Path, Path]:
    """A capture whose ClientHello carries :data:`SNI` and whose server sends a self-signed
    certificate with subject CN :data:`CN` (the client rejects it: fatal unknown_ca), and an
    Expressway log whose verification WARNING names :data:`LOG_NAME`, at the same moment."""
    unknown_ca = b"\x15\x03\x03\x00\x02\x02\x30"
    wire = [(0, craft.client_hello(SNI.encode())), (1, craft.server_flight([_hostile_cert()], alert=None)),
            (0, unknown_ca)]
    ep = pcapgen.Endpoints(client="10.48.36.10", server="10.48.36.215", cport=50123, sport=6972)
    cap = d / "hostile.pcap"
    pcapgen.write_pcap(cap, pcapgen.tcp_flow(wire, ep=ep, t0=T0, rst_by=0))
    local = dt.datetime.fromtimestamp(T0 + 0.004, dt.timezone(dt.timedelta(hours=2)))
    stamp = local.isoformat(timespec="milliseconds")
    log = d / "expressway.log"
    log.write_text(
        f"{stamp} vcsc traffic_server[18242]: [ET_NET 0] WARNING: Core server certificate verification failed for "
        f"({LOG_NAME}). Action=Terminate Error=self signed certificate server={LOG_NAME}(10.48.36.215) depth=0\n"
        f"{stamp} vcsc traffic_server[18242]: [ET_NET 0] ERROR: SSL connection failed for '{LOG_NAME}': "
        "error:1416F086:SSL routines:tls_process_server_certificate:certificate verify failed\n",
        encoding="utf-8")
    return cap, log


def storm(path: Path, count: int = 10_000) -> Path:
    """``count`` connections from distinct clients, alternately to a CUCM on 6972 whose
    self-signed ECDSA certificate the client rejects (fatal unknown_ca) and to 8443 where the
    handshake completes, 10 ms apart: an afternoon of Jabber retries, in a 100 s capture."""
    bad = pcapgen.make_chain(cn="cucm.example.com", ecdsa=True, self_signed=True)
    good = pcapgen.make_chain(cn="cucm.example.com")
    failing, err = pcapgen.handshake_bytes(bad, sni="cucm.example.com", trust_pem=good.ca_pem)
    assert err is not None
    working, err = pcapgen.handshake_bytes(good, sni="cucm.example.com", app_data=b"GET / HTTP/1.1\r\n\r\n")
    assert err is None, err
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for i in range(count):
            ok = i % 2 == 1
            ep = pcapgen.Endpoints(client=f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", cport=1024 + i % 60000,
                                   server="10.48.36.215", sport=8443 if ok else 6972)
            for t, data in pcapgen.tcp_flow(working if ok else failing, ep=ep, t0=T0 + i * 0.01, rst_by=None if ok else 0):
                sec = int(t)
                f.write(struct.pack("<IIII", sec, int(round((t - sec) * 1e6)), len(data), len(data)))
                f.write(data)
    return path
