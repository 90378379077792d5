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
import signal
import socket
import ssl
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from pcaptls.certificates.openssl.chain import verify_connection
from pcaptls.certificates.truststore import TrustStore
from tests.helpers import certgen

TCPDUMP = shutil.which("tcpdump")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(TCPDUMP is None or os.geteuid() != 0, reason="needs tcpdump and root to capture on lo"),
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


def _serve(sock: socket.socket, ctx: ssl.SSLContext, stop: threading.Event) -> None:
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = sock.accept()
        except (socket.timeout, OSError):
            continue
        try:
            with ctx.wrap_socket(conn, server_side=True) as s:
                s.settimeout(2)
                try:
                    s.recv(1)
                except (OSError, ssl.SSLError):
                    pass
        except (OSError, ssl.SSLError):
            conn.close()


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory):
    """(case, port) for each case, and the analysed capture of all their handshakes."""
    from pcaptls.pipeline.analysis import analyse

    now = datetime.now(timezone.utc)
    cases = [c for c in certgen.cases(now) if c.id in WANTED] + _ip_cases(now)
    d = tmp_path_factory.mktemp("lo")
    servers = []
    for i, case in enumerate(cases):
        chain_pem = d / f"{i}.chain.pem"
        chain_pem.write_bytes(b"".join(c.pem for c in case.chain))
        key_pem = d / f"{i}.key.pem"
        key_pem.write_bytes(case.chain[0].key_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # certificates in the clear
        ctx.load_cert_chain(chain_pem, key_pem)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        servers.append((case, sock, ctx))
    ports = [s.getsockname()[1] for _, s, _ in servers]
    pcap = d / "lo.pcap"
    filt = " or ".join(f"tcp port {p}" for p in ports)
    dump = subprocess.Popen([TCPDUMP, "-i", "lo", "-U", "-n", "-s", "0", "-B", "8192", "-w", str(pcap), filt],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stop = threading.Event()
    threads = [threading.Thread(target=_serve, args=(s, c, stop), daemon=True) for _, s, c in servers]
    dump_log: list[str] = []
    try:
        # tcpdump says "listening on lo" once the device is open and the filter attached
        listening = threading.Event()

        def _read_stderr() -> None:
            assert dump.stderr is not None
            for line in dump.stderr:
                dump_log.append(line)
                if "listening on" in line:
                    listening.set()

        threading.Thread(target=_read_stderr, daemon=True).start()
        assert listening.wait(15), f"tcpdump did not start: {dump_log}"
        time.sleep(0.2)
        for t in threads:
            t.start()
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        client.maximum_version = ssl.TLSVersion.TLSv1_2
        failures: list[str] = []
        for (case, sock, _), port in zip(servers, ports):
            sni = None if certgen_is_ip(case.name) else case.name
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                try:
                    with client.wrap_socket(raw, server_hostname=sni) as s:
                        s.sendall(b"x")
                except (OSError, ssl.SSLError) as e:
                    failures.append(f"{case.id}: {e}")
        time.sleep(1.0)  # let the last packets reach the file (-U writes each packet)
    finally:
        stop.set()
        for t in threads:
            if t.is_alive():
                t.join(2)
        dump.send_signal(signal.SIGTERM)
        dump.wait(10)
        for _, s, _ in servers:
            s.close()
    assert not failures, failures
    time.sleep(0.2)
    result = analyse(pcap)
    return [(case, port) for (case, _, _), port in zip(servers, ports)], result.connections, pcap, dump_log


def _tshark_certificates(pcap: Path, port: int) -> str:
    """What Wireshark sees on ``port`` (for the failure message only)."""
    tshark = shutil.which("tshark")
    if tshark is None:
        return "(tshark not installed)"
    r = subprocess.run([tshark, "-r", str(pcap), "-n", "-Y", f"tcp.port == {port}"],
                       capture_output=True, text=True, timeout=60)
    return r.stdout[-2000:] or "(no packets on that port)"


def certgen_is_ip(name: str | None) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in (name or "") else socket.AF_INET, name or "")
        return True
    except OSError:
        return False


def test_captured_chains_are_judged_like_openssl(captured) -> None:
    cases, connections, pcap, dump_log = captured
    assert len(cases) == len(WANTED) + 2
    by_port = {c.server.port: c for c in connections if c.server_certs}
    for case, port in cases:
        conn = by_port.get(port)
        assert conn is not None, (
            f"{case.id}: pcaptls found no server chain on port {port}; tshark sees: "
            f"{_tshark_certificates(pcap, port)}; tcpdump said: {''.join(dump_log)}")
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
