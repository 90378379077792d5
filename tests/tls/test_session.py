"""One connection's TLS conversation -> a TlsConnection: real OpenSSL handshakes fed to both sides.

The peers themselves are the oracle: what ``ssl.SSLObject`` says it negotiated (version, cipher,
the peer's certificate) is what :meth:`TlsSession.build` must report. Which side is the client
comes from the ClientHello, then the ServerHello, then TCP's SYN, then the ports.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest

from pcaptls.tcp.facts import Anomaly, Endpoint
from pcaptls.tls.constants import ALERT_DESCRIPTIONS, NAMED_GROUPS, is_tls13, version_name
from pcaptls.tls.model import TlsConnection
from pcaptls.tls.records import DETECT_LIMIT
from pcaptls.tls.session import MAX_ALERTS, TlsSession
from tests.helpers import pcapgen

ENDS = (Endpoint("10.0.0.1", 50000), Endpoint("10.0.0.2", 443))
Wire = list[tuple[int, bytes]]
_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


@dataclass
class Run:
    """A finished real handshake: the wire bytes and both peers, to ask what they negotiated."""

    wire: Wire
    tls: pcapgen.MemoryTls
    sctx: ssl.SSLContext
    server_pki: pcapgen.Pki
    client_pki: pcapgen.Pki | None

    @property
    def version_id(self) -> int:
        return _VERSIONS[self.tls.server.version()]

    @property
    def cipher_id(self) -> int:
        """The IANA code of the suite the server chose (OpenSSL gives its name; its list maps it)."""
        name = self.tls.server.cipher()[0]
        return next(c["id"] & 0xFFFF for c in self.sctx.get_ciphers() if c["name"] == name)


def _handshake(tmp: Path, server_pki: pcapgen.Pki, *, client_pki: pcapgen.Pki | None = None, tls13: bool = False,
               sni: str = "server.example.com", server_curve: str | None = None, trust: bytes | None = None) -> Run:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "s.pem").write_bytes(server_pki.cert_pem)
    (tmp / "s.key").write_bytes(server_pki.key_pem)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(tmp / "s.pem", tmp / "s.key")
    if server_curve:
        sctx.set_ecdh_curve(server_curve)  # the client's default key share is not this: HelloRetryRequest
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.load_verify_locations(cadata=(trust or server_pki.ca_pem).decode())
    if not tls13:
        cctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if client_pki is not None:
        (tmp / "c.pem").write_bytes(client_pki.cert_pem)
        (tmp / "c.key").write_bytes(client_pki.key_pem)
        cctx.load_cert_chain(tmp / "c.pem", tmp / "c.key")
        sctx.verify_mode = ssl.CERT_REQUIRED
        sctx.load_verify_locations(cadata=client_pki.ca_pem.decode())
    m = pcapgen.memory_handshake(cctx, sctx, sni)
    return Run(list(m.wire), m, sctx, server_pki, client_pki)


def _feed(wire: Wire, *, swap: bool = False, step: int | None = None, midstream: bool = False) -> TlsSession:
    """Feed each sender's bytes to its side (client on side 1 when ``swap``), ``step`` bytes at a time."""
    s = TlsSession(midstream)
    for i, (sender, data) in enumerate(wire):
        r = s.readers[1 - sender if swap else sender]
        chunks = [data] if step is None else [data[j : j + step] for j in range(0, len(data), step)]
        for chunk in chunks:
            r.data(chunk, 100.0 + i, i + 1)
    return s


def _build(s: TlsSession, syn_side: int | None = 0, ends: tuple[Endpoint, Endpoint] = ENDS,
           close: tuple[int, str] | None = None, tcp_anomalies: list[Anomaly] | None = None) -> TlsConnection | None:
    return s.build(ends, 100.0, 200.0, 1, syn_side, close, tcp_anomalies or [])


def _record(ct: int, payload: bytes) -> bytes:
    return bytes([ct, 3, 3]) + len(payload).to_bytes(2, "big") + payload


def _message(htype: int, body: bytes) -> bytes:
    return bytes([htype]) + len(body).to_bytes(3, "big") + body


# -- fixtures: real handshakes, made once ------------------------------------------------------

@pytest.fixture(scope="module")
def server_pki() -> pcapgen.Pki:
    return pcapgen.make_chain(cn="server.example.com", ecdsa=True)


@pytest.fixture(scope="module")
def mutual12(tmp_path_factory: pytest.TempPathFactory, server_pki: pcapgen.Pki) -> Run:
    client_pki = pcapgen.make_chain(cn="phone.example.com", ecdsa=True, intermediate=False)
    run = _handshake(tmp_path_factory.mktemp("m12"), server_pki, client_pki=client_pki)
    assert run.tls.done and run.tls.error is None
    return run


@pytest.fixture(scope="module")
def plain13(tmp_path_factory: pytest.TempPathFactory, server_pki: pcapgen.Pki) -> Run:
    run = _handshake(tmp_path_factory.mktemp("p13"), server_pki, tls13=True)
    assert run.tls.done
    return run


@pytest.fixture(scope="module")
def hrr13(tmp_path_factory: pytest.TempPathFactory, server_pki: pcapgen.Pki) -> Run:
    run = _handshake(tmp_path_factory.mktemp("hrr"), server_pki, tls13=True, server_curve="secp384r1")
    assert run.tls.done
    return run


# -- what was negotiated -------------------------------------------------------------------------

def test_tls12_mutual_auth_reports_what_the_peers_negotiated(mutual12: Run) -> None:
    c = _build(_feed(mutual12.wire))
    assert c is not None
    assert (c.client, c.server) == ENDS
    assert c.sni == "server.example.com"
    assert c.version_id == mutual12.version_id == 0x0303 and not c.is_tls13
    assert c.cipher_id == mutual12.cipher_id and c.cipher_id in c.offered_ciphers
    # Each peer's view of the other's certificate is the leaf pcaptls attributes to that peer.
    assert c.server_certs[0] == mutual12.tls.client.getpeercert(binary_form=True)
    assert c.client_certs[0] == mutual12.tls.server.getpeercert(binary_form=True)
    assert list(c.server_certs) == mutual12.server_pki.chain_der
    assert mutual12.client_pki is not None and c.client_certs[0] == mutual12.client_pki.chain_der[0]
    assert c.certificate_request and not c.hello_retry
    assert c.client_hello_seen and c.server_hello_seen and c.saw_syn
    assert c.kex_group in NAMED_GROUPS and c.kex_group in c.offered_groups
    client_msgs = [e.name for e in c.handshake if e.sender == "client"]
    assert client_msgs[:5] == ["ClientHello", "Certificate", "ClientKeyExchange", "CertificateVerify", "ChangeCipherSpec"]
    assert c.status == "ok" and c.alerts == ()


def test_chunking_does_not_change_the_result(mutual12: Run) -> None:
    whole = _build(_feed(mutual12.wire))
    assert whole is not None
    for step in (1, 3, 500):
        assert _build(_feed(mutual12.wire, step=step)) == whole


def test_tls13_reports_version_cipher_and_key_share(plain13: Run) -> None:
    c = _build(_feed(plain13.wire))
    assert c is not None
    assert c.version_id == plain13.version_id == 0x0304 and c.is_tls13
    assert c.cipher_id == plain13.cipher_id
    assert c.server_certs == ()  # encrypted in TLS 1.3
    assert c.kex_group is not None and c.kex_group in c.offered_groups
    assert c.status == "ok" and not c.hello_retry


def test_hello_retry_request(hrr13: Run) -> None:
    c = _build(_feed(hrr13.wire))
    assert c is not None
    assert c.hello_retry and c.is_tls13
    assert c.version_id == hrr13.version_id and c.cipher_id == hrr13.cipher_id
    assert c.kex_group == next(k for k, v in NAMED_GROUPS.items() if v == "secp384r1")  # the group forced on the server
    assert [(e.sender, e.name) for e in c.handshake[:2]] == [("client", "ClientHello"), ("server", "ServerHello")]
    assert c.sni == "server.example.com" and c.status == "ok"


def test_hello_retry_request_second_hellos_are_seen(hrr13: Run) -> None:
    """After a HelloRetryRequest the readers are TLS 1.3's: the middlebox-compatibility
    ChangeCipherSpec does not hide the second ClientHello and the real ServerHello."""
    c = _build(_feed(hrr13.wire))
    assert c is not None
    names = [(e.sender, e.name) for e in c.handshake]
    assert names.count(("client", "ClientHello")) == 2 and names.count(("server", "ServerHello")) == 2


def test_lone_hello_retry_request_still_names_version_and_suite(hrr13: Run) -> None:
    c = _build(_feed(hrr13.wire[:2]))  # ClientHello, HelloRetryRequest; then the capture ends
    assert c is not None
    assert c.hello_retry and c.server_hello_seen
    assert c.version_id == hrr13.version_id and c.cipher_id == hrr13.cipher_id
    assert c.status == "incomplete"


# -- who is the client ---------------------------------------------------------------------------

@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("syn_side", [None, 0, 1])
def test_client_hello_decides_the_client_over_syn_and_ports(mutual12: Run, swap: bool, syn_side: int | None) -> None:
    c = _build(_feed(mutual12.wire, swap=swap), syn_side=syn_side)
    assert c is not None
    client, server = (ENDS[1], ENDS[0]) if swap else ENDS
    assert (c.client, c.server) == (client, server)
    assert list(c.server_certs) == mutual12.server_pki.chain_der  # certificates follow the roles
    assert c.saw_syn == (syn_side is not None)
    assert c.handshake[0].sender == "client" and c.handshake[0].name == "ClientHello"


@pytest.mark.parametrize("swap", [False, True])
def test_server_hello_decides_when_the_client_hello_was_missed(mutual12: Run, swap: bool) -> None:
    server_only = [(sender, data) for sender, data in mutual12.wire if sender == 1]
    c = _build(_feed(server_only, swap=swap), syn_side=1 if not swap else 0)  # a SYN that says otherwise
    assert c is not None
    assert c.server == (ENDS[0] if swap else ENDS[1])
    assert not c.client_hello_seen and c.server_hello_seen and c.sni is None
    assert c.version_id == 0x0303 and list(c.server_certs) == mutual12.server_pki.chain_der


@pytest.fixture(scope="module")
def after_hellos(mutual12: Run) -> Wire:
    """The conversation after the hello flights, as a capture that starts mid-connection sees it."""
    return mutual12.wire[2:]


@pytest.mark.parametrize("syn_side", [0, 1])
def test_without_hellos_the_syn_decides(after_hellos: Wire, syn_side: int) -> None:
    c = _build(_feed(after_hellos, midstream=True), syn_side=syn_side)
    assert c is not None and not c.client_hello_seen and not c.server_hello_seen
    assert c.client == ENDS[syn_side]
    # The ClientKeyExchange came from side 0: named after whichever side the SYN made the client.
    cke = next(e for e in c.handshake if e.name == "ClientKeyExchange")
    assert cke.sender == ("client" if syn_side == 0 else "server")


@pytest.mark.parametrize("ends, client", [
    (ENDS, ENDS[0]),  # the lower (well-known) port is the server's
    ((Endpoint("10.0.0.2", 443), Endpoint("10.0.0.1", 50000)), Endpoint("10.0.0.1", 50000)),
    ((Endpoint("10.0.0.1", 5061), Endpoint("10.0.0.2", 5061)), Endpoint("10.0.0.1", 5061)),  # same port: side 0
])
def test_without_hellos_or_syn_the_ports_decide(after_hellos: Wire, ends: tuple[Endpoint, Endpoint], client: Endpoint) -> None:
    c = _build(_feed(after_hellos, midstream=True), syn_side=None, ends=ends)
    assert c is not None and not c.saw_syn
    assert c.client == client and c.server == (ends[1] if client == ends[0] else ends[0])


@pytest.mark.parametrize("swap", [False, True])
def test_close_and_tcp_anomalies_are_named_after_the_roles(mutual12: Run, swap: bool) -> None:
    client_side = 1 if swap else 0
    gap = Anomaly("gap", "10 bytes not captured", 150.0, str(1 - client_side))
    bare = Anomaly("no_syn", "capture starts mid-connection")
    c = _build(_feed(mutual12.wire, swap=swap), close=(1 - client_side, "RST", 7, 150.0), tcp_anomalies=[gap, bare])
    assert c is not None
    assert (c.closed_by, c.close_kind) == ("server", "RST")
    assert c.anomalies[:2] == (Anomaly("gap", "10 bytes not captured", 150.0, "server"), bare)


# -- alerts --------------------------------------------------------------------------------------

@pytest.mark.parametrize("swap", [False, True])
def test_rejected_certificate_gives_the_clients_fatal_alert(tmp_path: Path, server_pki: pcapgen.Pki, swap: bool) -> None:
    other = pcapgen.make_chain(cn="other.example.com", ecdsa=True, self_signed=True)
    run = _handshake(tmp_path, server_pki, trust=other.ca_pem)  # the client trusts only another certificate
    assert run.tls.error is not None and not run.tls.done
    c = _build(_feed(run.wire, swap=swap))
    assert c is not None
    a = c.fatal_alert
    assert a is not None and (a.sender, a.level, a.encrypted) == ("client", 2, False)
    assert ALERT_DESCRIPTIONS[a.code] == "unknown_ca"  # what OpenSSL sends for an unknown issuer
    assert c.status == "failed" and c.client == (ENDS[1] if swap else ENDS[0])


def test_alert_after_change_cipher_spec_is_kept_as_encrypted(tmp_path: Path, server_pki: pcapgen.Pki) -> None:
    run = _handshake(tmp_path, server_pki)
    assert run.tls.done
    with pytest.raises(ssl.SSLWantReadError):  # close_notify sent; the peer's not yet read
        run.tls.client.unwrap()
    close_notify = run.tls.cout.read()
    c = _build(_feed([*run.wire, (0, close_notify)]))
    assert c is not None
    assert [(a.sender, a.level, a.code, a.encrypted) for a in c.alerts] == [("client", None, None, True)]
    assert c.fatal_alert is None and c.status == "ok"


def test_alerts_beyond_the_cap_are_counted(mutual12: Run) -> None:
    flood = _record(21, bytes([1, 0])) * (MAX_ALERTS + 6)  # warning close_notify, over and over
    c = _build(_feed([mutual12.wire[0], (1, flood)]))
    assert c is not None
    assert len(c.alerts) == MAX_ALERTS and all(a.sender == "server" and a.code == 0 for a in c.alerts)
    assert [a.detail for a in c.anomalies if a.kind == "cap"] == [f"6 more alerts not kept (first {MAX_ALERTS} kept)"]


def test_malformed_handshake_message_is_an_anomaly_not_an_exception(mutual12: Run) -> None:
    broken = _record(22, _message(2, b"\x03\x03" + b"\x00" * 32 + b"\x20"))  # ServerHello cut in its session_id
    c = _build(_feed([mutual12.wire[0], (1, broken)]))
    assert c is not None
    assert not c.server_hello_seen and c.version_id is None
    (bad,) = [a for a in c.anomalies if a.kind == "malformed"]
    assert bad.sender == "server" and "SERVER_HELLO" in bad.detail


# -- TLS 1.3 and its drafts and experiments ------------------------------------------------------

def _server_hello(version: int) -> bytes:
    random = bytes(range(32))
    if (version >> 8) == 0x7F and (version & 0xFF) < 22:
        # Drafts before -22: the version in the legacy field, no session_id or compression.
        key_share = (40).to_bytes(2, "big") + (4).to_bytes(2, "big") + (29).to_bytes(2, "big") + b"\x00\x00"
        body = version.to_bytes(2, "big") + random + (0x1301).to_bytes(2, "big")
    else:
        cipher = 0x1301 if is_tls13(version) else 0xC02B
        exts = (43).to_bytes(2, "big") + (2).to_bytes(2, "big") + version.to_bytes(2, "big")
        key_share = exts + (51).to_bytes(2, "big") + (4).to_bytes(2, "big") + (29).to_bytes(2, "big") + b"\x00\x00"
        body = b"\x03\x03" + random + b"\x00" + cipher.to_bytes(2, "big") + b"\x00"
    return _message(2, body + len(key_share).to_bytes(2, "big") + key_share)


def _certificate13(chain: list[bytes]) -> bytes:
    """A Certificate in TLS 1.3's layout: request context, then each entry's extensions."""
    entries = b"".join(len(d).to_bytes(3, "big") + d + b"\x00\x00" for d in chain)
    return _message(11, b"\x00" + len(entries).to_bytes(3, "big") + entries)


@pytest.mark.parametrize("version", [0x0304, 0x7F17, 0x7F12, 0x7E01, 0x7E02, 0xFB1A, 0x0303])
def test_tls13_layout_follows_the_negotiated_version(plain13: Run, server_pki: pcapgen.Pki, version: int) -> None:
    """A ServerHello naming a 1.3-style version (1.3, a draft, an experiment) switches both
    readers (a later ChangeCipherSpec does not seal handshake records) and the Certificate
    parser to TLS 1.3's layout; a TLS 1.2 one does neither."""
    flight = (_record(22, _server_hello(version)) + _record(20, b"\x01")
              + _record(22, _certificate13(server_pki.chain_der)))
    c = _build(_feed([plain13.wire[0], (1, flight)]))
    assert c is not None
    assert c.version_id == version and c.version == version_name(version)
    assert c.is_tls13 == is_tls13(version)
    assert c.kex_group == 29
    if is_tls13(version):
        assert list(c.server_certs) == server_pki.chain_der
        assert not [a for a in c.anomalies if a.kind == "malformed"]
    else:
        assert c.server_certs == () and "Certificate" not in [e.name for e in c.handshake]


def test_experiment_versions_count_as_tls13() -> None:
    assert all(is_tls13(v) for v in (0x0304, 0x7F12, 0x7F1C, 0x7E01, 0x7E02, 0x7EFF, 0xFB1A))
    assert not any(is_tls13(v) for v in (None, 0x0002, 0x0300, 0x0301, 0x0303, 0x0305, 0x7D00, 0xFEFD))


# -- no TLS --------------------------------------------------------------------------------------

def test_nothing_seen_builds_nothing() -> None:
    s = TlsSession()
    assert not s.seen_tls and not s.ignoring()
    assert _build(s) is None


def test_plaintext_both_ways_builds_nothing_and_is_ignored_once_both_give_up(mutual12: Run) -> None:
    s = TlsSession()
    request, response = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n" + b"z" * 1000
    s.readers[0].data(request, 1.0, 1)
    s.readers[1].data(response, 1.0, 2)
    assert not s.ignoring() and _build(s) is None  # still looking: STARTTLS may come
    while s.readers[0].scanned <= DETECT_LIMIT:
        s.readers[0].data(request * 100, 2.0, 3)
    assert not s.ignoring()  # one direction given up is not enough
    while s.readers[1].scanned <= DETECT_LIMIT:
        s.readers[1].data(response * 10, 2.0, 4)
    assert s.ignoring() and not s.seen_tls
    for side, data in mutual12.wire:  # a handshake after that is not looked at any more
        s.readers[side].data(data, 3.0, 5)
    assert _build(s) is None


def test_tls_after_plaintext_names_the_upgrade(mutual12: Run) -> None:
    s = TlsSession()
    s.readers[1].data(b"220 mx.example.com ESMTP\r\n250 STARTTLS\r\n220 go ahead\r\n", 1.0, 1)
    s.readers[0].data(b"EHLO phone\r\nSTARTTLS\r\n", 1.0, 2)
    for i, (side, data) in enumerate(mutual12.wire):
        s.readers[side].data(data, 2.0, i + 3)
    c = _build(s)
    assert c is not None and c.starttls == "smtp" and c.status == "ok"
