"""docs/SCHEMA.md is made from the code and documents every key the commands really write."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from pcaptls.report import schema
from tests.helpers.paths import CAPTURES

MRA = CAPTURES / "mra-login"
CAP, LOG, TRUST = str(MRA / "capture.pcap"), str(MRA / "expressway.log"), str(MRA / "truststore.pem")


def run(*args: str) -> str:
    r = subprocess.run([sys.executable, "-m", "pcaptls", *args], capture_output=True, text=True, timeout=300)
    assert r.returncode in (0, 1), r.stderr
    return r.stdout


def test_page_is_up_to_date() -> None:
    """Regenerated, the page is the one in docs/ (run `python -m pcaptls.report.schema` after a key changes)."""
    assert schema.PAGE.read_text(encoding="utf-8") == schema.page()
    r = subprocess.run([sys.executable, "-m", "pcaptls.report.schema", "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def test_every_key_written_is_documented(tmp_path: Path) -> None:
    doc = schema.documented()
    conns = [json.loads(x) for x in run("inspect", CAP, str(CAPTURES / "06-tls13" / "capture.pcap"),
                                        "--trust-store", TRUST, "--format", "jsonl").splitlines()]
    assert list(conns[0]) == doc["inspect --format jsonl"]
    for c in conns:
        for cert in c["server_certs"] + c["client_certs"]:
            assert set(cert) <= set(doc["certificate"])
        assert all(set(a) <= set(doc["alert"]) for a in c["alerts"])
        assert all(list(h) == doc["handshake message"] for h in c["handshake"])
        assert all(list(a) == doc["anomaly"] for a in c["anomalies"])
        assert c["verify"] is None or set(c["verify"]) <= set(doc["verify"])
    header = next(csv.reader(io.StringIO(run("inspect", CAP, "--trust-store", TRUST, "--format", "csv"))))
    assert header == [k for k in doc["inspect --format csv"] if k != "capture"]  # one capture: no capture column
    rows = [json.loads(x) for x in run("timeline", CAP, "--log", LOG, "--format", "jsonl").splitlines()]
    assert all(list(r) == doc["timeline --format jsonl / csv"] for r in rows)
    findings = [json.loads(x) for x in run("diagnose", CAP, "--log", LOG, "--format", "jsonl").splitlines()]
    assert findings and all(list(f) == doc["diagnose --format jsonl"] for f in findings)
    assert all(list(e) == doc["evidence"] for f in findings for e in f["evidence"])
    assert next(csv.reader(io.StringIO(run("diagnose", CAP, "--format", "csv")))) == doc["diagnose --format csv"]
    written = [json.loads(x) for x in run("certs", CAP, "--export", str(tmp_path), "--format", "jsonl").splitlines()]
    assert all(list(w) == doc["certs --format jsonl / csv"] for w in written)
    records = [json.loads(x) for x in run("truststore", str(MRA / "truststore-duplicate-cn.pem"),
                                          "--format", "jsonl").splitlines()]
    assert list(records[0]) == doc["truststore --format jsonl: header"]
    assert any(r["record"] == "finding" for r in records)
    for r in records[1:]:
        want = doc["certificate"] if r["record"] == "certificate" else doc["truststore --format jsonl: finding"]
        assert set(r) - {"record"} <= set(want)
