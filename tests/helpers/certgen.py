"""Test certificates, made with ``cryptography`` at a pinned time, and ``openssl verify`` as oracle.

:func:`cases` returns the named chains the verification tests judge: each :class:`Case` is what a
server sends (leaf first), what the client trusts, the name the client asks for and the time of
the handshake. :func:`openssl_verify` runs ``openssl verify`` (OpenSSL 3.0) on the same input and
returns the first error it prints, the verdict pcaptls must reproduce.

Keys are generated once per process (RSA 2048 takes tens of milliseconds); certificates are
deterministic apart from keys and signatures.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from ipaddress import ip_address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from pcaptls.certificates.openssl.vocabulary import ERROR_CODES

T = datetime(2025, 6, 1, 12, 0, 0, tzinfo=timezone.utc)  # the pinned "handshake time"
DAY = timedelta(days=1)
OPENSSL = shutil.which("openssl")
_REF = T  # reference time of the certificates being made (see cases())


@lru_cache(maxsize=None)
def key(label: str, kind: str = "rsa"):
    """A private key per label (so a "same key" is asked for by reusing the label)."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


def _hash_for(k):
    return None if isinstance(k, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def name(cn: str | None, org: str | None = None, printable: bool = False) -> x509.Name:
    attrs = []
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if cn is not None:
        if printable:
            attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn, x509.name._ASN1Type.PrintableString))
        else:
            attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


@dataclass
class Issued:
    """A certificate with its private key, to sign further certificates with."""

    cert: x509.Certificate
    key: object

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


_serial = iter(range(1000, 10**9))


def make(
    subject: x509.Name | str,
    k,
    issuer: Issued | None = None,
    *,
    issuer_name: x509.Name | None = None,
    sign_key=None,
    ca: bool | None = False,
    pathlen: int | None = None,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    ku: str | None = "auto",
    ski: bool = True,
    aki: bool = True,
    aki_from=None,
    critical_extra: bool = False,
    eku: tuple[str, ...] | None = None,
    nc: x509.NameConstraints | None = None,
    extra_san: tuple[x509.GeneralName, ...] = (),
) -> Issued:
    """One certificate. ``issuer=None`` makes it self-signed; ``ca=None`` omits basicConstraints;
    ``ku`` is "auto" (CA: keyCertSign+cRLSign, else digitalSignature+keyEncipherment), None
    (absent) or "nocertsign" (a CA key usage without keyCertSign)."""
    if isinstance(subject, str):
        subject = name(subject)
    not_before = _REF - 30 * DAY if not_before is None else not_before
    not_after = _REF + 365 * DAY if not_after is None else not_after
    pub = k.public_key()
    iname = issuer_name or (issuer.cert.subject if issuer else subject)
    skey = sign_key or (issuer.key if issuer else k)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(iname)
        .public_key(pub)
        .serial_number(next(_serial))
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen if ca else None), critical=True)
    if ku == "auto":
        if ca:  # digitalSignature too: a self-signed CA:TRUE server certificate (CUCM) signs ECDHE
            b = b.add_extension(_ku(cert_sign=True, digital_signature=True), critical=True)
        else:
            b = b.add_extension(_ku(digital_signature=True, key_encipherment=not isinstance(pub, (ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey))), critical=True)
    elif ku == "nocertsign":
        b = b.add_extension(_ku(digital_signature=True, crl_sign=True), critical=True)
    elif ku == "certsign":
        b = b.add_extension(_ku(cert_sign=True), critical=True)
    if dns or ips or extra_san:
        gns = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ip_address(i)) for i in ips] + list(extra_san)
        b = b.add_extension(x509.SubjectAlternativeName(gns), critical=False)
    if ski:
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
    if aki:
        src = aki_from if aki_from is not None else (issuer.key.public_key() if issuer else pub)
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(src), critical=False)
    if nc is not None:
        b = b.add_extension(nc, critical=True)
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage([x509.ObjectIdentifier(o) for o in eku]), critical=False)
    if critical_extra:
        b = b.add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"), critical=True)
    cert = b.sign(skey, _hash_for(skey))
    return Issued(cert, k)


def _ku(digital_signature=False, key_encipherment=False, cert_sign=False, crl_sign=False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=False, key_encipherment=key_encipherment,
        data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign, crl_sign=crl_sign or cert_sign,
        encipher_only=False, decipher_only=False,
    )


@dataclass
class Case:
    """A handshake to judge: the chain sent (leaf first), the trust store, the name and time."""

    id: str
    chain: list[Issued]
    trust: list[Issued]
    name: str | None
    at: datetime = None  # type: ignore[assignment]  # set by cases(): its judging time
    extra_wire: list[Issued] = field(default_factory=list)

    @property
    def wire(self) -> list[bytes]:
        return [c.der for c in self.chain] + [c.der for c in self.extra_wire]

    @property
    def trust_der(self) -> list[bytes]:
        return [c.der for c in self.trust]


def _root(label: str, cn: str | None = None, kind: str = "rsa", **kw) -> Issued:
    kw.setdefault("ca", True)
    return make(name(cn or f"{label} Root CA", "pcaptls test"), key(label, kind), **kw)


def _int(label: str, parent: Issued, kind: str = "rsa", **kw) -> Issued:
    kw.setdefault("ca", True)
    return make(name(f"{label} Issuing CA", "pcaptls test"), key(label, kind), parent, **kw)


def _leaf(cn: str, parent: Issued | None, kind: str = "rsa", label: str | None = None, **kw) -> Issued:
    kw.setdefault("dns", (cn,))
    return make(name(cn), key(label or "leaf-" + kind, kind), parent, **kw)


def cases(at: datetime = T) -> list[Case]:
    """The chains of the issue's acceptance list (and the corners around them), with validity
    dates around ``at``, the time every case is judged at (the pinned ``T`` by default; the
    loopback capture test passes the real time of its handshakes)."""
    global _REF
    _REF, saved = at, _REF
    try:
        return _cases(at)
    finally:
        _REF = saved


def _cases(T: datetime) -> list[Case]:  # noqa: N803 - shadows the module's pinned T on purpose
    root = _root("main")
    inter = _int("main", root)
    host = "cucm.example.com"
    leaf = _leaf(host, inter)
    other_root = _root("other")
    out: list[Case] = []
    add = out.append

    # trust chain outcomes
    ss = _leaf(host, None, ca=True, label="ss")  # CUCM-style self-signed (CA:TRUE, like tomcat)
    add(Case("self-signed-leaf", [ss], [root], host))
    add(Case("self-signed-leaf-trusted", [ss], [ss], host))
    ss_noca = _leaf(host, None, ca=None, label="ss2")
    add(Case("self-signed-leaf-no-bc", [ss_noca], [other_root], host))
    add(Case("self-signed-leaf-no-bc-trusted", [ss_noca], [ss_noca], host))
    add(Case("leaf-int-unknown-root", [leaf, inter], [other_root], host))
    add(Case("leaf-int-root-untrusted", [leaf, inter, root], [other_root], host))
    add(Case("leaf-int-root-trusted", [leaf, inter], [root], host))
    add(Case("leaf-int-root-sent-and-trusted", [leaf, inter, root], [root], host))
    add(Case("leaf-only-root-trusted", [leaf], [root], host))
    add(Case("int-trusted-root-missing", [leaf, inter], [inter], host))
    add(Case("int-trusted-root-sent", [leaf, inter, root], [inter], host))
    add(Case("leaf-trusted-not-self-signed", [leaf], [leaf], host))
    add(Case("wrong-order-and-extra", [leaf, root, inter], [root], host, extra_wire=[other_root]))
    add(Case("empty-name-check", [leaf, inter], [root], None))

    ss384 = _leaf(host, None, kind="p384", ca=True, label="ss384")
    add(Case("ecdsa-p384-self-signed", [ss384], [root], host))
    add(Case("ecdsa-p384-self-signed-trusted", [ss384], [ss384], host))
    ecroot = _root("ec", kind="p384")
    ecint = _int("ec", ecroot, kind="p256")
    add(Case("ecdsa-chain-ok", [_leaf(host, ecint, kind="p256"), ecint], [ecroot], host))
    edroot = _root("ed", kind="ed25519")
    add(Case("ed25519-chain-ok", [_leaf(host, edroot, kind="ed25519")], [edroot], host))

    # validity dates
    add(Case("expired-leaf", [_leaf(host, inter, not_after=T - DAY), inter], [root], host))
    add(Case("not-yet-valid-leaf", [_leaf(host, inter, not_before=T + DAY), inter], [root], host))
    add(Case("expires-exactly-now", [_leaf(host, inter, not_after=T), inter], [root], host))
    add(Case("valid-from-exactly-now", [_leaf(host, inter, not_before=T), inter], [root], host))
    old_int = _int("main", root, not_after=T - DAY)
    add(Case("expired-intermediate", [_leaf(host, old_int), old_int], [root], host))
    old_root = _root("old", not_after=T - 2 * DAY)
    old_root_int = _int("old", old_root)
    add(Case("expired-root-and-leaf", [_leaf(host, old_root_int, not_after=T - DAY), old_root_int], [old_root], host))
    add(Case("expired-self-signed-trusted", [_leaf(host, None, ca=True, label="ss", not_after=T - DAY)], [], host))
    exp_ss = _leaf(host, None, ca=True, label="ss", not_after=T - DAY)
    add(Case("expired-self-signed-in-store", [exp_ss], [exp_ss], host))
    add(Case("expired-self-signed-untrusted", [exp_ss], [root], host))
    add(Case("expired-and-wrong-name", [_leaf(host, inter, not_after=T - DAY), inter], [root], "other.example.com"))
    add(Case("before-capture-time-ok", [leaf, inter], [root], host, at=T - 10 * DAY))

    # names
    add(Case("wrong-name", [leaf, inter], [root], "imp.example.com"))
    add(Case("name-case-insensitive", [leaf, inter], [root], "CUCM.Example.COM"))
    add(Case("untrusted-and-wrong-name", [leaf, inter, root], [other_root], "imp.example.com"))
    ipleaf = _leaf(host, inter, dns=(host,), ips=("10.48.36.215",))
    add(Case("ip-in-san", [ipleaf, inter], [root], "10.48.36.215"))
    add(Case("ip-not-in-san", [ipleaf, inter], [root], "10.48.36.216"))
    add(Case("ip-without-san", [leaf, inter], [root], "10.48.36.215"))
    add(Case("ip-only-in-cn", [_leaf("10.48.36.215", inter, dns=()), inter], [root], "10.48.36.215"))
    add(Case("ipv6-in-san", [_leaf(host, inter, ips=("2001:db8::5",)), inter], [root], "2001:db8::5"))
    add(Case("ip-as-dns-san", [_leaf(host, inter, dns=("10.48.36.215",)), inter], [root], "10.48.36.215"))
    for pattern, asked in [
        ("*.example.com", "a.example.com"),
        ("*.example.com", "a.b.example.com"),
        ("*.example.com", "example.com"),
        ("*.example.com", "xn--bcher-kva.example.com"),
        ("*.xn--bcher-kva.example", "a.xn--bcher-kva.example"),
        ("xn--*.example.com", "xn--a.example.com"),
        ("x*.example.com", "xn--bcher-kva.example.com"),
        ("f*.example.com", "foo.example.com"),
        ("f*.example.com", "bar.example.com"),
        ("*o.example.com", "foo.example.com"),
        ("f*o.example.com", "foo.example.com"),
        ("*.com", "example.com"),
        ("a.*.example.com", "a.b.example.com"),
        ("*.*.example.com", "a.b.example.com"),
        ("**.example.com", "a.example.com"),
        ("*.example.com", "10.0.0.1"),
        ("*", "localhost"),
        ("*.example.com", "*.example.com"),
        ("*.example.com", "-a.example.com"),
        ("*.example.com", "a_b.example.com"),
        ("*.Example.COM", "A.example.com"),
        ("*.example.com.", "a.example.com"),
    ]:
        wl = _leaf("wild", inter, dns=(pattern,), label="wild")
        add(Case(f"wildcard {pattern} vs {asked}", [wl, inter], [root], asked))
    add(Case("cn-fallback-no-san", [_leaf(host, inter, dns=()), inter], [root], host))
    add(Case("cn-fallback-wildcard", [_leaf("*.example.com", inter, dns=()), inter], [root], host))
    add(Case("cn-ignored-with-dns-san", [_leaf(host, inter, dns=("imp.example.com",)), inter], [root], host))
    add(Case("cn-used-with-only-ip-san", [_leaf(host, inter, dns=(), ips=("10.0.0.1",)), inter], [root], host))
    add(Case("no-cn-no-san", [make(name(None, "Org only"), key("leaf-rsa"), inter, dns=()), inter], [root], host))

    # CA flags, key usage, extensions
    noca = _int("noca", root, ca=False, ku=None)
    add(Case("non-ca-intermediate", [_leaf(host, noca), noca], [root], host))
    add(Case("non-ca-intermediate-and-wrong-name", [_leaf(host, noca), noca], [root], "x.example.com"))
    nobc = _int("nobc", root, ca=None, ku=None)
    add(Case("intermediate-without-bc", [_leaf(host, nobc), nobc], [root], host))
    kuonly = _int("kuonly", root, ca=None, ku="certsign")
    add(Case("intermediate-ku-only", [_leaf(host, kuonly), kuonly], [root], host))
    nocs = _int("nocs", root, ku="nocertsign")
    add(Case("intermediate-ku-without-certsign", [_leaf(host, nocs), nocs], [root], host))
    root_noca = _root("rootnoca", ca=False, ku=None)
    add(Case("root-not-ca", [_leaf(host, root_noca)], [root_noca], host))
    root_ku = _root("rootku", ca=None, ku="certsign")
    add(Case("root-ku-only", [_leaf(host, root_ku)], [root_ku], host))
    root_pl0 = _root("pl0", pathlen=0)
    pl_int = _int("pl0", root_pl0)
    add(Case("pathlen-exceeded", [_leaf(host, pl_int), pl_int], [root_pl0], host))
    add(Case("pathlen-ok", [_leaf(host, root_pl0)], [root_pl0], host))
    add(Case("critical-unknown-extension", [_leaf(host, inter, critical_extra=True), inter], [root], host))
    crit_root = _root("crit", critical_extra=True)
    crit_int = _int("crit", crit_root)
    add(Case("critical-unknown-in-root", [_leaf(host, crit_int), crit_int], [crit_root], host))

    # signatures and issuer matching
    forged = make(name(host), key("leaf-rsa"), inter, sign_key=key("forger"), dns=(host,))
    add(Case("bad-signature-leaf", [forged, inter], [root], host))
    forged_noaki = make(name(host), key("leaf-rsa"), inter, sign_key=key("forger"), dns=(host,), aki=False)
    add(Case("bad-signature-leaf-no-aki", [forged_noaki, inter], [root], host))
    add(Case("aki-points-elsewhere", [make(name(host), key("leaf-rsa"), inter, dns=(host,), aki_from=key("forger").public_key()), inter], [root], host))
    mimic = make(root.cert.subject, key("mimic"), ca=True, ski=False, aki=False)
    mimic_int = make(inter.cert.subject, key("mimic-int"), mimic, ca=True, aki=False)
    add(Case("self-signed-mimic-of-trusted-root", [_leaf(host, mimic_int, label="m"), mimic_int, mimic], [root], host))
    # issuer name equal to the CA's subject only after OpenSSL's canonicalisation
    canon_root = make(name("Canon Root", "pcaptls test", printable=True), key("canon"), ca=True)
    canon_leaf = make(name(host), key("leaf-rsa"), canon_root, issuer_name=name("canon   ROOT", "PCAPTLS TEST"), dns=(host,))
    add(Case("issuer-name-canonical-match", [canon_leaf], [canon_root], host))
    # two trusted roots with one name: the expired one is skipped for the valid one
    r_old = make(name("Twin Root", "pcaptls test"), key("twin"), ca=True, not_after=T - DAY)
    r_new = make(name("Twin Root", "pcaptls test"), key("twin"), ca=True)
    twin_leaf = _leaf(host, r_new)
    add(Case("renewed-root-same-key", [twin_leaf], [r_old, r_new], host))
    add(Case("renewed-root-only-old", [twin_leaf], [r_old], host))
    # RSA root name reused by an ECDSA root: the key type must fit the signature
    mixed_rsa = make(name("Mixed Root"), key("mixed"), ca=True, ski=False, aki=False)
    mixed_ec = make(name("Mixed Root"), key("mixed-ec", "p256"), ca=True, ski=False, aki=False)
    mixed_leaf = make(name(host), key("leaf-p256", "p256"), mixed_ec, dns=(host,), aki=False)
    add(Case("same-name-roots-key-type", [mixed_leaf], [mixed_rsa, mixed_ec], host))
    add(Case("same-name-root-wrong-key-type", [mixed_leaf], [mixed_rsa], host))
    # purpose (only judged with purpose "sslserver", as a TLS client does)
    server_auth, client_auth, any_eku = "1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2", "2.5.29.37.0"
    add(Case("eku-server-auth", [_leaf(host, inter, eku=(server_auth, client_auth)), inter], [root], host))
    add(Case("eku-client-auth-only", [_leaf(host, inter, eku=(client_auth,)), inter], [root], host))
    add(Case("eku-any-only", [_leaf(host, inter, eku=(any_eku,)), inter], [root], host))
    eku_int = _int("ekuint", root, eku=(client_auth,))
    add(Case("intermediate-eku-client-only", [_leaf(host, eku_int), eku_int], [root], host))
    add(Case("leaf-ku-certsign-only", [_leaf(host, inter, ku="certsign"), inter], [root], host))
    add(Case("eku-wrong-and-name-wrong", [_leaf(host, inter, eku=(client_auth,)), inter], [root], "x.example.com"))
    # name constraints (checked last, at the constrained certificate)
    from ipaddress import ip_network

    def ncs(permitted=None, excluded=None) -> x509.NameConstraints:
        return x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=excluded)

    nc_dns = _int("ncdns", root, nc=ncs([x509.DNSName("example.com")]))
    add(Case("nc-dns-permitted", [_leaf(host, nc_dns), nc_dns], [root], host))
    add(Case("nc-dns-outside", [_leaf("cucm.other.com", nc_dns), nc_dns], [root], "cucm.other.com"))
    add(Case("nc-dns-outside-wrong-name", [_leaf("cucm.other.com", nc_dns), nc_dns], [root], host))
    add(Case("nc-dns-outside-expired", [_leaf("cucm.other.com", nc_dns, not_after=T - DAY), nc_dns], [root], "cucm.other.com"))
    add(Case("nc-dns-cn-only-outside", [_leaf("cucm.other.com", nc_dns, dns=()), nc_dns], [root], "cucm.other.com"))
    add(Case("nc-dns-cn-only-inside", [_leaf(host, nc_dns, dns=()), nc_dns], [root], host))
    add(Case("nc-dns-cn-outside-with-san", [make(name("cucm.other.com"), key("leaf-rsa"), nc_dns, dns=(host,)), nc_dns], [root], host))
    nc_dot = _int("ncdot", root, nc=ncs([x509.DNSName(".example.com")]))
    add(Case("nc-dot-subdomain", [_leaf(host, nc_dot), nc_dot], [root], host))
    add(Case("nc-dot-apex", [_leaf("example.com", nc_dot), nc_dot], [root], "example.com"))
    nc_ex = _int("ncex", root, nc=ncs(None, [x509.DNSName("bad.example.com")]))
    add(Case("nc-dns-excluded", [_leaf("x.bad.example.com", nc_ex), nc_ex], [root], "x.bad.example.com"))
    add(Case("nc-dns-not-excluded", [_leaf("xbad.example.com", nc_ex), nc_ex], [root], "xbad.example.com"))
    nc_ip = _int("ncip", root, nc=ncs([x509.IPAddress(ip_network("10.0.0.0/8"))]))
    add(Case("nc-ip-inside", [_leaf(host, nc_ip, ips=("10.48.36.215",)), nc_ip], [root], "10.48.36.215"))
    add(Case("nc-ip-outside", [_leaf(host, nc_ip, ips=("192.168.1.1",)), nc_ip], [root], "192.168.1.1"))
    add(Case("nc-ip-v6-vs-v4", [_leaf(host, nc_ip, ips=("2001:db8::1",)), nc_ip], [root], "2001:db8::1"))
    nc_dn = _root("ncdn", nc=ncs([x509.DirectoryName(name(None, "pcaptls test"))]))
    nc_dn_int = _int("ncdnint", nc_dn)
    add(Case("nc-dirname-leaf-without-the-org", [_leaf(host, nc_dn_int), nc_dn_int], [nc_dn], host))
    add(Case("nc-dirname-leaf-outside", [make(name(host, "Elsewhere"), key("leaf-rsa"), nc_dn_int, dns=(host,)), nc_dn_int], [nc_dn], host))
    nc_dn_other = _root("ncdnother", nc=ncs([x509.DirectoryName(name(None, "Other Org"))]))
    nc_other_int = _int("ncother", nc_dn_other)
    add(Case("nc-dirname-intermediate-outside", [make(name(host, "Other Org"), key("leaf-rsa"), nc_other_int, dns=(host,)), nc_other_int], [nc_dn_other], host))
    nc_mail = _int("ncmail", root, nc=ncs([x509.RFC822Name("example.com")]))
    add(Case("nc-email-outside", [_leaf(host, nc_mail, extra_san=(x509.RFC822Name("a@example.org"),)), nc_mail], [root], host))
    add(Case("nc-email-inside", [_leaf(host, nc_mail, extra_san=(x509.RFC822Name("a@example.com"),)), nc_mail], [root], host))
    nc_uri = _int("ncuri", root, nc=ncs([x509.UniformResourceIdentifier(".example.com")]))
    add(Case("nc-uri-outside", [_leaf(host, nc_uri, extra_san=(x509.UniformResourceIdentifier("https://x.other.com/a"),)), nc_uri], [root], host))
    add(Case("nc-uri-inside", [_leaf(host, nc_uri, extra_san=(x509.UniformResourceIdentifier("https://x.example.com:8443/"),)), nc_uri], [root], host))
    for c in out:
        if c.at is None:
            c.at = T
    return out


# --------------------------------------------------------------------------------------------
# The oracle

_ERR = re.compile(r"error (\d+) at (\d+) depth lookup: ?(.*)")


@dataclass(frozen=True)
class OracleResult:
    error: str
    depth: int | None
    message: str
    raw: str


def openssl_verify(leaf: bytes, untrusted: list[bytes], trust: list[bytes], at: datetime, name: str | None,
                   purpose: str | None = None) -> OracleResult:
    """First verdict of ``openssl verify`` with defaults (no -partial_chain, no -x509_strict),
    only the given CAs (no default CA path or store), and ``-purpose`` if given."""
    assert OPENSSL, "openssl CLI not installed"
    with tempfile.TemporaryDirectory() as d:
        p = Path(d)
        (p / "leaf.pem").write_bytes(_pem(leaf))
        args = [OPENSSL, "verify", "-attime", str(int(at.timestamp())), "-no-CApath", "-no-CAstore"]
        if trust:
            (p / "trust.pem").write_bytes(b"".join(_pem(c) for c in trust))
            args += ["-CAfile", str(p / "trust.pem")]
        else:
            args += ["-no-CAfile"]
        if untrusted:
            (p / "rest.pem").write_bytes(b"".join(_pem(c) for c in untrusted))
            args += ["-untrusted", str(p / "rest.pem")]
        if purpose:
            args += ["-purpose", purpose]
        if name is not None:
            try:
                ip_address(name)
                args += ["-verify_ip", name]
            except ValueError:
                args += ["-verify_hostname", name]
        args.append(str(p / "leaf.pem"))
        r = subprocess.run(args, capture_output=True, text=True, timeout=30)
    out = r.stderr + r.stdout
    m = _ERR.search(out)
    if m:
        code = int(m.group(1))
        return OracleResult(ERROR_CODES.get(code, f"code {code}"), int(m.group(2)), m.group(3).strip(), out)
    if r.returncode == 0 and out.rstrip().endswith(": OK"):
        return OracleResult("OK", None, "ok", out)
    return OracleResult("UNSPECIFIED", None, out.strip().splitlines()[-1] if out.strip() else "", out)


def _pem(der: bytes) -> bytes:
    b64 = base64.b64encode(der)
    lines = b"\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return b"-----BEGIN CERTIFICATE-----\n" + lines + b"\n-----END CERTIFICATE-----\n"


def sha256(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()
