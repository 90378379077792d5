"""JA3, JA3S and JA4 (pcaptls.tls.fingerprints) against the references: the JA4 project's own
expected outputs for its sample captures, and tshark 4.0's JA3/JA3S strings on every corpus
capture (tshark 4.0 has no JA4 field, so it is no oracle for JA4)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pcaptls.pipeline.analysis import analyse
from pcaptls.tcp.facts import Endpoint
from pcaptls.tls import fingerprints as fp
from pcaptls.tls.model import TlsConnection
from tests.helpers.paths import CORPUS

EXPECTED = CORPUS / "ja4-expected"
pytestmark = pytest.mark.engines


def _expected() -> list[Path]:
    return sorted(EXPECTED.glob("*.json")) if EXPECTED.is_dir() else []


@pytest.mark.parametrize("expected", _expected(), ids=lambda p: p.name)
def test_ja4_equals_the_ja4_projects_outputs(expected: Path, engine: str) -> None:
    conns = analyse(CORPUS / expected.name.removesuffix(".json")).connections
    by_ends = {(c.client.ip, c.client.port, c.server.ip, c.server.port): c for c in conns}
    checked = 0
    for s in json.loads(expected.read_text()):
        if "JA4.1" not in s:
            continue  # QUIC and SSH streams: pcaptls reads TLS over TCP
        c = by_ends[(s["src"], int(s["srcport"]), s["dst"], int(s["dstport"]))]
        assert (fp.ja4(c), fp.ja4_r(c), fp.ja4(c, original=True), fp.ja4_r(c, original=True)) == (
            s["JA4.1"], s["JA4_r.1"], s["JA4_o.1"], s["JA4_ro.1"]), f"stream {s['stream']}"
        checked += 1
    assert checked or expected.name.startswith(("ja4_chrome-cloudflare-quic", "ja4_https3"))


# JA3 and JA3S against tshark's ``ja3_full``/``ja3s_full`` on every corpus hello: part of the corpus
# cross-check (tests/test_corpus_crosscheck.py, tests/helpers/crosscheck.py), which runs tshark once.


def test_ja3_hashes_are_the_md5_of_the_strings(corpus: list[Path]) -> None:
    import hashlib

    n = 0
    for path in corpus[:20]:
        for c in analyse(path).connections:
            if fp.ja3(c):
                assert fp.md5_of(fp.ja3(c)) == hashlib.md5(fp.ja3(c).encode()).hexdigest()
                n += 1
    assert n > 10


def _conn(**kw: object) -> TlsConnection:
    return TlsConnection(Endpoint("10.0.0.1", 50000), Endpoint("10.0.0.2", 443), 0.0, 0.0, 1,
                         client_hello_seen=True, **kw)  # type: ignore[arg-type]


def test_grease_is_left_out_everywhere() -> None:
    """RFC 8701 values (0x?A?A) in suites, extensions, groups and versions count nowhere."""
    c = _conn(client_version=0x0303, offered_ciphers=(0x0A0A, 0x1301, 0xC02F), client_extensions=(0x1A1A, 0, 10, 43, 13),
              offered_groups=(0x2A2A, 29), offered_versions=(0x0304, 0x0303), offered_sigalgs=(0x0403,),
              sni="a.example", alpn_offered=("h2",))
    assert fp.ja3(c) == "771,4865-49199,0-10-43-13,29,"
    assert fp.md5_of(fp.ja3(c)) == hashlib.md5(b"771,4865-49199,0-10-43-13,29,").hexdigest()
    assert fp.ja4_r(c) == "t13d0204h2_1301,c02f_000a,000d,002b_0403"


@pytest.mark.parametrize(("alpn", "chars"), [((), "00"), (("http/1.1",), "h1"), (("\\xab\\xcd",), "99"),
                                             (("é",), "99"), (("h\\xff",), "99")])
def test_ja4_alpn_characters(alpn: tuple[str, ...], chars: str) -> None:
    c = _conn(client_version=0x0303, offered_ciphers=(0x002F,), alpn_offered=alpn)
    assert (fp.ja4(c) or "")[8:10] == chars


def test_no_fingerprint_without_a_hello() -> None:
    c = TlsConnection(Endpoint("10.0.0.1", 1), Endpoint("10.0.0.2", 2), 0.0, 0.0, 1)
    assert (fp.ja3(c), fp.ja3s(c), fp.ja4(c), fp.ja4_r(c)) == (None, None, None, None)
    assert fp.ja3(_conn(client_version=2, offered_ciphers=(0x010080,), client_hello_sslv2=True)) is None
