"""What OpenSSL caches about a certificate (``x509v3_cache_extensions``), decoded once per DER:
canonical names (X509_NAME_cmp), self-signed, CA status and purpose, issuer candidacy."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtensionOID

from ...errors import MalformedError
from ..lenient import Loaded, strict
from ..lenient import load as load_lenient

if TYPE_CHECKING:
    pass


# Certificate facts OpenSSL caches in x509v3_cache_extensions(), decoded once per DER.

# X509_supported_extension(): critical extensions OpenSSL understands.
_SUPPORTED_CRITICAL = frozenset({
    "2.16.840.1.113730.1.1",  # netscape cert type
    "2.5.29.15",  # key usage
    "2.5.29.17",  # subject alt name
    "2.5.29.19",  # basic constraints
    "2.5.29.32",  # certificate policies
    "2.5.29.31",  # CRL distribution points
    "2.5.29.37",  # extended key usage
    "1.3.6.1.5.5.7.48.1.5",  # OCSP no check
    "1.3.6.1.5.5.7.1.7",  # sbgp-ipAddrBlock
    "1.3.6.1.5.5.7.1.8",  # sbgp-autonomousSysNum
    "2.5.29.36",  # policy constraints
    "1.3.6.1.5.5.7.1.14",  # proxyCertInfo
    "2.5.29.30",  # name constraints
    "2.5.29.33",  # policy mappings
    "2.5.29.54",  # inhibit any policy
})

# Signature algorithm OID -> key type it needs (OBJ_find_sigid_algs + check_sig_alg_match).
_SIG_KEY: dict[str, str] = {
    **{f"1.2.840.113549.1.1.{n}": "RSA" for n in (2, 3, 4, 5, 10, 11, 12, 13, 14, 15, 16)},
    "1.3.14.3.2.29": "RSA",
    **{f"2.16.840.1.101.3.4.3.{n}": "RSA" for n in (13, 14, 15, 16)},
    "1.2.840.10045.4.1": "EC",
    **{f"1.2.840.10045.4.3.{n}": "EC" for n in (1, 2, 3, 4)},
    **{f"2.16.840.1.101.3.4.3.{n}": "EC" for n in (9, 10, 11, 12)},
    "1.2.840.10040.4.3": "DSA",
    **{f"2.16.840.1.101.3.4.3.{n}": "DSA" for n in (1, 2, 3, 4)},
    "1.3.101.112": "ED25519",
    "1.3.101.113": "ED448",
}

# DirectoryString types whose values X509_NAME_cmp compares case- and space-insensitively.
_CANON_TYPES = frozenset({12, 30, 28, 19, 20, 22, 26})  # UTF8, BMP, Universal, Printable, T61, IA5, Visible
_SPACES = " \t\n\v\f\r"
_SPACE_RUN = re.compile(r"[ \t\n\v\f\r]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _canon_value(value: str) -> str:
    """Leading and trailing spaces dropped, each run of spaces inside made one " ", ASCII
    letters lower-cased (only those: OpenSSL's asn1_string_canon lower-cases bytes < 0x80)."""
    s = _SPACE_RUN.sub(" ", value.strip(_SPACES))
    return s.lower() if s.isascii() else s.translate(_ASCII_LOWER)


def canon_name(name: x509.Name) -> tuple:
    """X509_NAME_cmp's canonical form: per RDN, (OID, case-folded, space-collapsed value)."""
    rdns = []
    for rdn in name.rdns:
        attrs: list[tuple[str, Any, Any]] = []
        for a in rdn:
            t = getattr(getattr(a, "_type", None), "value", None)
            v = a.value
            if isinstance(v, str) and (t is None or t in _CANON_TYPES):
                attrs.append((a.oid.dotted_string, 0, _canon_value(v)))
            else:
                attrs.append((a.oid.dotted_string, t, v))
        # an RDN is a SET: its attributes in a fixed order (most RDNs have one)
        rdns.append((attrs[0],) if len(attrs) == 1 else tuple(sorted(attrs, key=repr)))
    return tuple(rdns)


@dataclass(frozen=True, slots=True)
class Facts:
    der: bytes
    cert: x509.Certificate
    subject: tuple | None
    issuer: tuple | None
    not_before: int  # epoch seconds
    not_after: int
    version: int
    key_type: str | None  # RSA, EC, DSA, ED25519, ED448; None when the key does not load
    sig_key: str | None  # key type the signature algorithm needs; None when unknown
    ski: bytes | None
    aki_keyid: bytes | None
    aki_serial: int | None
    aki_dirname: tuple | None
    ext_ok: bool  # extensions parse (else OpenSSL's EXFLAG_INVALID)
    bc_present: bool
    bc_ca: bool
    pathlen: int | None
    ku: x509.KeyUsage | None
    ns_ca: bool  # Netscape cert type with an "any CA" bit
    ns_bits: int | None  # Netscape cert type's first octet, None when absent
    eku: frozenset[str] | None  # extendedKeyUsage OIDs, None when absent
    nc: x509.NameConstraints | None
    unhandled_critical: bool
    proxy: bool
    self_issued: bool
    self_signed: bool  # OpenSSL's EXFLAG_SS: self-issued, AKI matches, key fits the signature
    loaded: Loaded | None = None  # how OpenSSL reads it where cryptography alone would not (lenient.py)


def _epoch(t: datetime) -> int:
    return int(t.replace(tzinfo=timezone.utc).timestamp() if t.tzinfo is None else t.timestamp())


@lru_cache(maxsize=4096)
def facts_of(der: bytes) -> Facts:
    loaded = load_lenient(der)  # cryptography's view, repaired where only OpenSSL would read it
    cert = loaded.cert
    try:
        subject: tuple | None = canon_name(cert.subject)
    except Exception:
        subject = None
    try:
        issuer: tuple | None = canon_name(cert.issuer)
    except Exception:
        issuer = None
    try:
        nb, na = _epoch(cert.not_valid_before_utc), _epoch(cert.not_valid_after_utc)
    except Exception as e:
        raise MalformedError(f"certificate validity does not decode: {e}") from e
    try:
        key = cert.public_key()
        key_type: str | None = (
            "RSA" if isinstance(key, rsa.RSAPublicKey) else
            "EC" if isinstance(key, ec.EllipticCurvePublicKey) else
            "DSA" if isinstance(key, dsa.DSAPublicKey) else
            "ED25519" if isinstance(key, ed25519.Ed25519PublicKey) else
            "ED448" if isinstance(key, ed448.Ed448PublicKey) else None
        )
    except Exception:
        key_type = loaded.key_type  # "EC" for a curve of its own, which OpenSSL loads
    sig_key = _SIG_KEY.get(cert.signature_algorithm_oid.dotted_string)

    ski = aki_keyid = None
    aki_serial = None
    aki_dirname = None
    bc_present = bc_ca = ns_ca = unhandled = proxy = False
    pathlen = None
    ns_bits: int | None = None
    eku: frozenset[str] | None = None
    nc = None
    ku = None
    ext_ok = True
    exts: Any
    try:
        exts = cert.extensions
    except Exception:
        ext_ok = False
        exts = []
    for ext in exts:
        oid = ext.oid.dotted_string
        if ext.critical and oid not in _SUPPORTED_CRITICAL:
            unhandled = True
        v = ext.value
        if oid == ExtensionOID.SUBJECT_KEY_IDENTIFIER.dotted_string:
            ski = v.digest
        elif oid == ExtensionOID.AUTHORITY_KEY_IDENTIFIER.dotted_string:
            aki_keyid = v.key_identifier
            aki_serial = v.authority_cert_serial_number
            for gn in v.authority_cert_issuer or ():
                if isinstance(gn, x509.DirectoryName):
                    aki_dirname = canon_name(gn.value)
                    break
        elif oid == ExtensionOID.BASIC_CONSTRAINTS.dotted_string:
            bc_present, bc_ca = True, bool(v.ca)
            pathlen = v.path_length if v.ca else None
        elif oid == ExtensionOID.KEY_USAGE.dotted_string:
            ku = v
        elif oid == "2.16.840.1.113730.1.1":
            raw = getattr(v, "value", b"")
            # BIT STRING: 03 len unused bits; bits 5,6,7 (0x04 0x02 0x01) are the CA types
            ns_bits = raw[3] if len(raw) >= 4 and raw[0] == 0x03 else 0
            ns_ca = bool(ns_bits & 0x07)
        elif oid == ExtensionOID.EXTENDED_KEY_USAGE.dotted_string:
            eku = frozenset(o.dotted_string for o in v)
        elif oid == "1.3.6.1.5.5.7.1.14":
            proxy = True
        elif oid == ExtensionOID.NAME_CONSTRAINTS.dotted_string:
            nc = v

    ext_ok = ext_ok and not loaded.ext_invalid
    self_issued = subject is not None and subject == issuer
    f = Facts(
        der=der, cert=cert, subject=subject, issuer=issuer, not_before=nb, not_after=na,
        version=cert.version.value + 1, key_type=key_type, sig_key=sig_key, ski=ski,
        aki_keyid=aki_keyid, aki_serial=aki_serial, aki_dirname=aki_dirname, ext_ok=ext_ok,
        bc_present=bc_present, bc_ca=bc_ca, pathlen=pathlen, ku=ku, ns_ca=ns_ca, ns_bits=ns_bits, eku=eku, nc=nc,
        unhandled_critical=unhandled, proxy=proxy, self_issued=self_issued, self_signed=False, loaded=loaded,
    )
    if self_issued and ext_ok and _akid_ok(f, f) and _sig_alg_ok(f, f):  # EXFLAG_INVALID: never self-signed
        f = _replace_ss(f)
    return f


def _replace_ss(f: Facts) -> Facts:
    return dataclasses.replace(f, self_signed=True)


def _akid_ok(issuer: Facts, subject: Facts) -> bool:
    """X509_check_akid(): the subject's AKI (where present) points at this issuer."""
    if subject.aki_keyid is not None and issuer.ski is not None and subject.aki_keyid != issuer.ski:
        return False
    if subject.aki_serial is not None and subject.aki_serial != issuer.cert.serial_number:
        return False
    if subject.aki_dirname is not None and subject.aki_dirname != issuer.issuer:
        return False
    return True


def _sig_alg_ok(issuer: Facts, subject: Facts) -> bool:
    """check_sig_alg_match(): the issuer's key type is the one the subject's signature needs."""
    return issuer.key_type is not None and subject.sig_key is not None and issuer.key_type == subject.sig_key


def likely_issued(issuer: Facts, subject: Facts) -> bool:
    """ossl_x509_likely_issued(): name, AKI/SKI and key type match (no signature check)."""
    return (
        issuer.subject is not None
        and issuer.subject == subject.issuer
        and issuer.ext_ok  # ossl_x509_likely_issued(): EXFLAG_INVALID on either side matches nothing
        and subject.ext_ok
        and _akid_ok(issuer, subject)
        and _sig_alg_ok(issuer, subject)
    )


def time_ok(f: Facts, t: int) -> bool:
    if f.loaded is not None and (f.loaded.bad_not_before or f.loaded.bad_not_after):
        return False  # x509_check_cert_time(depth -1): an unreadable time is not a valid one
    return f.not_before <= t < f.not_after


def ku_rejects_certsign(f: Facts) -> bool:
    return f.ku is not None and not f.ku.key_cert_sign


def check_ca(f: Facts) -> int:
    """X509_check_ca(): 0 not a CA, 1 CA by basicConstraints, 3 v1 root, 4 keyCertSign, 5 Netscape."""
    if ku_rejects_certsign(f):
        return 0
    if f.bc_present:
        return 1 if f.bc_ca else 0
    if f.version == 1 and f.self_signed:
        return 3
    if f.ku is not None:
        return 4
    if f.ns_ca:
        return 5
    return 0


_SERVER_AUTH = frozenset({
    "1.3.6.1.5.5.7.3.1",  # id-kp-serverAuth
    "2.16.840.1.113730.4.1",  # Netscape server gated crypto
    "1.3.6.1.4.1.311.10.3.3",  # Microsoft server gated crypto
})


def purpose_sslserver(f: Facts, require_ca: bool) -> int:
    """X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, require_ca) (v3_purp.c)."""
    if f.eku is not None and not (f.eku & _SERVER_AUTH):
        return 0
    if require_ca:
        ret = check_ca(f)
        if ret == 0:
            return 0
        return 1 if ret != 5 or (f.ns_bits or 0) & 0x04 else 0
    if f.ns_bits is not None and not f.ns_bits & 0x40:
        return 0
    if f.ku is not None and not (f.ku.digital_signature or f.ku.key_encipherment or f.ku.key_agreement):
        return 0
    return 1


PURPOSES = ("sslserver",)


# Public helpers for the trust store and reports.


def canonical_subject(der: bytes) -> tuple | None:
    """The subject in X509_NAME_cmp's canonical form (``None`` if it does not decode): what
    :func:`facts_of` gives as ``subject`` (``None`` where it raises), without the other facts.
    A trust store indexes every certificate by its subject and looks few of them up again:
    this costs a sixth of their facts (on certifi's bundle: 1.2 ms instead of 7 ms)."""
    try:
        cert = strict(der) or load_lenient(der).cert  # the same object's subject (see strict)
    except MalformedError:
        return None
    try:
        cert.not_valid_before_utc, cert.not_valid_after_utc  # facts_of raises where these do
    except Exception:
        return None
    try:
        return canon_name(cert.subject)
    except Exception:
        return None


def canonical_issuer(der: bytes) -> tuple | None:
    try:
        return facts_of(der).issuer
    except MalformedError:
        return None


def self_signed(der: bytes) -> bool:
    """OpenSSL's notion of self-signed (name, AKI and key type; the signature is not checked)."""
    return facts_of(der).self_signed


def ca_status(der: bytes) -> int:
    """X509_check_ca() of ``der``: 0 when it is not a CA certificate."""
    return check_ca(facts_of(der))


def issued_by(subject: bytes, issuer: bytes) -> bool:
    """Whether OpenSSL would take ``issuer`` as a candidate issuer of ``subject``."""
    return likely_issued(facts_of(issuer), facts_of(subject))
