"""TLS records from byte streams: whole, byte by byte, after STARTTLS, after gaps, and fuzzed."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pcaptls.tcp.facts import Endpoint
from pcaptls.tls.records import DETECT_LIMIT, IGNORE, MAX_HANDSHAKE
from pcaptls.tls.session import TlsSession
from tests.helpers import pcapgen

ENDS = (Endpoint("10.0.0.1", 50000), Endpoint("10.0.0.2", 443))


@pytest.fixture(scope="module")
def tls12() -> tuple[list[tuple[int, bytes]], pcapgen.Pki]:
    pki = pcapgen.make_chain(cn="records.example.com")
    wire, err = pcapgen.handshake_bytes(pki, sni="records.example.com", request_client_cert=True, app_data=b"x" * 40000)
    assert err is None
    return wire, pki


def _run(wire: list[tuple[int, bytes]], step: int | None = None, prefix: tuple[bytes, bytes] = (b"", b"")):
    s = TlsSession()
    for side in (0, 1):
        if prefix[side]:
            s.readers[side].data(prefix[side], 0.0, 1)
    for i, (side, data) in enumerate(wire):
        if step is None:
            s.readers[side].data(data, float(i), i + 1)
        else:
            for j in range(0, len(data), step):
                s.readers[side].data(data[j : j + step], float(i), i + 1)
    return s.build(ENDS, 0.0, 1.0, 1, 0, None, [])


@pytest.mark.parametrize("step", [None, 1, 7, 1460])
def test_real_tls12_handshake_any_chunking(tls12, step) -> None:  # type: ignore[no-untyped-def]
    wire, pki = tls12
    c = _run(wire, step)
    assert c.sni == "records.example.com"
    assert c.version == "TLS 1.2" and c.cipher and c.cipher.startswith("TLS_ECDHE")
    assert [hashlib.sha256(d).digest() for d in c.server_certs] == [hashlib.sha256(d).digest() for d in pki.chain_der]
    assert c.certificate_request and c.status == "ok"
    assert [e.name for e in c.handshake if e.sender == "server"][:3] == ["ServerHello", "Certificate", "ServerKeyExchange"]


def test_trailing_and_starttls_plaintext(tls12) -> None:  # type: ignore[no-untyped-def]
    wire, _ = tls12
    prefix = (b"EHLO me\r\nSTARTTLS\r\n", b"220 mx ESMTP\r\n250-STARTTLS\r\n220 Ready to start TLS\r\n")
    c = _run(wire, 5, prefix)
    assert c.starttls == "smtp" and c.sni == "records.example.com" and c.status == "ok"


def test_tls13_certificates_not_visible() -> None:
    wire, err = pcapgen.handshake_bytes(pcapgen.make_chain(), tls13=True, app_data=b"hi")
    assert err is None
    c = _run(wire, 3)
    assert c.version == "TLS 1.3" and c.server_certs == () and c.is_tls13 and c.status == "ok"


def test_rejected_self_signed_gives_client_unknown_ca() -> None:
    pki = pcapgen.make_chain(cn="cucm.example.com", ecdsa=True, self_signed=True)
    wire, err = pcapgen.handshake_bytes(pki, sni="cucm.example.com", trust_pem=pcapgen.make_chain().ca_pem)
    assert err and "self" in err
    c = _run(wire)
    a = c.fatal_alert
    assert a is not None and (a.sender, a.description) == ("client", "unknown_ca")
    assert c.status == "failed" and "unknown_ca" in c.reason


def test_gap_inside_application_data_is_harmless(tls12) -> None:  # type: ignore[no-untyped-def]
    wire, _ = tls12
    s = TlsSession()
    for i, (side, data) in enumerate(wire):
        if len(data) > 20000:  # the big application-data flight: lose 100 bytes in its middle
            s.readers[side].data(data[:5000], 0.0, i)
            s.readers[side].gap(100, 0.0)
            s.readers[side].data(data[5100:], 0.0, i)
        else:
            s.readers[side].data(data, 0.0, i)
    c = s.build(ENDS, 0, 1, 1, 0, None, [])
    assert c.status == "ok" and not any(a.kind == "desync" for a in c.anomalies)


def test_gap_in_handshake_resyncs(tls12) -> None:  # type: ignore[no-untyped-def]
    wire, _ = tls12
    s = TlsSession()
    for i, (side, data) in enumerate(wire):
        if side == 1 and i == 1:  # server's first flight: lose part of the certificate
            s.readers[side].data(data[:300], 0.0, i)
            s.readers[side].gap(len(data) - 300, 0.0)
        else:
            s.readers[side].data(data, 0.0, i)
    c = s.build(ENDS, 0, 1, 1, 0, None, [])
    assert c.version == "TLS 1.2" and c.server_certs == ()
    assert any(a.kind == "gap" for a in c.anomalies)
    assert any(e.sender == "client" and e.type == 16 for e in c.handshake)  # found ClientKeyExchange after it


def test_plaintext_protocol_is_given_up_on() -> None:
    s = TlsSession()
    for _ in range(DETECT_LIMIT // 1000 + 2):
        s.readers[0].data(b"GET / HTTP/1.1\r\n" * 62, 0.0, 1)
    assert s.readers[0].state == IGNORE and not s.tls and len(s.readers[0].buf) == 0


def test_huge_handshake_message_is_capped() -> None:
    s = TlsSession()
    r = s.readers[0]
    head = b"\x16\x03\x01\x40\x00" + b"\x01" + ((16 << 20) - 1).to_bytes(3, "big") + b"\x03\x03"
    r.data(head + b"\0" * (0x4000 - 6), 0.0, 1)
    for _ in range(100):
        r.data(b"\x16\x03\x01\x40\x00" + b"\0" * 0x4000, 0.0, 2)
    assert len(r.hs) <= MAX_HANDSHAKE and len(r.buf) < 0x4000 + 5
    assert any(a.kind == "cap" for a in s.anomalies)


@given(st.lists(st.tuples(st.integers(0, 1), st.binary(max_size=300)), max_size=20), st.booleans())
def test_fuzz_session_random_bytes(chunks: list[tuple[int, bytes]], midstream: bool) -> None:
    s = TlsSession(midstream)
    for side, data in chunks:
        s.readers[side].data(data, 0.0, 1)
        if data[:1] == b"\x00":
            s.readers[side].gap(len(data), None)
    s.build(ENDS, 0, 1, 1, None, None, [])


@given(st.data())
def test_fuzz_session_mutated_real_handshake(tls12, data) -> None:  # type: ignore[no-untyped-def]
    wire, _ = tls12
    s = TlsSession(data.draw(st.booleans()))
    for side, chunk in wire[:4]:
        b = bytearray(chunk)
        for _ in range(data.draw(st.integers(0, 8))):
            if b:
                b[data.draw(st.integers(0, len(b) - 1))] = data.draw(st.integers(0, 255))
        cut = data.draw(st.integers(0, len(b)))
        s.readers[side].data(bytes(b[:cut]), 0.0, 1)
    s.build(ENDS, 0, 1, 1, 0, None, [])


def test_tls13_rejection_is_a_failure_not_success() -> None:
    """OpenSSL's client alerts in clear before its keys change; other stacks encrypt it (it then
    looks like one application-data record). Either way the connection must read as failed."""
    pki = pcapgen.make_chain(cn="cucm.example.com", ecdsa=True, self_signed=True)
    wire, err = pcapgen.handshake_bytes(pki, sni="cucm.example.com", tls13=True, trust_pem=pcapgen.make_chain().ca_pem)
    assert err and wire[-1][1][:1] == b"\x15"  # the plaintext alert OpenSSL sends
    encrypted_alert = b"\x17\x03\x03\x00\x13" + bytes(19)
    for last, reason in ((wire[-1][1], "unknown_ca"), (encrypted_alert, "TLS 1.3 alert")):
        s = TlsSession()
        for i, (side, data) in enumerate([*wire[:-1], (0, last)]):
            s.readers[side].data(data, float(i), i + 1)
        c = s.build(ENDS, 0.0, 9.0, 1, 0, (0, "FIN", 7, 8.5), [])
        assert c.is_tls13 and c.status == "failed" and reason in c.reason


def test_a_long_run_of_bad_headers_in_one_chunk() -> None:
    """Every bad header starts a new search and every find a new record walk: 600 of them in one
    chunk (a TSO segment holds that many) once ran out of Python's stack (RecursionError)."""
    s = TlsSession()
    hello = bytes.fromhex("1603010030" "0100002c" "0303") + bytes(33) + bytes.fromhex("0002c02f0100")
    s.readers[0].data(hello, 1.0, 1)
    s.readers[0].data(bytes.fromhex("170303000141170303ffff") * 600, 2.0, 2)
    c = s.build(ENDS, 0.0, 2.0, 1, 0, None, [])
    desyncs = [a for a in c.anomalies if a.kind == "desync"]
    assert desyncs and c.anomalies[-1].kind == "cap" and "more anomalies not kept" in c.anomalies[-1].detail
