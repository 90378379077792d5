"""pcaptls' chain verdicts against ``openssl verify`` (the oracle), case by case."""

from __future__ import annotations

import pytest

import certgen
from pcaptls.certificates.truststore import TrustStore
from pcaptls.certificates.verify import verify_chain

pytestmark = pytest.mark.skipif(certgen.OPENSSL is None, reason="openssl CLI not installed")

CASES = certgen.cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_verdict_matches_openssl(case: certgen.Case) -> None:
    wire = case.wire
    oracle = certgen.openssl_verify(wire[0], wire[1:], case.trust_der, case.at, case.name)
    store = TrustStore.from_certs(case.trust_der, "test")
    ours = verify_chain(wire, store, case.at, case.name)
    assert (ours.error, ours.depth) == (oracle.error, oracle.depth), oracle.raw
    assert ours.message == oracle.message
