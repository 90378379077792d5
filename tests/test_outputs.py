"""Issue 20 part B through the real CLI on the lab captures: -o and --format, one UTC form per
output kind, frames on every capture event, tables that fit a terminal, words that claim no more
than the capture shows. (The schema page: tests/report/test_schema.py; README: tests/test_readme.py.)"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tests.helpers.paths import CAPTURES

MRA = CAPTURES / "mra-login"
CAP, LOG, TRUST = str(MRA / "capture.pcap"), str(MRA / "expressway.log"), str(MRA / "truststore.pem")
PCAPTLS = [sys.executable, "-m", "pcaptls"]
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")
READABLE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PCAPTLS, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def on_terminal(columns: int, *args: str) -> str:
    """What the command prints on a real terminal (a pty) ``columns`` wide."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    p = subprocess.Popen([*PCAPTLS, *args], stdout=slave, stderr=subprocess.DEVNULL, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    p.wait(timeout=300)
    os.close(master)
    return b"".join(chunks).decode().replace("\r\n", "\n")


# 1. -o on every command, honouring --format, "-" for standard output -----------------------------

@pytest.mark.parametrize("args", [
    ["inspect", CAP, "--trust-store", TRUST], ["diagnose", CAP, "--log", LOG, "--trust-store", TRUST],
    ["timeline", CAP, "--log", LOG], ["truststore", TRUST, "--at", "2026-11-27T11:19:00Z"],
])
def test_output_file_holds_what_stdout_would_in_each_format(tmp_path: Path, args: list[str]) -> None:
    for fmt in ("jsonl", "csv", "table"):
        printed = run(*args, "--format", fmt)
        dash = run(*args, "--format", fmt, "-o", "-", cwd=tmp_path)
        out = tmp_path / f"x.{fmt}"
        written = run(*args, "--format", fmt, "-o", str(out))
        assert printed.returncode == dash.returncode == written.returncode and printed.returncode in (0, 1)
        assert dash.stdout == printed.stdout and not (tmp_path / "-").exists()  # "-" is standard output
        assert written.stdout == "" and out.read_text(encoding="utf-8") == printed.stdout
        if fmt == "jsonl":
            assert all(isinstance(json.loads(x), dict) for x in printed.stdout.splitlines())
        if fmt == "csv":
            assert len(list(csv.reader(io.StringIO(printed.stdout)))) >= 2


def test_timeline_jsonl_to_a_file_is_jsonl_and_extension_picks_the_format(tmp_path: Path) -> None:
    j, c = tmp_path / "x.jsonl", tmp_path / "y.csv"
    # exit 1: the MRA login holds failed handshakes (the same status as every command's)
    assert run("timeline", CAP, "--log", LOG, "--format", "jsonl", "-o", str(j)).returncode == 1
    assert run("timeline", CAP, "--log", LOG, "-o", str(c)).returncode == 1
    rows = [json.loads(x) for x in j.read_text().splitlines()]
    assert len(rows) > 100 and rows[0]["source"] and c.read_text().startswith('"time","source"')
    assert [r["time"] for r in csv.DictReader(io.StringIO(c.read_text()))] == [r["time"] for r in rows]


def test_certs_listing_goes_to_output(tmp_path: Path) -> None:
    out = tmp_path / "list.jsonl"
    r = run("certs", CAP, "--export", str(tmp_path / "exp"), "-o", str(out))
    assert r.returncode == 1 and r.stdout == ""  # 1: failed handshakes in the capture
    written = [json.loads(x) for x in out.read_text().splitlines()]
    assert written and all(Path(w["path"]).exists() for w in written)


def test_unwritable_output_is_one_line_exit_2(tmp_path: Path) -> None:
    r = run("inspect", CAP, "-o", str(tmp_path / "no" / "such" / "dir" / "x.csv"))
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and "cannot write" in r.stderr


# 2. one UTC form per output kind --------------------------------------------------------------------

def test_data_times_are_iso_z_and_tables_one_readable_form() -> None:
    timeline = [json.loads(x) for x in run("timeline", CAP, "--log", LOG, "--format", "jsonl").stdout.splitlines()]
    assert all(ISO_Z.match(r["time"]) for r in timeline)
    inspect = [json.loads(x) for x in run("inspect", CAP, "--format", "jsonl").stdout.splitlines()]
    assert all(ISO_Z.match(c["start_utc"]) for c in inspect)
    assert all(ISO_Z.match(x[k]) for c in inspect for x in c["server_certs"] for k in ("not_before", "not_after"))
    findings = [json.loads(x) for x in run("diagnose", CAP, "--log", LOG, "--format", "jsonl").stdout.splitlines()]
    assert all(ISO_Z.match(e["time"]) for f in findings for e in f["evidence"])
    # Tables: every date-and-time they show is in the one readable form; no ISO "T" form, no "+00:00".
    for args in (["inspect", CAP], ["diagnose", CAP, "--log", LOG], ["timeline", CAP, "--log", LOG],
                 ["truststore", TRUST, "--at", "2026-11-27T11:19:00Z"]):
        text = run(*args).stdout
        assert READABLE.search(text), args
        assert not re.search(r"\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)?", READABLE.sub("", text)), args


# 3. frame numbers on every capture event --------------------------------------------------------------

def test_every_capture_event_has_a_frame_and_fin_rst_match_tshark() -> None:
    rows = [json.loads(x) for x in run("timeline", CAP, "--format", "jsonl").stdout.splitlines()]
    assert rows and all(isinstance(r["frame"], int) and r["frame"] > 0 for r in rows if r["source"] == "capture")
    closes = {(r["frame"], r["event"]) for r in rows if r["event"] in ("FIN", "RST")}
    assert len(closes) == 9
    tshark = subprocess.run(["tshark", "-r", CAP, "-Y", "tcp.flags.fin==1 || tcp.flags.reset==1", "-T", "fields",
                             "-e", "frame.number", "-e", "tcp.flags.fin", "-e", "tcp.flags.reset"],
                            capture_output=True, text=True, timeout=120)
    if tshark.returncode != 0:
        pytest.skip("tshark not available")
    flagged = {int(n): ("RST" if rst in ("1", "True") else "FIN") for n, fin, rst in
               (line.split("\t") for line in tshark.stdout.splitlines())}
    for frame, kind in closes:  # the frame named is a FIN/RST of that kind, as tshark reads it
        assert flagged.get(frame) == kind, (frame, kind)


# 4. a table that fits the terminal, details capped ----------------------------------------------------

def test_table_fits_a_100_column_terminal_and_says_what_it_left_out() -> None:
    text = on_terminal(100, "inspect", CAP, "--trust-store", TRUST)
    assert max(map(len, text.splitlines())) <= 100
    assert "left out to fit 100 columns" in text and "CIPHER" in text.split("left out")[1]
    assert "DEPTH_ZERO_SELF_SIGNED_CERT (depth 0)" in text  # the verdict is not cut
    wide = run("inspect", CAP, "--trust-store", TRUST).stdout  # a pipe: the whole table
    assert max(map(len, wide.splitlines())) > 200 and "left out" not in wide
    for args in (["diagnose", CAP, "--log", LOG], ["timeline", CAP, "--log", LOG], ["truststore", TRUST, "--at", "2026-11-27T11:19:00Z"],
                 ["inspect", CAP, "--failed-only"]):
        assert max(map(len, on_terminal(100, *args).splitlines())) <= 100, args


def test_failure_details_capped_with_a_count() -> None:
    text = run("inspect", CAP, "--trust-store", TRUST, "--failed-only", "--details", "2").stdout
    assert text.count("  result: failed") == 2 and "(3 more connections not detailed here" in text
    full = run("inspect", CAP, "--trust-store", TRUST, "--failed-only", "--details", "20").stdout
    assert full.count("  result: failed") == 5 and "not detailed" not in full


# 5. words that never claim more than the capture shows --------------------------------------------------

def test_without_trust_store_completed_handshakes_are_not_called_failed() -> None:
    r = run("diagnose", CAP, "--log", LOG, "--format", "jsonl")
    assert r.returncode == 1 and r.stderr.startswith("trust store: default: certifi")
    findings = {f["server"]: f for f in map(json.loads, r.stdout.splitlines())}
    for server in ("10.48.36.215:8443", "10.48.36.216:5222"):
        f = findings[server]
        assert f["kind"] == "not_verified" and f["failed_connections"] == 0
        assert "failed" not in f["headline"] and "would not verify against the public CA bundle" in f["headline"]
        assert f["problem"].startswith("the chain would not verify against the public CA bundle")
    # 443: the real cause (the log's, the peer's own verdict), not the public bundle's.
    assert findings["10.48.36.217:443"]["verify"]["error"] == "IP_ADDRESS_MISMATCH"
    assert findings["10.48.36.217:443"]["kind"] == "handshake_failed"
    assert findings["10.48.36.215:6972"]["verify"]["error"] == "DEPTH_ZERO_SELF_SIGNED_CERT"
    assert all(f["trust_store"].startswith("default: certifi") for f in findings.values())
    table = run("diagnose", CAP, "--log", LOG).stdout
    for line in table.splitlines():
        if line.startswith("FINDING") and (":8443" in line or ":5222" in line):
            assert "failed" not in line and "would not verify against the public CA bundle" in line


def test_with_the_trust_store_the_failures_are_handshakes_that_failed() -> None:
    findings = [json.loads(x) for x in run("diagnose", CAP, "--log", LOG, "--trust-store", TRUST,
                                           "--format", "jsonl").stdout.splitlines()]
    assert {f["server"]: (f["kind"], f["failed_connections"]) for f in findings} == {
        "10.48.36.215:6972": ("handshake_failed", 3), "10.48.36.217:443": ("handshake_failed", 2)}
    assert all(f["trust_store"] == f"file {TRUST}" for f in findings)


def test_tls13_failure_without_keys_explains_and_fixes() -> None:
    (f,) = [json.loads(x) for x in run("diagnose", str(CAPTURES / "06-tls13" / "capture.pcap"),
                                       "--format", "jsonl").stdout.splitlines()]
    assert f["problem"] == "client sent fatal alert unknown_ca"
    assert f["explanation"] != f["problem"] and "not in the client's trust store" in f["explanation"]
    assert f["fixes"] and "--keylog" in f["fixes"][0] and "trust store" in f["fixes"][1]


def test_trust_store_stated_in_every_format() -> None:
    for fmt in ("jsonl", "csv"):
        r = run("inspect", CAP, "--trust-store", TRUST, "--format", fmt)
        assert r.stderr == f"trust store: file {TRUST}\n"
        d = run("diagnose", CAP, "--trust-store", TRUST, "--format", fmt)
        assert d.stderr == f"trust store: file {TRUST}\n" and f"file {TRUST}" in d.stdout
    assert run("inspect", CAP, "--trust-store", TRUST).stdout.startswith(f"trust store: file {TRUST}\n")
