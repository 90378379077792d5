"""pcaptls' chain verdicts against ``openssl verify`` (the oracle), case by case."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import AuthorityInformationAccessOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcaptls.certificates.openssl.chain import verify_chain, verify_connection
from pcaptls.certificates.openssl.hostnames import traffic_server_name_matches
from pcaptls.certificates.openssl.vocabulary import Verdict, openssl1_message
from pcaptls.certificates.truststore import TrustStore
from pcaptls.errors import MalformedError
from pcaptls.tcp.facts import Endpoint
from pcaptls.tls.model import HandshakeEvent, TlsConnection
from tests.helpers import certgen

pytestmark = pytest.mark.skipif(certgen.OPENSSL is None, reason="openssl CLI not installed")

CASES = certgen.cases()


@pytest.mark.parametrize("purpose", [None, "sslserver"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_verdict_matches_openssl(case: certgen.Case, purpose: str | None) -> None:
    wire = case.wire
    oracle = certgen.openssl_verify(wire[0], wire[1:], case.trust_der, case.at, case.name, purpose)
    store = TrustStore.from_certs(case.trust_der, "test")
    ours = verify_chain(wire, store, case.at, case.name, purpose)
    assert (ours.error, ours.depth) == (oracle.error, oracle.depth), oracle.raw
    assert ours.message == oracle.message


# --------------------------------------------------------------------------------------------
# Name matching, generated: SAN/CN combinations against `openssl verify -verify_hostname/-verify_ip`


_PATTERN_LABELS = ["a", "b", "foo", "f*", "*", "*o", "f*o", "**", "xn--bcher-kva", "xn--*", "x*",
                   "-a", "a-", "A", "Example", "example", "com", "1", "a_b", "", "ex-ample"]
_HOST_LABELS = ["a", "b", "foo", "fo", "o", "A", "FOO", "xn--bcher-kva", "example", "Example", "com",
                "-a", "a-", "1", "a_b", "*", "ex-ample", ""]


def _dotted(labels: list[str], n: tuple[int, int]) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(labels), min_size=n[0], max_size=n[1]).map(".".join).filter(bool)


_patterns = _dotted(_PATTERN_LABELS, (1, 4))
_hosts = st.one_of(
    _dotted(_HOST_LABELS, (1, 4)),
    _dotted(_HOST_LABELS, (1, 3)).map(lambda h: "." + h),  # OpenSSL's ".domain" sub-domain form
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dns=st.lists(_patterns, max_size=3),
    cn=st.one_of(st.none(), _patterns),
    ips=st.lists(st.sampled_from(["10.0.0.1", "10.0.0.2", "::1"]), max_size=2),
    host=_hosts,
)
def test_hostname_rules_match_openssl(dns: list[str], cn: str | None, ips: list[str], host: str) -> None:
    leaf = certgen.make(certgen.name(cn, "names"), certgen.key("names", "p256"), dns=tuple(dns),
                        ips=tuple(ips), ca=None, ku=None)
    oracle = certgen.openssl_verify(leaf.der, [], [leaf.der], certgen.T, host)
    ours = verify_chain([leaf.der], TrustStore.from_certs([leaf.der], "t"), certgen.T, host)
    assert (ours.error, ours.depth) == (oracle.error, oracle.depth), (dns, cn, host, oracle.raw)


@settings(max_examples=60, deadline=None)
@given(
    ips=st.lists(st.sampled_from(["10.48.36.215", "10.48.36.216", "2001:db8::1", "::ffff:10.48.36.215"]), max_size=3),
    dns=st.lists(st.sampled_from(["10.48.36.215", "cucm.example.com"]), max_size=2),
    cn=st.sampled_from([None, "10.48.36.215", "cucm.example.com"]),
    ip=st.sampled_from(["10.48.36.215", "2001:db8::1", "2001:db8:0::1", "::ffff:10.48.36.215"]),
)
def test_ip_rules_match_openssl(ips: list[str], dns: list[str], cn: str | None, ip: str) -> None:
    leaf = certgen.make(certgen.name(cn, "ips"), certgen.key("names", "p256"), dns=tuple(dns),
                        ips=tuple(ips), ca=None, ku=None)
    oracle = certgen.openssl_verify(leaf.der, [], [leaf.der], certgen.T, ip)
    ours = verify_chain([leaf.der], TrustStore.from_certs([leaf.der], "t"), certgen.T, ip)
    assert (ours.error, ours.depth) == (oracle.error, oracle.depth), (ips, dns, cn, ip, oracle.raw)


# --------------------------------------------------------------------------------------------
# The Verdict record, the Expressway wording, argument errors, hostile input


_BY_ID = {c.id: c for c in CASES}


def _judge(case_id: str, **kw) -> Verdict:
    c = _BY_ID[case_id]
    return verify_chain(c.wire, TrustStore.from_certs(c.trust_der, "t"), kw.get("at", c.at), kw.get("name", c.name))


def test_verdict_record_and_expressway_wording() -> None:
    v = _judge("self-signed-leaf")
    assert v.to_dict() == {"error": "DEPTH_ZERO_SELF_SIGNED_CERT", "depth": 0,
                           "message": "self-signed certificate", "name": "cucm.example.com"}
    assert v.expressway_message == "self signed certificate"  # the traffic_server log's words
    assert not v.ok and v.anchor is None and len(v.path) == 1
    v = _judge("leaf-int-root-untrusted")
    assert v.expressway_message == "self signed certificate in certificate chain"
    ok = _judge("leaf-int-root-trusted")
    assert ok.ok and ok.depth is None and ok.anchor == certgen.sha256(_BY_ID["leaf-int-root-trusted"].trust[0].der)
    assert len(ok.path) == 3
    assert openssl1_message("HOSTNAME_MISMATCH") == "Hostname mismatch"
    assert openssl1_message("UNABLE_TO_GET_ISSUER_CERT_LOCALLY") == "unable to get local issuer certificate"


def test_time_is_compared_in_whole_seconds() -> None:
    c = _BY_ID["expires-exactly-now"]
    assert _judge(c.id, at=c.at + timedelta(milliseconds=999)).error == "CERT_HAS_EXPIRED"
    assert _judge(c.id, at=c.at - timedelta(milliseconds=1)).ok


def test_argument_errors() -> None:
    store = TrustStore.from_certs([], "empty")
    with pytest.raises(ValueError):
        verify_chain([], store, certgen.T, None)
    with pytest.raises(ValueError):
        verify_chain(_BY_ID["self-signed-leaf"].wire, store, certgen.T.replace(tzinfo=None), None)
    with pytest.raises(ValueError):
        verify_chain(_BY_ID["self-signed-leaf"].wire, store, certgen.T, None, purpose="smime")
    with pytest.raises(MalformedError):
        verify_chain([b"\x30\x00"], store, certgen.T, None)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 2000), st.binary(max_size=8))
def test_hostile_bytes_raise_only_malformed(junk: bytes, pos: int, patch: bytes) -> None:
    leaf = _BY_ID["leaf-int-root-trusted"].wire[0]
    mutated = leaf[:pos] + patch + leaf[pos + len(patch):]
    store = TrustStore.from_certs(_BY_ID["leaf-int-root-trusted"].trust_der, "t")
    for chain in ([junk], [mutated], [mutated, junk]):
        try:
            verify_chain(chain, store, certgen.T, "cucm.example.com")
        except MalformedError:
            pass


def _conn(certs: tuple[bytes, ...], sni: str | None, ip: str, t: float) -> TlsConnection:
    return TlsConnection(
        client=Endpoint("10.0.0.1", 40000), server=Endpoint(ip, 8443), start=t - 5, end=t + 1, first_frame=1,
        sni=sni, server_certs=certs, handshake=(HandshakeEvent(t, 4, "server", 11),),
    )


def test_verify_connection_uses_sni_or_ip_and_certificate_time() -> None:
    c = _BY_ID["expires-exactly-now"]
    store = TrustStore.from_certs(c.trust_der, "t")
    t = c.at.timestamp()
    # the connection started before expiry, the Certificate message came at expiry: expired
    v = verify_connection(_conn(tuple(c.wire), "cucm.example.com", "10.48.36.215", t), store)
    assert v is not None and v.error == "CERT_HAS_EXPIRED"
    ip = _BY_ID["ip-not-in-san"]
    v = verify_connection(_conn(tuple(ip.wire), None, "10.48.36.216", ip.at.timestamp()), TrustStore.from_certs(ip.trust_der, "t"))
    assert v is not None and (v.error, v.name) == ("IP_ADDRESS_MISMATCH", "10.48.36.216")
    assert verify_connection(_conn((), "x", "10.0.0.2", t), store) is None
    bad = verify_connection(_conn((b"\x30\x03\x02\x01\x01",), "x", "10.0.0.2", t), store)
    assert bad is not None and bad.error == "UNSPECIFIED" and bad.detail


# --------------------------------------------------------------------------------------------
# Critical extensions: the ones OpenSSL 3.0 handles (X509_supported_extension) and some it does not


_URI = cx509.UniformResourceIdentifier
_CRITICAL = {
    "crl-distribution-points": cx509.CRLDistributionPoints([cx509.DistributionPoint([_URI("http://x/crl")], None, None, None)]),
    "ocsp-no-check": cx509.OCSPNoCheck(),
    "certificate-policies": cx509.CertificatePolicies([cx509.PolicyInformation(cx509.ObjectIdentifier("2.5.29.32.0"), None)]),
    "extended-key-usage": cx509.ExtendedKeyUsage([cx509.ObjectIdentifier("1.3.6.1.5.5.7.3.1")]),
    "issuer-alt-name": cx509.IssuerAlternativeName([cx509.DNSName("x.example")]),
    "authority-info-access": cx509.AuthorityInformationAccess(
        [cx509.AccessDescription(AuthorityInformationAccessOID.OCSP, _URI("http://ocsp"))]),
    "tls-feature": cx509.TLSFeature([cx509.TLSFeatureType.status_request]),
    "precert-poison": cx509.PrecertPoison(),
    "freshest-crl": cx509.FreshestCRL([cx509.DistributionPoint([_URI("http://x/d")], None, None, None)]),
    "inhibit-any-policy": cx509.InhibitAnyPolicy(0),
    "policy-constraints": cx509.PolicyConstraints(0, None),
}


@pytest.mark.parametrize("ext", list(_CRITICAL), ids=list(_CRITICAL))
def test_critical_extensions_match_openssl(ext: str) -> None:
    root = certgen._root("critical")
    k = certgen.key("leaf-rsa")
    cert = (
        cx509.CertificateBuilder().subject_name(certgen.name("h.example.com")).issuer_name(root.cert.subject)
        .public_key(k.public_key()).serial_number(77).not_valid_before(certgen.T - certgen.DAY)
        .not_valid_after(certgen.T + certgen.DAY)
        .add_extension(cx509.SubjectAlternativeName([cx509.DNSName("h.example.com")]), False)
        .add_extension(_CRITICAL[ext], True)
        .sign(root.key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    oracle = certgen.openssl_verify(der, [], [root.der], certgen.T, "h.example.com")
    ours = verify_chain([der], TrustStore.from_certs([root.der], "t"), certgen.T, "h.example.com")
    assert (ours.error, ours.depth) == (oracle.error, oracle.depth), oracle.raw


# --------------------------------------------------------------------------------------------
# names="traffic_server": OpenSSL's chain verdict without a name, then Apache Traffic Server's
# own name check (X509HostnameValidator.cc) at depth 0, as Expressway's traffic server does


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_traffic_server_order_matches_openssl_without_name(case: certgen.Case) -> None:
    wire = case.wire
    oracle = certgen.openssl_verify(wire[0], wire[1:], case.trust_der, case.at, None, "sslserver")
    ours = verify_chain(wire, TrustStore.from_certs(case.trust_der, "t"), case.at, case.name, "sslserver",
                        names="traffic_server")
    # ATS checks the name from the verify callback at depth 0, inside internal_verify: after the
    # chain, extension, signature and date checks, before the name constraints
    late = oracle.error in ("OK", "PERMITTED_VIOLATION", "EXCLUDED_VIOLATION")
    if not late or case.name is None:
        assert (ours.error, ours.depth) == (oracle.error, oracle.depth), oracle.raw
    elif oracle.error != "OK" and traffic_server_name_matches(wire[0], case.name):
        assert (ours.error, ours.depth) == (oracle.error, oracle.depth), oracle.raw
    elif traffic_server_name_matches(wire[0], case.name):
        assert ours.ok
    else:
        assert ours.error in ("HOSTNAME_MISMATCH", "IP_ADDRESS_MISMATCH") and ours.depth == 0


@pytest.mark.parametrize("dns,cn,name,expected", [
    (("cucm.example.com",), "cucm.example.com", "cucm.example.com", True),
    (("imp.example.com",), "cucm.example.com", "cucm.example.com", True),  # CN counts despite SANs
    ((), "10.48.36.215", "10.48.36.215", True),  # an IP address is compared as text
    (("10.48.36.215",), None, "10.48.36.215", True),
    ((), None, "10.48.36.215", False),
    (("*.example.com",), None, "a.example.com", True),
    (("*.example.com",), None, "a_b.example.com", True),  # '_' allowed under an ATS wildcard
    (("*.example.com",), None, "a.b.example.com", False),
    (("*.example.com",), None, "example.com", False),
    (("f*.example.com",), None, "foo.example.com", True),
    (("*o.example.com",), None, "foo.example.com", True),
    (("f*o.example.com",), None, "foo.example.com", False),
    (("*.com",), None, "a.com", False),
    (("*.example.com",), None, "xn--bcher-kva.example.com", True),
    (("x*.example.com",), None, "xn--bcher-kva.example.com", False),
    (("*.ab",), None, "x.ab", False),
    (("*.example.com",), "*.example.com", "ab.cd", False),
    (("CUCM.Example.com",), None, "cucm.example.COM", True),
])
def test_traffic_server_name_rules(dns: tuple[str, ...], cn: str | None, name: str, expected: bool) -> None:
    leaf = certgen.make(certgen.name(cn, "ats"), certgen.key("names", "p256"), dns=dns, ca=None, ku=None)
    assert traffic_server_name_matches(leaf.der, name) is expected


def test_traffic_server_ignores_ip_san_entries() -> None:
    leaf = certgen.make(certgen.name("cucm.example.com"), certgen.key("names", "p256"), dns=("cucm.example.com",),
                        ips=("10.48.36.215",), ca=None, ku=None)
    store = TrustStore.from_certs([leaf.der], "t")
    assert verify_chain([leaf.der], store, certgen.T, "10.48.36.215").ok
    v = verify_chain([leaf.der], store, certgen.T, "10.48.36.215", names="traffic_server")
    assert (v.error, v.depth) == ("IP_ADDRESS_MISMATCH", 0)
    with pytest.raises(ValueError):
        verify_chain([leaf.der], store, certgen.T, None, names="gnutls")


def test_explain_and_fix() -> None:
    from pcaptls.certificates.openssl.advice import explain, fix

    v = _judge("self-signed-leaf")
    assert explain(v) == "the server's own certificate is self-signed and not in the trust store"
    assert "trust store" in (fix(v) or "")
    v = _judge("wrong-name")
    assert "imp.example.com" in explain(v) and "SAN" in (fix(v) or "")
    v = _judge("expired-intermediate")
    assert explain(v, "main Issuing CA") == "main Issuing CA had expired at the time of the handshake"
    assert fix(_judge("leaf-int-root-trusted")) is None


# --------------------------------------------------------------------------------------------
# Generated chains: random wire contents (any order, extras, duplicates), random trust stores,
# names and times over a small PKI with renewed, expired, cross-signed and non-CA look-alikes


def _pool() -> dict[str, certgen.Issued]:
    T, DAY = certgen.T, certgen.DAY
    k = certgen.key
    r1 = certgen.make(certgen.name("Pool Root", "pool"), k("pool-r1"), ca=True)
    r1_old = certgen.make(certgen.name("Pool Root", "pool"), k("pool-r1"), ca=True, not_after=T - DAY)
    r2 = certgen.make(certgen.name("Other Root", "pool"), k("pool-r2", "p256"), ca=True)
    i1 = certgen.make(certgen.name("Pool CA", "pool"), k("pool-i1"), r1, ca=True)
    i1_old = certgen.make(certgen.name("Pool CA", "pool"), k("pool-i1"), r1, ca=True, not_after=T - 10 * DAY)
    i1_noca = certgen.make(certgen.name("Pool CA", "pool"), k("pool-i1"), r1, ca=False, ku=None)
    i1_cross = certgen.make(certgen.name("Pool CA", "pool"), k("pool-i1"), r2, ca=True)
    leaf = certgen.make(certgen.name("cucm.example.com"), k("pool-leaf"), i1, dns=("cucm.example.com",),
                        ips=("10.0.0.1",), not_after=T + 100 * DAY)
    selfsigned = certgen.make(certgen.name("cucm.example.com"), k("pool-ss", "p384"), ca=True, dns=("cucm.example.com",))
    other = certgen.make(certgen.name("Unrelated"), k("pool-x"), ca=True)
    return {"r1": r1, "r1_old": r1_old, "r2": r2, "i1": i1, "i1_old": i1_old, "i1_noca": i1_noca,
            "i1_cross": i1_cross, "leaf": leaf, "selfsigned": selfsigned, "other": other}


_POOL = _pool()
_EXTRA = ["r1", "r1_old", "r2", "i1", "i1_old", "i1_noca", "i1_cross", "other", "leaf"]
_TRUST = ["r1", "r1_old", "r2", "i1", "i1_cross", "selfsigned", "leaf", "other"]


@settings(max_examples=300, deadline=None)
@given(
    leaf=st.sampled_from(["leaf", "leaf", "leaf", "selfsigned"]),
    extra=st.lists(st.sampled_from(_EXTRA), max_size=5),
    trust=st.lists(st.sampled_from(_TRUST), max_size=4).flatmap(
        lambda t: st.sampled_from([t, t + ["r1"], ["r1"] + t])),
    name=st.sampled_from([None, "cucm.example.com", "imp.example.com", "10.0.0.1", "10.0.0.2"]),
    days=st.sampled_from([0, -40, 50, 150, 400]),
    purpose=st.sampled_from([None, "sslserver"]),
)
def test_generated_chains_match_openssl(leaf, extra, trust, name, days, purpose) -> None:
    wire = [_POOL[leaf].der] + [_POOL[e].der for e in extra]
    trusted = [_POOL[t].der for t in trust]
    at = certgen.T + certgen.DAY * days
    oracle = certgen.openssl_verify(wire[0], wire[1:], trusted, at, name, purpose)
    ours = verify_chain(wire, TrustStore.from_certs(trusted, "t"), at, name, purpose)
    assert (ours.error, ours.depth) == (oracle.error, oracle.depth), (leaf, extra, trust, name, days, oracle.raw)


def test_every_error_the_chain_check_returns_has_plain_words() -> None:
    """Each error name verify_chain can return (read from its source) has its own explanation,
    not OpenSSL's bare message: these are the words a network engineer reads first."""
    import re
    from pathlib import Path

    from pcaptls.certificates.openssl import advice, chain, constraints

    returned = set(re.findall(r'make_verdict\("([A-Z_]+)"', Path(chain.__file__).read_text()))
    returned |= set(re.findall(r'"((?:PERMITTED|EXCLUDED|UNSUPPORTED)_[A-Z_]+)"', Path(constraints.__file__).read_text()))
    assert len(returned) > 15
    missing = sorted(returned - set(advice._PLAIN) - {"UNSPECIFIED"})
    assert not missing, f"no plain words for {missing}"
