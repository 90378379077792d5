"""One TCP connection's TLS conversation: both directions' records -> a :class:`TlsConnection`.

:class:`TlsSession` listens to the two :class:`~pcaptls.tls.records.RecordReader`s of a
connection (side 0 and side 1, in the order the TCP stage first saw them) and collects the
facts. Which side is the client is decided by who sent the ClientHello; failing that (a capture
that starts mid-handshake), by who sent the ServerHello, then by TCP's SYN, then by port.
"""

from __future__ import annotations

from ..errors import MalformedError
from ..tcp.facts import Anomaly, Endpoint
from . import handshake as hs
from .constants import HandshakeType, is_tls13
from .model import Alert, HandshakeEvent, TlsConnection
from .records import IGNORE, RecordReader
from .sealed import SealedLog

MAX_ALERTS = 64  # a hostile peer can send alerts forever; the first ones tell the story
MAX_EVENTS = 256
MAX_ANOMALIES = 32

_STARTTLS_MARKERS = (
    (b"<starttls", "xmpp"),
    (b"STARTTLS", None),  # SMTP, IMAP, NNTP, ...: named by the server's greeting below
    (b"STLS", "pop3"),
    (b"AUTH TLS", "ftp"),
    (b"AUTH SSL", "ftp"),
    (b"1.3.6.1.4.1.1466.20037", "ldap"),
    (b"\x00\x00\x00\x08\x04\xd2\x16\x2f", "postgresql"),
    (b"CONNECT ", "http-connect"),
)


def _starttls_name(client: bytes, server: bytes) -> str:
    for marker, name in _STARTTLS_MARKERS:
        if marker in client:
            if name:
                return name
            if server.startswith(b"* OK") or b"IMAP" in server[:200]:
                return "imap"
            if server.startswith(b"220") or client.upper().startswith((b"EHLO", b"HELO")):
                return "smtp"
            return "starttls"
    if client[:1] in (b"\x04", b"\x05") and server[:1] in (b"\x00", b"\x05"):
        return "socks"
    if len(server) > 5 and server[4] == 10:  # MySQL greeting: protocol version 10 after the header
        return "mysql"
    return "plaintext"


class TlsSession:
    """Collects what both directions of one connection say; builds the result at the end."""

    __slots__ = (
        "readers", "client_side", "tls", "ch", "sh", "certs", "cert_request", "kex_group",
        "alerts", "events", "anomalies", "plain", "hrr", "appdata", "appdata_first", "appdata_last", "ccs", "server_side_hint",
        "sslv2_version", "version13", "alerts_dropped", "events_dropped", "anomalies_dropped", "sealed",
    )

    def __init__(self, midstream: bool = False, sealed: bool = False) -> None:
        self.readers = (RecordReader(0, self, midstream), RecordReader(1, self, midstream))
        # ``sealed``: keys are to be tried later: copy encrypted records (see pcaptls.tls.sealed).
        self.sealed: SealedLog | None = None
        if sealed:
            self.sealed = SealedLog()
            for r in self.readers:
                r.sealer = self.sealed
        self.client_side: int | None = None
        self.server_side_hint: int | None = None
        self.tls = False
        self.ch: hs.ClientHello | None = None
        self.sh: hs.ServerHello | None = None
        self.certs: list[tuple[int, tuple[bytes, ...]]] = []  # (side, chain) in order seen
        self.cert_request = False
        self.kex_group: int | None = None
        # (time, frame, side, ...) as seen; made into Alert/HandshakeEvent once, in build(),
        # when who is the client is known.
        self.alerts: list[tuple[float, int, int, int | None, int | None]] = []
        self.events: list[tuple[float, int, int, int]] = []
        self.anomalies: list[Anomaly] = []
        self.plain: list[bytes] = [b"", b""]
        self.hrr = False
        self.appdata = [0, 0]
        self.appdata_first: list[float | None] = [None, None]
        self.appdata_last: list[float | None] = [None, None]
        self.ccs = [0, 0]
        self.sslv2_version: int | None = None
        self.version13 = False
        self.alerts_dropped = 0  # beyond the caps: counted, reported as one anomaly each in build()
        self.events_dropped = 0
        self.anomalies_dropped = 0

    # -- helpers ---------------------------------------------------------------------------
    def _sender(self, side: int) -> str:
        return "client" if side == self.client_side_resolved() else "server"

    def client_side_resolved(self) -> int:
        if self.client_side is not None:
            return self.client_side
        if self.server_side_hint is not None:
            return 1 - self.server_side_hint
        return 0

    def _event(self, side: int, htype: int, t: float, frame: int) -> None:
        if len(self.events) < MAX_EVENTS:
            self.events.append((t, frame, side, htype))
        else:
            self.events_dropped += 1

    def _anomaly(self, kind: str, detail: str, t: float | None, side: int | None) -> None:
        if len(self.anomalies) < MAX_ANOMALIES:
            self.anomalies.append(Anomaly(kind, detail, t, None if side is None else str(side)))
        else:
            self.anomalies_dropped += 1

    # -- Listener --------------------------------------------------------------------------
    def on_tls_start(self, side: int, offset: int, plaintext: bytes, t: float) -> None:
        self.tls = True
        if plaintext:
            self.plain[side] = plaintext[:4096]

    def on_handshake(self, side: int, htype: int, body: bytes, t: float, frame: int) -> None:
        self._event(side, htype, t, frame)
        try:
            if htype == HandshakeType.CLIENT_HELLO:
                if self.ch is None:
                    self.ch = hs.parse_client_hello(body)
                    self.client_side = side
                    if self.sealed is not None:
                        self.sealed.hello(True, body)
            elif htype == HandshakeType.SERVER_HELLO:
                sh = hs.parse_server_hello(body)
                if self.client_side is None:
                    self.client_side = 1 - side
                if sh.retry_request:
                    self.hrr = True
                    if self.sh is None:
                        self.sh = sh
                    v = sh.version
                    if is_tls13(v):
                        # TLS 1.3 already: a ChangeCipherSpec that follows (middlebox compatibility)
                        # must not make the second ClientHello and the ServerHello look encrypted.
                        self.version13 = True
                        for r in self.readers:
                            r.tls13 = True
                    return
                self.sh = sh
                if self.sealed is not None:
                    self.sealed.hello(False, body)
                v = sh.version
                if is_tls13(v):
                    self.version13 = True
                    for r in self.readers:
                        r.tls13 = True
                    if self.sealed is not None:
                        self.sealed.start13(self.appdata)
            elif htype == HandshakeType.CERTIFICATE:
                chain = hs.parse_certificate(body, self.version13)
                self.certs.append((side, chain))
            elif htype == HandshakeType.CERTIFICATE_REQUEST:
                self.cert_request = True
            elif htype == HandshakeType.SERVER_KEY_EXCHANGE:
                g = hs.parse_server_key_exchange_group(body)
                if g is not None:
                    self.kex_group = g
        except MalformedError as e:
            self._anomaly("malformed", f"{HandshakeType(htype).name if htype in HandshakeType._value2member_map_ else htype}: {e}", t, side)

    def on_sslv2(self, side: int, msg: bytes, t: float, frame: int) -> None:
        if not msg:
            return
        kind = msg[0]
        self._event(side, {1: 1, 4: 2, 2: 16}.get(kind, 100 + kind), t, frame)
        try:
            if kind == 1 and self.ch is None:
                self.ch = hs.parse_sslv2_client_hello(msg)
                self.client_side = side
                if self.ch.legacy_version == 0x0002:
                    self.sslv2_version = 0x0002
            elif kind == 4 and len(msg) >= 11:
                # SERVER-HELLO: hit(1) cert_type(1) version(2) cert_len(2) specs_len(2) id_len(2)
                cert_len = (msg[5] << 8) | msg[6]
                if len(msg) < 11 + cert_len:
                    raise MalformedError("SSLv2 SERVER-HELLO shorter than its certificate")
                if self.client_side is None:
                    self.client_side = 1 - side
                self.sslv2_version = (msg[3] << 8) | msg[4]
                if cert_len:
                    self.certs.append((side, (bytes(msg[11 : 11 + cert_len]),)))
        except MalformedError as e:
            self._anomaly("malformed", f"SSLv2 message: {e}", t, side)

    def on_ccs(self, side: int, t: float, frame: int) -> None:
        self.ccs[side] += 1
        self._event(side, -1, t, frame)
        if self.sealed is not None and not self.version13:
            self.sealed.ccs(side)

    def on_alert(self, side: int, level: int | None, code: int | None, t: float, frame: int) -> None:
        if len(self.alerts) < MAX_ALERTS:
            self.alerts.append((t, frame, side, level, code))
        else:
            self.alerts_dropped += 1

    def on_appdata(self, side: int, t: float, frame: int) -> None:
        self.appdata[side] += 1
        if self.appdata_first[side] is None:
            self.appdata_first[side] = t
        self.appdata_last[side] = t

    def on_anomaly(self, side: int, kind: str, detail: str, t: float | None) -> None:
        self._anomaly(kind, detail, t, side)

    # -- result ----------------------------------------------------------------------------
    @property
    def seen_tls(self) -> bool:
        return self.tls

    def ignoring(self) -> bool:
        """Neither stream is TLS: the flow table stops buffering them."""
        r0, r1 = self.readers
        return r0.state == IGNORE and r1.state == IGNORE

    def build(
        self,
        ends: tuple[Endpoint, Endpoint],
        start: float,
        end: float,
        first_frame: int,
        syn_side: int | None,
        close: tuple[int, str, int, float] | None,
        tcp_anomalies: list[Anomaly],
        last_frame: int = 0,
    ) -> TlsConnection | None:
        """The finished record, or ``None`` when the connection carried no TLS; ``ends`` are
        side 0 and side 1's endpoints."""
        if not self.tls or not (self.events or self.alerts or self.certs):
            return None
        if self.client_side is None and self.server_side_hint is None:
            if syn_side is not None:
                self.client_side = syn_side
            elif ends[0].port != ends[1].port:
                # Without hellos or SYN: the lower (usually well-known) port is the server's.
                self.client_side = 0 if ends[0].port > ends[1].port else 1
        cs = self.client_side_resolved()
        name = ("client", "server") if cs == 0 else ("server", "client")
        server_certs: tuple[bytes, ...] = ()
        client_certs: tuple[bytes, ...] = ()
        for side, chain in self.certs:
            if side == cs:
                client_certs = client_certs or chain
            else:
                server_certs = server_certs or chain
        ch, sh = self.ch, self.sh
        version = None
        cipher = None
        if sh is not None:  # a lone HelloRetryRequest still names the version and suite
            version = sh.version
            cipher = sh.cipher
        if self.sslv2_version is not None and (sh is None):
            version = self.sslv2_version
        alerts = tuple(
            Alert(t, frame, name[side], level, code, code is None) for t, frame, side, level, code in self.alerts
        )
        events = tuple([HandshakeEvent(t, frame, name[side], htype) for t, frame, side, htype in self.events])
        anomalies = tuple(
            Anomaly(a.kind, a.detail, a.time, None if a.sender is None or a.sender not in "01" else name[int(a.sender)])
            for a in (*tcp_anomalies, *self.anomalies)
        ) + tuple(
            Anomaly("cap", f"{n} more {what} not kept (first {cap} kept)")
            for n, what, cap in ((self.alerts_dropped, "alerts", MAX_ALERTS),
                                 (self.events_dropped, "handshake messages", MAX_EVENTS),
                                 (self.anomalies_dropped, "anomalies", MAX_ANOMALIES))
            if n
        )
        plain_c, plain_s = self.plain[cs], self.plain[1 - cs]
        starttls = _starttls_name(plain_c, plain_s) if (plain_c or plain_s) else None
        return TlsConnection(
            client=ends[cs],
            server=ends[1 - cs],
            start=start,
            end=end,
            first_frame=first_frame,
            sni=ch.sni if ch else None,
            client_version=ch.legacy_version if ch else None,
            offered_versions=ch.versions if ch else (),
            offered_ciphers=ch.ciphers if ch else (),
            offered_groups=ch.groups if ch else (),
            offered_sigalgs=ch.sigalgs if ch else (),
            alpn_offered=ch.alpn if ch else (),
            alpn=sh.alpn if sh else None,
            version_id=version,
            cipher_id=cipher,
            hello_retry=self.hrr,
            server_certs=server_certs,
            client_certs=client_certs,
            certificate_request=self.cert_request,
            kex_group=self.kex_group if self.kex_group is not None else (sh.key_share_group if sh else None),
            alerts=alerts,
            handshake=events,
            closed_by=None if close is None else name[close[0]],
            close_kind=None if close is None else close[1],
            starttls=starttls,
            saw_syn=syn_side is not None,
            client_hello_seen=ch is not None,
            server_hello_seen=sh is not None or self.sslv2_version is not None,
            appdata=(self.appdata[cs], self.appdata[1 - cs]),
            client_appdata_first=self.appdata_first[cs],
            server_appdata_last=self.appdata_last[1 - cs],
            anomalies=anomalies,
            client_extensions=ch.extensions if ch else (),
            client_point_formats=ch.point_formats if ch else (),
            client_hello_sslv2=ch.sslv2 if ch else False,
            server_legacy_version=sh.legacy_version if sh else None,
            server_extensions=sh.extensions if sh else (),
            session_id_echoed=bool(ch and sh and ch.session_id and ch.session_id == sh.session_id),
            ticket_offered=ch.ticket if ch else False,
            close_frame=None if close is None else close[2],
            close_time=None if close is None else close[3],
            last_frame=last_frame,
            **({} if self.sealed is None else {"sealed": self.sealed.result(cs, name)}),
        )
