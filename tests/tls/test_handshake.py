"""Handshake message parsers on real messages, every truncation of them, and random bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pcaptls.errors import MalformedError, TruncatedError
from pcaptls.tls import handshake as hs
from tests.helpers import pcapgen

PARSERS = [
    hs.parse_client_hello,
    hs.parse_server_hello,
    lambda b: hs.parse_certificate(b, False),
    lambda b: hs.parse_certificate(b, True),
    hs.parse_sslv2_client_hello,
    hs.parse_server_key_exchange_group,
]


def _messages(stream: bytes) -> list[tuple[int, bytes]]:
    """Handshake messages of a plaintext TLS 1.2 flight (records then messages)."""
    body = b""
    pos = 0
    while pos + 5 <= len(stream):
        ln = int.from_bytes(stream[pos + 3 : pos + 5], "big")
        if stream[pos] == 22:
            body += stream[pos + 5 : pos + 5 + ln]
        pos += 5 + ln
    out = []
    pos = 0
    while pos + 4 <= len(body):
        ln = int.from_bytes(body[pos + 1 : pos + 4], "big")
        out.append((body[pos], body[pos + 4 : pos + 4 + ln]))
        pos += 4 + ln
    return out


@pytest.fixture(scope="module")
def flights() -> list[tuple[int, bytes]]:
    pki = pcapgen.make_chain(cn="hs.example.com")
    wire, _ = pcapgen.handshake_bytes(pki, sni="hs.example.com")
    return _messages(wire[0][1]) + _messages(wire[1][1])


def test_real_messages(flights) -> None:  # type: ignore[no-untyped-def]
    types = [t for t, _ in flights]
    assert types[:3] == [1, 2, 11]
    ch = hs.parse_client_hello(flights[0][1])
    assert ch.sni == "hs.example.com" and 0x0303 in (ch.legacy_version, *ch.versions) and ch.ciphers
    sh = hs.parse_server_hello(flights[1][1])
    assert sh.version == 0x0303 and sh.cipher in ch.ciphers and not sh.retry_request
    assert len(hs.parse_certificate(flights[2][1], False)) == 2


def test_every_truncation_returns_a_value_or_raises_a_project_error(flights) -> None:  # type: ignore[no-untyped-def]
    """A parser is given whole message bodies: a cut one is parsed as far as it goes (a
    ClientHello cut before its optional extensions is still one) or raises MalformedError
    (TruncatedError when the cut falls inside a field); any other exception is a bug."""
    parsers = {1: (hs.parse_client_hello, hs.ClientHello), 2: (hs.parse_server_hello, hs.ServerHello),
               11: (lambda b: hs.parse_certificate(b, False), tuple)}
    for htype, body in flights[:3]:
        parser, kind = parsers[htype]
        raised = 0
        for cut in range(len(body)):
            try:
                value = parser(body[:cut])
            except MalformedError:  # TruncatedError is one
                raised += 1
            else:
                assert isinstance(value, kind)
        assert raised, f"no truncation of message type {htype} was noticed"
        with pytest.raises(TruncatedError):
            parser(body[:1])  # cut inside the very first field


@given(st.binary(max_size=600))
def test_fuzz_parsers(data: bytes) -> None:
    for p in PARSERS:
        try:
            p(data)
        except MalformedError:
            pass
