"""Quirky certificates (:mod:`quirkgen`) read and judged as OpenSSL 3.0 reads and judges them.

For every chain of the set: pcaptls' verdict equals ``openssl verify -attime``'s first error and
depth (with and without ``-purpose sslserver``); the fields pcaptls decodes equal what
``openssl x509 -text`` prints; a certificate read only leniently names its quirk in
``anomalies``. Then every chain an OpenSSL server can load is served by one (Python's ``ssl``)
on loopback, captured with tcpdump, read back from the capture and judged against
``openssl verify -purpose sslserver`` at the captured handshake's time.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pcaptls.certificates import lenient
from pcaptls.certificates.openssl.chain import verify_chain, verify_connection
from pcaptls.certificates.truststore import TrustStore
from pcaptls.certificates.x509 import decode
from pcaptls.errors import MalformedError
from tests.helpers import certgen, loopback, quirkgen

pytestmark = [
    pytest.mark.skipif(certgen.OPENSSL is None, reason="openssl CLI not installed"),
    pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning"),
]

QUIRKS = quirkgen.quirks(certgen.T) if certgen.OPENSSL else []
_UNREADABLE = "Could not read certificate"  # openssl verify's words for DER it cannot parse


def test_the_set_is_large_and_distinct() -> None:
    assert len(QUIRKS) >= 40
    assert len({q.id for q in QUIRKS}) == len(QUIRKS)


@pytest.mark.parametrize("purpose", [None, "sslserver"])
@pytest.mark.parametrize("q", QUIRKS, ids=lambda q: q.id)
def test_verdict_agrees_with_openssl_verify(q: quirkgen.Quirk, purpose: str | None) -> None:
    oracle = certgen.openssl_verify(q.wire[0], q.wire[1:], q.trust_der, q.at, q.name, purpose)
    store = TrustStore.from_certs(q.trust_der, "quirks")
    if _UNREADABLE in oracle.raw:  # OpenSSL cannot parse it: neither may pcaptls pretend to
        with pytest.raises(MalformedError, match="OpenSSL"):
            verify_chain(q.wire, store, q.at, q.name, purpose)
        return
    v = verify_chain(q.wire, store, q.at, q.name, purpose)
    assert (v.error, v.depth) == (oracle.error, oracle.depth), oracle.raw
    assert v.message == oracle.message or oracle.error == "OK"


def _openssl_fields(text: str) -> dict[str, object]:
    """The fields of ``openssl x509 -text`` that :class:`CertInfo` also holds."""
    out: dict[str, object] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("Serial Number:"):
            rest = s[len("Serial Number:"):].strip()
            m = re.search(r"\((-?)0x([0-9a-f]+)\)", rest)
            if m:
                out["serial"] = m.group(1) + m.group(2).lstrip("0") or "0"
            else:
                neg = "(Negative)" in rest
                h = lines[i + 1].strip().replace(":", "").lower().lstrip("0") or "0"
                out["serial"] = ("-" if neg else "") + h
        elif s.startswith("Not Before:") or s.startswith("Not After :"):
            key = "not_before" if s.startswith("Not Before") else "not_after"
            v = re.sub(r"\.\d+", "", " ".join(s.split(":", 1)[1].split()))  # pcaptls keeps whole seconds
            out[key] = datetime.strptime(v, "%b %d %H:%M:%S %Y GMT").replace(tzinfo=timezone.utc)
        elif s.startswith("Subject:"):
            out["subject"] = s[len("Subject:"):].strip()
        elif s.startswith("Issuer:"):
            out["issuer"] = s[len("Issuer:"):].strip()
        elif s.startswith("X509v3 Subject Alternative Name:") and "san" not in out:
            out["san"] = tuple(e.strip().replace("IP Address:", "IP:") for e in lines[i + 1].split(","))
        elif s.startswith("Public Key Algorithm:"):
            out["key_type"] = {"rsaEncryption": "RSA", "id-ecPublicKey": "EC"}.get(s.split(":", 1)[1].strip())
        elif re.match(r"(RSA |EC-)?Public-Key: \((\d+) bit\)", s) and "key_bits" not in out:
            out["key_bits"] = int(re.search(r"\((\d+) bit\)", s).group(1))  # type: ignore[union-attr]
    return out


def _distinct(qs: list[quirkgen.Quirk]) -> list[tuple[str, bytes]]:
    seen: dict[bytes, str] = {}
    for q in qs:
        for i, der in enumerate(q.wire):
            seen.setdefault(der, f"{q.id}#{i}")
    return [(ident, der) for der, ident in seen.items()]


@pytest.mark.parametrize("ident,der", _distinct(QUIRKS), ids=[i for i, _ in _distinct(QUIRKS)])
def test_decoded_fields_agree_with_openssl_x509_text(ident: str, der: bytes) -> None:
    text = quirkgen.openssl_text(der)
    if not text:
        with pytest.raises(MalformedError):
            decode(der)
        return
    want = _openssl_fields(text)
    info = decode(der)
    assert info.serial == want["serial"]
    assert (info.not_before, info.not_after) == (want["not_before"], want["not_after"])
    assert info.subject == want["subject"]
    assert info.issuer == want["issuer"]
    assert info.san == want.get("san", ())
    assert (info.key_type, info.key_bits) == (want["key_type"], want["key_bits"])


@pytest.mark.parametrize("q", [q for q in QUIRKS if q.anomaly], ids=lambda q: q.id)
def test_lenient_reading_names_the_quirk(q: quirkgen.Quirk) -> None:
    info = decode(q.wire[0])
    assert any(q.anomaly.lower() in a.lower() for a in info.anomalies), info.anomalies  # type: ignore[union-attr]
    assert info.to_dict()["anomalies"] == list(info.anomalies)


def test_conforming_certificates_have_no_anomalies() -> None:
    conforming = certgen.cases()[0].chain[0].der
    info = decode(conforming)
    assert info.anomalies == () and "anomalies" not in info.to_dict()


def test_self_signed_is_checked_over_the_bytes_as_sent() -> None:
    """The repaired re-encoding is not what was signed: self-signed must still hold, and a
    flipped signature bit must break it, for a repaired certificate and a curve of its own."""
    by_id = {q.id: q for q in QUIRKS}
    for qid in ("bc-explicit-false-self-signed", "ec-own-curve-self-signed", "ec-explicit-self-signed"):
        der = by_id[qid].wire[0]
        assert decode(der).self_signed, qid
        broken = der[:-3] + bytes([der[-3] ^ 1]) + der[-2:]
        assert not decode(broken).self_signed, qid


def test_a_named_curve_written_out_is_recognised() -> None:
    by_id = {q.id: q for q in QUIRKS}
    loaded = lenient.load(by_id["ec-explicit-leaf"].wire[0])
    assert loaded.explicit_curve is not None and loaded.explicit_curve.named == "prime256v1"
    own = lenient.load(by_id["ec-own-curve-self-signed"].wire[0])
    assert own.explicit_curve is not None and own.explicit_curve.named is None
    assert decode(by_id["ec-own-curve-self-signed"].wire[0]).key == "EC explicit"


@pytest.mark.parametrize("text,tag,ok,iso", [
    (b"250601120000Z", 0x17, True, "2025-06-01T12:00:00"),
    (b"2506011200Z", 0x17, False, "2025-06-01T12:00:00"),
    (b"250601120000+0200", 0x17, False, "2025-06-01T10:00:00"),
    (b"250601120000-0130", 0x17, False, "2025-06-01T13:30:00"),
    (b"20250601120000Z", 0x18, True, "2025-06-01T12:00:00"),
    (b"20250601120000.25Z", 0x18, False, "2025-06-01T12:00:00"),
    (b"490101000000Z", 0x17, True, "2049-01-01T00:00:00"),
    (b"500101000000Z", 0x17, True, "1950-01-01T00:00:00"),
    (b"251301120000Z", 0x17, False, None),
    (b"250601120000", 0x17, False, None),
])
def test_times_as_openssl_reads_them(text: bytes, tag: int, ok: bool, iso: str | None) -> None:
    t = lenient.openssl_time(tag, text)
    assert (t.strftime("%Y-%m-%dT%H:%M:%S") if t else None) == iso
    assert lenient.cmp_time_readable(tag, text) is ok


@pytest.mark.parametrize("ident,der", _distinct(QUIRKS), ids=[i for i, _ in _distinct(QUIRKS)])
def test_strict_is_cryptographys_view_exactly_when_load_takes_it_as_sent(ident: str, der: bytes) -> None:
    """``strict`` (what a trust store's check uses instead of the full ``load``) gives a certificate
    exactly when ``load`` reads the DER as sent, and then the same object; never raises."""
    lenient._strict.cache_clear()
    lenient.load.cache_clear()
    cert = lenient.strict(der)
    try:
        loaded = lenient.load(der)
    except MalformedError:
        assert cert is None
        return
    assert (cert is not None) == (not loaded.lenient)
    if cert is not None:
        assert loaded.cert is cert


_SEEDS = [q.wire[0] for q in QUIRKS[::6]]


@given(st.sampled_from(_SEEDS) if _SEEDS else st.just(b"0"), st.integers(0, 10_000), st.binary(max_size=4),
       st.integers(0, 10_000))
def test_mangled_quirky_certificates_raise_only_malformed(seed: bytes, pos: int, patch: bytes, cut: int) -> None:
    der = seed[: pos % (len(seed) + 1)] + patch + seed[pos % (len(seed) + 1) + len(patch):]
    der = der[: len(der) - cut % 8]
    cert = lenient.strict(der)  # never raises
    try:
        loaded = lenient.load(der)
        decode(der)
    except MalformedError:
        assert cert is None
    else:
        assert (cert is not None) == (not loaded.lenient)


# --------------------------------------------------------------------------------------------
# Served by OpenSSL on loopback and captured

@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory):
    from pcaptls.pipeline.analysis import analyse

    now = datetime.now(timezone.utc)
    qs = [q for q in quirkgen.quirks(now) if q.servable]
    served = [loopback.Served(b"".join(c.pem for c in q.chain), q.chain[0].key_pem, q.name) for q in qs]
    pcap, ports, failures = loopback.serve_and_capture(served, tmp_path_factory.mktemp("quirks"))
    assert not failures, failures
    return list(zip(qs, ports)), analyse(pcap).connections


@pytest.mark.slow
@pytest.mark.skipif(loopback.TCPDUMP is None or os.geteuid() != 0, reason="needs tcpdump and root to capture on lo")
def test_captured_quirky_chains_are_judged_like_openssl(captured) -> None:
    served, connections = captured
    assert len(served) >= 40
    by_port = {c.server.port: c for c in connections if c.server_certs}
    wrong = []
    for q, port in served:
        conn = by_port.get(port)
        assert conn is not None, f"{q.id}: no server chain captured on port {port}"
        assert list(conn.server_certs) == q.wire, q.id  # OpenSSL sends the bytes as written
        ours = verify_connection(conn, TrustStore.from_certs(q.trust_der, "quirks"))
        assert ours is not None and ours.name == (q.name or "127.0.0.1")
        at = datetime.fromtimestamp(
            next((e.time for e in conn.handshake if e.type == 11 and e.sender == "server"), conn.start), timezone.utc)
        oracle = certgen.openssl_verify(q.wire[0], q.wire[1:], q.trust_der, at, ours.name, "sslserver")
        if (ours.error, ours.depth) != (oracle.error, oracle.depth):
            wrong.append(f"{q.id}: pcaptls {ours.error}@{ours.depth}, openssl {oracle.error}@{oracle.depth}")
    assert not wrong, "\n".join(wrong)
