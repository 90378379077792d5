"""Does a certificate match a host name or IP address: OpenSSL's check (``X509_check_host``,
``X509_check_ip``) and Apache Traffic Server's own, which Expressway's traffic server runs."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.x509.oid import NameOID

from .facts import facts_of

if TYPE_CHECKING:
    pass

# Names (crypto/x509/v3_utl.c: do_x509_check, equal_wildcard, valid_star, wildcard_match)


def alnum(c: int) -> bool:
    return 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122


def ascii_lower(b: bytes) -> bytes:
    return bytes(c + 32 if 65 <= c <= 90 else c for c in b)


def _equal_nocase(pattern: bytes, subject: bytes, dot_subdomains: bool) -> bool:
    if dot_subdomains:  # skip_prefix(): ".example.com" matches any name ending in it
        p = pattern
        while len(p) > len(subject) and p[:1] != b"\x00":
            p = p[1:]
        if len(p) == len(subject):
            pattern = p
    if len(pattern) != len(subject) or b"\x00" in pattern:
        return False
    return ascii_lower(pattern) == ascii_lower(subject)


def _valid_star(p: bytes) -> int | None:
    """Index of the one legal wildcard in ``p``, or ``None`` (then ``p`` matches literally)."""
    star = None
    start, hyphen, idna = True, False, False
    dots = 0
    n = len(p)
    for i, c in enumerate(p):
        if c == 0x2A:  # '*'
            atstart = start
            atend = i == n - 1 or p[i + 1] == 0x2E
            if star is not None or idna or dots:
                return None
            if not atstart and not atend:
                return None
            star = i
            start = False
        elif alnum(c):
            if start and n - i >= 4 and ascii_lower(p[i : i + 4]) == b"xn--":
                idna = True
            start = hyphen = False
        elif c == 0x2E:  # '.'
            if hyphen or start:
                return None
            start, hyphen, idna = True, False, False
            dots += 1
        elif c == 0x2D:  # '-'
            if start:
                return None
            hyphen = True
        else:
            return None
    if start or hyphen or dots < 2:
        return None
    return star


def _wildcard_match(prefix: bytes, suffix: bytes, subject: bytes) -> bool:
    if len(subject) < len(prefix) + len(suffix):
        return False
    if not _equal_nocase(prefix, subject[: len(prefix)], False):
        return False
    ws, we = len(prefix), len(subject) - len(suffix)
    if not _equal_nocase(subject[we:], suffix, False):
        return False
    allow_idna = False
    if not prefix and suffix[:1] == b".":
        if ws == we:  # a whole-label wildcard matches at least one character
            return False
        allow_idna = True
    if not allow_idna and len(subject) >= 4 and ascii_lower(subject[:4]) == b"xn--":
        return False
    if we == ws + 1 and subject[ws] == 0x2A:
        return True
    return all(alnum(c) or c == 0x2D for c in subject[ws:we])


def _equal_wildcard(pattern: bytes, subject: bytes, dot_subdomains: bool) -> bool:
    star = None
    if not (len(subject) > 1 and subject[:1] == b"."):
        star = _valid_star(pattern)
    if star is None:
        return _equal_nocase(pattern, subject, dot_subdomains)
    return _wildcard_match(pattern[:star], pattern[star + 1 :], subject)


def host_matches(der: bytes, host: str) -> bool:
    """X509_check_host() with OpenSSL's default flags (wildcards, partial wildcards allowed).

    DNS SAN entries only; the subject CN(s) only when the certificate has no DNS SAN.
    """
    chk = host.encode("utf-8", "surrogateescape")
    if chk.endswith(b"\x00") and len(chk) > 1:
        chk = chk[:-1]
    if not chk or b"\x00" in chk:
        return False
    dot = len(chk) > 1 and chk[:1] == b"."
    cert = facts_of(der).cert
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [_raw_dns(g) for g in san if isinstance(g, x509.DNSName)]
    except Exception:  # absent, or undecodable (OpenSSL then ignores it too)
        dns = None
    if dns:
        return any(d and _equal_wildcard(d, chk, dot) for d in dns)
    try:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except Exception:
        return False
    for a in cns:
        v = a.value if isinstance(a.value, str) else a.value.decode("latin-1")
        if v and _equal_wildcard(v.encode("utf-8"), chk, dot):
            return True
    return False


def _raw_dns(g: x509.DNSName) -> bytes:
    v = g.value
    try:
        return v.encode("ascii")
    except UnicodeEncodeError:
        return v.encode("utf-8")


def ip_matches(der: bytes, ip: str) -> bool:
    """X509_check_ip(): an iPAddress SAN entry equal to ``ip`` (the CN is never consulted)."""
    want = ipaddress.ip_address(ip).packed
    try:
        san = facts_of(der).cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        ips = san.get_values_for_type(x509.IPAddress)
    except Exception:
        return False
    return any(getattr(a, "packed", None) == want for a in ips)


# Apache Traffic Server's own name check (X509HostnameValidator.cc, validate_hostname), which
# Expressway's traffic server runs from its verify callback at depth 0 instead of OpenSSL's.


def _ats_wildcard(p: bytes, idna_subject: bool) -> int | None:
    """find_wildcard_in_hostname(): a '*' starting or ending the first of at least three labels."""
    n = len(p)
    if n < 5:
        return None
    final_dot = 0
    for i in range(n - 2, 1, -1):
        if p[i] == 0x2E:
            final_dot = i
            break
    if final_dot < 3:
        return None
    pos = -1
    for i in range(final_dot):
        if p[i] == 0x2A:
            if pos != -1:
                return None
            if i == 0 or (i < final_dot - 1 and p[i + 1] == 0x2E):
                if idna_subject and (i != 0 or p[i + 1] != 0x2E):
                    return None
                pos = i
            else:
                return None
        if p[i] == 0x2E:
            return pos if pos != -1 else None
    return None


def _ats_equal_wildcard(pattern: bytes, subject: bytes) -> bool:
    is_idna = len(subject) > 4 and ascii_lower(subject[:4]) == b"xn--"
    star = None
    if len(subject) > 5 and subject[:1] != b".":
        star = _ats_wildcard(pattern, is_idna)
    if star is None:
        return len(pattern) == len(subject) and ascii_lower(pattern) == ascii_lower(subject)
    prefix, suffix = pattern[:star], pattern[star + 1 :]
    if len(subject) < len(prefix) + len(suffix):
        return False
    if ascii_lower(subject[: len(prefix)]) != ascii_lower(prefix):
        return False
    ws, we = len(prefix), len(subject) - len(suffix)
    if ascii_lower(subject[we:]) != ascii_lower(suffix):
        return False
    if not prefix and suffix[:1] == b"." and ws == we:
        return False
    if we == ws + 1 and subject[ws] == 0x2A:
        return True
    return all(alnum(c) or c in (0x2D, 0x5F) for c in subject[ws:we])


def traffic_server_name_matches(der: bytes, name: str) -> bool:
    """Apache Traffic Server's validate_hostname(cert, name, is_ip=false), as its verify callback
    calls it: ``name`` (an IP address too) is compared *as text* with the DNS SAN entries (ATS
    wildcard rules), then with the first subject CN, which is consulted even when there are
    SANs. IP address SAN entries are never consulted."""
    chk = name.encode("utf-8", "surrogateescape")
    cert = facts_of(der).cert
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [_raw_dns(g) for g in san if isinstance(g, x509.DNSName)]
    except Exception:
        dns = []
    if any(d and _ats_equal_wildcard(d, chk) for d in dns):
        return True
    try:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except Exception:
        return False
    if not cns:
        return False
    v = cns[0].value if isinstance(cns[0].value, str) else cns[0].value.decode("latin-1")
    return bool(v) and _ats_equal_wildcard(v.encode("utf-8"), chk)


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return "%" not in name  # OpenSSL's a2i_ipadd knows no IPv6 zone index
    except ValueError:
        return False
