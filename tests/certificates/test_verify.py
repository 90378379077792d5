"""pcaptls' chain verdicts against ``openssl verify`` (the oracle), case by case."""

from __future__ import annotations

import pytest

import certgen
from pcaptls.certificates.truststore import TrustStore
from pcaptls.certificates.verify import verify_chain

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

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

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
