"""`pcaptls truststore` and `pcaptls certs`, run through click, and the verdicts on the
project's lab captures (``captures/*``: real handshakes, each with its trust store and a manifest
saying what ``openssl verify`` concluded)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from pcaptls.commands.certs import certs
from pcaptls.commands.truststore import truststore
from tests.helpers import certgen
from tests.helpers.certgen import DAY, T

pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

CAPTURES = Path(__file__).resolve().parents[2] / "captures"


def _run(cmd, args):
    return CliRunner().invoke(cmd, [str(a) for a in args])


@pytest.fixture()
def stores(tmp_path: Path):
    root = certgen._root("cmd")
    clean = tmp_path / "clean.pem"
    clean.write_bytes(root.pem)
    a = certgen.make(certgen.name("cucm.example.com"), certgen.key("cmd-a"), ca=True)
    b = certgen.make(certgen.name("cucm.example.com"), certgen.key("cmd-b"), ca=True, not_after=T - DAY)
    dirty = tmp_path / "dirty.pem"
    dirty.write_bytes(root.pem + a.pem + b.pem)
    return clean, dirty


def test_truststore_clean_exits_0(stores) -> None:
    r = _run(truststore, [stores[0], "--at", "2025-06-01T12:00:00Z"])
    assert r.exit_code == 0, r.output
    assert "cmd Root CA" in r.stdout and "(self-signed)" in r.stdout
    assert "judged at 2025-06-01 12:00:00.000Z" in r.stdout


def test_truststore_warnings_exit_1_in_every_format(stores) -> None:
    r = _run(truststore, [stores[1], "--at", "2025-06-01T12:00:00"])
    assert r.exit_code == 1
    assert "WARNING" in r.stdout and "CSCwa12905" in r.stdout and "expired on" in r.stdout
    r = _run(truststore, [stores[1], "--format", "jsonl", "--at", "2025-06-01T12:00:00Z"])
    assert r.exit_code == 1
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert recs[0]["record"] == "truststore" and recs[0]["certificates"] == 3
    assert {x["kind"] for x in recs if x["record"] == "finding"} == {"same_cn", "expired"}
    r = _run(truststore, [stores[1], "--format", "csv", "--at", "2025-06-01T12:00:00Z"])
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [x["record"] for x in rows].count("certificate") == 3


def test_truststore_time_matters(stores) -> None:
    assert _run(truststore, [stores[1], "--at", (T - 10 * DAY).isoformat(), "--format", "jsonl"]).exit_code == 1
    r = _run(truststore, [stores[1], "--at", "2025-05-01", "--format", "jsonl"])
    assert '"expired"' not in r.stdout


@pytest.mark.parametrize("make_path,needle", [
    (lambda d: d / "missing.pem", "no such file"),
    (lambda d: (d / "junk.pem").write_bytes(b"junk") and d / "junk.pem", "not a PEM or DER"),
])
def test_truststore_input_error_exit_2_one_line(tmp_path: Path, make_path, needle: str) -> None:
    r = _run(truststore, [make_path(tmp_path)])
    assert r.exit_code == 2
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr + r.stdout


def test_truststore_bad_time_is_usage_error(stores) -> None:
    r = _run(truststore, [stores[0], "--at", "yesterday"])
    assert r.exit_code == 2 and "ISO 8601" in r.output


# --------------------------------------------------------------------------------------------
# certs, on the lab captures


def _lab(name: str) -> Path:
    p = CAPTURES / name
    if not (p / "capture.pcap").is_file():
        pytest.skip(f"lab capture {p} not present")
    return p


def test_certs_exports_and_round_trips(tmp_path: Path) -> None:
    lab = _lab("01-cucm-8443-ok")
    manifest = json.loads((lab / "manifest.json").read_text())
    out = tmp_path / "export"
    r = _run(certs, [lab / "capture.pcap", "--export", out, "--format", "jsonl"])
    assert r.exit_code == 0, r.output + r.stderr
    written = [json.loads(line) for line in r.stdout.splitlines()]
    exported = {w["sha256"] for w in written if w["kind"] == "cert"}
    for conn in manifest["connections"]:
        if conn["certificates_visible"]:
            assert set(conn["server_chain_sha256"]) <= exported
    for w in written:
        if w["kind"] == "cert":
            fp = subprocess.run(["openssl", "x509", "-in", w["path"], "-noout", "-fingerprint", "-sha256"],
                                capture_output=True, text=True, check=True).stdout
            assert fp.strip().split("=", 1)[1].replace(":", "").lower() == w["sha256"]
    table = _run(certs, [lab / "capture.pcap", "--export", out])
    assert table.exit_code == 0 and "FILE" in table.stdout and "chain_" in table.stdout


def test_certs_bad_capture_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "x.pcap"
    bad.write_bytes(b"not a capture at all")
    r = _run(certs, [bad, "--export", tmp_path / "o"])
    assert r.exit_code == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _lab_dirs() -> list[Path]:
    return sorted(p for p in CAPTURES.glob("*") if (p / "manifest.json").is_file()) if CAPTURES.is_dir() else []


@pytest.mark.skipif(not _lab_dirs(), reason="no lab captures in captures/")
@pytest.mark.parametrize("lab", _lab_dirs(), ids=lambda p: p.name)
def test_lab_verdicts_match_manifest(lab: Path) -> None:
    """verify_connection on each captured chain gives what the lab's openssl verify said."""
    from pcaptls.certificates.openssl.chain import verify_connection
    from pcaptls.certificates.truststore import load
    from pcaptls.pipeline.analysis import analyse

    manifest = json.loads((lab / "manifest.json").read_text())
    store = load(lab / "truststore.pem")
    conns = {c.id: c for c in analyse(lab / "capture.pcap").connections}
    checked = 0
    for want in manifest["connections"]:
        if not want.get("certificates_visible") or not want.get("verify"):
            continue
        conn = conns.get(want["pcaptls_id"])
        assert conn is not None, want["pcaptls_id"]
        v = verify_connection(conn, store)
        assert v is not None
        assert (v.error, v.depth) == (want["verify"]["result"], want["verify"]["depth"]), want["id"]
        if "log_message" in want["verify"]:  # the log may add detail after OpenSSL's words
            assert want["verify"]["log_message"].startswith(v.expressway_message)
        checked += 1
    if not checked:
        pytest.skip("no visible chains in this scenario")
