"""Decoders for what Cisco Expressway writes into its diagnostic log (see DOMAIN.md).

Pure functions on one record's text: the ``key="value"`` fields, the traffic_server
``[ET_NET n] WARNING:``/``ERROR:`` sentences, the base64 proxy target of MRA URLs and the
OpenSSL error wording. :mod:`pcaptls.logs.parser` combines them into events.
"""

from __future__ import annotations

import binascii
import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

from .events import EventKind, ProxyTarget

# Syslog-style prefix of every Expressway line: local time with offset, host, process[pid]:
PREFIX = re.compile(
    r"(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?)\s+"
    r"(?P<host>[^\s:\[\]]+)\s+(?P<proc>[^\s\[\]:]+)(?:\[(?P<pid>\d{1,10})\])?:\s?(?P<rest>.*)",
    re.S | re.A
)
# The same line as a syslog server stores it: "Jul 11 18:55:26 vcsc traffic_server[18242]: ..."
# (BSD syslog, RFC 3164: no year, no offset; optional "<PRI>").
BSD_PREFIX = re.compile(
    r"(?:<\d{1,3}>)?(?P<ts>(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}(?P<day>\d{1,2}) "
    r"(?P<hms>\d\d:\d\d:\d\d)(?:\.(?P<f>\d{1,6}))?)\s+"
    r"(?P<host>[^\s:\[\]]+)\s+(?P<proc>[^\s\[\]:]+)(?:\[(?P<pid>\d{1,10})\])?:\s?(?P<rest>.*)",
    re.S | re.A,
)
MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
FIELD = re.compile(r'(?<![\w.-])(?P<k>[A-Za-z][\w.-]{0,63})="(?P<v>[^"]*)"', re.A)
# traffic_server free text: "[ET_NET 0] WARNING: ..." (also "[ET_TASK 1]", "[SSL_HANDSHAKE]"...)
TS_LEVEL = re.compile(r"\[(?P<thread>[A-Za-z_]+(?: \d+)?)\]\s+(?P<level>[A-Z]+):\s?(?P<msg>.*)", re.S | re.A)

_VERIFY_FAILED = re.compile(r"certificate verification failed for \((?P<name>[^)]*)\)", re.I | re.A)
_SNI = re.compile(r"\bSNI \((?P<name>[^)]*)\) not in certificate", re.I | re.A)
_HOSTNAME = re.compile(r"Hostname verification failed for \((?P<name>[^)]*)\)", re.I | re.A)
_IPVERIFY = re.compile(r"\bIP verification failed for \((?P<name>[^)]*)\)", re.I | re.A)
_SSL_FAILED = re.compile(
    r"SSL connection failed for '(?P<name>[^']*)'\s*:?\s*(?P<reason>.*)", re.I | re.S | re.A
)
_SERVER = re.compile(r"\bserver=(?P<name>[^\s(]+)(?:\((?P<ip>[^)\s]*)\))?", re.A)
_ERROR = re.compile(r"\bError=(?P<err>.*?)(?=\s+\w+=|$)", re.S | re.A)
_DEPTH = re.compile(r"\bdepth=(?P<d>\d{1,4})\b", re.A)
# OpenSSL 1.x "error:1416F086:SSL routines:tls_process_server_certificate:certificate verify failed",
# 3.x "error:0A000086:SSL routines::certificate verify failed"; the reason is the last field.
_OPENSSL_REASON = re.compile(r"error:[0-9A-Fa-f]{1,8}:[^:]*:[^:]*:(?P<reason>[^:\n]+)", re.A)
_ALERT = re.compile(r"\b(?:tlsv1[0-3]?|sslv3|ssl/tls) alert (?P<alert>[a-z ]+?)\s*$", re.I | re.A)
_STATUS = re.compile(r"^HTTP/\d(?:\.\d)?\s+(?P<code>\d{3})", re.A)

# OpenSSL X509_verify_cert_error_string() texts -> X509_V_ERR_* names. 1.x and 3.x differ only in
# "self signed" / "self-signed"; the hyphen is normalised away before the lookup.
_X509_ERRORS: dict[str, str] = {
    "ok": "OK",
    "unspecified certificate verification error": "UNSPECIFIED",
    "unable to get issuer certificate": "UNABLE_TO_GET_ISSUER_CERT",
    "unable to get certificate crl": "UNABLE_TO_GET_CRL",
    "unable to decrypt certificate's signature": "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
    "unable to decode issuer public key": "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
    "certificate signature failure": "CERT_SIGNATURE_FAILURE",
    "crl signature failure": "CRL_SIGNATURE_FAILURE",
    "certificate is not yet valid": "CERT_NOT_YET_VALID",
    "certificate has expired": "CERT_HAS_EXPIRED",
    "crl is not yet valid": "CRL_NOT_YET_VALID",
    "crl has expired": "CRL_HAS_EXPIRED",
    "format error in certificate's notbefore field": "ERROR_IN_CERT_NOT_BEFORE_FIELD",
    "format error in certificate's notafter field": "ERROR_IN_CERT_NOT_AFTER_FIELD",
    "self signed certificate": "DEPTH_ZERO_SELF_SIGNED_CERT",
    "self signed certificate in certificate chain": "SELF_SIGNED_CERT_IN_CHAIN",
    "unable to get local issuer certificate": "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
    "unable to verify the first certificate": "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    "certificate chain too long": "CERT_CHAIN_TOO_LONG",
    "certificate revoked": "CERT_REVOKED",
    "invalid ca certificate": "INVALID_CA",
    "invalid non-ca certificate (has ca markings)": "INVALID_NON_CA",
    "path length constraint exceeded": "PATH_LENGTH_EXCEEDED",
    "unsupported certificate purpose": "INVALID_PURPOSE",
    "certificate not trusted": "CERT_UNTRUSTED",
    "certificate rejected": "CERT_REJECTED",
    "subject issuer mismatch": "SUBJECT_ISSUER_MISMATCH",
    "authority and subject key identifier mismatch": "AKID_SKID_MISMATCH",
    "authority and issuer serial number mismatch": "AKID_ISSUER_SERIAL_MISMATCH",
    "key usage does not include certificate signing": "KEYUSAGE_NO_CERTSIGN",
    "hostname mismatch": "HOSTNAME_MISMATCH",
    "email address mismatch": "EMAIL_MISMATCH",
    "ip address mismatch": "IP_ADDRESS_MISMATCH",
    "ee certificate key too weak": "EE_KEY_TOO_SMALL",
    "ca certificate key too weak": "CA_KEY_TOO_SMALL",
    "ca signature digest algorithm too weak": "CA_MD_TOO_WEAK",
    "ca cert does not include key usage extension": "CA_CERT_MISSING_KEY_USAGE",
    "missing authority key identifier": "MISSING_AUTHORITY_KEY_IDENTIFIER",
    "missing subject key identifier": "MISSING_SUBJECT_KEY_IDENTIFIER",
    "certificate is not yet valid (notbefore)": "CERT_NOT_YET_VALID",
}


def fields(text: str) -> dict[str, str]:
    """All ``key="value"`` pairs of a record, first occurrence wins (values are not unescaped)."""
    # reversed: dict() keeps the last of duplicate keys, the log's first is the one that counts.
    return dict(reversed(FIELD.findall(text)))


def x509_error_code(text: str) -> str | None:
    """``X509_V_ERR`` name (without prefix) for an OpenSSL verification error text, else ``None``."""
    key = " ".join(text.strip().lower().replace("self-signed", "self signed").split())
    return _X509_ERRORS.get(key.rstrip("."))


def alert_description(text: str) -> str | None:
    """``unknown_ca`` for an OpenSSL reason like ``tlsv1 alert unknown ca``, else ``None``."""
    m = _ALERT.search(text)
    if m is None:
        return None
    # OpenSSL's words are the RFC names with spaces ("unknown ca", "bad certificate", ...).
    return "_".join(m.group("alert").lower().split())


def split_host_ip(name: str, ip: str | None = None) -> tuple[str | None, str | None]:
    """``(server_name, server_ip)`` from a name that may itself be an IP address."""
    name = name.strip().strip("[]")
    ip = ip.strip().strip("[]") if ip else None
    if ip and not is_ip(ip):
        ip = None
    if not name:
        return None, ip
    if is_ip(name):
        return None, ip or name
    return name.lower(), ip


@lru_cache(maxsize=4096)
def is_ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


def parse_port(s: str | None) -> int | None:
    if s is None:
        return None
    s = s.strip()
    if not (s.isascii() and s.isdigit()) or len(s) > 5:
        return None
    p = int(s)
    return p if 0 < p < 65536 else None


@dataclass(frozen=True, slots=True)
class TrafficServerLine:
    """The meaning of a traffic_server free-text WARNING/ERROR sentence."""

    kind: EventKind
    server_name: str | None = None
    server_ip: str | None = None
    error: str | None = None
    error_code: str | None = None
    alert: str | None = None
    depth: int | None = None


def traffic_server_message(msg: str) -> TrafficServerLine:
    """Classify a traffic_server message and pull out the server, error text and depth.

    When there is no SNI the name in brackets is the peer's IP address; ``server=host(ip)``, when
    present, is the better source of both.
    """
    kind = EventKind.OTHER
    name: str | None = None
    error: str | None = None
    if (m := _VERIFY_FAILED.search(msg)) is not None:
        kind, name = EventKind.CERT_VERIFY_FAILED, m.group("name")
    elif (m := _SNI.search(msg)) is not None:
        kind, name = EventKind.SNI_NOT_IN_CERT, m.group("name")
    elif (m := _HOSTNAME.search(msg)) is not None:
        kind, name = EventKind.HOSTNAME_VERIFY_FAILED, m.group("name")
    elif (m := _IPVERIFY.search(msg)) is not None:
        kind, name = EventKind.IP_VERIFY_FAILED, m.group("name")
    elif (m := _SSL_FAILED.search(msg)) is not None:
        name = m.group("name")
        reason = m.group("reason").strip()
        r = _OPENSSL_REASON.search(reason)
        error = (r.group("reason") if r else reason).strip() or None
        alert = alert_description(error) if error else None
        kind = EventKind.ALERT_RECEIVED if alert else EventKind.SSL_CONNECTION_FAILED
        sname, sip = split_host_ip(name)
        return TrafficServerLine(kind, sname, sip, error, None, alert, None)
    if kind is EventKind.OTHER:
        return TrafficServerLine(kind)
    ip: str | None = None
    if (s := _SERVER.search(msg)) is not None:
        # server=host(ip) names both; the bracketed name above may be an SNI or an IP.
        sname, sip = split_host_ip(s.group("name"), s.group("ip"))
        bname, bip = split_host_ip(name or "")
        name, ip = sname or bname, sip or bip
    else:
        name, ip = split_host_ip(name or "")
    if (e := _ERROR.search(msg)) is not None:
        error = e.group("err").strip() or None
    d = _DEPTH.search(msg)
    depth = int(d.group("d")) if d else None
    code = x509_error_code(error) if error else None
    if code == "DEPTH_ZERO_SELF_SIGNED_CERT" and depth:
        # "self signed certificate" about a certificate above the leaf: a self-signed root
        # that is not trusted, which OpenSSL itself reports as SELF_SIGNED_CERT_IN_CHAIN.
        code = "SELF_SIGNED_CERT_IN_CHAIN"
    if kind is EventKind.HOSTNAME_VERIFY_FAILED and code is None:
        code = "HOSTNAME_MISMATCH"
    elif kind is EventKind.IP_VERIFY_FAILED and code is None:
        code = "IP_ADDRESS_MISMATCH"
    elif kind is EventKind.SNI_NOT_IN_CERT and code is None:
        code = "IP_ADDRESS_MISMATCH" if (ip and name is None) else "HOSTNAME_MISMATCH"
    return TrafficServerLine(kind, name, ip, error, code, None, depth)


# One path segment of base64 (standard or URL-safe alphabet). An ASCII domain/proto/host/port
# never encodes to "/" (that needs a "?" or DEL in the text), so the segment never spans "/".
_B64_SEG = re.compile(r"(?<![A-Za-z0-9+_=-])[A-Za-z0-9+_-]{16,}={0,2}(?![A-Za-z0-9+_=-])", re.A)
_TARGET = re.compile(
    r"(?P<domain>[A-Za-z0-9._-]{1,253})/(?P<proto>[a-z][a-z0-9+.-]{0,15})/"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._:-]{1,253})/(?P<port>\d{1,5})", re.A
)
_MAX_B64_TRIES = 32  # per text: a hostile URL of many long segments costs bounded time


def _b64decode(seg: str) -> str | None:
    s = seg.rstrip("=")
    if len(s) % 4 == 1:
        return None
    s += "=" * (-len(s) % 4)
    try:
        raw = binascii.a2b_base64(s.replace("-", "+").replace("_", "/").encode("ascii"), strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        return None


def proxy_target(text: str) -> ProxyTarget | None:
    """Find and decode the base64 ``domain/protocol/host/port`` segment of an MRA proxy URL.

    Every base64-looking segment is tried (padding optional, either alphabet) until one decodes
    to that shape; ``None`` if none does.
    """
    if "/" not in text:
        return None
    for tries, m in enumerate(_B64_SEG.finditer(text)):
        if tries >= _MAX_B64_TRIES:
            break
        seg = m.group()
        dec = _b64decode(seg)
        if dec is None:
            continue
        t = _TARGET.fullmatch(dec)
        if t is None:
            continue
        port = parse_port(t.group("port"))
        if port is None:
            continue
        return ProxyTarget(
            domain=t.group("domain").lower(), protocol=t.group("proto"),
            host=t.group("host").strip("[]").lower(), port=port, encoded=seg.rstrip("="),
        )
    return None


def http_status(msg: str) -> int | None:
    m = _STATUS.match(msg.strip())
    return int(m.group("code")) if m else None
