"""Resumed sessions (captures/resumption, recorded on loopback by captures/resumption.py): pcaptls
says "resumed" exactly where OpenSSL said ``session_reused``, and judges no chain there."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pcaptls.pipeline.analysis import analyse
from tests.helpers.paths import CAPTURES, CORPUS

FOLDER = CAPTURES / "resumption"
MANIFEST = json.loads((FOLDER / "resumption.json").read_text())
HOW = {"tls12-session-id": "session_id", "tls12-ticket": "ticket", "tls13-psk": "psk"}
pytestmark = pytest.mark.engines


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_resumed_where_openssl_resumed(name: str, engine: str) -> None:
    conns = {c.client.port: c for c in analyse(FOLDER / f"{name}.pcap").connections}
    assert len(conns) == len(MANIFEST[name]) == 2
    for m in MANIFEST[name]:
        c = conns[m["client_port"]]
        assert c.status == "ok"
        assert c.resumed == (HOW[name] if m["session_reused"] else None)
        if m["session_reused"]:
            assert not c.server_certs  # no Certificate in the abbreviated handshake
        elif not c.is_tls13:
            assert c.server_certs


def test_inspect_says_resumed_and_judges_nothing(engine: str) -> None:
    out = subprocess.run([sys.executable, "-c", "import sys; from pcaptls.cli import main; sys.exit(main())",
                          "inspect", str(FOLDER / "tls12-session-id.pcap"), "--format", "jsonl"],
                         capture_output=True, text=True, check=False)
    recs = [json.loads(line) for line in out.stdout.splitlines()]
    resumed = [r for r in recs if r["resumed"]]
    assert [r["resumed"] for r in resumed] == ["session_id"]
    assert resumed[0]["verify"] is None and resumed[0]["server_certs"] == []


def test_tls13_psk_in_the_corpus(engine: str) -> None:
    path = CORPUS / "tls__tls13_psk_succesfull.pcap"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    assert [c.resumed for c in analyse(path).connections] == ["psk"]
