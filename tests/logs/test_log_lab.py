"""The lab's Expressway-format logs (captures/<scenario>/expressway.log) read as their manifest says.

The lab wrote each WARNING from what its OpenSSL said; the verdict pcaptls reads back from the
log text must be that OpenSSL result (X509_V_ERR name and depth).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pcaptls.logs import EventKind, read_logs

LAB = Path(os.environ.get("PCAPTLS_LAB_DIR", Path(__file__).resolve().parents[2] / "captures"))
SCENARIOS = sorted(p.parent.name for p in LAB.glob("*/manifest.json"))
pytestmark = pytest.mark.skipif(not SCENARIOS, reason=f"no lab captures in {LAB}")


@pytest.mark.parametrize("name", SCENARIOS)
def test_lab_log_verdicts_are_the_openssl_results(name):
    d = LAB / name
    manifest = json.loads((d / "manifest.json").read_text())
    lines = {x["line"]: x for x in manifest["log_lines"]}
    conns = {c["id"]: c for c in manifest["connections"]}
    events, summary = read_logs(d / manifest["files"]["log"])
    assert summary.skipped == 0 and summary.lines == len(lines)
    warnings = [e for e in events if e.level == "WARNING"]
    # One verification WARNING per failed chain (a handshake that failed after its chain passed
    # has only the ERROR line).
    assert len(warnings) == sum(
        1 for c in conns.values() if c["outcome"] != "ok" and c["protocol"] != "xmpp-starttls"
        and c["verify"]["result"] != "OK")
    for e in warnings:
        c = conns[lines[e.line_no]["connection"]]
        assert e.error_code == c["verify"]["result"]
        assert (e.server_ip, e.server_port) == (c["server"]["ip"], c["server"]["port"])
        if e.kind is EventKind.CERT_VERIFY_FAILED:
            assert e.depth == c["verify"]["depth"]
        assert e.transaction is not None
