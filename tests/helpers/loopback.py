"""Serve certificate chains with real OpenSSL servers (Python ``ssl``) on loopback and capture the
handshakes with tcpdump: what an Expressway-C client would see on the wire (needs root)."""

from __future__ import annotations

import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

TCPDUMP = shutil.which("tcpdump")


@dataclass(frozen=True)
class Served:
    """One chain to serve: its PEM chain (leaf first) and key, and the name the client asks for."""

    chain_pem: bytes
    key_pem: bytes
    name: str | None  # an address or None: no SNI


def is_ip(name: str | None) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in (name or "") else socket.AF_INET, name or "")
        return True
    except OSError:
        return False


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


def serve_and_capture(chains: Sequence[Served], workdir: Path) -> tuple[Path, list[int], list[str]]:
    """Each chain on its own port (TLS 1.2: certificates in the clear), one client handshake to
    each, all captured into one pcap. Returns the pcap, the ports (in ``chains`` order) and the
    client's failures (a refused handshake is a failure of the test's own set-up)."""
    assert TCPDUMP is not None
    servers = []
    for i, c in enumerate(chains):
        (workdir / f"{i}.pem").write_bytes(c.chain_pem)
        (workdir / f"{i}.key").write_bytes(c.key_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2  # certificates in the clear
        ctx.load_cert_chain(workdir / f"{i}.pem", workdir / f"{i}.key")  # OpenSSL itself loads the chain
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        servers.append((c, sock, ctx))
    ports = [s.getsockname()[1] for _, s, _ in servers]
    pcap = workdir / "lo.pcap"
    dump = subprocess.Popen([TCPDUMP, "-i", "lo", "-U", "-n", "-s", "0", "-B", "8192", "-w", str(pcap),
                             " or ".join(f"tcp port {p}" for p in ports)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stop = threading.Event()
    threads = [threading.Thread(target=_serve, args=(s, ctx, stop), daemon=True) for _, s, ctx in servers]
    listening = threading.Event()
    log: list[str] = []

    def _stderr() -> None:  # tcpdump says "listening on lo" once the filter is attached
        assert dump.stderr is not None
        for line in dump.stderr:
            log.append(line)
            if "listening on" in line:
                listening.set()

    failures: list[str] = []
    try:
        threading.Thread(target=_stderr, daemon=True).start()
        assert listening.wait(15), f"tcpdump did not start: {log}"
        time.sleep(0.2)
        for t in threads:
            t.start()
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        client.maximum_version = ssl.TLSVersion.TLSv1_2
        for (c, _, _), port in zip(servers, ports):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                try:
                    with client.wrap_socket(raw, server_hostname=None if is_ip(c.name) else c.name) as s:
                        s.sendall(b"x")
                except (OSError, ssl.SSLError) as e:
                    failures.append(f"port {port}: {e}")
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
    time.sleep(0.2)
    return pcap, ports, failures
