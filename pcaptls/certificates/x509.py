"""Decode DER certificates with ``cryptography`` into plain, frozen records.

Each distinct certificate is decoded once: :func:`decode` memoises by the SHA-256 of the DER,
which is also the identity users see (tshark's and ``openssl x509 -fingerprint -sha256``'s).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from ..errors import MalformedError
from ..times import iso_seconds
from .lenient import Loaded, strict, verify_signature
from .lenient import load as load_lenient
from .names import OPENSSL_SHORT_NAMES


@dataclass(frozen=True, slots=True)
class CertInfo:
    """The fields of a certificate a network engineer needs, plus its DER."""

    der: bytes
    sha256: str
    subject: str  # RFC 4514, as `openssl x509 -nameopt RFC2253` prints it
    issuer: str
    common_name: str | None
    serial: str  # hex
    not_before: datetime  # aware, UTC
    not_after: datetime
    san_dns: tuple[str, ...]
    san_ip: tuple[str, ...]
    key_type: str  # "RSA", "EC", "Ed25519", "Ed448", "DSA", or the OID
    key_bits: int | None
    curve: str | None
    signature_algorithm: str
    self_issued: bool  # subject == issuer
    self_signed: bool  # self-issued and its own key verifies its signature
    is_ca: bool | None  # basicConstraints cA, None when the extension is absent
    anomalies: tuple[str, ...] = ()  # how it departs from RFC 5280 / DER (lenient.py), e.g. explicit DEFAULTs

    @property
    def key(self) -> str:
        if self.curve:
            return f"{self.key_type} {self.curve}"
        return f"{self.key_type} {self.key_bits}" if self.key_bits else self.key_type

    @property
    def san(self) -> tuple[str, ...]:
        return tuple(f"DNS:{d}" for d in self.san_dns) + tuple(f"IP:{i}" for i in self.san_ip)

    @property
    def short_name(self) -> str:
        return self.common_name or self.subject or self.sha256[:16]

    def to_dict(self) -> dict[str, object]:
        return {
            "sha256": self.sha256,
            "subject": self.subject,
            "issuer": self.issuer,
            "common_name": self.common_name,
            "serial": self.serial,
            "not_before": iso_seconds(self.not_before),
            "not_after": iso_seconds(self.not_after),
            "san": list(self.san),
            "key": self.key,
            "signature_algorithm": self.signature_algorithm,
            "self_signed": self.self_signed,
            "is_ca": self.is_ca,
            **({"anomalies": list(self.anomalies)} if self.anomalies else {}),
        }


def _key_facts(cert: x509.Certificate) -> tuple[str, int | None, str | None]:
    try:
        key = cert.public_key()
    except Exception:  # unsupported or malformed key: still report the certificate
        return (cert.public_key_algorithm_oid.dotted_string if hasattr(cert, "public_key_algorithm_oid") else "unknown", None, None)
    if isinstance(key, rsa.RSAPublicKey):
        return ("RSA", key.key_size, None)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return ("EC", key.key_size, key.curve.name)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ("Ed25519", 256, None)
    if isinstance(key, ed448.Ed448PublicKey):
        return ("Ed448", 456, None)
    if isinstance(key, dsa.DSAPublicKey):
        return ("DSA", key.key_size, None)
    return (type(key).__name__, None, None)


def _common_name(name: x509.Name) -> str | None:
    try:
        attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    except Exception:
        return None
    if not attrs:
        return None
    v = attrs[-1].value  # OpenSSL uses the last CN when there are several
    return v if isinstance(v, str) else v.decode("utf-8", "replace")


def _name(name: x509.Name) -> str:
    try:
        return name.rfc4514_string(OPENSSL_SHORT_NAMES)
    except Exception:  # undecodable attribute values in hostile certificates
        return repr(name)


def _signed_by_own_key(cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(cert)
        return True
    except Exception:
        return False


def _load(der: bytes) -> x509.Certificate:
    # cryptography's view; where it refuses what OpenSSL reads, of a repaired re-encoding (lenient.py)
    return load_lenient(der).cert


def _self_signed(loaded: Loaded) -> bool:
    if loaded.lenient or loaded.key_type:  # the signature covers the bytes as sent, not the repair
        return verify_signature(loaded, loaded)
    return _signed_by_own_key(loaded.cert)


def _names(cert: x509.Certificate) -> tuple[x509.Name, x509.Name, int]:
    try:  # parsed lazily: a mangled name or serial surfaces only here
        return cert.subject, cert.issuer, cert.serial_number
    except Exception as e:
        raise MalformedError(f"certificate names do not decode: {e}") from e


def _validity(cert: x509.Certificate) -> tuple[datetime, datetime]:
    try:
        return cert.not_valid_before_utc, cert.not_valid_after_utc
    except Exception as e:
        raise MalformedError(f"certificate validity does not decode: {e}") from e


@lru_cache(maxsize=4096)
def check(der: bytes) -> tuple[datetime, datetime]:
    """The (notBefore, notAfter) of one DER certificate, without decoding the rest.

    Raises :class:`MalformedError` exactly when :func:`decode` does, with the same message (the
    parts of a certificate :func:`decode` cannot do without are the ones checked here), at a
    tenth of its cost: for trust stores, whose hundred-odd certificates are mostly never shown.
    A certificate ``cryptography`` reads as it is skips :mod:`.lenient`'s survey of its quirks.
    """
    cert = strict(der) or _load(der)
    _names(cert)
    return _validity(cert)


def window(der: bytes) -> tuple[float, float] | None:
    """notBefore and notAfter as epoch seconds, or ``None`` when :func:`try_decode` gives ``None``."""
    try:
        nb, na = check(der)
    except MalformedError:
        return None
    return nb.timestamp(), na.timestamp()


@lru_cache(maxsize=4096)
def decode(der: bytes) -> CertInfo:
    """Decode one DER certificate; raises :class:`MalformedError` when it is not one (that
    OpenSSL would not read either: see :mod:`.lenient`)."""
    loaded = load_lenient(der)
    cert = loaded.cert
    try:
        san_ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        san_dns = tuple(san_ext.get_values_for_type(x509.DNSName))
        san_ip = tuple(str(i) for i in san_ext.get_values_for_type(x509.IPAddress))
    except Exception:  # absent, or malformed extensions in an old or hostile certificate
        san_dns, san_ip = (), ()
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca: bool | None = bool(bc.ca)
    except Exception:
        is_ca = None
    key_type, key_bits, curve = _key_facts(cert)
    if loaded.key_type and loaded.explicit_curve is not None:  # a curve of its own, written out
        key_type, key_bits, curve = "EC", loaded.explicit_curve.p.bit_length(), "explicit"
    try:
        sig = cert.signature_algorithm_oid._name  # e.g. "sha256WithRSAEncryption"
    except Exception:
        sig = "unknown"
    subject_name, issuer_name, serial = _names(cert)
    subject = _name(subject_name)
    issuer = _name(issuer_name)
    self_issued = subject_name == issuer_name
    nb, na = _validity(cert)
    return CertInfo(
        der=der,
        sha256=hashlib.sha256(der).hexdigest(),
        subject=subject,
        issuer=issuer,
        common_name=_common_name(subject_name),
        serial=format(serial, "x"),
        not_before=nb,
        not_after=na,
        san_dns=san_dns,
        san_ip=san_ip,
        key_type=key_type,
        key_bits=key_bits,
        curve=curve,
        signature_algorithm=sig,
        self_issued=self_issued,
        self_signed=self_issued and _self_signed(loaded),
        is_ca=is_ca,
        anomalies=loaded.anomalies,
    )


def try_decode(der: bytes) -> CertInfo | None:
    """:func:`decode`, or ``None`` for bytes that are not a certificate."""
    try:
        return decode(der)
    except MalformedError:
        return None


def sha256_hex(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()
