"""Judge a server's certificate chain the way OpenSSL 3.0's ``X509_verify_cert`` does.

Expressway-C's traffic server verifies origin servers with OpenSSL, so OpenSSL is the reference:
the same error names (``X509_V_ERR_*`` without the prefix), the same depth, and the *first* error
OpenSSL reports, which depends on the order of its checks (``crypto/x509/x509_vfy.c``):

1. ``build_chain``: from the leaf upwards, trusted issuers first (X509_V_FLAG_TRUSTED_FIRST is
   the default), then the certificates the server sent. An issuer candidate must have a subject
   equal to the child's issuer (X509_NAME_cmp's canonical form), an SKI matching the child's AKI
   where both exist, and a key of the type the child's signature algorithm needs. A chain is
   trusted only when it ends in a self-signed certificate taken from the trust store (no
   ``-partial_chain``). Failing that, the error is reported at the top of the chain:
   DEPTH_ZERO_SELF_SIGNED_CERT, SELF_SIGNED_CERT_IN_CHAIN, UNABLE_TO_GET_ISSUER_CERT (the top came
   from the trust store but is not a root) or UNABLE_TO_GET_ISSUER_CERT_LOCALLY.
2. ``check_extensions``, bottom up: unhandled critical extensions, CA flags (INVALID_CA for an
   issuer that is not a CA), path length.
3. ``check_id``: host name (SAN DNS with OpenSSL's wildcard rules, CN only when there is no DNS
   SAN) or IP address (SAN IP only), at depth 0.
4. ``internal_verify``, top down: key usage of the issuer, signature, then notBefore/notAfter of
   each certificate (so an expired root is reported before an expired leaf).
5. ``check_name_constraints``: subject, SAN entries (and a host-like CN when there is no DNS
   SAN) against the constraints of every CA above, reported at the constrained certificate.

With ``purpose="sslserver"`` the extension checks also apply libssl's TLS-client purpose
(INVALID_PURPOSE). With ``names="traffic_server"`` step 3 is replaced by Apache Traffic Server's
own name check between steps 4 and 5, which is what Expressway's traffic server does (its verify
callback checks the name at depth 0 once OpenSSL is content there; the log then says "SNI (...)
not in certificate"): CN always consulted, IP addresses compared as text with DNS entries.

Revocation, policy and security-level checks are not modelled: ``openssl verify`` does not apply
them by default, and Expressway's failures are not about them (it accepts SHA-1-signed CUCM
certificates, which OpenSSL 3.0 at security level 1 would refuse).

The time is always given (the handshake's capture time), never "now".
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from ..errors import MalformedError
from .lenient import Loaded, verify_signature
from .lenient import load as load_lenient
from .truststore import TrustStore
from .x509 import sha256_hex

if TYPE_CHECKING:
    from ..model import TlsConnection

# --------------------------------------------------------------------------------------------
# Error vocabulary: X509_V_ERR_* codes of OpenSSL 3.0, their 3.0 wording, and the 1.x wording
# that Expressway's traffic server writes in its log.

ERROR_CODES: dict[int, str] = {
    0: "OK", 1: "UNSPECIFIED", 2: "UNABLE_TO_GET_ISSUER_CERT", 3: "UNABLE_TO_GET_CRL",
    4: "UNABLE_TO_DECRYPT_CERT_SIGNATURE", 6: "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
    7: "CERT_SIGNATURE_FAILURE", 9: "CERT_NOT_YET_VALID", 10: "CERT_HAS_EXPIRED",
    13: "ERROR_IN_CERT_NOT_BEFORE_FIELD", 14: "ERROR_IN_CERT_NOT_AFTER_FIELD",
    18: "DEPTH_ZERO_SELF_SIGNED_CERT", 19: "SELF_SIGNED_CERT_IN_CHAIN",
    20: "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", 21: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    22: "CERT_CHAIN_TOO_LONG", 23: "CERT_REVOKED", 24: "NO_ISSUER_PUBLIC_KEY",
    25: "PATH_LENGTH_EXCEEDED", 26: "INVALID_PURPOSE", 27: "CERT_UNTRUSTED", 28: "CERT_REJECTED",
    32: "KEYUSAGE_NO_CERTSIGN", 34: "UNHANDLED_CRITICAL_EXTENSION", 37: "INVALID_NON_CA",
    40: "PROXY_CERTIFICATES_NOT_ALLOWED", 41: "INVALID_EXTENSION", 47: "PERMITTED_VIOLATION",
    48: "EXCLUDED_VIOLATION", 49: "SUBTREE_MINMAX", 51: "UNSUPPORTED_CONSTRAINT_TYPE",
    52: "UNSUPPORTED_CONSTRAINT_SYNTAX", 53: "UNSUPPORTED_NAME_SYNTAX", 55: "PATH_LOOP", 62: "HOSTNAME_MISMATCH", 63: "EMAIL_MISMATCH",
    64: "IP_ADDRESS_MISMATCH", 66: "EE_KEY_TOO_SMALL", 67: "CA_KEY_TOO_SMALL",
    68: "CA_MD_TOO_WEAK", 76: "UNSUPPORTED_SIGNATURE_ALGORITHM",
    77: "SIGNATURE_ALGORITHM_MISMATCH", 79: "INVALID_CA", 94: "EC_KEY_EXPLICIT_PARAMS",
}

MESSAGES: dict[str, str] = {  # X509_verify_cert_error_string() of OpenSSL 3.0
    "OK": "ok",
    "UNSPECIFIED": "unspecified certificate verification error",
    "UNABLE_TO_GET_ISSUER_CERT": "unable to get issuer certificate",
    "UNABLE_TO_GET_CRL": "unable to get certificate CRL",
    "UNABLE_TO_DECRYPT_CERT_SIGNATURE": "unable to decrypt certificate's signature",
    "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY": "unable to decode issuer public key",
    "CERT_SIGNATURE_FAILURE": "certificate signature failure",
    "CERT_NOT_YET_VALID": "certificate is not yet valid",
    "CERT_HAS_EXPIRED": "certificate has expired",
    "ERROR_IN_CERT_NOT_BEFORE_FIELD": "format error in certificate's notBefore field",
    "ERROR_IN_CERT_NOT_AFTER_FIELD": "format error in certificate's notAfter field",
    "DEPTH_ZERO_SELF_SIGNED_CERT": "self-signed certificate",
    "SELF_SIGNED_CERT_IN_CHAIN": "self-signed certificate in certificate chain",
    "UNABLE_TO_GET_ISSUER_CERT_LOCALLY": "unable to get local issuer certificate",
    "UNABLE_TO_VERIFY_LEAF_SIGNATURE": "unable to verify the first certificate",
    "CERT_CHAIN_TOO_LONG": "certificate chain too long",
    "CERT_REVOKED": "certificate revoked",
    "NO_ISSUER_PUBLIC_KEY": "issuer certificate doesn't have a public key",
    "PATH_LENGTH_EXCEEDED": "path length constraint exceeded",
    "INVALID_PURPOSE": "unsuitable certificate purpose",
    "CERT_UNTRUSTED": "certificate not trusted",
    "CERT_REJECTED": "certificate rejected",
    "KEYUSAGE_NO_CERTSIGN": "key usage does not include certificate signing",
    "UNHANDLED_CRITICAL_EXTENSION": "unhandled critical extension",
    "INVALID_NON_CA": "invalid non-CA certificate (has CA markings)",
    "PROXY_CERTIFICATES_NOT_ALLOWED": "proxy certificates not allowed, please set the appropriate flag",
    "INVALID_EXTENSION": "invalid or inconsistent certificate extension",
    "PERMITTED_VIOLATION": "permitted subtree violation",
    "EXCLUDED_VIOLATION": "excluded subtree violation",
    "SUBTREE_MINMAX": "name constraints minimum and maximum not supported",
    "UNSUPPORTED_CONSTRAINT_TYPE": "unsupported name constraint type",
    "UNSUPPORTED_CONSTRAINT_SYNTAX": "unsupported or invalid name constraint syntax",
    "UNSUPPORTED_NAME_SYNTAX": "unsupported or invalid name syntax",
    "PATH_LOOP": "path loop",
    "HOSTNAME_MISMATCH": "hostname mismatch",
    "EMAIL_MISMATCH": "email address mismatch",
    "IP_ADDRESS_MISMATCH": "IP address mismatch",
    "EE_KEY_TOO_SMALL": "EE certificate key too weak",
    "CA_KEY_TOO_SMALL": "CA certificate key too weak",
    "CA_MD_TOO_WEAK": "CA signature digest algorithm too weak",
    "UNSUPPORTED_SIGNATURE_ALGORITHM": "Cannot find certificate signature algorithm",
    "SIGNATURE_ALGORITHM_MISMATCH": "subject signature algorithm and issuer public key algorithm mismatch",
    "INVALID_CA": "invalid CA certificate",
    "EC_KEY_EXPLICIT_PARAMS": "Certificate public key has explicit ECC parameters",
}

# OpenSSL 1.1.1 wording where it differs (x509_txt.c before 3.0): what Expressway logs say.
_OPENSSL1_MESSAGES: dict[str, str] = {
    "DEPTH_ZERO_SELF_SIGNED_CERT": "self signed certificate",
    "SELF_SIGNED_CERT_IN_CHAIN": "self signed certificate in certificate chain",
    "INVALID_PURPOSE": "unsupported certificate purpose",
    "HOSTNAME_MISMATCH": "Hostname mismatch",
    "EMAIL_MISMATCH": "Email address mismatch",
}


def openssl1_message(error: str) -> str:
    """The OpenSSL 1.x wording of ``error`` (as Expressway's traffic_server log has it)."""
    return _OPENSSL1_MESSAGES.get(error) or MESSAGES.get(error, error.lower().replace("_", " "))


@dataclass(frozen=True, slots=True)
class Verdict:
    """OpenSSL's first verification error for one chain (``error == "OK"`` when it verifies).

    ``depth`` is where OpenSSL reports the error (0 = the server's own certificate), ``None``
    for OK. ``name`` is the host name or IP address that was checked, ``None`` if none was.
    ``path`` is the chain OpenSSL built (SHA-256 fingerprints, leaf first), ``anchor`` the
    trust-store certificate it ended in, if any.
    """

    error: str
    depth: int | None
    message: str
    expressway_message: str
    name: str | None
    path: tuple[str, ...] = ()
    anchor: str | None = None
    detail: str | None = None  # why no OpenSSL verdict could be reached (undecodable certificate)

    @property
    def ok(self) -> bool:
        return self.error == "OK"

    def to_dict(self) -> dict[str, object]:
        return {"error": self.error, "depth": self.depth, "message": self.message, "name": self.name}


def _verdict(
    error: str, depth: int | None, name: str | None, path: Sequence[str] = (), anchor: str | None = None
) -> Verdict:
    return Verdict(error, depth, MESSAGES.get(error, error), openssl1_message(error), name, tuple(path), anchor)


# --------------------------------------------------------------------------------------------
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


def _canon_value(value: str) -> str:
    s = value.strip(_SPACES)
    out: list[str] = []
    prev_space = False
    for ch in s:
        if ch in _SPACES:
            if not prev_space:
                out.append(" ")
            prev_space = True
            continue
        prev_space = False
        out.append(ch.lower() if "A" <= ch <= "Z" else ch)
    return "".join(out)


def _canon_name(name: x509.Name) -> tuple:
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
        rdns.append(tuple(sorted(attrs, key=repr)))
    return tuple(rdns)


@dataclass(frozen=True, slots=True)
class _Facts:
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
def _facts(der: bytes) -> _Facts:
    loaded = load_lenient(der)  # cryptography's view, repaired where only OpenSSL would read it
    cert = loaded.cert
    try:
        subject: tuple | None = _canon_name(cert.subject)
    except Exception:
        subject = None
    try:
        issuer: tuple | None = _canon_name(cert.issuer)
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
                    aki_dirname = _canon_name(gn.value)
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
    f = _Facts(
        der=der, cert=cert, subject=subject, issuer=issuer, not_before=nb, not_after=na,
        version=cert.version.value + 1, key_type=key_type, sig_key=sig_key, ski=ski,
        aki_keyid=aki_keyid, aki_serial=aki_serial, aki_dirname=aki_dirname, ext_ok=ext_ok,
        bc_present=bc_present, bc_ca=bc_ca, pathlen=pathlen, ku=ku, ns_ca=ns_ca, ns_bits=ns_bits, eku=eku, nc=nc,
        unhandled_critical=unhandled, proxy=proxy, self_issued=self_issued, self_signed=False, loaded=loaded,
    )
    if self_issued and ext_ok and _akid_ok(f, f) and _sig_alg_ok(f, f):  # EXFLAG_INVALID: never self-signed
        f = _replace_ss(f)
    return f


def _replace_ss(f: _Facts) -> _Facts:
    return dataclasses.replace(f, self_signed=True)


def _akid_ok(issuer: _Facts, subject: _Facts) -> bool:
    """X509_check_akid(): the subject's AKI (where present) points at this issuer."""
    if subject.aki_keyid is not None and issuer.ski is not None and subject.aki_keyid != issuer.ski:
        return False
    if subject.aki_serial is not None and subject.aki_serial != issuer.cert.serial_number:
        return False
    if subject.aki_dirname is not None and subject.aki_dirname != issuer.issuer:
        return False
    return True


def _sig_alg_ok(issuer: _Facts, subject: _Facts) -> bool:
    """check_sig_alg_match(): the issuer's key type is the one the subject's signature needs."""
    return issuer.key_type is not None and subject.sig_key is not None and issuer.key_type == subject.sig_key


def _likely_issued(issuer: _Facts, subject: _Facts) -> bool:
    """ossl_x509_likely_issued(): name, AKI/SKI and key type match (no signature check)."""
    return (
        issuer.subject is not None
        and issuer.subject == subject.issuer
        and issuer.ext_ok  # ossl_x509_likely_issued(): EXFLAG_INVALID on either side matches nothing
        and subject.ext_ok
        and _akid_ok(issuer, subject)
        and _sig_alg_ok(issuer, subject)
    )


def _time_ok(f: _Facts, t: int) -> bool:
    if f.loaded is not None and (f.loaded.bad_not_before or f.loaded.bad_not_after):
        return False  # x509_check_cert_time(depth -1): an unreadable time is not a valid one
    return f.not_before <= t < f.not_after


def _ku_rejects_certsign(f: _Facts) -> bool:
    return f.ku is not None and not f.ku.key_cert_sign


def _check_ca(f: _Facts) -> int:
    """X509_check_ca(): 0 not a CA, 1 CA by basicConstraints, 3 v1 root, 4 keyCertSign, 5 Netscape."""
    if _ku_rejects_certsign(f):
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


def _purpose_sslserver(f: _Facts, require_ca: bool) -> int:
    """X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, require_ca) (v3_purp.c)."""
    if f.eku is not None and not (f.eku & _SERVER_AUTH):
        return 0
    if require_ca:
        ret = _check_ca(f)
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
    """The subject in X509_NAME_cmp's canonical form (``None`` if it does not decode)."""
    try:
        return _facts(der).subject
    except MalformedError:
        return None


def canonical_issuer(der: bytes) -> tuple | None:
    try:
        return _facts(der).issuer
    except MalformedError:
        return None


def self_signed(der: bytes) -> bool:
    """OpenSSL's notion of self-signed (name, AKI and key type; the signature is not checked)."""
    return _facts(der).self_signed


def ca_status(der: bytes) -> int:
    """X509_check_ca() of ``der``: 0 when it is not a CA certificate."""
    return _check_ca(_facts(der))


def issued_by(subject: bytes, issuer: bytes) -> bool:
    """Whether OpenSSL would take ``issuer`` as a candidate issuer of ``subject``."""
    return _likely_issued(_facts(issuer), _facts(subject))


# --------------------------------------------------------------------------------------------
# Signatures


def _signature_ok(subject: _Facts, issuer: _Facts) -> bool:
    return _signature_ok_der(subject.der, issuer.der)


@lru_cache(maxsize=4096)  # the same chain arrives on many connections: check each signature once
def _signature_ok_der(subject_der: bytes, issuer_der: bytes) -> bool:
    subject, issuer = _facts(subject_der), _facts(issuer_der)
    if subject.loaded is not None and issuer.loaded is not None and (subject.loaded.lenient or issuer.loaded.key_type):
        return verify_signature(subject.loaded, issuer.loaded)  # over the TBS bytes as sent
    try:
        subject.cert.verify_directly_issued_by(issuer.cert)
        return True
    except InvalidSignature:
        return False
    except (ValueError, TypeError, UnsupportedAlgorithm):
        pass  # names equal only after canonicalisation, or an algorithm it refuses: check by hand
    c = subject.cert
    try:
        key = issuer.cert.public_key()
        params: Any = c.signature_algorithm_parameters  # its type follows the key's, checked below
        digest: Any = c.signature_hash_algorithm
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(c.signature, c.tbs_certificate_bytes, params, digest)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(c.signature, c.tbs_certificate_bytes, params)
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(c.signature, c.tbs_certificate_bytes, digest)
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(c.signature, c.tbs_certificate_bytes)
        else:
            return False
        return True
    except Exception:
        return False


# --------------------------------------------------------------------------------------------
# Names (crypto/x509/v3_utl.c: do_x509_check, equal_wildcard, valid_star, wildcard_match)


def _alnum(c: int) -> bool:
    return 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122


def _lower(b: bytes) -> bytes:
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
    return _lower(pattern) == _lower(subject)


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
        elif _alnum(c):
            if start and n - i >= 4 and _lower(p[i : i + 4]) == b"xn--":
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
    if not allow_idna and len(subject) >= 4 and _lower(subject[:4]) == b"xn--":
        return False
    if we == ws + 1 and subject[ws] == 0x2A:
        return True
    return all(_alnum(c) or c == 0x2D for c in subject[ws:we])


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
    cert = _facts(der).cert
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
        san = _facts(der).cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
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
    is_idna = len(subject) > 4 and _lower(subject[:4]) == b"xn--"
    star = None
    if len(subject) > 5 and subject[:1] != b".":
        star = _ats_wildcard(pattern, is_idna)
    if star is None:
        return len(pattern) == len(subject) and _lower(pattern) == _lower(subject)
    prefix, suffix = pattern[:star], pattern[star + 1 :]
    if len(subject) < len(prefix) + len(suffix):
        return False
    if _lower(subject[: len(prefix)]) != _lower(prefix):
        return False
    ws, we = len(prefix), len(subject) - len(suffix)
    if _lower(subject[we:]) != _lower(suffix):
        return False
    if not prefix and suffix[:1] == b"." and ws == we:
        return False
    if we == ws + 1 and subject[ws] == 0x2A:
        return True
    return all(_alnum(c) or c in (0x2D, 0x5F) for c in subject[ws:we])


def traffic_server_name_matches(der: bytes, name: str) -> bool:
    """Apache Traffic Server's validate_hostname(cert, name, is_ip=false), as its verify callback
    calls it: ``name`` (an IP address too) is compared *as text* with the DNS SAN entries (ATS
    wildcard rules), then with the first subject CN, which is consulted even when there are
    SANs. IP address SAN entries are never consulted."""
    chk = name.encode("utf-8", "surrogateescape")
    cert = _facts(der).cert
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


# --------------------------------------------------------------------------------------------
# The chain


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
    return None if _lower(dns) == _lower(base) else _NC_VIOLATION


def _nc_email(eml: bytes, base: bytes) -> str | None:
    emlat = eml.rfind(b"@")
    if emlat < 0:
        return "UNSUPPORTED_NAME_SYNTAX"
    baseat = base.rfind(b"@")
    if baseat < 0 and base[:1] == b".":
        if len(eml) > len(base) and _lower(eml[len(eml) - len(base) :]) == _lower(base):
            return None
        return _NC_VIOLATION
    host = base
    if baseat >= 0:
        if baseat > 0 and base[:baseat] != eml[:emlat]:
            return _NC_VIOLATION
        host = base[baseat + 1 :]
    return None if _lower(host) == _lower(eml[emlat + 1 :]) else _NC_VIOLATION


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
        return None if len(host) > len(base) and _lower(host[-len(base) :]) == _lower(base) else _NC_VIOLATION
    return None if _lower(host) == _lower(base) else _NC_VIOLATION


def _nc_single(name: x509.GeneralName, base: x509.GeneralName) -> str | None:
    if isinstance(name, x509.DirectoryName):
        nm, bs = _canon_name(name.value), _canon_name(base.value)
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
        if _alnum(c) or c == 0x5F:
            continue
        if 0 < i < n - 1:
            if c == 0x2D:
                continue
            if c == 0x2E and v[i + 1] != 0x2E and v[i - 1] != 0x2D and v[i + 1] != 0x2D:
                isdns = True
                continue
        return None
    return v if isdns else None


def _name_constraints_violation(x: _Facts, nc: x509.NameConstraints, leaf: bool) -> str | None:
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


_MAX_DEPTH = 100  # X509_VERIFY_PARAM default depth, as in TLS and `openssl verify`


def _best_issuer(candidates: Sequence[bytes], child: _Facts, t: int, exclude: Sequence[bytes] = ()) -> bytes | None:
    """First candidate that likely issued ``child`` and is valid at ``t``; else the one that
    expires last (X509_STORE_CTX_get1_issuer / find_issuer)."""
    best: _Facts | None = None
    for der in candidates:
        if der in exclude:
            continue
        f = _facts(der)
        if not _likely_issued(f, child):
            continue
        if _time_ok(f, t):
            return der
        if best is None or f.not_after > best.not_after:
            best = f
    return best.der if best else None


NAME_CHECKS = ("openssl", "traffic_server")


def verify_chain(
    chain: Sequence[bytes],
    trust: TrustStore,
    at: datetime,
    name: str | None,
    purpose: str | None = None,
    names: str = "openssl",
) -> Verdict:
    """OpenSSL's verdict on ``chain`` (DER, wire order, leaf first) at time ``at``.

    ``name`` is the host name or IP address the client wanted (the SNI, or without SNI the
    server's IP address); ``None`` skips the name check. ``at`` must be timezone-aware.
    ``purpose`` is ``None`` (``openssl verify``'s default: no purpose check) or "sslserver"
    (what a TLS client such as Expressway's traffic server checks: serverAuth in the leaf's
    extendedKeyUsage where present, a key usage fit for TLS, no CA restricted to other uses).
    ``names`` chooses the name check: "openssl" (X509_check_host / X509_check_ip between the
    extension checks and the signatures, as ``openssl verify -verify_hostname/-verify_ip``) or
    "traffic_server" (Apache Traffic Server's own check, which Expressway's traffic server runs
    after OpenSSL found the chain good: see :func:`traffic_server_name_matches`; so an expired
    certificate with a wrong name is reported as expired).
    Raises :class:`MalformedError` when a certificate does not decode (OpenSSL would abort the
    handshake with decode_error before any verification) and ``ValueError`` for an empty chain
    or a naive time.
    """
    if not chain:
        raise ValueError("verify_chain() needs at least the server's certificate")
    if at.tzinfo is None:
        raise ValueError("verify_chain() needs an aware datetime")
    if purpose is not None and purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    if names not in NAME_CHECKS:
        raise ValueError(f"unknown name check {names!r}")
    t = math.floor(at.timestamp())  # OpenSSL compares whole seconds
    facts = [_facts(d) for d in chain]
    leaf = facts[0]
    untrusted = [f.der for f in facts[1:]]

    # ---- build_chain (trusted first, no alternate chains, no partial chains)
    path: list[_Facts] = [leaf]
    num_untrusted = 1
    trusted = False
    search_trusted = True
    search_untrusted = bool(untrusted)
    max_depth = _MAX_DEPTH + 1
    while search_trusted or search_untrusted:
        num = len(path)
        if search_trusted:
            curr = path[-1]
            issuer_der = None
            if num <= max_depth and curr.issuer is not None:
                issuer_der = _best_issuer(trust.by_subject(curr.issuer), curr, t)
            matched = False
            if issuer_der is not None:
                ss = curr.self_signed
                matched = True
                if not ss:
                    path.append(_facts(issuer_der))
                    ss = path[-1].self_signed
                elif issuer_der != curr.der:
                    matched = False  # a self-signed look-alike of a trusted certificate
                else:
                    num_untrusted = num - 1
                    path[-1] = _facts(issuer_der)
                    num = num - 1
                if matched:
                    search_untrusted = False
                    if any(f.self_signed and f.ext_ok for f in path[num:]):
                        trusted = True
                        break
                    if not ss:
                        continue
            if not search_untrusted:
                break
        if search_untrusted:
            curr = path[-1]
            issuer_der = None
            if not curr.self_signed and num <= max_depth:
                in_path = [f.der for f in path]
                allow_dup = curr.self_issued and len(path) == 1
                issuer_der = _best_issuer(untrusted, curr, t, () if allow_dup else in_path)
            if issuer_der is None:
                search_untrusted = False
                search_trusted = True
                continue
            untrusted.remove(issuer_der)
            path.append(_facts(issuer_der))
            num_untrusted += 1

    ders = tuple(x509_sha256(f.der) for f in path)
    anchor = ders[-1] if trusted else None
    num = len(path)
    if not trusted:
        if num > max_depth:
            return _verdict("CERT_CHAIN_TOO_LONG", num - 1, name, ders)
        if path[-1].self_signed:
            err = "DEPTH_ZERO_SELF_SIGNED_CERT" if num == 1 else "SELF_SIGNED_CERT_IN_CHAIN"
            return _verdict(err, num - 1, name, ders)
        err = "UNABLE_TO_GET_ISSUER_CERT" if num_untrusted < num else "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"
        return _verdict(err, num - 1, name, ders)

    # ---- check_extensions (bottom up)
    must_be_ca = -1
    plen = 0
    for i, f in enumerate(path):
        if f.unhandled_critical:
            return _verdict("UNHANDLED_CRITICAL_EXTENSION", i, name, ders, anchor)
        if f.proxy:
            return _verdict("PROXY_CERTIFICATES_NOT_ALLOWED", i, name, ders, anchor)
        ret = _check_ca(f)
        if must_be_ca == 1 and (ret == 0 or (i + 1 < num and ret != 1)):
            return _verdict("INVALID_CA", i, name, ders, anchor)
        if num > 1 and f.loaded is not None and f.loaded.explicit_curve is not None:  # check_curve()
            return _verdict("EC_KEY_EXPLICIT_PARAMS", i, name, ders, anchor)
        if purpose == "sslserver" and _purpose_sslserver(f, must_be_ca > 0) == 0:
            return _verdict("INVALID_PURPOSE", i, name, ders, anchor)
        if i > 1 and f.pathlen is not None and plen > f.pathlen:
            return _verdict("PATH_LENGTH_EXCEEDED", i, name, ders, anchor)
        if i > 0 and not f.self_issued:
            plen += 1
        must_be_ca = 1

    # ---- check_id
    if name is not None and names == "openssl":
        if is_ip(name):
            if not ip_matches(leaf.der, name):
                return _verdict("IP_ADDRESS_MISMATCH", 0, name, ders, anchor)
        elif not host_matches(leaf.der, name):
            return _verdict("HOSTNAME_MISMATCH", 0, name, ders, anchor)

    # ---- internal_verify (top down): key usage, signature, validity
    n = num - 1
    xi = path[n]
    xs = xi
    if not _likely_issued(xi, xi):
        if n > 0:
            n -= 1
            xs = path[n]
        else:
            return _verdict("UNABLE_TO_VERIFY_LEAF_SIGNATURE", 0, name, ders, anchor)
    while n >= 0:
        if xs is not xi:
            if not xs.proxy and _ku_rejects_certsign(xi):
                return _verdict("KEYUSAGE_NO_CERTSIGN", n + 1, name, ders, anchor)
            if xi.key_type is None:
                return _verdict("UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY", n + 1, name, ders, anchor)
            if not _signature_ok(xs, xi):
                return _verdict("CERT_SIGNATURE_FAILURE", n, name, ders, anchor)
        if xs.loaded is not None and xs.loaded.bad_not_before:  # X509_cmp_time() cannot read it
            return _verdict("ERROR_IN_CERT_NOT_BEFORE_FIELD", n, name, ders, anchor)
        if xs.not_before > t:
            return _verdict("CERT_NOT_YET_VALID", n, name, ders, anchor)
        if xs.loaded is not None and xs.loaded.bad_not_after:
            return _verdict("ERROR_IN_CERT_NOT_AFTER_FIELD", n, name, ders, anchor)
        if xs.not_after <= t:
            return _verdict("CERT_HAS_EXPIRED", n, name, ders, anchor)
        n -= 1
        if n >= 0:
            xi, xs = xs, path[n]
    if name is not None and names == "traffic_server" and not traffic_server_name_matches(leaf.der, name):
        return _verdict("IP_ADDRESS_MISMATCH" if is_ip(name) else "HOSTNAME_MISMATCH", 0, name, ders, anchor)

    # ---- check_name_constraints (top down; self-issued intermediates are exempt)
    for i in range(num - 1, -1, -1):
        x = path[i]
        if i != 0 and x.self_issued:
            continue
        for j in range(num - 1, i, -1):
            nc = path[j].nc
            if nc is not None:
                violation = _name_constraints_violation(x, nc, i == 0)
                if violation:
                    return _verdict(violation, i, name, ders, anchor)
    return _verdict("OK", None, name, ders, anchor)


def x509_sha256(der: bytes) -> str:
    return sha256_hex(der)


def name_for(sni: str | None, server_ip: str) -> str:
    """The name Expressway's traffic server checks: the SNI, or without SNI the server's IP."""
    return sni if sni else server_ip


def verify_connection(conn: TlsConnection, trust: TrustStore, names: str = "openssl") -> Verdict | None:
    """:func:`verify_chain` as a TLS client does it for a :class:`~pcaptls.model.TlsConnection`:
    its server chain, at the time the Certificate message was seen, against the SNI (or the
    server's IP), with purpose "sslserver" (libssl's default for a client). ``None`` when no
    server certificate was seen (TLS 1.3, or an incomplete capture); an UNSPECIFIED verdict
    with ``detail`` when a certificate does not decode."""
    if not conn.server_certs:
        return None
    # Judge at the moment the Certificate message was seen (else the connection's start).
    t = next((e.time for e in conn.handshake if e.type == 11 and e.sender == "server"), conn.start)
    at = datetime.fromtimestamp(t, timezone.utc)
    name = name_for(conn.sni, conn.server.ip)
    try:
        return verify_chain(conn.server_certs, trust, at, name, purpose="sslserver", names=names)
    except MalformedError as e:
        v = _verdict("UNSPECIFIED", None, name)
        return dataclasses.replace(v, detail=str(e))


# --------------------------------------------------------------------------------------------
# The verdict in a network engineer's words, and what to change on Expressway-C

_PLAIN: dict[str, str] = {
    "OK": "the chain verifies",
    "DEPTH_ZERO_SELF_SIGNED_CERT": "the server's own certificate is self-signed and not in the trust store",
    "SELF_SIGNED_CERT_IN_CHAIN": "the chain ends in a root CA that is not in the trust store",
    "UNABLE_TO_GET_ISSUER_CERT_LOCALLY": "the CA that signed {cert} is not in the trust store (nor sent by the server)",
    "UNABLE_TO_GET_ISSUER_CERT": "the trust store holds {cert} but not the root CA above it",
    "CERT_HAS_EXPIRED": "{cert} had expired at the time of the handshake",
    "CERT_NOT_YET_VALID": "{cert} was not yet valid at the time of the handshake (check clocks)",
    "HOSTNAME_MISMATCH": "the name {name} is not in the server certificate's SAN (or CN)",
    "IP_ADDRESS_MISMATCH": "the address {name} is not in the server certificate's SAN",
    "INVALID_CA": "{cert} signs certificates but is not a CA certificate",
    "INVALID_PURPOSE": "{cert} is not meant for TLS servers (extended key usage or key usage)",
    "CERT_SIGNATURE_FAILURE": "the signature on {cert} does not verify",
    "UNHANDLED_CRITICAL_EXTENSION": "{cert} has a critical extension OpenSSL does not understand",
    "PATH_LENGTH_EXCEEDED": "the chain is longer than {cert}'s path length constraint allows",
    "CERT_CHAIN_TOO_LONG": "the chain is longer than the verification depth",
    "KEYUSAGE_NO_CERTSIGN": "{cert} signs certificates but its key usage does not allow it",
}

_FIX: dict[str, str] = {
    "DEPTH_ZERO_SELF_SIGNED_CERT": "upload this certificate to Expressway-C's trust store on every cluster node "
    "(Maintenance > Security > Trusted CA certificate), or have it CA-signed; for a self-signed ECDSA certificate "
    "(X14.2 prefers ECDSA) CA-sign it, or prefer RSA by prefixing the cipher string with ECDHE-RSA-AES256-GCM-SHA384:",
    "SELF_SIGNED_CERT_IN_CHAIN": "upload the root CA (and intermediates) to Expressway-C's trust store on every node",
    "UNABLE_TO_GET_ISSUER_CERT_LOCALLY": "upload the issuing CA chain to Expressway-C's trust store on every node "
    "(and have the server send its intermediates)",
    "UNABLE_TO_GET_ISSUER_CERT": "upload the root CA above the trusted intermediate to Expressway-C's trust store",
    "CERT_HAS_EXPIRED": "renew the certificate on the server (or the expired CA, and re-upload it)",
    "CERT_NOT_YET_VALID": "check the clocks (NTP) of Expressway-C and the server, or reissue the certificate",
    "HOSTNAME_MISMATCH": "put the FQDN in use into the certificate's SAN, or change CUCM's System > Server entry "
    "to a name the certificate holds, then refresh the Expressway configuration",
    "IP_ADDRESS_MISMATCH": "put the IP address into the certificate's SAN, or change CUCM's System > Server entry "
    "to an FQDN the certificate holds, then refresh the Expressway configuration",
    "INVALID_CA": "reissue the chain from a proper CA (basicConstraints CA:TRUE, keyCertSign)",
    "INVALID_PURPOSE": "reissue the certificate with TLS Web Server Authentication in its extended key usage",
}


def explain(v: Verdict, cert_name: str | None = None) -> str:
    """``v`` in plain words; ``cert_name`` names the certificate at ``v.depth`` (e.g. its CN)."""
    if v.error == "UNSPECIFIED" and v.detail:
        return f"pcaptls could not judge this chain: {v.detail}"
    who = cert_name or ("the server's certificate" if v.depth == 0 else f"the certificate at depth {v.depth}")
    text = _PLAIN.get(v.error)
    if text is None:
        return f"{v.message} (depth {v.depth})" if v.depth is not None else v.message
    return text.format(cert=who, name=v.name)


def fix(v: Verdict) -> str | None:
    """What to change, for the failures Expressway-C users meet; ``None`` for OK or the rest."""
    return _FIX.get(v.error)
