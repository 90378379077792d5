"""Record the key-log captures: real OpenSSL peers (``openssl s_server`` / ``s_client``) on
loopback, tcpdump on ``lo``, the secrets written by the peers themselves (``-keylogfile``).

    python captures/keylog/record.py [--out DIR]      # as root (tcpdump); about 30 seconds

Writes into DIR (default: this folder):

- ``tls13.pcap`` + ``tls13.keys``: TLS 1.3 with each AEAD OpenSSL has (AES-128-GCM, AES-256-GCM,
  ChaCha20-Poly1305, AES-128-CCM), a client certificate, a KeyUpdate, a self-signed ECDSA
  server on 6972 that asks for a client certificate and is rejected with the client's
  (encrypted) ``unknown_ca``, a HelloRetryRequest, and a resumed connection with 0-RTT data;
- ``tls12.pcap`` + ``tls12.keys``: TLS 1.2 with AES-GCM, AES-CBC (encrypt-then-MAC and
  MAC-then-encrypt), ChaCha20-Poly1305 (encrypted close_notify alerts and Finished), the
  6972 twin (plaintext ``unknown_ca``), and a renegotiation the server turns into a fatal,
  encrypted ``unknown_ca`` alert (the client's certificate is self-signed);
- ``tls13-dsb.pcapng``: ``tls13.pcap`` with ``tls13.keys`` as a Decryption Secrets Block
  (``editcap --inject-secrets``);
- ``ca.pem`` (the trust store of the good servers), ``manifest.json``: for each connection,
  the port, what OpenSSL was asked to do and what it said (``s_client``'s verify result).

Keys, certificates and times are new on every run; the shape is not.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"


def run(*cmd: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)  # type: ignore[call-overload]


def _serial() -> str:
    """A positive serial (RFC 5280): OpenSSL's random ones may encode as negative numbers."""
    return str(int.from_bytes(os.urandom(8), "big") >> 2 | 1)


def make_pki(d: Path) -> None:
    """A CA, an RSA server certificate and a client certificate it signed; a self-signed P-384
    certificate for the 6972 server (CUCM's tomcat-ECDSA)."""
    def sign(name: str, subj: str, ext: str) -> None:
        run("openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / f"{name}.key"),
            "-subj", subj, "-out", str(d / f"{name}.csr"))
        (d / f"{name}.ext").write_text(ext)
        run("openssl", "x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.pem"), "-CAkey",
            str(d / "ca.key"), "-set_serial", _serial(), "-days", "400", "-out", str(d / f"{name}.pem"),
            "-extfile", str(d / f"{name}.ext"))

    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "ca.key"), "-days", "3650",
        "-set_serial", _serial(),
        "-subj", "/C=DE/O=Steven Lab/CN=Steven Lab Root CA", "-out", str(d / "ca.pem"),
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    sign("server", "/C=DE/O=Steven Lab/OU=tomcat/CN=cucm.steven.lab",
         "subjectAltName=DNS:cucm.steven.lab,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    sign("client", "/C=DE/O=Steven Lab/CN=expressway-c.steven.lab",
         "extendedKeyUsage=clientAuth\n")
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp384r1", "-nodes",
        "-keyout", str(d / "ecdsa.key"), "-days", "730", "-set_serial", _serial(), "-subj",
        "/C=DE/O=Steven Lab/OU=tomcat-ECDSA/CN=cucm.steven.lab", "-out", str(d / "ecdsa.pem"),
        "-addext", "subjectAltName=DNS:cucm.steven.lab")


class Peers:
    """One s_server per scenario (killed at the end), s_client runs driven through stdin."""

    def __init__(self, pki: Path, keylog: Path) -> None:
        self.pki = pki
        self.keylog = keylog
        self.servers: list[subprocess.Popen[str]] = []
        self.manifest: list[dict[str, object]] = []

    def server(self, port: int, *args: str, cert: str = "server", www: bool = True) -> subprocess.Popen[str]:
        cmd = ["openssl", "s_server", "-accept", f"{HOST}:{port}", "-cert", str(self.pki / f"{cert}.pem"),
               "-key", str(self.pki / f"{cert}.key"), "-keylogfile", str(self.keylog), *args]
        if www:
            cmd.append("-www")
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             text=True)
        self.servers.append(p)
        _wait_port(port)
        return p

    def client(self, name: str, port: int, *args: str, send: list[tuple[float, str]] | None = None,
               wait: float = 1.0) -> str:
        """``s_client`` to ``port``; ``send``: (delay, text) written to its stdin in turn."""
        cmd = ["openssl", "s_client", "-connect", f"{HOST}:{port}", "-servername", "cucm.steven.lab",
               "-keylogfile", str(self.keylog), *args]
        log = tempfile.TemporaryFile("w+")
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, text=True)
        assert p.stdin is not None
        for delay, text in send or [(0.3, "GET / HTTP/1.0\r\n\r\n")]:
            time.sleep(delay)
            try:
                p.stdin.write(text)
                p.stdin.flush()
            except BrokenPipeError:
                break
        time.sleep(wait)
        try:
            p.stdin.close()
        except BrokenPipeError:
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.seek(0)
        out = log.read()
        log.close()
        verify = next((ln.strip() for ln in out.splitlines() if ln.strip().startswith("Verify return code")), None)
        proto = next((ln.split(":", 1)[1].strip() for ln in out.splitlines()
                      if ln.strip().startswith("Protocol") and ":" in ln), None)
        cipher = next((ln.split("Cipher is", 1)[1].strip() for ln in out.splitlines()
                       if "Cipher is" in ln), None)
        args_shown = [Path(x).name if os.sep in x else x for x in args]
        self.manifest.append({"name": name, "server_port": port, "client_args": args_shown, "protocol": proto,
                              "cipher": cipher, "verify": verify,
                              "early_data": next((ln.strip() for ln in out.splitlines()
                                                  if ln.startswith("Early data")), None)})
        time.sleep(0.2)
        return out

    def stop(self) -> None:
        for p in self.servers:
            p.terminate()
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                p.kill()
        self.servers.clear()


def _wait_port(port: int) -> None:
    import socket

    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"s_server on {port} did not start")


def record(out: Path, name: str, scenario: object, ports: str) -> None:
    """tcpdump on lo while ``scenario(peers)`` runs; writes NAME.pcap, NAME.keys, NAME.json."""
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        keys = t / "keys.log"
        pcap = t / "capture.pcap"
        dump = subprocess.Popen(["tcpdump", "-i", "lo", "-s", "0", "-U", "-n", "-w", str(pcap), ports],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert dump.stderr is not None
        dump.stderr.readline()  # "listening on lo ..."
        time.sleep(0.3)
        peers = Peers(out / "pki", keys)
        try:
            scenario(peers)  # type: ignore[operator]
        finally:
            peers.stop()
            time.sleep(0.5)
            dump.send_signal(signal.SIGINT)
            dump.wait(timeout=5)
        shutil.copy(pcap, out / f"{name}.pcap")
        shutil.copy(keys, out / f"{name}.keys")
        (out / f"{name}.json").write_text(json.dumps(peers.manifest, indent=1) + "\n")


def tls13(peers: Peers) -> None:
    ca = str(peers.pki / "ca.pem")
    common = ("-tls1_3", "-CAfile", ca, "-verify_return_error")
    for port, suite in ((8443, "TLS_AES_128_GCM_SHA256"), (8444, "TLS_AES_256_GCM_SHA384"),
                        (8445, "TLS_CHACHA20_POLY1305_SHA256"), (8446, "TLS_AES_128_CCM_SHA256")):
        peers.server(port, "-ciphersuites", suite)
        peers.client(f"tls13 {suite}", port, *common, "-ciphersuites", suite)
    # A client certificate, and a KeyUpdate ("k") before the request.
    peers.server(8450, "-verify", "1", "-CAfile", ca, www=False)
    peers.client("tls13 client certificate + KeyUpdate", 8450, *common, "-cert", str(peers.pki / "client.pem"),
                 "-key", str(peers.pki / "client.key"),
                 send=[(0.4, "k\n"), (0.3, "hello after key update\n")], wait=0.5)
    # CUCM's TFTP over HTTPS: self-signed ECDSA, CertificateRequest; the client does not know it.
    peers.server(6972, "-verify", "1", "-CAfile", ca, cert="ecdsa")
    peers.client("tls13 6972 self-signed ECDSA, client rejects (unknown_ca)", 6972, *common)
    # HelloRetryRequest: the client's first key share (X25519) is not one the server takes.
    peers.server(8447, "-groups", "P-384")
    peers.client("tls13 HelloRetryRequest", 8447, *common, "-groups", "X25519:P-384")
    # 0-RTT: a first connection for the ticket, a second one resuming it with early data.
    peers.server(8448, "-early_data", "-max_early_data", "16384", www=False)
    with tempfile.TemporaryDirectory() as tmp:
        sess, early = Path(tmp) / "sess.pem", Path(tmp) / "early.txt"
        peers.client("tls13 ticket for 0-RTT", 8448, *common, "-sess_out", str(sess),
                     send=[(0.3, "first\n")], wait=0.5)
        early.write_text("GET /early HTTP/1.0\r\n\r\n")
        peers.client("tls13 0-RTT", 8448, *common, "-sess_in", str(sess), "-early_data", str(early),
                     send=[(0.3, "after early data\n")], wait=0.5)


def tls12(peers: Peers) -> None:
    ca = str(peers.pki / "ca.pem")
    common = ("-tls1_2", "-CAfile", ca, "-verify_return_error")
    for port, suite, extra in ((9443, "ECDHE-RSA-AES128-GCM-SHA256", ()), (9444, "ECDHE-RSA-AES256-SHA384", ()),
                               (9445, "ECDHE-RSA-AES128-SHA", ("-no_etm",)),
                               (9446, "ECDHE-RSA-CHACHA20-POLY1305", ())):
        peers.server(port, "-cipher", suite, *extra)
        peers.client(f"tls12 {suite}{' no EtM' if extra else ''}", port, *common, "-cipher", suite)
    peers.server(6972, "-verify", "1", "-CAfile", ca, cert="ecdsa")
    peers.client("tls12 6972 self-signed ECDSA, client rejects (unknown_ca)", 6972, *common)
    # The server asks for a certificate only in a renegotiation ("R"); the client sends a
    # self-signed one, and the server's fatal unknown_ca travels encrypted under the first keys.
    srv = peers.server(9447, "-CAfile", ca, "-verify_return_error", "-no_resumption_on_reneg", www=False)
    assert srv.stdin is not None

    def renegotiate() -> None:
        time.sleep(0.6)
        srv.stdin.write("R\n")  # type: ignore[union-attr]
        srv.stdin.flush()  # type: ignore[union-attr]

    import threading

    th = threading.Thread(target=renegotiate)
    th.start()
    peers.client("tls12 renegotiation, server rejects the client certificate", 9447, *common,
                 "-cert", str(peers.pki / "ecdsa.pem"), "-key", str(peers.pki / "ecdsa.key"),
                 send=[(0.3, "hello\n"), (0.8, "again\n")], wait=0.8)
    th.join()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE)
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("record.py: needs root (tcpdump)", file=sys.stderr)
        return 2
    for tool in ("openssl", "tcpdump", "editcap"):
        if shutil.which(tool) is None:
            print(f"record.py: {tool} is missing", file=sys.stderr)
            return 2
    out: Path = a.out
    pki = out / "pki"
    if pki.exists():
        shutil.rmtree(pki)
    pki.mkdir(parents=True)
    make_pki(pki)
    record(out, "tls13", tls13, "tcp portrange 8443-8450 or tcp port 6972")
    record(out, "tls12", tls12, "tcp portrange 9443-9447 or tcp port 6972")
    run("editcap", "--inject-secrets", f"tls,{out / 'tls13.keys'}", str(out / "tls13.pcap"),
        str(out / "tls13-dsb.pcapng"))
    shutil.copy(pki / "ca.pem", out / "ca.pem")
    # Keep only what tests need: the CA (trust store). Private keys go.
    shutil.rmtree(pki)
    return 0


if __name__ == "__main__":
    sys.exit(main())
