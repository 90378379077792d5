"""Record resumed TLS sessions on loopback: TLS 1.2 by session ID, TLS 1.2 by ticket, TLS 1.3 by PSK.

Each capture holds two connections of one client to one server (Python ``ssl`` on OpenSSL 3):
a full handshake, then one that offers the first's session. What OpenSSL said of the second
(``SSLSocket.session_reused``) goes into ``resumption/resumption.json`` (not ``manifest.json``: that name marks the lab scenarios); ``tests/tls/test_resumption.py``
holds pcaptls to it. Regenerate (as root: tcpdump on ``lo``; a few seconds):

    .venv/bin/python captures/resumption.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> (port, TLS version, server sends tickets)
CASES = {
    "tls12-session-id": (44301, ssl.TLSVersion.TLSv1_2, False),
    "tls12-ticket": (44302, ssl.TLSVersion.TLSv1_2, True),
    "tls13-psk": (44303, ssl.TLSVersion.TLSv1_3, True),
}


def _cert(d: Path) -> tuple[Path, Path]:
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=resume.lab", "-addext", "subjectAltName=DNS:resume.lab", "-days", "30",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def _serve(sock: socket.socket, ctx: ssl.SSLContext, n: int) -> None:
    for _ in range(n):
        conn, _ = sock.accept()
        with ctx.wrap_socket(conn, server_side=True) as s:
            s.sendall(s.recv(64))  # the client reads this, and with it TLS 1.3's NewSessionTicket
            s.recv(64)  # the client's close_notify
            s.unwrap()  # and ours: a session is cached only after a clean shutdown


def record(name: str, out: Path, cert: Path, key: Path) -> list[dict[str, object]]:
    port, version, tickets = CASES[name]
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    sctx.minimum_version = sctx.maximum_version = version
    if not tickets:
        sctx.options |= ssl.OP_NO_TICKET  # resumption by the server's session cache (session ID)
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.load_verify_locations(cert)
    cctx.maximum_version = version
    pcap = out / f"{name}.pcap"
    dump = subprocess.Popen(["tcpdump", "-Z", "root", "-i", "lo", "--immediate-mode", "-U", "-w", str(pcap), f"tcp port {port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert dump.stderr is not None
        if "listening" not in dump.stderr.readline():
            raise RuntimeError("tcpdump did not start")
        time.sleep(0.5)  # "listening" comes before the capture ring takes packets
        srv = socket.create_server(("127.0.0.1", port))
        t = threading.Thread(target=_serve, args=(srv, sctx, 2), daemon=True)
        t.start()
        session = None
        conns: list[dict[str, object]] = []
        for _ in range(2):
            with socket.create_connection(("127.0.0.1", port)) as raw:
                with cctx.wrap_socket(raw, server_hostname="resume.lab", session=session) as s:
                    s.sendall(b"ping")
                    s.recv(64)
                    conns.append({"client_port": s.getsockname()[1], "session_reused": s.session_reused,
                                  "version": s.version()})
                    session = s.session
                    s.unwrap()
            time.sleep(0.05)
        t.join(5)
        srv.close()
        time.sleep(1.0)  # let tcpdump write the last packets
    finally:
        dump.terminate()
        dump.wait(5)
    return conns


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "resumption")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = {}
    with tempfile.TemporaryDirectory() as d:
        cert, key = _cert(Path(d))
        for name in CASES:
            manifest[name] = record(name, args.out, cert, key)
            print(name, manifest[name], file=sys.stderr)
    (args.out / "resumption.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
