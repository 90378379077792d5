"""What the log stage produces: one frozen :class:`LogEvent` per log record, and a summary.

The line parser (:mod:`pcaptls.logs.parser`) builds these; correlation and reports read them.
Every event keeps the text it was made from (``text``) next to the decoded fields, so a report
can always quote the log line as the user will find it in the file.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

_EMPTY: Mapping[str, str] = MappingProxyType({})
_NO_COUNTS: Mapping[str, int] = MappingProxyType({})


class EventKind(enum.Enum):
    """What a log record says, as far as TLS troubleshooting cares."""

    REQUEST = "request"  # traffic_server Receive/Sending Request
    RESPONSE = "response"  # traffic_server Receive/Sending Response (not a 502)
    CERT_VERIFY_FAILED = "cert_verify_failed"  # "Core server certificate verification failed"
    SNI_NOT_IN_CERT = "sni_not_in_cert"  # "SNI (x) not in certificate"
    HOSTNAME_VERIFY_FAILED = "hostname_verify_failed"  # older traffic servers
    IP_VERIFY_FAILED = "ip_verify_failed"
    SSL_CONNECTION_FAILED = "ssl_connection_failed"  # "SSL connection failed for 'x'"
    ALERT_RECEIVED = "alert_received"  # the peer sent the alert (e.g. it rejected our client cert)
    CONNECT_FAILED_502 = "connect_failed_502"  # "HTTP/1.1 502 connect failed" to the client
    EVENT = "event"  # Event="..." event-log records
    OTHER = "other"

    def __str__(self) -> str:
        return self.value

    @property
    def is_failure(self) -> bool:
        """True for the records that say a TLS handshake to a server failed."""
        return self in _FAILURES


_FAILURES = frozenset(
    {
        EventKind.CERT_VERIFY_FAILED,
        EventKind.SNI_NOT_IN_CERT,
        EventKind.HOSTNAME_VERIFY_FAILED,
        EventKind.IP_VERIFY_FAILED,
        EventKind.SSL_CONNECTION_FAILED,
        EventKind.ALERT_RECEIVED,
    }
)


@dataclass(frozen=True, slots=True)
class ProxyTarget:
    """The target Expressway-C encodes in base64 in proxied MRA URLs: domain/protocol/host/port."""

    domain: str
    protocol: str
    host: str
    port: int
    encoded: str  # the base64 segment as found (without padding)


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One log record (an ``HTTPMSG:`` block counts as part of the record before it).

    ``time`` is aware UTC. ``server_*`` name the server the record is about, when it names one
    (directly, or through the transaction it belongs to: a traffic_server WARNING names the host
    but not the port, the request of the same transaction does). ``error`` is the verification or
    SSL error text as logged, ``error_code`` the OpenSSL ``X509_V_ERR_*`` name without prefix when
    the text is one OpenSSL writes; ``alert`` the TLS alert description (``unknown_ca``) of an
    alert the peer sent.
    """

    time: datetime
    local_time: str  # the timestamp as written in the line
    source: str
    line_no: int  # 1-based line of the record's first line in its source
    kind: EventKind
    message: str  # what a user should read
    text: str  # the record as found (capped), continuation lines joined with "\n"
    host: str | None = None
    process: str | None = None
    pid: int | None = None
    level: str | None = None
    thread: str | None = None  # traffic_server's "[ET_NET 0]": its WARNING and ERROR share it
    fields: Mapping[str, str] = field(default_factory=lambda: _EMPTY, hash=False)
    server_name: str | None = None
    server_ip: str | None = None
    server_port: int | None = None
    target: ProxyTarget | None = None
    error: str | None = None
    error_code: str | None = None
    alert: str | None = None
    depth: int | None = None
    txn_id: str | None = None
    tracking_id: str | None = None
    transaction: str | None = None  # key shared by the records of one proxied request

    @property
    def timestamp(self) -> float:
        """Epoch seconds (UTC), the clock the capture side uses."""
        return self.time.timestamp()

    @property
    def names_server(self) -> bool:
        return self.server_ip is not None or self.server_name is not None

    @property
    def server(self) -> str:
        """``name(ip):port`` as far as known, for display."""
        s = self.server_name or self.server_ip or ""
        if self.server_name and self.server_ip and self.server_name != self.server_ip:
            s = f"{self.server_name}({self.server_ip})"
        if self.server_port is not None:
            s = f"{s}:{self.server_port}"
        return s


@dataclass(frozen=True, slots=True)
class ParseSummary:
    """How reading went: every line is either part of an event or skipped for a counted reason."""

    lines: int
    events: int
    skipped: int
    reasons: Mapping[str, int] = field(default_factory=lambda: _NO_COUNTS, hash=False)  # reason -> lines
    cut_lines: int = 0  # lines longer than the cap, kept only up to the cap
    problems: tuple[str, ...] = ()  # files or members that could not be read completely

    def __add__(self, other: ParseSummary) -> ParseSummary:
        reasons = dict(self.reasons)
        for k, v in other.reasons.items():
            reasons[k] = reasons.get(k, 0) + v
        return ParseSummary(
            lines=self.lines + other.lines,
            events=self.events + other.events,
            skipped=self.skipped + other.skipped,
            reasons=MappingProxyType(reasons),
            cut_lines=self.cut_lines + other.cut_lines,
            problems=self.problems + other.problems,
        )


EMPTY_SUMMARY = ParseSummary(0, 0, 0)
