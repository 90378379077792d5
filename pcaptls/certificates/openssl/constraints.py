"""Name constraints of CA certificates (``crypto/x509/v3_ncons.c``)."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, cast

from cryptography import x509
from cryptography.x509.oid import NameOID

from .facts import Facts, canon_name
from .hostnames import alnum, ascii_lower

if TYPE_CHECKING:
    pass

# Name constraints (crypto/x509/v3_ncons.c: NAME_CONSTRAINTS_check, nc_match, nc_dns ...)

_NC_VIOLATION = "PERMITTED_VIOLATION"  # nc_match_single's "no match"


def _nc_dns(dns: bytes, base: bytes) -> str | None:
    if not base:
        return None
    if len(dns) < len(base):
        return _NC_VIOLATION
    if len(dns) > len(base):
        if base[:1] != b"." and dns[len(dns) - len(base) - 1 : len(dns) - len(base)] != b".":
            return _NC_VIOLATION
        dns = dns[len(dns) - len(base) :]
    return None if ascii_lower(dns) == ascii_lower(base) else _NC_VIOLATION


def _nc_email(eml: bytes, base: bytes) -> str | None:
    emlat = eml.rfind(b"@")
    if emlat < 0:
        return "UNSUPPORTED_NAME_SYNTAX"
    baseat = base.rfind(b"@")
    if baseat < 0 and base[:1] == b".":
        if len(eml) > len(base) and ascii_lower(eml[len(eml) - len(base) :]) == ascii_lower(base):
            return None
        return _NC_VIOLATION
    host = base
    if baseat >= 0:
        if baseat > 0 and base[:baseat] != eml[:emlat]:
            return _NC_VIOLATION
        host = base[baseat + 1 :]
    return None if ascii_lower(host) == ascii_lower(eml[emlat + 1 :]) else _NC_VIOLATION


def _nc_uri(uri: bytes, base: bytes) -> str | None:
    p = uri.find(b":")
    if p < 0 or len(uri) - p < 3 or uri[p + 1 : p + 3] != b"//":
        return "UNSUPPORTED_NAME_SYNTAX"
    rest = uri[p + 3 :]
    end = rest.find(b":")
    if end < 0:
        end = rest.find(b"/")
    host = rest if end < 0 else rest[:end]
    if not host:
        return "UNSUPPORTED_NAME_SYNTAX"
    if base[:1] == b".":
        return None if len(host) > len(base) and ascii_lower(host[-len(base) :]) == ascii_lower(base) else _NC_VIOLATION
    return None if ascii_lower(host) == ascii_lower(base) else _NC_VIOLATION


def _nc_single(name: x509.GeneralName, base: x509.GeneralName) -> str | None:
    if isinstance(name, x509.DirectoryName):
        nm, bs = canon_name(name.value), canon_name(base.value)
        return None if nm[: len(bs)] == bs else _NC_VIOLATION
    if isinstance(name, x509.DNSName):
        return _nc_dns(name.value.encode("utf-8"), base.value.encode("utf-8"))
    if isinstance(name, x509.RFC822Name):
        return _nc_email(name.value.encode("utf-8"), base.value.encode("utf-8"))
    if isinstance(name, x509.UniformResourceIdentifier):
        return _nc_uri(name.value.encode("utf-8"), base.value.encode("utf-8"))
    if isinstance(name, x509.IPAddress):
        net = base.value
        if not isinstance(net, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            return "UNSUPPORTED_NAME_SYNTAX"
        host = name.value.packed if hasattr(name.value, "packed") else b""
        if len(host) not in (4, 16):
            return "UNSUPPORTED_NAME_SYNTAX"
        if len(host) != len(net.network_address.packed):
            return _NC_VIOLATION
        mask = net.netmask.packed
        base_ip = net.network_address.packed
        return None if all((h & m) == (b & m) for h, b, m in zip(host, base_ip, mask)) else _NC_VIOLATION
    return "UNSUPPORTED_CONSTRAINT_TYPE"


def _nc_match(name: x509.GeneralName, nc: x509.NameConstraints) -> str | None:
    """nc_match(): a permitted subtree of the name's type must match, no excluded one may."""
    kind = type(name)
    match = 0
    for sub in nc.permitted_subtrees or ():
        if type(sub) is not kind:
            continue
        if match == 2:
            continue
        match = 1
        r = _nc_single(name, sub)
        if r is None:
            match = 2
        elif r != _NC_VIOLATION:
            return r
    if match == 1:
        return "PERMITTED_VIOLATION"
    for sub in nc.excluded_subtrees or ():
        if type(sub) is not kind:
            continue
        r = _nc_single(name, sub)
        if r is None:
            return "EXCLUDED_VIOLATION"
        if r != _NC_VIOLATION:
            return r
    return None


def _cn_dnsid(cn: str) -> bytes | None:
    """cn2dnsid(): the CN as a DNS name if it looks like one (two labels or more), else None."""
    v = cn.encode("utf-8").rstrip(b"\x00")
    if b"\x00" in v:
        return None
    isdns = False
    n = len(v)
    for i, c in enumerate(v):
        if alnum(c) or c == 0x5F:
            continue
        if 0 < i < n - 1:
            if c == 0x2D:
                continue
            if c == 0x2E and v[i + 1] != 0x2E and v[i - 1] != 0x2D and v[i + 1] != 0x2D:
                isdns = True
                continue
        return None
    return v if isdns else None


def name_constraints_violation(x: Facts, nc: x509.NameConstraints, leaf: bool) -> str | None:
    """NAME_CONSTRAINTS_check() (and, for a leaf without DNS SAN, NAME_CONSTRAINTS_check_CN())."""
    cert = x.cert
    try:
        subject = cert.subject
        san = list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        san = []
    except Exception:
        return None
    if len(subject) > 0:
        r = _nc_match(x509.DirectoryName(subject), nc)
        if r:
            return r
        for a in subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS):
            r = _nc_match(x509.RFC822Name(cast(str, a.value)), nc)
            if r:
                return r
    for g in san:
        r = _nc_match(g, nc)
        if r:
            return r
    if leaf and not any(isinstance(g, x509.DNSName) for g in san):
        for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME):
            dnsid = _cn_dnsid(a.value if isinstance(a.value, str) else "")
            if dnsid:
                r = _nc_match(x509.DNSName(dnsid.decode("ascii", "replace")), nc)
                if r:
                    return r
    return None
