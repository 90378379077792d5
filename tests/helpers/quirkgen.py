"""Quirky certificates made by writing their DER by hand, signed with ``cryptography``'s keys.

Each :class:`Quirk` is a chain a server sends (leaf first), the CAs the client trusts, the name it
checks and the time it judges at, built around one encoding OpenSSL 3.0 reads and a strict DER
parser may not: explicit defaults, odd serials and times, empty subjects, duplicate or unknown
critical extensions, explicit EC curve parameters, v1 intermediates, T61String/BMPString names,
trailing data in extension values. ``openssl verify -attime`` and ``openssl x509 -text`` judge
and print them: they are the oracle (see :mod:`certgen`).

The certificates are written field by field (:func:`tbs`) so any one field can be mis-encoded on
purpose; the signature is a real one over those exact TBS bytes.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tests.helpers import certgen

DAY = timedelta(days=1)

# --------------------------------------------------------------------------------------------
# A small DER writer: every helper returns one encoded TLV.


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _len(len(content)) + content


def seq(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def set_(*parts: bytes) -> bytes:
    return tlv(0x31, b"".join(parts))


def oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    body = bytearray([arcs[0] * 40 + arcs[1]])
    for a in arcs[2:]:
        chunk = [a & 0x7F]
        a >>= 7
        while a:
            chunk.append(0x80 | (a & 0x7F))
            a >>= 7
        body += bytes(reversed(chunk))
    return tlv(0x06, bytes(body))


def integer(n: int) -> bytes:
    size = max(1, (n.bit_length() + 8) // 8)  # room for the sign bit
    return tlv(0x02, n.to_bytes(size, "big", signed=True))


def boolean(v: bool) -> bytes:
    return tlv(0x01, b"\xff" if v else b"\x00")


def octets(b: bytes) -> bytes:
    return tlv(0x04, b)


def bits(b: bytes, unused: int = 0) -> bytes:
    return tlv(0x03, bytes([unused]) + b)


def explicit(n: int, content: bytes) -> bytes:
    return tlv(0xA0 | n, content)


NULL = b"\x05\x00"
UTF8, PRINTABLE, T61, IA5, BMP = 0x0C, 0x13, 0x14, 0x16, 0x1E


def attr(o: str, value: str, tag: int = UTF8) -> bytes:
    raw = value.encode("utf-16-be") if tag == BMP else value.encode("latin-1" if tag == T61 else "utf-8")
    return set_(seq(oid(o), tlv(tag, raw)))


CN, O, EMAIL = "2.5.4.3", "2.5.4.10", "1.2.840.113549.1.9.1"


def dn(cn: str | None, org: str | None = "pcaptls quirks", tag: int = UTF8) -> bytes:
    parts = []
    if org:
        parts.append(attr(O, org, PRINTABLE))
    if cn is not None:
        parts.append(attr(CN, cn, tag))
    return seq(*parts)


def utc(t: datetime) -> bytes:
    return tlv(0x17, t.strftime("%y%m%d%H%M%SZ").encode())


def gen(t: datetime) -> bytes:
    return tlv(0x18, t.strftime("%Y%m%d%H%M%SZ").encode())


def rawtime(tag: int, text: str) -> bytes:
    return tlv(tag, text.encode())


def time_(t: datetime) -> bytes:
    return utc(t) if t.year < 2050 else gen(t)


def ext(o: str, value: bytes, critical: bool | None = None) -> bytes:
    """An extension; ``critical=False`` writes the DEFAULT FALSE out (not DER)."""
    return seq(oid(o), *([boolean(critical)] if critical is not None else []), octets(value))


BC, KU, SAN, SKI, AKI, EKU = "2.5.29.19", "2.5.29.15", "2.5.29.17", "2.5.29.14", "2.5.29.35", "2.5.29.37"


def bc(ca: bool | None, pathlen: int | None = None) -> bytes:
    """basicConstraints; ``ca=False`` writes cA FALSE out explicitly (DER omits it)."""
    parts = [] if ca is None else [boolean(ca)]
    if pathlen is not None:
        parts.append(integer(pathlen))
    return seq(*parts)


def san(dns: tuple[str, ...] = (), ips: tuple[bytes, ...] = ()) -> bytes:
    return seq(*[tlv(0x82, d.encode()) for d in dns], *[tlv(0x87, i) for i in ips])


def ku(cert_sign: bool) -> bytes:
    # digitalSignature, keyEncipherment (bits 0, 2) or keyCertSign, cRLSign (bits 5, 6)
    return bits(b"\x06", 1) if cert_sign else bits(b"\xa0", 5)


def ski_of(pub) -> bytes:
    spki = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashes_sha1(spki)[:20]


def hashes_sha1(b: bytes) -> bytes:
    h = hashes.Hash(hashes.SHA1())
    h.update(b)
    return h.finalize()


# --------------------------------------------------------------------------------------------
# Keys, explicit EC parameters, TBS and signing

SHA256_RSA = seq(oid("1.2.840.113549.1.1.11"), NULL)
SHA256_ECDSA = seq(oid("1.2.840.10045.4.3.2"))


@lru_cache(maxsize=None)
def rsa_key(label: str) -> rsa.RSAPrivateKey:
    return certgen.key("quirk-" + label, "rsa")


@lru_cache(maxsize=None)
def ec_key(label: str) -> ec.EllipticCurvePrivateKey:
    return certgen.key("quirk-" + label, "p256")


@lru_cache(maxsize=None)
def explicit_p256_params() -> bytes:
    """prime256v1's parameters written out (ECParameters), as ``openssl ecparam -param_enc explicit``."""
    assert certgen.OPENSSL
    r = subprocess.run([certgen.OPENSSL, "ecparam", "-name", "prime256v1", "-param_enc", "explicit",
                        "-outform", "DER"], capture_output=True, check=True, timeout=30)
    return r.stdout


def spki(key, explicit_params: bool = False) -> bytes:
    pub = key.public_key()
    if explicit_params:
        point = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return seq(seq(oid("1.2.840.10045.2.1"), explicit_p256_params()), bits(point))
    return pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def sigalg(key) -> bytes:
    return SHA256_ECDSA if isinstance(key, (ec.EllipticCurvePrivateKey, OwnCurveKey)) else SHA256_RSA


def tbs(*, serial: bytes, sig: bytes, issuer: bytes, not_before: bytes, not_after: bytes, subject: bytes,
        spki_der: bytes, exts: list[bytes] | None, version: int | None = 2) -> bytes:
    parts = []
    if version is not None:
        parts.append(explicit(0, integer(version)))
    parts += [serial, sig, issuer, seq(not_before, not_after), subject, spki_der]
    if exts is not None:
        parts.append(explicit(3, seq(*exts)))
    return seq(*parts)


def sign(tbs_der: bytes, key, sig: bytes | None = None) -> bytes:
    if isinstance(key, OwnCurveKey):
        return seq(tbs_der, SHA256_ECDSA, bits(key.sign(tbs_der)))
    if isinstance(key, ec.EllipticCurvePrivateKey):
        s = key.sign(tbs_der, ec.ECDSA(hashes.SHA256()))
    else:
        s = key.sign(tbs_der, padding.PKCS1v15(), hashes.SHA256())
    return seq(tbs_der, sig or sigalg(key), bits(s))


@dataclass
class Cert:
    """One certificate: its DER and the private key of its subject (to sign with, or serve)."""

    der: bytes
    key: object

    @property
    def pem(self) -> bytes:
        return certgen._pem(self.der)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


_serials = iter(range(0x5000, 10**9))


def cert(subject: bytes, key, issuer: Cert | None = None, issuer_dn: bytes | None = None, *, at: datetime,
         serial: bytes | None = None, not_before: bytes | None = None, not_after: bytes | None = None,
         exts: list[bytes] | None = None, version: int | None = 2, explicit_params: bool = False,
         ca: bool = False, dns: tuple[str, ...] = (), ski: bool = True, aki: bool = True) -> Cert:
    """A certificate for ``subject`` issued by ``issuer`` (self-signed when ``None``), valid from a
    day before ``at`` for a year, with SKI/AKI, basicConstraints and key usage unless ``exts``
    lists the extensions outright; any field may be given already encoded."""
    sign_key = issuer.key if issuer else key
    if exts is None:
        exts = []
        if ca:
            exts.append(ext(BC, bc(True), critical=True))
            exts.append(ext(KU, ku(True), critical=True))
        else:
            exts.append(ext(KU, ku(False), critical=True))
        if dns:
            exts.append(ext(SAN, san(dns)))
        if ski:
            exts.append(ext(SKI, octets(ski_of(key.public_key()))))
        if aki and not isinstance(sign_key, OwnCurveKey):
            ikey = (issuer.key if issuer else key).public_key()
            exts.append(ext(AKI, seq(tlv(0x80, ski_of(ikey)))))
    idn = issuer_dn if issuer_dn is not None else (issuer.subject if issuer else subject)  # type: ignore[attr-defined]
    t = tbs(serial=serial or integer(next(_serials)), sig=sigalg(sign_key), issuer=idn,
            not_before=not_before or time_(at - DAY), not_after=not_after or time_(at + 365 * DAY),
            subject=subject, spki_der=spki(key, explicit_params), exts=exts, version=version)
    c = Cert(sign(t, sign_key), key)
    c.subject = subject  # type: ignore[attr-defined]
    return c


@dataclass
class Quirk:
    """A chain to judge (leaf first), its trust store, the name checked and the time."""

    id: str
    chain: list[Cert]
    trust: list[Cert]
    name: str | None
    at: datetime
    anomaly: str | None = None  # a word the leaf's (or first lenient certificate's) anomalies must hold
    servable: bool = True  # an OpenSSL server can load and present it
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def wire(self) -> list[bytes]:
        return [c.der for c in self.chain]

    @property
    def trust_der(self) -> list[bytes]:
        return [c.der for c in self.trust]


# --------------------------------------------------------------------------------------------
# The set


def quirks(at: datetime) -> list[Quirk]:
    """The quirky chains, with validity dates around ``at`` (the time each is judged at)."""
    out: list[Quirk] = []
    root = cert(dn("Quirk Root CA"), rsa_key("root"), at=at, ca=True)
    inter = cert(dn("Quirk Issuing CA"), rsa_key("int"), root, at=at, ca=True)
    host = "quirk.example.com"

    def leaf(*, issuer: Cert = inter, key=None, **kw) -> Cert:
        kw.setdefault("dns", (host,))
        return cert(kw.pop("subject", dn(host)), key or rsa_key("leaf"), issuer, at=at, **kw)

    def add(qid: str, chain: list[Cert], trust: list[Cert] | None = None, name: str | None = host,
            anomaly: str | None = None, when: datetime = at, servable: bool = True) -> None:
        out.append(Quirk(qid, chain, [root] if trust is None else trust, name, when, anomaly, servable))

    def std_exts(k, issuer_key, *more: bytes, dns: tuple[str, ...] = (host,), ku_ext: bool = True) -> list[bytes]:
        e = [ext(KU, ku(False), critical=True)] if ku_ext else []
        if dns:
            e.append(ext(SAN, san(dns)))
        e += [ext(SKI, octets(ski_of(k.public_key()))), ext(AKI, seq(tlv(0x80, ski_of(issuer_key.public_key()))))]
        return e + list(more)

    lk, ik = rsa_key("leaf"), rsa_key("int")

    # ---- explicit defaults
    bc_false = ext(BC, bc(False), critical=True)
    add("bc-explicit-false-leaf", [leaf(exts=std_exts(lk, ik, bc_false)), inter], anomaly="default")
    add("bc-explicit-false-leaf-untrusted", [leaf(exts=std_exts(lk, ik, bc_false)), inter], trust=[],
        anomaly="default")
    add("bc-explicit-false-leaf-expired", [leaf(exts=std_exts(lk, ik, bc_false), not_after=utc(at - 2 * DAY),
                                                not_before=utc(at - 30 * DAY)), inter], anomaly="default")
    add("bc-explicit-false-leaf-wrong-name", [leaf(exts=std_exts(lk, ik, bc_false)), inter],
        name="other.example.com", anomaly="default")
    add("critical-explicit-false", [leaf(exts=std_exts(lk, ik, ext("2.5.29.32", seq(seq(oid("2.5.29.32.0")))
                                                                          , critical=False))), inter],
        anomaly="default")
    bc_false_int = cert(dn("Quirk Explicit-False CA"), rsa_key("int2"), root, at=at,
                        exts=[ext(BC, bc(False), critical=True), ext(KU, ku(True), critical=True)])
    add("bc-explicit-false-intermediate", [leaf(issuer=bc_false_int, aki=False, ski=False), bc_false_int],
        anomaly=None)
    bc_false_self = cert(dn(host), lk, at=at, exts=[bc_false, ext(SAN, san((host,)))])
    add("bc-explicit-false-self-signed", [bc_false_self], trust=[root], anomaly="default")
    add("bc-explicit-false-self-signed-trusted", [bc_false_self], trust=[bc_false_self], anomaly="default")
    # a v1 field written out (version 0 is DEFAULT v1): strict DER omits it
    add("version-v1-explicit", [leaf(version=0, exts=None, dns=()), inter], name=None, anomaly="default")

    # ---- serials
    add("serial-negative", [leaf(serial=integer(-0x1234)), inter], anomaly="serial")
    add("serial-zero", [leaf(serial=integer(0)), inter])
    add("serial-21-bytes", [leaf(serial=integer(int.from_bytes(b"\x7f" + b"\xab" * 20, "big"))), inter])
    # OpenSSL 3.0 refuses a padded INTEGER: no server can load it, and a client would abort the handshake
    add("serial-non-minimal", [leaf(serial=tlv(0x02, b"\x00\x00\x42")), inter], servable=False)

    # ---- times
    for qid, nb, na, anomaly in [
        ("utctime-no-seconds", rawtime(0x17, (at - DAY).strftime("%y%m%d%H%MZ")), None, "time"),
        ("utctime-no-seconds-notafter", None, rawtime(0x17, (at + 9 * DAY).strftime("%y%m%d%H%MZ")), "time"),
        ("utctime-offset", rawtime(0x17, (at - DAY).strftime("%y%m%d%H%M%S") + "+0200"), None, "time"),
        ("utctime-offset-notafter", None, rawtime(0x17, (at + 9 * DAY).strftime("%y%m%d%H%M%S") + "-0500"), "time"),
        ("generalizedtime-before-2050", gen(at - DAY), gen(at + 9 * DAY), "time"),
        ("generalizedtime-fraction", rawtime(0x18, (at - DAY).strftime("%Y%m%d%H%M%S") + ".5Z"), None, "time"),
        ("generalizedtime-before-2050-expired", gen(at - 30 * DAY), gen(at - 2 * DAY), "time"),
    ]:
        add(qid, [leaf(not_before=nb, not_after=na), inter], anomaly=anomaly)
    # an issuer with an unreadable notAfter: OpenSSL finds it and reports the format error
    bad_int = cert(dn("Quirk Bad-Time CA"), rsa_key("int3"), root, at=at, ca=True,
                   not_after=rawtime(0x17, (at + 99 * DAY).strftime("%y%m%d%H%MZ")))
    add("utctime-no-seconds-intermediate", [leaf(issuer=bad_int), bad_int], anomaly=None)

    # ---- names
    add("empty-subject-with-san", [leaf(subject=seq()), inter])
    add("empty-subject-with-san-wrong-name", [leaf(subject=seq()), inter], name="nope.example.com")
    add("t61string-cn", [leaf(subject=dn(host, tag=T61), dns=()), inter])
    add("bmpstring-cn", [leaf(subject=dn(host, tag=BMP), dns=()), inter])
    add("bmpstring-cn-mismatch", [leaf(subject=dn("other.example.com", tag=BMP), dns=()), inter])
    t61_int = cert(dn("Quirk T61 CA", tag=T61), rsa_key("int4"), root, at=at, ca=True)
    # the leaf names its issuer in UTF8String, the CA itself in T61String: equal once canonical
    add("t61string-issuer-utf8-child", [leaf(issuer=t61_int, issuer_dn=dn("quirk  T61 ca")), t61_int])
    add("printable-issuer-case", [leaf(issuer_dn=dn("QUIRK ISSUING CA")), inter])

    # ---- extensions
    dup_san = std_exts(lk, ik, ext(SAN, san(("dup.example.com",))))
    # OpenSSL's own server refuses to load a certificate with EXFLAG_INVALID: judged, not served
    add("duplicate-san", [leaf(exts=dup_san), inter], anomaly="duplicate", servable=False)
    dup_bc = std_exts(lk, ik, ext(BC, bc(None)), ext(BC, bc(None)))
    add("duplicate-basic-constraints", [leaf(exts=dup_bc), inter], anomaly="duplicate", servable=False)
    dup_self = cert(dn(host), lk, at=at, exts=[ext(SAN, san((host,))), ext(SAN, san((host,)))])
    add("duplicate-san-self-signed-trusted", [dup_self], trust=[dup_self], anomaly="duplicate", servable=False)
    dup_int = cert(dn("Quirk Duplicate CA"), rsa_key("int7"), root, at=at,
                   exts=[ext(BC, bc(True), critical=True), ext(KU, ku(True), critical=True),
                         ext(KU, ku(True), critical=True)])
    add("duplicate-key-usage-intermediate", [leaf(issuer=dup_int, aki=False, ski=False), dup_int])
    dup_unknown = std_exts(lk, ik, ext("1.3.6.1.4.1.55555.3", octets(b"a")), ext("1.3.6.1.4.1.55555.3", octets(b"b")))
    add("duplicate-unknown-extension", [leaf(exts=dup_unknown), inter], anomaly="duplicate")
    # BOOLEAN TRUE as 0x01 (BER allows any non-zero octet, DER wants 0xFF)
    ber_true = seq(oid(BC), tlv(0x01, b"\x01"), octets(seq()))
    add("critical-ber-boolean", [leaf(exts=std_exts(lk, ik, ber_true)), inter], anomaly="DER")
    ber_ca = cert(dn("Quirk BER-Boolean CA"), rsa_key("int8"), root, at=at,
                  exts=[seq(oid(BC), boolean(True), octets(seq(tlv(0x01, b"\x01")))), ext(KU, ku(True), critical=True)])
    add("bc-ca-ber-boolean-intermediate", [leaf(issuer=ber_ca, aki=False, ski=False), ber_ca])
    unk = ext("1.3.6.1.4.1.55555.1", octets(b"x"), critical=True)
    add("unknown-critical-leaf", [leaf(exts=std_exts(lk, ik, unk)), inter])
    unk_int = cert(dn("Quirk Unknown-Critical CA"), rsa_key("int5"), root, at=at,
                   exts=[ext(BC, bc(True), critical=True), ext(KU, ku(True), critical=True), unk])
    add("unknown-critical-intermediate", [leaf(issuer=unk_int, aki=False, ski=False), unk_int])
    add("unknown-noncritical", [leaf(exts=std_exts(lk, ik, ext("1.3.6.1.4.1.55555.2", octets(b"y"))))
                                , inter])
    add("bc-trailing-data", [leaf(exts=std_exts(lk, ik, ext(BC, bc(None) + b"\x00\x00", critical=True))),
                             inter], anomaly="trailing")
    add("san-trailing-data", [leaf(exts=std_exts(lk, ik, dns=()) + [ext(SAN, san((host,)) + b"\x05\x00")]),
                              inter], anomaly="trailing")
    add("ku-trailing-zero-bits", [leaf(exts=[ext(KU, bits(b"\xa0\x00", 0), critical=True),
                                               ext(SAN, san((host,)))]), inter])
    add("no-extensions-v3", [leaf(exts=[], dns=()), inter], name=None)
    add("empty-extensions-cn-name", [leaf(exts=[], dns=()), inter])

    # ---- v1 certificates
    v1_int = cert(dn("Quirk v1 CA"), rsa_key("int6"), root, at=at, version=None, exts=None)
    add("v1-intermediate", [leaf(issuer=v1_int, aki=False), v1_int])
    v1_root = cert(dn("Quirk v1 Root"), rsa_key("root-v1"), at=at, version=None, exts=None)
    add("v1-root-trusted", [leaf(issuer=v1_root, aki=False), v1_root], trust=[v1_root])
    add("v1-root-untrusted", [leaf(issuer=v1_root, aki=False), v1_root], trust=[root])
    add("v1-leaf", [cert(dn(host), lk, inter, at=at, version=None, exts=None), inter])

    # ---- explicit EC parameters
    ek = ec_key("leaf")
    ex_leaf = cert(dn(host), ek, inter, at=at, explicit_params=True, dns=(host,))
    add("ec-explicit-leaf", [ex_leaf, inter], anomaly="explicit")
    ex_root = cert(dn("Quirk Explicit-Curve Root"), ec_key("root"), at=at, ca=True, explicit_params=True)
    ex_child = leaf(issuer=ex_root)
    add("ec-explicit-root-untrusted", [ex_child, ex_root], anomaly=None)  # curveball shape
    add("ec-explicit-root-trusted", [ex_child, ex_root], trust=[ex_root])
    add("ec-explicit-root-trusted-expired-leaf", [leaf(issuer=ex_root, not_before=utc(at - 30 * DAY),
                                                       not_after=utc(at - DAY)), ex_root], trust=[ex_root])
    ex_self = cert(dn(host), ek, at=at, explicit_params=True, dns=(host,))
    add("ec-explicit-self-signed", [ex_self], anomaly="explicit")
    add("ec-explicit-self-signed-trusted", [ex_self], trust=[ex_self], anomaly="explicit")
    # a self-signed explicit-curve certificate that copies the trusted root's name and SKI
    fake_root = cert(dn("Quirk Root CA"), ec_key("fake"), at=at, ca=True, explicit_params=True)
    add("ec-explicit-fake-root", [leaf(issuer=fake_root, key=ec_key("leaf2")), fake_root], anomaly=None)

    # a curve of its own: P-256's field and equation with another generator (the CVE-2020-0601 shape)
    own = own_curve_cert(dn("Quirk Own-Curve Root"), at)
    add("ec-own-curve-root-untrusted", [leaf(issuer=own, key=ec_key("leaf3"), aki=False), own], anomaly=None)
    add("ec-own-curve-root-trusted", [leaf(issuer=own, key=ec_key("leaf3"), aki=False), own], trust=[own])
    own_self = own_curve_cert(dn(host), at, dns=(host,))
    add("ec-own-curve-self-signed", [own_self], anomaly="explicit", servable=False)
    add("ec-own-curve-self-signed-trusted", [own_self], trust=[own_self], anomaly="explicit", servable=False)

    # ---- combinations
    combo = std_exts(lk, ik, bc_false)
    add("bc-explicit-false-and-utctime-no-seconds",
        [leaf(exts=combo, not_after=rawtime(0x17, (at + 9 * DAY).strftime("%y%m%d%H%MZ"))), inter],
        anomaly="default")
    add("bc-explicit-false-leaf-ip", [leaf(exts=std_exts(lk, ik, bc_false)), inter], name="127.0.0.1",
        anomaly="default")
    add("bc-explicit-false-not-yet-valid", [leaf(exts=std_exts(lk, ik, bc_false), not_before=utc(at + DAY)),
                                            inter], anomaly="default")
    return out


# P-256, and a generator of its own: G' = 7 * G
_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_A = _P - 3
_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
      0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)


def _add(P, Q):
    if P is None:
        return Q
    if Q is None:
        return P
    if P[0] == Q[0] and (P[1] + Q[1]) % _P == 0:
        return None
    m = ((3 * P[0] * P[0] + _A) * pow(2 * P[1], -1, _P) if P == Q else (Q[1] - P[1]) * pow(Q[0] - P[0], -1, _P)) % _P
    x = (m * m - P[0] - Q[0]) % _P
    return x, (m * (P[0] - x) - P[1]) % _P


def _mul(k, P):
    R = None
    while k:
        if k & 1:
            R = _add(R, P)
        P = _add(P, P)
        k >>= 1
    return R


def _octets(P) -> bytes:
    return b"\x04" + P[0].to_bytes(32, "big") + P[1].to_bytes(32, "big")


class OwnCurveKey:
    """An ECDSA key on P-256 with the generator 7*G: only OpenSSL (and pcaptls) can load it."""

    def __init__(self, d: int) -> None:
        self.d = d
        self.G = _mul(7, _G)
        self.Q = _mul(d, self.G)

    def spki(self) -> bytes:
        field_id = seq(oid("1.2.840.10045.1.1"), integer(_P))
        curve = seq(octets(_A.to_bytes(32, "big")), octets(_B.to_bytes(32, "big")))
        params = seq(integer(1), field_id, curve, octets(_octets(self.G)), integer(_N), integer(1))
        return seq(seq(oid("1.2.840.10045.2.1"), params), bits(_octets(self.Q)))

    def sign(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        h = hashes.Hash(hashes.SHA256())
        h.update(data)
        e = int.from_bytes(h.finalize(), "big")
        k = 0x1234567 + len(data)  # deterministic is fine for test certificates
        r = _mul(k, self.G)[0] % _N
        s = pow(k, -1, _N) * (e + r * self.d) % _N
        return encode_dss_signature(r, s)


def own_curve_cert(subject: bytes, at: datetime, dns: tuple[str, ...] = ()) -> Cert:
    """A self-signed certificate whose key is on a curve of its own (see :class:`OwnCurveKey`)."""
    k = OwnCurveKey(0xC0FFEE)
    exts = [ext(BC, bc(True), critical=True), ext(KU, ku(True), critical=True)] if not dns else [ext(SAN, san(dns))]
    t = tbs(serial=integer(next(_serials)), sig=SHA256_ECDSA, issuer=subject, not_before=time_(at - DAY),
            not_after=time_(at + 365 * DAY), subject=subject, spki_der=k.spki(), exts=exts)
    c = Cert(seq(t, SHA256_ECDSA, bits(k.sign(t))), k)
    c.subject = subject  # type: ignore[attr-defined]
    return c


def openssl_text(der: bytes) -> str:
    """``openssl x509 -text`` of one certificate (names as RFC 2253, UTF-8 unescaped)."""
    assert certgen.OPENSSL
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.der"
        p.write_bytes(der)
        r = subprocess.run([certgen.OPENSSL, "x509", "-inform", "DER", "-in", str(p), "-noout", "-text",
                            "-nameopt", "RFC2253,-esc_msb", "-certopt", "no_sigdump"],
                           capture_output=True, text=True, timeout=30)
    return r.stdout if r.returncode == 0 else ""

