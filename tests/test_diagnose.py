"""`pcaptls diagnose` and `pcaptls timeline` on the lab's MRA login: findings, bundle, CSV."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import CAPTURES

MRA = CAPTURES / "mra-login"
PCAPTLS = [sys.executable, "-m", "pcaptls.cli"]

pytestmark = pytest.mark.skipif(not (MRA / "manifest.json").exists(), reason="lab capture not generated")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PCAPTLS, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def manifest() -> dict:  # type: ignore[type-arg]
    return json.loads((MRA / "manifest.json").read_text())


def _failing(manifest: dict) -> dict[str, list[dict]]:  # type: ignore[type-arg]
    out: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for c in manifest["connections"]:
        if c["outcome"] != "ok":
            out.setdefault(f"{c['server']['ip']}:{c['server']['port']}", []).append(c)
    return out


def _findings(*args: str) -> list[dict]:  # type: ignore[type-arg]
    r = run("diagnose", *args, "--format", "jsonl")
    assert r.returncode == 1, r.stderr
    return [json.loads(x) for x in r.stdout.splitlines()]


def _check(findings: list[dict], manifest: dict) -> None:  # type: ignore[type-arg]
    want = _failing(manifest)
    assert {f["server"] for f in findings} == set(want)
    for f in findings:
        conns = want[f["server"]]
        assert sorted(f["connections"]) == sorted(c["pcaptls_id"] for c in conns)
        m = conns[0]
        assert f["certificate"]["sha256"] == m["server_chain_sha256"][0]
        assert (f["verify"]["error"], f["verify"]["depth"]) == (m["verify"]["result"], m["verify"]["depth"])
        fixes = " ".join(f["fixes"])
        if m["verify"]["result"] == "DEPTH_ZERO_SELF_SIGNED_CERT":
            assert "trust store" in fixes and "ECDHE-RSA-AES256-GCM-SHA384:" in fixes
        if m["verify"]["result"] == "IP_ADDRESS_MISMATCH":
            assert "SAN" in fixes and "System > Server" in fixes
        assert "VerifyOriginServer: Off" in fixes
        sources = {e["source"] for e in f["evidence"]}
        assert "capture" in sources and len(sources) == 2  # both sides of the story: capture and log


def test_findings_name_server_certificate_and_fix(manifest) -> None:  # type: ignore[no-untyped-def]
    _check(_findings(str(MRA / "capture.pcap"), "--log", str(MRA / "expressway.log"),
                     "--trust-store", str(MRA / "truststore.pem")), manifest)


def test_bundle_finds_capture_log_and_trust_store(manifest) -> None:  # type: ignore[no-untyped-def]
    _check(_findings(str(MRA / "diagnostic_bundle.tar.gz")), manifest)


def test_forced_clock_offset_and_table(manifest) -> None:  # type: ignore[no-untyped-def]
    r = run("diagnose", str(MRA / "capture.pcap"), "--log", str(MRA / "expressway.log"),
            "--trust-store", str(MRA / "truststore.pem"), "--clock-offset", str(manifest["log_clock_offset_seconds"]))
    assert r.returncode == 1
    assert "(forced)" in r.stdout and "FINDING 1" in r.stdout and "DEPTH_ZERO_SELF_SIGNED_CERT" in r.stdout


def test_no_findings_exit_0(tmp_path: Path) -> None:
    ok = CAPTURES / "01-cucm-8443-ok"
    r = run("diagnose", str(ok / "capture.pcap"), "--log", str(ok / "expressway.log"), "--trust-store", str(ok / "truststore.pem"))
    assert r.returncode == 0 and "No failing TLS connections" in r.stdout


def test_timeline_csv_links_every_warning_and_error(tmp_path: Path, manifest) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "timeline.csv"
    r = run("timeline", str(MRA / "capture.pcap"), "--log", str(MRA / "expressway.log"), "-o", str(out))
    assert r.returncode == 1, r.stderr  # handshakes failed: the exit status every command gives then
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(rows[0])[:7] == ["time", "source", "event", "connection", "server", "sni", "detail"]
    times = [r["time"] for r in rows]
    assert times == sorted(times) and all(t.endswith("Z") and len(t.split(".")[1]) == 6 + 1 for t in times)
    capture_events = {r["event"] for r in rows if r["source"] == "capture"}
    assert {"connection start", "ClientHello", "ServerHello", "Certificate", "CertificateRequest"} <= capture_events
    expected = {ln["line"]: ln["connection"] for ln in manifest["log_lines"] if ln.get("connection")}
    by_cid = {c["id"]: c["pcaptls_id"] for c in manifest["connections"]}
    warn = [r for r in rows if r["source"] == "expressway.log" and r["level"] in ("WARNING", "ERROR")]
    assert warn
    for r in warn:
        assert r["connection"] == by_cid[expected[int(r["line"])]], r


def test_bad_inputs_exit_2(tmp_path: Path) -> None:
    r = run("diagnose", str(tmp_path / "missing.tar.gz"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b garbage")
    r = run("diagnose", str(junk))
    assert r.returncode == 2 and "bundle" in r.stderr and "Traceback" not in r.stderr
