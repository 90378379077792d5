"""What the pipeline produces: frozen records of TLS connections seen in a capture.

These are the contract between stages: the TLS stage builds them, certificates/ judges their
chains, correlate/ links log events to them and report/ prints them. Certificates are kept as
raw DER (decoded once, on demand, by :mod:`pcaptls.certificates.x509`). The Rust engine
(``pcaptls._core``) sets the fields of ``TlsConnection``, ``Alert``, ``HandshakeEvent`` (and
``Endpoint``, ``Anomaly``) itself rather than calling ``__init__``: these classes take no
``__post_init__``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..tcp.facts import Anomaly, Endpoint, pickled_by_fields
from .constants import alert_name, cipher_name, handshake_name, is_tls13, version_name
from .sealed import Sealed


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Alert:
    """A TLS alert record. ``level``/``code`` are ``None`` when the alert was encrypted."""

    time: float
    frame: int
    sender: str  # "client" | "server"
    level: int | None
    code: int | None
    encrypted: bool = False

    @property
    def description(self) -> str | None:
        return None if self.code is None else alert_name(self.code)

    @property
    def fatal(self) -> bool:
        return self.level == 2


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class HandshakeEvent:
    """One plaintext handshake message (or ChangeCipherSpec, type -1) and when it was seen."""

    time: float
    frame: int
    sender: str
    type: int

    @property
    def name(self) -> str:
        return "ChangeCipherSpec" if self.type == -1 else handshake_name(self.type)


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class TlsConnection:
    """Everything pcaptls learned about one TCP connection that carried TLS."""

    client: Endpoint
    server: Endpoint
    start: float  # first packet of the TCP connection, epoch seconds (UTC)
    end: float  # last packet seen
    first_frame: int  # 1-based frame number of the first packet, as tshark counts
    sni: str | None = None
    client_version: int | None = None  # legacy_version of the ClientHello
    offered_versions: tuple[int, ...] = ()
    offered_ciphers: tuple[int, ...] = ()
    offered_groups: tuple[int, ...] = ()
    offered_sigalgs: tuple[int, ...] = ()
    alpn_offered: tuple[str, ...] = ()
    alpn: str | None = None
    version_id: int | None = None  # negotiated (supported_versions wins over legacy_version)
    cipher_id: int | None = None
    hello_retry: bool = False
    server_certs: tuple[bytes, ...] = ()  # DER, wire order
    client_certs: tuple[bytes, ...] = ()
    certificate_request: bool = False
    kex_group: int | None = None  # named curve from ServerKeyExchange or key_share
    alerts: tuple[Alert, ...] = ()
    handshake: tuple[HandshakeEvent, ...] = ()
    closed_by: str | None = None  # "client" | "server" | None (still open at end of capture)
    close_kind: str | None = None  # "FIN" | "RST"
    starttls: str | None = None  # protocol upgraded from, e.g. "smtp"
    saw_syn: bool = False
    client_hello_seen: bool = False
    server_hello_seen: bool = False
    appdata: tuple[int, int] = (0, 0)  # application-data records (client, server)
    client_appdata_first: float | None = None
    server_appdata_last: float | None = None
    anomalies: tuple[Anomaly, ...] = field(default_factory=tuple)
    # The hellos' raw lists (issue 14), after the fields above so older positional callers hold.
    client_extensions: tuple[int, ...] = ()  # ClientHello extension types, wire order, GREASE kept
    client_point_formats: tuple[int, ...] = ()  # ec_point_formats, wire order
    client_hello_sslv2: bool = False  # the ClientHello was SSLv2-compatible (no extensions, 3-byte suites)
    server_legacy_version: int | None = None  # the ServerHello's own version field (JA3S reads it)
    server_extensions: tuple[int, ...] = ()  # ServerHello extension types, wire order
    session_id_echoed: bool = False  # the ServerHello repeated the ClientHello's non-empty session_id
    ticket_offered: bool = False  # the ClientHello carried a non-empty session_ticket extension
    close_frame: int | None = None  # frame of the first FIN or RST (the close closed_by names)
    close_time: float | None = None  # and its time
    last_frame: int = 0  # frame of the last packet (end)

    @property
    def resumed(self) -> str | None:
        """How an earlier session was resumed: ``"psk"`` (TLS 1.3: the ServerHello accepted a
        pre_shared_key), ``"ticket"`` or ``"session_id"`` (TLS <= 1.2: an abbreviated handshake,
        in which the server goes from ServerHello straight to ChangeCipherSpec); else ``None``.
        A resumed handshake carries no Certificate: there is no chain to judge."""
        if not self.server_hello_seen or self.version_id is None:
            return None
        if self.is_tls13:
            return "psk" if 41 in self.server_extensions else None
        # RFC 5246 7.3 / RFC 5077 3.4: the server echoes the session_id it resumes (and sends
        # no Certificate, ServerKeyExchange or ServerHelloDone); a ticket may come without an ID.
        full = abbreviated = False
        for e in self.handshake:
            if e.sender == "server":
                if e.type in (11, 12, 14):
                    full = True
                elif e.type == -1:
                    abbreviated = True
        if full or not (abbreviated or self.session_id_echoed):
            return None
        return "ticket" if self.ticket_offered else "session_id"

    # Encrypted records kept for a key log (pcaptls.tls.sealed); only while keys are to be
    # tried: the analysis decrypts and drops it before anyone else sees the connection.
    sealed: Sealed | None = None

    @property
    def id(self) -> str:
        return f"{self.client}-{self.server}"

    @property
    def version(self) -> str | None:
        return None if self.version_id is None else version_name(self.version_id)

    @property
    def cipher(self) -> str | None:
        return None if self.cipher_id is None else cipher_name(self.cipher_id)

    @property
    def is_tls13(self) -> bool:
        return is_tls13(self.version_id)

    @property
    def handshake_decrypted(self) -> bool:
        """A TLS 1.3 handshake read with a key log (its EncryptedExtensions was decrypted)."""
        return any(e.type == 8 for e in self.handshake)

    @property
    def fatal_alert(self) -> Alert | None:
        """The first plaintext fatal alert: why a handshake failed, in the peer's own words."""
        for a in self.alerts:  # a loop, not next(genexpr): asked several times for every connection
            if a.level == 2 and not a.encrypted:
                return a
        return None

    @property
    def handshake_done(self) -> bool:
        """Both sides went on to encrypted traffic (TLS <= 1.2: ChangeCipherSpec each way)."""
        if not self.server_hello_seen:
            return False
        appdata = self.appdata
        if is_tls13(self.version_id):
            # The client's first encrypted record is its Finished, or its (encrypted) alert when it
            # rejects the server: success shows as more client data, or the server answering it.
            if appdata[0] >= 2:
                return True
            first, last = self.client_appdata_first, self.server_appdata_last
            return first is not None and last is not None and last > first
        if appdata[0] > 0 and appdata[1] > 0:
            return True
        # ChangeCipherSpec each way (a loop, not a set comprehension: asked several times for
        # every connection).
        ccs = set()
        for e in self.handshake:
            if e.type == -1:
                ccs.add(e.sender)
        return len(ccs) == 2

    @property
    def status(self) -> str:
        """``ok``, ``failed`` (fatal alert, or closed before the handshake ended) or ``incomplete``."""
        if self.fatal_alert is not None:
            return "failed"
        if self.handshake_done:
            return "ok"
        if self.closed_by is not None:
            return "failed"
        return "incomplete"

    @property
    def reason(self) -> str:
        """One line a network engineer can act on."""
        a = self.fatal_alert
        if a is not None:
            return f"{a.sender} sent fatal alert {a.description} ({a.code})"
        if self.handshake_done:
            if self.appdata == (0, 0):
                for late in self.alerts:
                    if late.encrypted:
                        # TLS <= 1.2: the record type shows an alert, its content is encrypted. Before
                        # any application data it may be a fatal one (a Finished that did not verify, say).
                        return (f"handshake completed, then {late.sender} sent an encrypted alert before any "
                                "application data (a key log would show which)")
            return "handshake completed"
        if self.is_tls13 and self.closed_by is not None and self.appdata[0] == 1:
            return (f"{self.closed_by} closed the connection ({self.close_kind}) right after the client's first "
                    "encrypted record: likely a TLS 1.3 alert (certificate rejected?); it is encrypted, not visible")
        if self.closed_by is not None:
            stage = "after ServerHello" if self.server_hello_seen else "before ServerHello"
            return f"{self.closed_by} closed the connection ({self.close_kind}) {stage}, handshake unfinished"
        if not self.client_hello_seen and not self.server_hello_seen:
            return "capture starts after the hellos"
        return "capture ends before the handshake finished"
