"""The lab's TLS peers, run inside network namespaces by ``lab.py``.

``python _peers.py serve CONFIG.json``
    Servers (CUCM, IM&P, Unity) on the listeners the config names; prints ``READY`` once all are
    bound, appends one JSON line per connection to the config's report file, runs until SIGTERM.
``python _peers.py connect PLAN.json``
    The Expressway-C traffic server: opens the planned connections, verifies each server against
    the trust store with hostname/IP checking, sends an HTTP GET when the handshake succeeds, and
    prints one JSON document with what its OpenSSL said about every connection.

Both sides record the TLS messages OpenSSL reads and writes (``SSLContext._msg_callback``), so
the lab knows which alerts were sent, whether a CertificateRequest went out and which chain
arrived, from the TLS stacks themselves rather than from a dissector. A listener or connection
that resumes sessions keeps one ``SSLContext`` (OpenSSL's session cache, ticket keys and
``SSLSession`` objects belong to a context); the callback then tells connections apart by socket.
With ``keylog`` set, both sides write their secrets (``SSLContext.keylog_filename``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

TIMEOUT = 6.0
_CT_CCS, _CT_ALERT, _CT_HANDSHAKE = 20, 21, 22
_CT_HEADER = 0x100  # OpenSSL's pseudo content type for a record header (tells what the wire saw)

XMPP_NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"


Event = tuple[str, int, int, str, float]


def _recorder(events: list[Event]) -> Callable[..., None]:
    """A msg_callback that appends (direction, content_type, msg_type, data hex, time)."""

    def callback(conn: Any, direction: str, version: Any, content_type: int, msg_type: int,
                 data: bytes) -> None:  # noqa: ARG001
        ct = int(content_type)
        if ct in (_CT_CCS, _CT_ALERT, _CT_HANDSHAKE, _CT_HEADER):
            events.append((str(direction), ct, int(msg_type), bytes(data).hex(), time.time()))

    return callback


class _Events:
    """One msg_callback for a context shared by several connections: events go to the list
    registered for the socket OpenSSL names."""

    def __init__(self) -> None:
        self.lists: dict[int, list[Event]] = {}
        self.callbacks: dict[int, Callable[..., None]] = {}

    def register(self, sock: ssl.SSLSocket, events: list[Event]) -> None:
        self.lists[id(sock)] = events
        self.callbacks[id(sock)] = _recorder(events)

    def __call__(self, conn: Any, *args: Any) -> None:
        cb = self.callbacks.get(id(conn))
        if cb is not None:
            cb(conn, *args)


def _recv_until(sock: socket.socket | ssl.SSLSocket, marker: bytes, limit: int = 65536) -> bytes:
    """Read until ``marker`` is in the data (or EOF); never reads past what the peer sent."""
    buf = b""
    while marker not in buf and len(buf) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def _tls_version(name: str | None) -> ssl.TLSVersion | None:
    return None if name is None else ssl.TLSVersion[name]


# --------------------------------------------------------------------------------- servers


class _Server:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.report = open(config["report"], "a", encoding="utf-8")  # noqa: SIM115
        self.shared: dict[str, tuple[ssl.SSLContext, _Events]] = {}

    def write(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.report.write(json.dumps(record) + "\n")
            self.report.flush()

    def context(self, spec: dict[str, Any]) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(spec["certfile"], spec["keyfile"])
        if spec.get("max_version"):
            ctx.maximum_version = _tls_version(spec["max_version"])
        if spec.get("client_ca"):
            # CUCM asks for a client certificate but does not insist (CertificateRequest on wire).
            ctx.load_verify_locations(spec["client_ca"])
            ctx.verify_mode = ssl.CERT_OPTIONAL
        if not spec.get("tickets"):
            ctx.options |= ssl.OP_NO_TICKET
        if spec.get("groups"):
            ctx.set_ecdh_curve(spec["groups"])  # the one group it takes: others get an HRR
        if spec.get("keylog"):
            ctx.keylog_filename = spec["keylog"]
        return ctx

    def context_for(self, spec: dict[str, Any], events: list[Event]
                    ) -> tuple[ssl.SSLContext, _Events | None]:
        """A fresh context per connection, or the listener's own when it resumes sessions."""
        if not spec.get("resumption"):
            ctx = self.context(spec)
            ctx._msg_callback = _recorder(events)  # type: ignore[attr-defined]
            return ctx, None
        with self.lock:
            if spec["name"] not in self.shared:
                ctx = self.context(spec)
                dispatch = _Events()
                ctx._msg_callback = dispatch  # type: ignore[attr-defined]
                self.shared[spec["name"]] = (ctx, dispatch)
            return self.shared[spec["name"]]

    def listen(self, spec: dict[str, Any]) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((spec["ip"], spec["port"]))
        sock.listen(16)
        return sock

    def serve(self, spec: dict[str, Any], lsock: socket.socket) -> None:
        while True:
            raw, addr = lsock.accept()
            threading.Thread(target=self.handle, args=(spec, raw, addr), daemon=True).start()

    def handle(self, spec: dict[str, Any], raw: socket.socket, addr: tuple[str, int]) -> None:
        events: list[Event] = []
        ctx, dispatch = self.context_for(spec, events)
        record: dict[str, Any] = {
            "listener": spec["name"], "client": list(addr), "server": [spec["ip"], spec["port"]],
            "handshake_ok": False, "error": None,
        }
        raw.settimeout(TIMEOUT)
        try:
            if spec["app"] == "xmpp":
                _recv_until(raw, b"version='1.0'>")
                raw.sendall(
                    b"<?xml version='1.0'?><stream:stream from='steven.lab' id='2f1d3c' "
                    b"xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                    b"version='1.0'><stream:features><starttls xmlns='" + XMPP_NS_TLS.encode()
                    + b"'><required/></starttls></stream:features>"
                )
                _recv_until(raw, b"/>")
                raw.sendall(b"<proceed xmlns='" + XMPP_NS_TLS.encode() + b"'/>")
            conn = ctx.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
            if dispatch is not None:
                dispatch.register(conn, events)
            try:
                conn.do_handshake()
            except (ssl.SSLError, OSError) as exc:
                record["error"] = f"{type(exc).__name__}: {exc}"
                conn.close()
                return
            record["handshake_ok"] = True
            record["session_reused"] = conn.session_reused
            if spec["app"] == "xmpp":
                _recv_until(conn, b"version='1.0'>")
                conn.sendall(
                    b"<stream:stream from='steven.lab' id='2f1d3d' xmlns='jabber:client' "
                    b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
                    b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                    b"<mechanism>PLAIN</mechanism></mechanisms></stream:features>"
                )
                _recv_until(conn, b"</stream:stream>")
                conn.sendall(b"</stream:stream>")
            else:
                request = _recv_until(conn, b"\r\n\r\n")
                record["request"] = request.split(b"\r\n", 1)[0].decode("latin-1")
                body = spec.get("body", "<ok/>").encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )
            conn.unwrap().close()
        except (ssl.SSLError, OSError) as exc:
            record["error"] = record["error"] or f"after handshake: {type(exc).__name__}: {exc}"
        finally:
            record["events"] = events
            self.write(record)
            raw.close()


def serve(config_path: str) -> None:
    with open(config_path, encoding="utf-8") as fh:
        config = json.load(fh)
    server = _Server(config)
    socks = [(spec, server.listen(spec)) for spec in config["listeners"]]
    for spec, lsock in socks:
        threading.Thread(target=server.serve, args=(spec, lsock), daemon=True).start()

    def stop(signum, frame):  # noqa: ARG001
        server.report.flush()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("READY", flush=True)
    while True:
        time.sleep(3600)


# --------------------------------------------------------------------------------- client


def _client_context(plan: dict[str, Any], item: dict[str, Any]) -> ssl.SSLContext:
    # Expressway-C's traffic server: verify chain and name whatever "TLS verify mode" says.
    ctx = ssl.create_default_context(cafile=plan["truststore"])
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    if not item.get("tickets"):
        ctx.options |= ssl.OP_NO_TICKET
    if item.get("certfile"):  # a client certificate, for a server that asks for one
        ctx.load_cert_chain(item["certfile"], item["keyfile"])
    if plan.get("keylog"):
        ctx.keylog_filename = plan["keylog"]
    return ctx


# Connections that resume share a context (an SSLSession only fits the context that made it).
_GROUPS: dict[str, tuple[ssl.SSLContext, _Events]] = {}
_SESSIONS: dict[str, ssl.SSLSession | None] = {}
_DONE: dict[str, threading.Event] = {}


def _connect_one(plan: dict[str, Any], item: dict[str, Any], t0: float) -> dict[str, Any]:
    if item.get("resume"):  # wait for the connection whose session it offers
        _DONE[item["resume"]].wait(4 * TIMEOUT)
    delay = t0 + item["start_at"] - time.time()
    if delay > 0:
        time.sleep(delay)
    events: list[Event] = []
    group = item.get("session_group")
    dispatch: _Events | None = None
    if group:
        if group not in _GROUPS:
            ctx = _client_context(plan, item)
            dispatch = _Events()
            ctx._msg_callback = dispatch  # type: ignore[attr-defined]
            _GROUPS[group] = (ctx, dispatch)
        ctx, dispatch = _GROUPS[group]
    else:
        ctx = _client_context(plan, item)
        ctx._msg_callback = _recorder(events)  # type: ignore[attr-defined]
    cipher_ids = {c["name"]: c["id"] & 0xFFFF for c in ctx.get_ciphers()}
    res: dict[str, Any] = {"id": item["id"], "ok": False, "error": None,
                           "verify_code": None, "verify_message": None}
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.settimeout(TIMEOUT)
    raw.bind((plan["client_ip"], 0))
    res["client_port"] = raw.getsockname()[1]
    res["t_connect"] = time.time()
    conn: ssl.SSLSocket | None = None
    try:
        raw.connect((item["server_ip"], item["port"]))
        res["t_tcp_up"] = time.time()
        if item["app"] == "xmpp":
            raw.sendall(
                b"<?xml version='1.0'?><stream:stream to='" + item["xmpp_domain"].encode()
                + b"' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                b"version='1.0'>"
            )
            _recv_until(raw, b"</stream:features>")
            raw.sendall(b"<starttls xmlns='" + XMPP_NS_TLS.encode() + b"'/>")
            _recv_until(raw, b"/>")
        session = _SESSIONS.get(item["resume"]) if item.get("resume") else None
        conn = ctx.wrap_socket(raw, server_hostname=item["server_hostname"],
                               do_handshake_on_connect=False, session=session)
        if dispatch is not None:
            dispatch.register(conn, events)
        res["offered_session"] = session is not None
        res["t_hello"] = time.time()
        try:
            conn.do_handshake()
        finally:
            res["t_handshake_end"] = time.time()
            res["version"] = conn.version()
            c = conn.cipher()
            res["cipher_name"] = c[0] if c else None
            res["cipher_id"] = cipher_ids.get(c[0]) if c else None
        res["ok"] = True
        res["session_reused"] = conn.session_reused
        if item["app"] == "xmpp":
            conn.sendall(
                b"<stream:stream to='" + item["xmpp_domain"].encode() + b"' xmlns='jabber:client' "
                b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
            )
            _recv_until(conn, b"</stream:features>")
            res["t_request"] = time.time()
            conn.sendall(b"</stream:stream>")
            _recv_until(conn, b"</stream:stream>")
            res["t_response"] = time.time()
            res["status_line"] = None
        else:
            request = (
                f"GET {item['path']} HTTP/1.1\r\nHost: {item['host_header']}\r\n"
                "User-Agent: TrafficServer/9.1.4\r\nAccept: */*\r\nConnection: close\r\n\r\n"
            )
            res["t_request"] = time.time()
            conn.sendall(request.encode())
            response = _recv_until(conn, b"\r\n\r\n")
            res["t_response"] = time.time()
            res["status_line"] = response.split(b"\r\n", 1)[0].decode("latin-1")
            while conn.recv(4096):  # the body, then the server's close_notify
                pass
        if group:  # TLS 1.3's tickets came after the handshake: the session as it is now
            _SESSIONS[item["id"]] = conn.session
        conn.unwrap()
    except ssl.SSLCertVerificationError as exc:
        res["verify_code"] = exc.verify_code
        res["verify_message"] = exc.verify_message
        res["error"] = f"SSLCertVerificationError: {exc}"
    except (ssl.SSLError, OSError) as exc:
        res["error"] = res["error"] or f"{type(exc).__name__}: {exc}"
    finally:
        (conn or raw).close()
        res["t_closed"] = time.time()
        res["events"] = events
        _DONE[item["id"]].set()
    return res


def connect(plan_path: str) -> None:
    with open(plan_path, encoding="utf-8") as fh:
        plan = json.load(fh)
    t0 = time.time()
    results: list[dict[str, Any] | None] = [None] * len(plan["connections"])
    for item in plan["connections"]:
        _DONE[item["id"]] = threading.Event()

    def run(i: int, item: dict[str, Any]) -> None:
        results[i] = _connect_one(plan, item, t0)

    threads = [threading.Thread(target=run, args=(i, item))
               for i, item in enumerate(plan["connections"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    json.dump(results, sys.stdout)
    sys.stdout.flush()


if __name__ == "__main__":
    {"serve": serve, "connect": connect}[sys.argv[1]](sys.argv[2])
