"""Chains sent in real TLS 1.2 handshakes on loopback, captured with tcpdump, read back with
:func:`pcaptls.pipeline.analysis.analyse` and judged by :func:`verify_connection` against the oracle.

A Python ``ssl`` server per case (one port each) presents the case's chain; a Python ``ssl``
client connects with the case's SNI (none for an IP address, as Expressway does), without
verifying. The captured chain must be the chain sent, and pcaptls' verdict on it, at the
captured handshake time with the captured name, must equal ``openssl verify -purpose sslserver``'s
(:func:`verify_connection` judges as a TLS client does, with purpose "sslserver").
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pcaptls.certificates.openssl.chain import verify_connection
from pcaptls.certificates.truststore import TrustStore
from tests.helpers import certgen, loopback

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(loopback.TCPDUMP is None or os.geteuid() != 0, reason="needs tcpdump and root to capture on lo"),
    pytest.mark.skipif(certgen.OPENSSL is None, reason="openssl CLI not installed"),
]

WANTED = [
    "self-signed-leaf", "self-signed-leaf-trusted", "leaf-int-unknown-root", "leaf-int-root-untrusted",
    "leaf-int-root-trusted", "int-trusted-root-missing", "expired-leaf", "not-yet-valid-leaf",
    "wrong-name", "ecdsa-p384-self-signed", "ecdsa-p384-self-signed-trusted", "non-ca-intermediate",
    "wildcard *.example.com vs a.example.com", "wildcard *.example.com vs a.b.example.com",
    "cn-fallback-no-san", "expired-intermediate", "eku-client-auth-only",
]


def _ip_cases(now: datetime) -> list[certgen.Case]:
    """No SNI: the name checked is the server's address (127.0.0.1), as Expressway does."""
    root = certgen._root("lo")
    with_ip = certgen.make(certgen.name("cucm.example.com"), certgen.key("lo-leaf"), root,
                           dns=("cucm.example.com",), ips=("127.0.0.1",))
    without_ip = certgen.make(certgen.name("cucm.example.com"), certgen.key("lo-leaf"), root,
                              dns=("cucm.example.com",))
    return [
        certgen.Case("no-sni-ip-in-san", [with_ip], [root], "127.0.0.1", now),
        certgen.Case("no-sni-ip-not-in-san", [without_ip], [root], "127.0.0.1", now),
    ]


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory):
    """(case, port) for each case, and the analysed capture of all their handshakes."""
    from pcaptls.pipeline.analysis import analyse

    now = datetime.now(timezone.utc)
    cases = [c for c in certgen.cases(now) if c.id in WANTED] + _ip_cases(now)
    served = [loopback.Served(b"".join(c.pem for c in case.chain), case.chain[0].key_pem, case.name)
              for case in cases]
    pcap, ports, failures = loopback.serve_and_capture(served, tmp_path_factory.mktemp("lo"))
    assert not failures, failures
    result = analyse(pcap)
    return list(zip(cases, ports)), result.connections, pcap


def _tshark_certificates(pcap: Path, port: int) -> str:
    """What Wireshark sees on ``port`` (for the failure message only)."""
    tshark = shutil.which("tshark")
    if tshark is None:
        return "(tshark not installed)"
    r = subprocess.run([tshark, "-r", str(pcap), "-n", "-Y", f"tcp.port == {port}"],
                       capture_output=True, text=True, timeout=60)
    return r.stdout[-2000:] or "(no packets on that port)"


def test_captured_chains_are_judged_like_openssl(captured) -> None:
    cases, connections, pcap = captured
    assert len(cases) == len(WANTED) + 2
    by_port = {c.server.port: c for c in connections if c.server_certs}
    for case, port in cases:
        conn = by_port.get(port)
        assert conn is not None, (
            f"{case.id}: pcaptls found no server chain on port {port}; tshark sees: "
            f"{_tshark_certificates(pcap, port)}")
        assert list(conn.server_certs) == case.wire, case.id
        store = TrustStore.from_certs(case.trust_der, "test")
        ours = verify_connection(conn, store)
        assert ours is not None
        expected_name = case.name
        assert ours.name == expected_name, case.id
        at = datetime.fromtimestamp(
            next((e.time for e in conn.handshake if e.type == 11 and e.sender == "server"), conn.start),
            timezone.utc)
        oracle = certgen.openssl_verify(case.wire[0], case.wire[1:], case.trust_der, at, ours.name, "sslserver")
        assert (ours.error, ours.depth) == (oracle.error, oracle.depth), (case.id, oracle.raw)
