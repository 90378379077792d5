"""Read every certificate OpenSSL reads, where ``cryptography``'s strict DER parser refuses it.

``cryptography`` rejects encodings that OpenSSL 3.0 (and so Expressway's traffic server) accepts:
a DEFAULT value written out (``cA FALSE`` in basicConstraints, ``critical FALSE``, version v1),
times without seconds or with an offset, data trailing an extension's value, duplicate
extensions, malformed RSASSA-PSS parameters, EC keys with explicit curve parameters (older
versions). :func:`load` gives every certificate as a ``cryptography`` object all the same:

1. Try ``cryptography`` on the DER as sent (and every field pcaptls reads from it).
2. Where that fails, decode the certificate with ``pyasn1``'s BER decoder and the RFC 5280
   modules of ``pyasn1-modules``, repair what keeps ``cryptography`` from reading it (re-encode
   each part in DER, turn a recognised explicit curve into its name, drop a duplicate extension),
   and load the repaired DER. The fields are the same; the signature is no longer valid over the
   repaired bytes, so signatures are checked over the TBS bytes *as sent* (:func:`verify_signature`).
3. Record what OpenSSL's verification reads differently from the repaired certificate: a time
   ``X509_cmp_time`` cannot read (ERROR_IN_CERT_NOT_BEFORE/AFTER_FIELD), an extension OpenSSL
   caches that is duplicated or undecodable (EXFLAG_INVALID), explicit curve parameters
   (EC_KEY_EXPLICIT_PARAMS in a chain), PSS parameters no signature can verify under.

Every quirk found is named in :attr:`Loaded.anomalies`, so a user learns the certificate does
not conform. Bytes OpenSSL cannot parse either (a non-minimal INTEGER, a structure that ends
early) raise :class:`MalformedError` saying so: a TLS client then aborts with decode_error.

Why ``pyasn1`` (with ``pyasn1-modules``): it is maintained (the pyasn1 project publishes releases
through 2025-2026), pure Python, its BER decoder accepts exactly the non-DER forms above while its
DER encoder writes canonical DER back (DEFAULT values omitted), and ``pyasn1-modules`` has the
RFC 5280/3279/4055 structures, so no ASN.1 grammar is written here. ``asn1crypto`` was the other
candidate; its last release is from 2022. The repair path runs only for the rare certificate
``cryptography`` refuses, so pyasn1's speed does not matter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from ..errors import MalformedError

# --------------------------------------------------------------------------------------------
# A bounds-checked TLV walk (no ASN.1 library needed for the facts every certificate is scanned for)


def _tlv(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the TLV at ``pos``; ValueError past ``end``."""
    if pos + 2 > end:
        raise ValueError("truncated TLV")
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise ValueError("high tag number")
    n = buf[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or pos + k > end:
            raise ValueError("bad length")
        n = int.from_bytes(buf[pos : pos + k], "big")
        pos += k
    if pos + n > end:
        raise ValueError("length past the end")
    return tag, pos, pos + n


def _children(buf: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, header start, content start, content end) of each TLV in ``buf[start:end]``."""
    out = []
    pos = start
    while pos < end:
        tag, cs, ce = _tlv(buf, pos, end)
        out.append((tag, pos, cs, ce))
        pos = ce
    return out


@dataclass(frozen=True, slots=True)
class _Layout:
    tbs: bytes  # the bytes the signature covers
    serial: bytes  # INTEGER content
    version_explicit: bool
    version: int
    times: tuple[tuple[int, bytes], tuple[int, bytes]]  # (tag, text) of notBefore, notAfter
    spki_params_tag: int | None  # tag of the SPKI algorithm's parameters (0x30: explicit curve)
    spki_oid: bytes


_EC_PUBLIC_KEY = bytes.fromhex("2a8648ce3d0201")


def _layout(der: bytes) -> _Layout:
    """The parts of a certificate read straight from its TLVs; ValueError if they are not there."""
    tag, cs, ce = _tlv(der, 0, len(der))
    if tag != 0x30:
        raise ValueError("not a SEQUENCE")
    outer = _children(der, cs, ce)
    if len(outer) != 3 or outer[0][0] != 0x30:
        raise ValueError("a certificate is three parts, TBS first")
    _, th, tcs, tce = outer[0]
    fields = _children(der, tcs, tce)
    version_explicit = bool(fields) and fields[0][0] == 0xA0
    version = 0
    if version_explicit:
        _, _, vcs, vce = fields[0]
        vt, vs, ve = _tlv(der, vcs, vce)
        if vt != 0x02:
            raise ValueError("version is not an INTEGER")
        version = _int(der[vs:ve], "version")
        fields = fields[1:]
    if len(fields) < 6:
        raise ValueError("TBSCertificate too short")
    st, _, scs, sce = fields[0]
    if st != 0x02:
        raise ValueError("serial is not an INTEGER")
    _int(der[scs:sce], "serial number")
    vt, _, vcs, vce = fields[3]
    validity = _children(der, vcs, vce)
    if vt != 0x30 or len(validity) != 2:
        raise ValueError("validity is not two times")
    times = tuple((t, der[c:e]) for t, _, c, e in validity)
    kt, _, kcs, kce = fields[5]
    spki = _children(der, kcs, kce)
    if kt != 0x30 or len(spki) != 2:
        raise ValueError("subjectPublicKeyInfo is not two parts")
    alg = _children(der, spki[0][2], spki[0][3])
    if not alg or alg[0][0] != 0x06:
        raise ValueError("public key algorithm is not an OID")
    return _Layout(
        tbs=der[th:tce], serial=der[scs:sce], version_explicit=version_explicit, version=version,
        times=times,  # type: ignore[arg-type]
        spki_params_tag=alg[1][0] if len(alg) > 1 else None, spki_oid=der[alg[0][2] : alg[0][3]],
    )


def _int(content: bytes, what: str) -> int:
    """An INTEGER's value; ValueError for the encodings OpenSSL 3.0 refuses (empty, padded)."""
    if not content:
        raise ValueError(f"empty INTEGER in the {what}")
    if len(content) > 1 and (
        (content[0] == 0 and content[1] < 0x80) or (content[0] == 0xFF and content[1] >= 0x80)
    ):
        raise ValueError(f"non-minimal INTEGER in the {what} (OpenSSL: illegal padding)")
    return int.from_bytes(content, "big", signed=True)


# --------------------------------------------------------------------------------------------
# Times as OpenSSL reads them

_TIME = re.compile(rb"(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(\.\d+)?(Z|[+-]\d{4})?\Z")


def openssl_time(tag: int, text: bytes) -> datetime | None:
    """ASN1_TIME_to_tm(): UTCTime ``YYMMDDHHMM[SS](Z|+-hhmm)``, GeneralizedTime
    ``YYYYMMDDHHMM[SS[.f]](Z|+-hhmm)``, as an aware UTC datetime; ``None`` when unreadable."""
    m = _TIME.match(text)
    if not m or (tag == 0x17 and (len(m.group(1)) != 2 or m.group(7))) or (tag == 0x18 and len(m.group(1)) != 4):
        return None
    if m.group(8) is None:
        return None  # a local time: OpenSSL refuses it
    year = int(m.group(1))
    if tag == 0x17:
        year += 1900 if year >= 50 else 2000
    try:
        t = datetime(year, int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5)),
                     int(m.group(6) or 0), tzinfo=timezone.utc)
    except ValueError:
        return None
    zone = m.group(8)
    if zone != b"Z":
        off = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
        t = t - off if zone[:1] == b"+" else t + off
    return t


def cmp_time_readable(tag: int, text: bytes) -> bool:
    """Whether X509_cmp_time() can compare this time: exactly ``YYMMDDHHMMSSZ`` or
    ``YYYYMMDDHHMMSSZ`` (else OpenSSL reports ERROR_IN_CERT_NOT_BEFORE/AFTER_FIELD)."""
    want = {0x17: 13, 0x18: 15}.get(tag)
    return (want == len(text) and text[:-1].isdigit() and text[-1:] == b"Z"
            and openssl_time(tag, text) is not None)


# --------------------------------------------------------------------------------------------
# Named curves OpenSSL recognises when their parameters are written out (EC_GROUP_new_from_ecparameters)

_CURVES: dict[str, tuple[ec.EllipticCurve, int, int, int, int, int, int]] = {
    # name: (curve, p, a, b, Gx, Gy, n)
    "prime256v1": (
        ec.SECP256R1(),
        0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
        0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC,
        0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
        0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
        0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
        0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    ),
    "secp384r1": (
        ec.SECP384R1(),
        int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFF", 16),
        int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFF0000000000000000FFFFFFFC", 16),
        int("B3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF", 16),
        int("AA87CA22BE8B05378EB1C71EF320AD746E1D3B628BA79B9859F741E082542A385502F25DBF55296C3A545E3872760AB7", 16),
        int("3617DE4A96262C6F5D9E98BF9292DC29F8F41DBD289A147CE9DA3113B5F0B8C00A60B1CE1D7E819D7A431D7C90EA0E5F", 16),
        int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16),
    ),
    "secp521r1": (
        ec.SECP521R1(),
        2**521 - 1,
        2**521 - 4,
        int("0051953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF109E156193951EC7E937B1652C0BD3BB1BF"
            "073573DF883D2C34F1EF451FD46B503F00", 16),
        int("00C6858E06B70404E9CD9E3ECB662395B4429C648139053FB521F828AF606B4D3DBAA14B5E77EFE75928FE1DC127A2FFA8"
            "DE3348B3C1856A429BF97E7E31C2E5BD66", 16),
        int("011839296A789A3BC0045C8A5FB42C7D1BD998F54449579B446817AFBD17273E662C97EE72995EF42640C550B9013FAD07"
            "61353C7086A272C24088BE94769FD16650", 16),
        int("01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9"
            "B8899C47AEBB6FB71E91386409", 16),
    ),
    "secp256k1": (
        ec.SECP256K1(),
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F,
        0,
        7,
        0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
        0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    ),
}
_CURVE_OIDS = {"prime256v1": "1.2.840.10045.3.1.7", "secp384r1": "1.3.132.0.34", "secp521r1": "1.3.132.0.35",
               "secp256k1": "1.3.132.0.10"}


@dataclass(frozen=True, slots=True)
class ExplicitCurve:
    """An EC public key whose curve is written out (X9.62 ECParameters): the curve and the point."""

    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int
    qx: int
    qy: int
    named: str | None  # the named curve these parameters are, if any


def _point(octs: bytes, p: int, a: int, b: int) -> tuple[int, int]:
    size = (p.bit_length() + 7) // 8
    if octs[:1] == b"\x04" and len(octs) == 1 + 2 * size:
        return int.from_bytes(octs[1 : 1 + size], "big"), int.from_bytes(octs[1 + size :], "big")
    if octs[:1] in (b"\x02", b"\x03") and len(octs) == 1 + size and p % 4 == 3:
        x = int.from_bytes(octs[1:], "big")
        y = pow((x * x * x + a * x + b) % p, (p + 1) // 4, p)
        if (y & 1) != (octs[0] & 1):
            y = p - y
        return x, y
    raise ValueError("unsupported EC point encoding")


def explicit_curve(spki_der: bytes) -> ExplicitCurve | None:
    """The explicit curve of an EC SubjectPublicKeyInfo, ``None`` for a named curve or another key."""
    from pyasn1.codec.ber import decoder
    from pyasn1_modules import rfc3279, rfc5280

    info, _ = decoder.decode(spki_der, asn1Spec=rfc5280.SubjectPublicKeyInfo())
    if str(info["algorithm"]["algorithm"]) != "1.2.840.10045.2.1":
        return None
    params_der = bytes(info["algorithm"]["parameters"])
    if not params_der or params_der[0] != 0x30:
        return None
    params, _ = decoder.decode(params_der, asn1Spec=rfc3279.ECParameters())
    if str(params["fieldID"]["fieldType"]) != "1.2.840.10045.1.1":
        raise ValueError("only prime-field curves are supported")
    p_int, _ = decoder.decode(bytes(params["fieldID"]["parameters"]))
    p = int(p_int)
    a = int.from_bytes(bytes(params["curve"]["a"]), "big")
    b = int.from_bytes(bytes(params["curve"]["b"]), "big")
    gx, gy = _point(bytes(params["base"]), p, a, b)
    n = int(params["order"])
    qx, qy = _point(info["subjectPublicKey"].asOctets(), p, a, b)
    named = next((name for name, (_, cp, ca, cb, cgx, cgy, cn) in _CURVES.items()
                  if (cp, ca, cb, cgx, cgy, cn) == (p, a, b, gx, gy, n)), None)
    return ExplicitCurve(p, a, b, gx, gy, n, qx, qy, named)


def _named_spki(curve: ExplicitCurve) -> bytes:
    # here, as below: only a certificate with an explicit curve needs them (4 ms to import)
    from cryptography.hazmat.primitives import serialization

    key = ec.EllipticCurvePublicNumbers(curve.qx, curve.qy, _CURVES[curve.named][0]).public_key()  # type: ignore[index]
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _ecdsa_verify(curve: ExplicitCurve, sig: bytes, digest: bytes) -> bool:
    """ECDSA over a curve ``cryptography`` has no name for (a generator of one's own choosing: the
    CVE-2020-0601 shape). OpenSSL 3.0 verifies with such keys, so pcaptls must too."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(sig)
    n = curve.n
    if not (0 < r < n and 0 < s < n):
        return False
    e = int.from_bytes(digest, "big")
    if len(digest) * 8 > n.bit_length():
        e >>= len(digest) * 8 - n.bit_length()
    w = pow(s, -1, n)
    p, a = curve.p, curve.a

    def add(P: tuple[int, int] | None, Q: tuple[int, int] | None) -> tuple[int, int] | None:
        if P is None:
            return Q
        if Q is None:
            return P
        if P[0] == Q[0] and (P[1] + Q[1]) % p == 0:
            return None
        if P == Q:
            m = (3 * P[0] * P[0] + a) * pow(2 * P[1], -1, p) % p
        else:
            m = (Q[1] - P[1]) * pow(Q[0] - P[0], -1, p) % p
        x = (m * m - P[0] - Q[0]) % p
        return x, (m * (P[0] - x) - P[1]) % p

    def mul(k: int, P: tuple[int, int]) -> tuple[int, int] | None:
        R: tuple[int, int] | None = None
        Q: tuple[int, int] | None = P
        while k:
            if k & 1:
                R = add(R, Q)
            Q = add(Q, Q)
            k >>= 1
        return R

    X = add(mul(e * w % n, (curve.gx, curve.gy)), mul(r * w % n, (curve.qx, curve.qy)))
    return X is not None and X[0] % n == r


# --------------------------------------------------------------------------------------------
# The repair


_EXT_NAMES = {
    "2.5.29.19": "basicConstraints", "2.5.29.15": "keyUsage", "2.5.29.37": "extendedKeyUsage",
    "2.5.29.17": "subjectAltName", "2.5.29.18": "issuerAltName", "2.5.29.14": "subjectKeyIdentifier",
    "2.5.29.35": "authorityKeyIdentifier", "2.5.29.30": "nameConstraints", "2.5.29.32": "certificatePolicies",
    "2.5.29.31": "cRLDistributionPoints", "1.3.6.1.5.5.7.1.1": "authorityInfoAccess",
    "2.5.29.36": "policyConstraints", "2.5.29.54": "inhibitAnyPolicy", "2.5.29.33": "policyMappings",
    "2.16.840.1.113730.1.1": "nsCertType", "1.3.6.1.5.5.7.1.14": "proxyCertInfo",
}

# Extensions x509v3_cache_extensions() decodes: a duplicate or an undecodable one sets EXFLAG_INVALID
# (X509_get_ext_d2i's "found more than once" / decoding failure), and OpenSSL then finds no issuer
# for (nor issued by) the certificate.
_CACHED = frozenset({"2.5.29.19", "2.5.29.15", "2.5.29.37", "2.5.29.17", "2.5.29.14", "2.5.29.35",
                     "2.5.29.30", "2.16.840.1.113730.1.1", "1.3.6.1.5.5.7.1.14", "2.5.29.31"})


def _ext_specs() -> dict[str, Any]:
    from pyasn1_modules import rfc5280

    return {
        "2.5.29.19": rfc5280.BasicConstraints, "2.5.29.15": rfc5280.KeyUsage,
        "2.5.29.37": rfc5280.ExtKeyUsageSyntax, "2.5.29.17": rfc5280.SubjectAltName,
        "2.5.29.18": rfc5280.IssuerAltName, "2.5.29.14": rfc5280.SubjectKeyIdentifier,
        "2.5.29.35": rfc5280.AuthorityKeyIdentifier, "2.5.29.30": rfc5280.NameConstraints,
        "2.5.29.32": rfc5280.CertificatePolicies, "2.5.29.31": rfc5280.CRLDistributionPoints,
        "1.3.6.1.5.5.7.1.1": rfc5280.AuthorityInfoAccessSyntax, "2.5.29.36": rfc5280.PolicyConstraints,
        "2.5.29.54": rfc5280.InhibitAnyPolicy, "2.5.29.33": rfc5280.PolicyMappings,
    }


_PSS = "1.2.840.113549.1.1.10"


@dataclass(frozen=True, slots=True)
class Loaded:
    """A certificate as OpenSSL reads it: ``cryptography``'s view, and what differs.

    ``cert`` is ``cryptography``'s object of the DER as sent, or, when ``lenient``, of a repaired
    re-encoding with the same fields (its signature does not cover the repaired bytes: check with
    :func:`verify_signature`). ``tbs`` is the TBSCertificate as sent.
    """

    der: bytes
    cert: x509.Certificate
    tbs: bytes
    lenient: bool
    anomalies: tuple[str, ...]
    not_before: datetime  # as OpenSSL reads it, UTC
    not_after: datetime
    bad_not_before: bool  # X509_cmp_time() cannot compare it: ERROR_IN_CERT_NOT_BEFORE_FIELD
    bad_not_after: bool
    ext_invalid: bool  # OpenSSL's EXFLAG_INVALID
    explicit_curve: ExplicitCurve | None  # the key's curve is written out (EC_KEY_EXPLICIT_PARAMS)
    sig_params_bad: bool  # signature parameters no signature verifies under
    key_type: str | None  # "EC" for a curve cryptography cannot load; else None (ask the key)


def _probe(cert: x509.Certificate) -> None:
    """Touch every field pcaptls reads, so a lazily-parsed part that ``cryptography`` refuses
    shows here, once, rather than in the middle of a verification."""
    cert.subject
    cert.issuer
    cert.serial_number
    cert.not_valid_before_utc
    cert.not_valid_after_utc
    cert.extensions
    cert.signature_algorithm_oid
    cert.signature_algorithm_parameters
    cert.signature_hash_algorithm
    cert.public_key()


def strict(der: bytes) -> x509.Certificate | None:
    """``cryptography``'s object of ``der`` when it reads every field pcaptls uses, else ``None``.
    :func:`load` then takes that object as it is and cannot raise: each check of :func:`_layout`
    is one ``cryptography``'s DER parser makes too, or concerns a key it could not load. Cheaper
    than :func:`load` where the quirks it records are not wanted (a trust store's certificates)."""
    cert = _strict(der)
    return None if isinstance(cert, str) else cert


@lru_cache(maxsize=4096)
def _strict(der: bytes) -> x509.Certificate | str:
    """:func:`strict`, or why ``cryptography`` refuses ``der`` (for :func:`load`'s message)."""
    try:
        cert = x509.load_der_x509_certificate(der)
        _probe(cert)
    except Exception as e:
        return str(e)
    return cert


def _scan_anomalies(lay: _Layout) -> list[str]:
    """Quirks of certificates ``cryptography`` reads too (it accepts them, OpenSSL does too)."""
    out = []
    serial = int.from_bytes(lay.serial, "big", signed=True)
    if serial < 0:
        out.append("negative serial number (RFC 5280 requires a positive one)")
    elif serial == 0:
        out.append("serial number zero (RFC 5280 requires a positive one)")
    if len(lay.serial) > 20:
        out.append(f"serial number of {len(lay.serial)} octets (RFC 5280 allows at most 20)")
    for (tag, text), which in zip(lay.times, ("notBefore", "notAfter")):
        t = openssl_time(tag, text)
        if tag == 0x18 and t is not None and t.year < 2050:
            out.append(f"{which} is a GeneralizedTime before 2050 (RFC 5280 requires UTCTime)")
    return out


@lru_cache(maxsize=4096)
def load(der: bytes) -> Loaded:
    """The certificate in ``der`` as OpenSSL reads it (see the module docstring).

    Raises :class:`MalformedError` when OpenSSL could not parse it either.
    """
    try:
        lay = _layout(der)
    except ValueError as e:
        raise MalformedError(f"certificate does not decode, and OpenSSL cannot parse it either: {e}; "
                             "a TLS client aborts the handshake with a decode_error alert") from e
    explicit = None
    if lay.spki_oid == _EC_PUBLIC_KEY and lay.spki_params_tag == 0x30:
        explicit = _explicit_of(der, lay)
    (nbt, nbs), (nat, nas) = lay.times
    anomalies = _scan_anomalies(lay)
    if explicit is not None:
        anomalies.append("EC public key with explicit curve parameters"
                         + (f" ({explicit.named} written out)" if explicit.named else " (not a named curve)"))
    cert = _strict(der)
    if not isinstance(cert, str):
        return Loaded(der, cert, lay.tbs, False, tuple(anomalies), cert.not_valid_before_utc,
                      cert.not_valid_after_utc, not cmp_time_readable(nbt, nbs), not cmp_time_readable(nat, nas),
                      False, explicit, False, None)
    first_error = cert  # repaired below
    try:
        return _repair(der, lay, explicit, anomalies)
    except MalformedError:
        raise
    except Exception as e:  # pyasn1 refused it too: OpenSSL would not read it either
        raise MalformedError(f"certificate does not decode: {first_error}; lenient decoding: {e}") from e


def _explicit_of(der: bytes, lay: _Layout) -> ExplicitCurve | None:
    tag, cs, ce = _tlv(der, 0, len(der))
    _, tcs, tce = _tlv(der, cs, ce)
    fields = _children(der, tcs, tce)
    if fields[0][0] == 0xA0:
        fields = fields[1:]
    _, h, _, e = fields[5]
    try:
        return explicit_curve(der[h:e])
    except Exception:
        return None


def _repair(der: bytes, lay: _Layout, explicit: ExplicitCurve | None, anomalies: list[str]) -> Loaded:
    from pyasn1.codec.ber import decoder
    from pyasn1.codec.der import encoder
    from pyasn1.type import univ, useful
    from pyasn1_modules import rfc5280

    cert_asn, rest = decoder.decode(der, asn1Spec=rfc5280.Certificate())
    if rest:
        raise MalformedError("certificate has data after its end")
    tbs = cert_asn["tbsCertificate"]

    if lay.version_explicit and lay.version == 0:
        anomalies.append("version v1 written out (DER omits the DEFAULT)")

    # Times: re-encode what OpenSSL reads in canonical form; remember what X509_cmp_time refuses.
    read: list[datetime] = []
    bad: list[bool] = []
    for (tag, text), which in zip(lay.times, ("notBefore", "notAfter")):
        t = openssl_time(tag, text)
        ok = cmp_time_readable(tag, text)
        bad.append(not ok)
        if not ok:
            anomalies.append(f"{which} {'UTCTime' if tag == 0x17 else 'GeneralizedTime'} "
                             f"{text.decode('latin-1')!r} is not in RFC 5280 form (OpenSSL cannot compare it)")
        if t is None:
            t = datetime(1970, 1, 1, tzinfo=timezone.utc)
        read.append(t)
        choice = rfc5280.Time()
        if 1950 <= t.year < 2050:
            choice["utcTime"] = useful.UTCTime(t.strftime("%y%m%d%H%M%SZ"))
        else:
            choice["generalTime"] = useful.GeneralizedTime(t.strftime("%Y%m%d%H%M%SZ"))
        tbs["validity"][which] = choice

    # Extensions: each value re-encoded in DER; duplicates and undecodable ones noted.
    ext_invalid = False
    exts = tbs["extensions"]
    if exts.isValue:
        specs = _ext_specs()
        keep = exts.clone()  # empty, with the [3] EXPLICIT tag
        seen: set[str] = set()
        for e in exts:
            oid = str(e["extnID"])
            name = _EXT_NAMES.get(oid, oid)
            if oid in seen:
                anomalies.append(f"duplicate extension {name}")
                if oid in _CACHED:
                    ext_invalid = True
                continue
            seen.add(oid)
            value = bytes(e["extnValue"])
            raw = _raw_extension(der, oid)
            if raw is not None and raw[1]:
                anomalies.append(f"extension {name}: critical FALSE written out (DER omits the DEFAULT)")
            spec = specs.get(oid)
            if spec is not None:
                try:
                    decoded, trailing = decoder.decode(value, asn1Spec=spec())
                    fixed = encoder.encode(decoded)
                except Exception:
                    anomalies.append(f"extension {name} does not decode")
                    if oid in _CACHED:
                        ext_invalid = True
                    continue
                if trailing:
                    anomalies.append(f"extension {name}: {len(trailing)} bytes of trailing data after its value (OpenSSL ignores them)")
                if fixed != value[: len(value) - len(trailing)]:
                    anomalies.append(f"extension {name} is not DER"
                                     + (" (a DEFAULT value written out)" if _has_default(oid, value) else ""))
                if fixed != value:
                    e = e.clone(cloneValueFlag=True)
                    e["extnValue"] = univ.OctetString(fixed)
            keep.append(e)
        tbs["extensions"] = keep

    # The key: a named curve written out becomes its name; a curve of its own stays as it is.
    key_type = None
    if explicit is not None:
        if explicit.named:
            spki_asn, _ = decoder.decode(_named_spki(explicit), asn1Spec=rfc5280.SubjectPublicKeyInfo())
            tbs["subjectPublicKeyInfo"] = spki_asn
        else:
            key_type = "EC"

    # Signature algorithm: RSASSA-PSS parameters cryptography refuses (CVE-2015-3194's shape).
    sig_params_bad = False
    for alg in (tbs["signature"], cert_asn["signatureAlgorithm"]):
        if str(alg["algorithm"]) != _PSS:
            continue
        if not _pss_ok(bytes(alg["parameters"]) if alg["parameters"].isValue else b""):
            sig_params_bad = True
            alg["parameters"] = univ.Any(_PSS_SHA256)
    if sig_params_bad:
        anomalies.append("RSASSA-PSS parameters malformed (no signature verifies under them)")

    cert_asn["tbsCertificate"] = tbs
    repaired = encoder.encode(cert_asn)
    try:
        cert = x509.load_der_x509_certificate(repaired)
        _probe_repaired(cert, key_type)
    except Exception as e:
        raise MalformedError(f"certificate does not decode even leniently: {e}") from e
    if not anomalies:
        anomalies.append("not DER-encoded (re-encoded to read it)")
    return Loaded(der, cert, lay.tbs, True, tuple(anomalies), read[0], read[1], bad[0], bad[1], ext_invalid,
                  explicit, sig_params_bad, key_type)


def _probe_repaired(cert: x509.Certificate, key_type: str | None) -> None:
    try:
        _probe(cert)
    except Exception:
        if key_type is None:
            raise
        # a curve of its own: everything but the key must read
        cert.subject
        cert.issuer
        cert.not_valid_before_utc
        cert.not_valid_after_utc
        cert.extensions


# RSASSA-PSS-params { sha256, mgf1(sha256), saltLength 32 }: a stand-in cryptography reads
_PSS_SHA256 = bytes.fromhex(
    "3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120")


def _pss_ok(params: bytes) -> bool:
    """Whether RSASSA-PSS parameters name a hash and an MGF1 with its hash (what OpenSSL's
    ossl_rsa_pss_get_param needs to verify anything)."""
    from pyasn1.codec.ber import decoder
    from pyasn1_modules import rfc4055

    try:
        p, _ = decoder.decode(params, asn1Spec=rfc4055.RSASSA_PSS_params())
        mgf = p["maskGenAlgorithm"]
        if mgf.isValue and not mgf["parameters"].isValue:
            return False
        return True
    except Exception:
        return False


def _raw_extension(der: bytes, oid: str) -> tuple[bytes, bool] | None:
    """(value, critical written as FALSE) of the first extension ``oid`` as sent."""
    try:
        _, cs, ce = _tlv(der, 0, len(der))
        _, tcs, tce = _tlv(der, cs, ce)
        for tag, _, c, e in _children(der, tcs, tce):
            if tag != 0xA3:
                continue
            _, ecs, ece = _tlv(der, c, e)
            for _, _, xc, xe in _children(der, ecs, ece):
                parts = _children(der, xc, xe)
                if _oid_text(der[parts[0][2] : parts[0][3]]) != oid:
                    continue
                explicit_false = len(parts) == 3 and parts[1][0] == 0x01 and der[parts[1][2] : parts[1][3]] == b"\x00"
                return der[parts[-1][2] : parts[-1][3]], explicit_false
    except (ValueError, IndexError):
        return None
    return None


def _oid_text(b: bytes) -> str:
    if not b:
        return ""
    arcs = [b[0] // 40 if b[0] < 80 else 2, b[0] % 40 if b[0] < 80 else b[0] - 80]
    n = 0
    for c in b[1:]:
        n = (n << 7) | (c & 0x7F)
        if not c & 0x80:
            arcs.append(n)
            n = 0
    return ".".join(map(str, arcs))


def _has_default(oid: str, value: bytes) -> bool:
    """basicConstraints with cA FALSE written out (the common case: many older CAs do it)."""
    return oid == "2.5.29.19" and value[2:5] == b"\x01\x01\x00"


# --------------------------------------------------------------------------------------------
# Signatures over the bytes as sent


def verify_signature(subject: Loaded, issuer: Loaded) -> bool:
    """Whether ``issuer``'s key verifies ``subject``'s signature over its TBS bytes as sent,
    with ``cryptography``'s primitives (pure Python only for a curve it has no name for)."""
    c = subject.cert
    if subject.sig_params_bad:
        return False
    try:
        params: Any = c.signature_algorithm_parameters
        digest: Any = c.signature_hash_algorithm
        sig = c.signature
        if issuer.key_type == "EC" and issuer.explicit_curve is not None and issuer.explicit_curve.named is None:
            if digest is None:
                return False
            h = hashes.Hash(digest)
            h.update(subject.tbs)
            return _ecdsa_verify(issuer.explicit_curve, sig, h.finalize())
        key = issuer.cert.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, subject.tbs, params, digest)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, subject.tbs, params)
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(sig, subject.tbs, digest)
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(sig, subject.tbs)
        else:
            return False
        return True
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False

