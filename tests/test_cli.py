"""The `pcaptls` command as a user runs it: formats, exit statuses, bad input, help."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import pcapgen
from tests.helpers.paths import CAPTURES

# Engine-specific: each test runs on the Rust core and on the Python reference.
pytestmark = pytest.mark.engines

PCAPTLS = [sys.executable, "-m", "pcaptls.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PCAPTLS, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def failing_capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pcapgen.Pki]:
    """One good handshake, one rejected self-signed ECDSA certificate on 6972."""
    d = tmp_path_factory.mktemp("cli")
    good = pcapgen.make_chain(cn="cucm.example.com")
    bad = pcapgen.make_chain(cn="cucm.example.com", ecdsa=True, self_signed=True)
    w1, _ = pcapgen.handshake_bytes(good, sni="cucm.example.com", app_data=b"GET /")
    w2, err = pcapgen.handshake_bytes(bad, sni="cucm.example.com", trust_pem=good.ca_pem, request_client_cert=True)
    assert err
    frames = pcapgen.tcp_flow(w1, pcapgen.Endpoints(sport=8443)) + pcapgen.tcp_flow(
        w2, pcapgen.Endpoints(cport=50001, sport=6972), t0=1_780_000_001.0)
    p = d / "mra.pcap"
    pcapgen.write_pcap(p, frames)
    (d / "trust.pem").write_bytes(good.ca_pem)
    return p, good


def test_help_on_every_command() -> None:
    for cmd in ([], ["inspect"], ["certs"], ["truststore"]):
        r = run(*cmd, "--help")
        assert r.returncode == 0 and "Usage:" in r.stdout


# The modules a run loaded, said at exit (the command's own exit runs the exit handlers).
_LOADED = ("import atexit, sys; atexit.register(lambda: print('LOADED', *sorted(m for m in sys.modules "
           "if m.startswith(('cryptography', 'pcaptls.certificates.'))), file=sys.stderr)); "
           "sys.argv[0] = 'pcaptls'; from pcaptls.cli import main; main()")


def test_help_and_bad_input_do_not_load_cryptography(tmp_path: Path) -> None:
    """Help, a file that is not a capture and a capture without certificates answer without
    importing cryptography or the certificate modules (the default trust store is named, not
    read): they start sooner."""
    empty = tmp_path / "empty.pcap"
    pcapgen.write_pcap(empty, [])
    text = tmp_path / "notes.pcap"
    text.write_text("not a capture\n")
    for args, code in ((["--help"], 0), (["inspect", "--help"], 0), (["diagnose", "--help"], 0),
                       (["inspect", str(text)], 2), (["inspect", str(empty), "--format", "jsonl"], 0),
                       (["certs", str(text), "--export", str(tmp_path / "out")], 2), (["timeline", str(text)], 2)):
        r = subprocess.run([sys.executable, "-c", _LOADED, *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == code, (args, r.stderr)
        loaded = [line for line in r.stderr.splitlines() if line.startswith("LOADED")]
        assert loaded == ["LOADED"] or loaded == ["LOADED pcaptls.certificates.bundled"], (args, loaded)


def test_cryptography_deprecation_warnings_are_not_shown() -> None:
    """Certificates off the wire are often not RFC 5280-clean: the command reports on them
    (anomalies) rather than letting cryptography warn; other warnings still show."""
    code = ("import warnings, pcaptls.cli; from cryptography.utils import CryptographyDeprecationWarning as W; "
            "warnings.warn('negative serial', W); warnings.warn('still said', UserWarning)")
    r = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "still said" in r.stderr and "negative serial" not in r.stderr


def test_table_shows_failure_and_exit_1(failing_capture) -> None:  # type: ignore[no-untyped-def]
    path, _ = failing_capture
    r = run("inspect", str(path), "--trust-store", str(path.parent / "trust.pem"))
    assert r.returncode == 1, r.stderr
    assert "unknown_ca" in r.stdout and "DEPTH_ZERO_SELF_SIGNED_CERT" in r.stdout and "chain OK" in r.stdout
    assert r.stderr == ""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_table_summary_of_each_capture_counts_its_own_connections(jobs: str) -> None:
    """Several captures: each summary line counts that capture's TLS connections (they were all
    counted under the last capture before), the table has every connection once, in time order."""
    files = [CAPTURES / "01-cucm-8443-ok" / "capture.pcap", CAPTURES / "02-tftp-6972-selfsigned-ecdsa" / "capture.pcap",
             CAPTURES / "mra-login" / "capture.pcap"]
    each = [[json.loads(x)["status"] for x in run("inspect", str(f), "--format", "jsonl").stdout.splitlines()] for f in files]
    r = run("inspect", *map(str, files), "--jobs", jobs)
    assert r.returncode == 1 and r.stderr == ""
    summaries = [x for x in r.stdout.splitlines() if " TLS connections (" in x]
    assert [x.split(":")[0] for x in summaries] == [str(f) for f in files]
    for line, statuses in zip(summaries, each):
        counts = ", ".join(f"{statuses.count(k)} {k}" for k in sorted(set(statuses)))
        assert line.endswith(f" {len(statuses)} TLS connections ({counts})"), (line, statuses)
    rows = [x for x in r.stdout.splitlines() if x[:4].isdigit() and " -> " in x]
    assert len(rows) == sum(map(len, each)) == 13
    assert [x[:23] for x in rows] == sorted(x[:23] for x in rows)


def test_jsonl_schema(failing_capture) -> None:  # type: ignore[no-untyped-def]
    path, good = failing_capture
    r = run("inspect", str(path), "--format", "jsonl", "--trust-store", str(path.parent / "trust.pem"))
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["server_port"] for x in recs] == [8443, 6972]
    ok, bad = recs
    for key in ("connection", "client_ip", "client_port", "server_ip", "server_port", "start", "sni", "version",
                "version_id", "cipher", "cipher_id", "server_certs", "client_certs", "certificate_request", "alerts",
                "closed_by", "verify"):
        assert key in ok
    assert ok["connection"] == "10.0.0.1:50000-10.0.0.2:8443" and ok["version_id"] == 0x0303
    import hashlib

    assert [c["sha256"] for c in ok["server_certs"]] == [hashlib.sha256(d).hexdigest() for d in good.chain_der]
    assert ok["verify"]["error"] == "OK"
    assert bad["certificate_request"] is True
    assert bad["alerts"][0] | {"time": 0} == {"time": 0, "frame": bad["alerts"][0]["frame"], "sender": "client", "level": 2,
                                               "code": 48, "description": "unknown_ca", "title": "Unknown CA"}
    assert bad["verify"] == {"error": "DEPTH_ZERO_SELF_SIGNED_CERT", "depth": 0, "message": "self-signed certificate",
                             "name": "cucm.example.com", "expressway_message": "self signed certificate",
                             "explanation": "the server's own certificate is self-signed and not in the trust store"}
    assert bad["server_certs"][0]["self_signed"] is True and bad["server_certs"][0]["key"] == "EC secp384r1"


def test_csv_flattened(failing_capture) -> None:  # type: ignore[no-untyped-def]
    path, _ = failing_capture
    r = run("inspect", str(path), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 2 and rows[1]["alerts"] == "client:fatal:unknown_ca"
    assert rows[1]["server_cert_key"] == "EC secp384r1"


def test_ipv6_connection_id(tmp_path: Path) -> None:
    wire, _ = pcapgen.handshake_bytes(pcapgen.make_chain(), app_data=b"x")
    p = tmp_path / "v6.pcap"
    pcapgen.write_pcap(p, pcapgen.tcp_flow(wire, pcapgen.Endpoints("2001:db8::1", "2001:db8::2", 50000, 443)))
    (rec,) = [json.loads(x) for x in run("inspect", str(p), "--format", "jsonl").stdout.splitlines()]
    assert rec["connection"] == "[2001:db8::1]:50000-[2001:db8::2]:443"


@pytest.mark.parametrize("content,needle", [
    (None, "no such file"),
    (b"", "empty"),
    (b"GIF89a not a capture", "a GIF image, not a capture"),
])
def test_bad_files_one_line_exit_2(tmp_path: Path, content: bytes | None, needle: str) -> None:
    p = tmp_path / "input.pcap"
    if content is not None:
        p.write_bytes(content)
    r = run("inspect", str(p))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and needle in r.stderr and str(p) in r.stderr
    assert "Traceback" not in r.stderr


def test_truncated_file_reported_and_exit_2(failing_capture, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, _ = failing_capture
    data = path.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[: len(data) - 200])
    r = run("inspect", str(cut), "--format", "jsonl")
    assert r.returncode == 2 and "ends early" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stdout.splitlines()) == 2  # both connections still reported


def test_lab_capture_if_present() -> None:
    cap = CAPTURES / "mra-login" / "capture.pcap"
    if not cap.exists():
        pytest.skip("lab capture not generated")
    r = run("inspect", str(cap), "--trust-store", str(cap.parent / "truststore.pem"), "--format", "jsonl")
    recs = [json.loads(x) for x in r.stdout.splitlines()]
    assert any(x["verify"] and x["verify"]["error"] == "DEPTH_ZERO_SELF_SIGNED_CERT" and x["server_port"] == 6972 for x in recs)


@pytest.mark.parametrize("fmt", ["table", "jsonl", "csv"])
def test_jobs_do_not_change_output(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One capture split over processes (--jobs 2, 3; small files split too here) and several
    captures read in parallel print exactly what one process prints."""
    from click.testing import CliRunner

    from pcaptls.cli import main
    from pcaptls.pipeline import analysis

    monkeypatch.setattr(analysis, "SPLIT_MIN", 0)
    monkeypatch.setattr(analysis, "SPLIT_MIN_OPENS", 0)
    one = str(CAPTURES / "mra-login" / "capture.pcap")
    many = [str(p) for p in sorted(CAPTURES.glob("0*/capture.pcap"))]
    for files in ([one], many):
        outs = {j: CliRunner().invoke(main, ["inspect", *files, "--format", fmt, "--jobs", str(j)]) for j in (1, 2, 3)}
        assert outs[1].exit_code in (0, 1) and outs[1].output.strip()
        assert {(r.exit_code, r.output) for r in outs.values()} == {(outs[1].exit_code, outs[1].output)}


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_spilled_lines_do_not_change_output(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines that wait for time order in runs on disk (here after 3 lines, merged after 2 runs)
    come out exactly as when they all stay in memory, for --jobs 1/2/3 and several captures;
    the temporary folder is gone afterwards."""
    import tempfile

    from click.testing import CliRunner

    from pcaptls.cli import main
    from pcaptls.pipeline import analysis, spill

    monkeypatch.setattr(analysis, "SPLIT_MIN", 0)
    monkeypatch.setattr(analysis, "SPLIT_MIN_OPENS", 0)
    files = [str(p) for p in sorted(CAPTURES.glob("*/capture.pcap"))]
    one = str(CAPTURES / "mra-login" / "capture.pcap")  # 9 connections
    expected = {}
    for args in ([one], files):
        expected[len(args)] = CliRunner().invoke(main, ["inspect", *args, "--format", fmt, "--jobs", "1"])
        assert expected[len(args)].output.count("\n") >= 9
    folders: list[str] = []
    mkdtemp = tempfile.mkdtemp

    def made(*a, **k):  # type: ignore[no-untyped-def]
        folders.append(mkdtemp(*a, **k))
        return folders[-1]

    written = [0]
    write = spill.Runs._write

    def counted(self, items):  # type: ignore[no-untyped-def]
        written[0] += 1
        return write(self, items)

    monkeypatch.setattr(tempfile, "mkdtemp", made)
    monkeypatch.setattr(spill.Runs, "_write", counted)
    monkeypatch.setattr(spill, "RUN_ITEMS", 3)
    monkeypatch.setattr(spill, "CHUNK", 2)
    monkeypatch.setattr(spill, "MAX_RUNS", 2)
    for args in ([one], files):
        for j in (1, 2, 3):
            r = CliRunner().invoke(main, ["inspect", *args, "--format", fmt, "--jobs", str(j)])
            assert (r.exit_code, r.output) == (expected[len(args)].exit_code, expected[len(args)].output)
    assert written[0] > 3  # runs written (and merged) in this process: jobs 1, and share 0
    assert folders and not any(os.path.exists(f) for f in folders)


@pytest.mark.parametrize("kind", ["garbage", "cut", "missing"])
def test_split_run_bad_input_one_line_exit_2(kind: str, failing_capture, tmp_path: Path,  # type: ignore[no-untyped-def]
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """With the capture split over processes, bad input still gives one stderr line and exit 2,
    and a cut file still reports every connection before the cut."""
    from click.testing import CliRunner

    from pcaptls.cli import main
    from pcaptls.pipeline import analysis

    monkeypatch.setattr(analysis, "SPLIT_MIN", 0)
    monkeypatch.setattr(analysis, "SPLIT_MIN_OPENS", 0)
    p = tmp_path / "input.pcap"
    if kind == "garbage":
        p.write_bytes(b"GIF89a not a capture" * 100)
    elif kind == "cut":
        data = failing_capture[0].read_bytes()
        p.write_bytes(data[: len(data) - 200])
    r = CliRunner().invoke(main, ["inspect", str(p), "--format", "jsonl", "--jobs", "2"])
    assert r.exit_code == 2 and (r.exception is None or isinstance(r.exception, SystemExit))
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr and str(p) in r.stderr
    assert len(r.stdout.splitlines()) == (2 if kind == "cut" else 0)


def test_jobs_without_fork_run_serially(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where fork() is not safe (macOS) or missing (Windows), --jobs runs in one process: same output."""
    from click.testing import CliRunner

    from pcaptls.cli import main
    from pcaptls.pipeline import analysis, forks

    monkeypatch.setattr(analysis, "SPLIT_MIN", 0)
    monkeypatch.setattr(analysis, "SPLIT_MIN_OPENS", 0)
    files = [str(p) for p in sorted(CAPTURES.glob("0*/capture.pcap"))]
    forked = CliRunner().invoke(main, ["inspect", *files, "--format", "jsonl", "--jobs", "2"])
    monkeypatch.setattr(forks, "can_fork", lambda: False)
    monkeypatch.setattr("concurrent.futures.ProcessPoolExecutor.__init__", None)  # must not be used
    serial = CliRunner().invoke(main, ["inspect", *files, "--format", "jsonl", "--jobs", "2"])
    assert serial.exception is None or isinstance(serial.exception, SystemExit), serial.exception
    assert (serial.exit_code, serial.output) == (forked.exit_code, forked.output)
    one = CliRunner().invoke(main, ["inspect", files[0], "--format", "jsonl", "--jobs", "2"])
    assert one.exit_code in (0, 1) and one.output
