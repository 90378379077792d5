"""Resumed sessions (captures/10-resumption, recorded by captures/lab.py between network
namespaces): pcaptls says "resumed", and how, exactly where OpenSSL said ``session_reused`` (on
both peers), and judges no chain there."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pcaptls.pipeline.analysis import analyse
from tests.helpers.paths import CAPTURES, CORPUS

FOLDER = CAPTURES / "10-resumption"
MANIFEST = json.loads((FOLDER / "manifest.json").read_text())
CONNS = MANIFEST["connections"]
pytestmark = pytest.mark.engines


def test_the_scenario_resumes_each_way() -> None:
    """The lab's ground truth: a full handshake, then one resumed by OpenSSL, per way."""
    assert [(c["version"], c["session_reused"], c["resumed"]) for c in CONNS] == [
        ("TLSv1.2", False, None), ("TLSv1.2", True, "session_id"),
        ("TLSv1.2", False, None), ("TLSv1.2", True, "ticket"),
        ("TLSv1.3", False, None), ("TLSv1.3", True, "psk")]


@pytest.mark.parametrize("how", ["session_id", "ticket", "psk"])
def test_resumed_where_openssl_resumed(how: str, engine: str) -> None:
    server = next(c["server"] for c in CONNS if c["resumed"] == how)
    mine = [c for c in CONNS if c["server"] == server]
    got = {c.id: c for c in analyse(FOLDER / "capture.pcap").connections
           if (c.server.ip, c.server.port) == (server["ip"], server["port"])}
    assert sorted(got) == sorted(m["pcaptls_id"] for m in mine) and len(mine) == 2
    for m in mine:
        c = got[m["pcaptls_id"]]
        assert c.status == "ok"
        assert c.resumed == m["resumed"]
        if m["session_reused"]:
            assert not c.server_certs  # no Certificate in the abbreviated handshake
        elif not c.is_tls13:
            assert c.server_certs


def test_inspect_says_resumed_and_judges_nothing(engine: str) -> None:
    out = subprocess.run([sys.executable, "-c", "import sys; from pcaptls.cli import main; sys.exit(main())",
                          "inspect", str(FOLDER / "capture.pcap"), "--trust-store", str(FOLDER / "truststore.pem"),
                          "--format", "jsonl"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    recs = {r["connection"]: r for r in map(json.loads, out.stdout.splitlines())}
    assert {i: r["resumed"] for i, r in recs.items() if r["resumed"]} == {
        c["pcaptls_id"]: c["resumed"] for c in CONNS if c["session_reused"]}
    for c in CONNS:
        r = recs[c["pcaptls_id"]]
        if c["session_reused"]:
            assert r["verify"] is None and r["server_certs"] == []
        elif c["certificates_visible"]:
            assert r["verify"] is not None


def test_tls13_psk_in_the_corpus(engine: str) -> None:
    path = CORPUS / "tls__tls13_psk_succesfull.pcap"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    assert [c.resumed for c in analyse(path).connections] == ["psk"]
