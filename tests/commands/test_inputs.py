"""The inputs every command that reads captures shares (pcaptls/commands/inputs.py), through the
real command: files, folders of rotated captures, globs, the diagnostic bundle, standard input
(streamed), the filters, exit statuses and input errors."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.helpers.paths import CAPTURES, ROOT

PCAPTLS = [sys.executable, "-m", "pcaptls"]
MRA = CAPTURES / "mra-login"
CAPTURE = MRA / "capture.pcap"
BUNDLE = MRA / "diagnostic_bundle.tar.gz"
TRUST = MRA / "truststore.pem"
COMMANDS_READING_CAPTURES = ["inspect", "certs", "diagnose", "timeline", "report"]


def run(*args: str, stdin: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([*PCAPTLS, *args], input=stdin, capture_output=True, timeout=300, cwd=cwd)
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(), r.stderr.decode())


def jsonl(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(x) for x in text.splitlines()]


def ids(recs: list[dict]) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(r["connection"], r["status"]) for r in recs]


def extra_args(command: str, tmp: Path) -> list[str]:
    """What a command needs besides its inputs."""
    return {"certs": ["--export", str(tmp / "certs")], "report": ["-o", str(tmp / "r.html")]}.get(command, [])


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The MRA login cut into 5 files by editcap -c, named as a tcpdump -C run might be (an
    underscore in every name: the names must survive as they are)."""
    editcap = shutil.which("editcap")
    if editcap is None:
        pytest.skip("editcap (tshark's package) is not installed")
    d = tmp_path_factory.mktemp("rotated") / "eth0_rotated"
    d.mkdir()
    frames = sum(1 for _ in _records(CAPTURE.read_bytes()))
    subprocess.run([editcap, "-F", "pcap", "-c", str(-(-frames // 5)), str(CAPTURE), str(d / "eth0_cap.pcap")], check=True)
    assert len(list(d.iterdir())) == 5
    return d


def _records(data: bytes) -> list[int]:
    """Offsets of a little-endian classic pcap's records."""
    pos, out = 24, []
    while pos < len(data):
        out.append(pos)
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
    return out


# -- 1. inputs: files, folders, globs, bundles, gzip, standard input ------------------------------

def test_folder_of_rotated_captures_is_one_recording(rotated: Path) -> None:
    """A folder (or a glob) of rotated captures gives the connections of the single file, on
    inspect, diagnose and timeline (which crashed with IndexError on a folder)."""
    single = jsonl(run("inspect", str(CAPTURE), "--format", "jsonl").stdout)
    r = run("inspect", str(rotated), "--format", "jsonl")
    assert r.returncode == 1 and r.stderr.startswith("trust store: ") and r.stderr.count("\n") == 1
    assert jsonl(r.stdout) == single  # frame numbers count across the files, as in the single file
    g = run("inspect", str(rotated / "eth0_cap_*.pcap"), "--format", "jsonl")
    assert jsonl(g.stdout) == single
    # One file read alone cuts connections at its edges: the merge is what makes them whole.
    alone = [c for p in sorted(rotated.iterdir()) for c in jsonl(run("inspect", str(p), "--format", "jsonl").stdout)]
    assert sorted(ids(alone)) != sorted(ids(single))

    d1 = run("diagnose", str(CAPTURE), "--trust-store", str(TRUST), "--format", "jsonl")
    d2 = run("diagnose", str(rotated), "--trust-store", str(TRUST), "--format", "jsonl")
    assert d2.returncode == d1.returncode == 1 and "internal error" not in d2.stderr
    assert d2.stdout == d1.stdout
    t = run("timeline", str(rotated))
    assert t.returncode == 1 and "internal error" not in t.stderr and "Traceback" not in t.stderr
    assert f"capture {rotated} (5 files)" in run("diagnose", str(rotated)).stdout


def test_names_are_shown_as_they_are(tmp_path: Path) -> None:
    """eth0_cap.pcap in a folder is eth0_cap.pcap (a temporary prefix was once stripped at the
    first underscore); a bundle member is named, not its temporary copy."""
    d = tmp_path / "one"
    d.mkdir()
    shutil.copy(CAPTURE, d / "eth0_cap.pcap")
    r = run("diagnose", str(d))
    assert r.returncode == 1 and f"capture {d / 'eth0_cap.pcap'}:" in r.stdout
    r = run("inspect", str(BUNDLE))
    member = "eth0_diagnostic_logging_tcpdump00_vcsc_2026-11-27_11-19.pcap"
    assert f"\n{member} (in {BUNDLE}): pcap" in r.stdout and "pcaptls-bundle-" not in r.stdout


def test_bundle_on_inspect_and_certs(tmp_path: Path) -> None:
    """The diagnostic bundle, refused by inspect and certs before ("starts with 6c6f6767")."""
    r = run("inspect", str(BUNDLE), "--format", "jsonl")
    # stderr: only which trust store judged (the bundle's own ca_*.pem)
    assert r.returncode == 1 and r.stderr.startswith("trust store: ") and r.stderr.count("\n") == 1
    assert ids(jsonl(r.stdout)) == ids(jsonl(run("inspect", str(CAPTURE), "--format", "jsonl").stdout))
    r = run("certs", str(BUNDLE), "--export", str(tmp_path / "out"), "--format", "jsonl")
    assert r.returncode == 1, r.stderr
    assert {"chain_10.48.36.215_6972.pem", "chain_10.48.36.215_8443.pem"} <= {p.name for p in (tmp_path / "out").iterdir()}


@pytest.mark.parametrize("command", ["inspect", "certs", "diagnose", "timeline"])
def test_several_captures_and_stdin(command: str, tmp_path: Path) -> None:
    """Every command takes several captures, and - (plain or gzip) for standard input."""
    ok = CAPTURES / "01-cucm-8443-ok" / "capture.pcap"
    two = run(command, str(CAPTURE), str(ok), *extra_args(command, tmp_path / "a"))
    assert two.returncode == 1 and "Traceback" not in two.stderr and two.stderr == ""
    piped = run(command, "-", *extra_args(command, tmp_path / "b"), stdin=gzip.compress(CAPTURE.read_bytes()))
    direct = run(command, str(CAPTURE), *extra_args(command, tmp_path / "c"))
    assert piped.returncode == direct.returncode == 1, piped.stderr
    if command == "timeline":  # (inspect's table on standard input has fixed widths: written as rows come)
        assert piped.stdout.replace("standard input", str(CAPTURE)) == direct.stdout


def test_stdin_jsonl_is_the_files() -> None:
    """All of a capture on standard input gives byte for byte the file's jsonl (the stdin reader
    is the Python reference; the file may be read by the Rust engine), /dev/stdin too."""
    for p in sorted(CAPTURES.glob("*/capture.pcap")):
        want = run("inspect", str(p), "--format", "jsonl").stdout
        assert run("inspect", "-", "--format", "jsonl", stdin=p.read_bytes()).stdout == want, p
    assert run("inspect", "/dev/stdin", "--format", "jsonl", stdin=CAPTURE.read_bytes()).stdout == \
        run("inspect", str(CAPTURE), "--format", "jsonl").stdout


# -- 2. standard input streams ------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["jsonl", "table"])
def test_stdin_rows_appear_as_connections_end(fmt: str) -> None:
    """A capture fed in two halves with a pause: the rows of the connections that ended in the
    first half are out before the second half is written."""
    data = CAPTURE.read_bytes()
    offsets = _records(data)
    cut = offsets[len(offsets) // 2]
    cut_time = struct.unpack_from("<II", data, cut)  # the first frame of the second half
    cut_t = cut_time[0] + cut_time[1] / 1e6
    whole = jsonl(run("inspect", str(CAPTURE), "--format", "jsonl").stdout)
    ended = [c["connection"] for c in whole if c["closed_by"] and c["end"] < cut_t]
    assert ended and len(ended) < len(whole)

    p = subprocess.Popen([*PCAPTLS, "inspect", "-", "--format", fmt], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdin is not None and p.stdout is not None
    try:
        p.stdin.write(data[:cut])
        p.stdin.flush()
        first = b""
        deadline = time.monotonic() + 20
        os.set_blocking(p.stdout.fileno(), False)
        while time.monotonic() < deadline and not all(c.encode() in first or _table_id(c) in first for c in ended):
            time.sleep(0.1)
            first += p.stdout.read() or b""
        assert p.poll() is None  # still waiting for the second half
        os.set_blocking(p.stdout.fileno(), True)
        p.stdin.write(data[cut:])
        p.stdin.close()
        rest = p.stdout.read()
        assert p.wait(60) == 1
    finally:
        p.kill()
    for c in ended:
        assert c.encode() in first or _table_id(c) in first, (c, first)
    if fmt == "jsonl":
        before = jsonl(first.decode())
        assert 0 < len(before) < len(whole)
        got = before + jsonl(rest.decode())
        assert sorted(ids(got)) == sorted(ids(whole))  # the same connections, in the order they ended
        assert got == sorted(got, key=lambda c: before.count(c) == 0)  # nothing printed twice


def _table_id(conn: str) -> bytes:
    """A connection id as the table writes it: "client -> server"."""
    client, server = conn.split("-")
    return f"{client} -> {server}".encode()


# -- 3. filters ---------------------------------------------------------------------------------

def test_filters_select_the_same_connections_everywhere(tmp_path: Path) -> None:
    whole = jsonl(run("inspect", str(CAPTURE), "--format", "jsonl").stdout)

    def sel(*args: str) -> list[dict]:  # type: ignore[type-arg]
        r = run("inspect", str(CAPTURE), "--format", "jsonl", *args)
        assert r.returncode in (0, 1), r.stderr
        return jsonl(r.stdout)

    assert sel("--server", "10.48.36.215:6972") == [c for c in whole if c["server_ip"] == "10.48.36.215" and c["server_port"] == 6972]
    assert sel("--server", "imp.steven.lab") == [c for c in whole if c["sni"] == "imp.steven.lab"]
    assert sel("--port", "443") == [c for c in whole if c["server_port"] == 443]
    assert sel("--sni", "CUCM.*") == [c for c in whole if (c["sni"] or "").startswith("cucm.")]
    assert sel("--status", "failed") == [c for c in whole if c["status"] == "failed"]
    mid = (whole[2]["start"] + whole[3]["start"]) / 2  # between two starts: no rounding at the edge
    t = datetime.fromtimestamp(mid, timezone.utc).isoformat().replace("+00:00", "Z")
    assert sel("--until", t) == whole[:3]
    assert sel("--since", t) == [c for c in whole if c["end"] >= mid]
    assert sel("--since", t, "--until", "2100-01-01") == sel("--since", t)
    assert {c["server_port"] for c in sel("--port", "6972")} == {6972}

    # The same filter on the other commands: only 6972 is left.
    d = run("diagnose", str(CAPTURE), "--port", "6972", "--trust-store", str(TRUST), "--format", "jsonl")
    assert {f["server"] for f in jsonl(d.stdout)} == {"10.48.36.215:6972"}
    tl = run("timeline", str(CAPTURE), "--port", "6972", "--format", "jsonl")
    assert {e["server"] for e in jsonl(tl.stdout) if e["source"] == "capture"} == {"10.48.36.215:6972"}
    c = run("certs", str(CAPTURE), "--port", "6972", "--export", str(tmp_path / "c"), "--format", "jsonl")
    assert {s for w in jsonl(c.stdout) for s in w["servers"]} == {"10.48.36.215:6972"}
    rep = run("report", str(CAPTURE), "--port", "6972", "-o", str(tmp_path / "r.html"))
    n6972 = sum(1 for c in whole if c["server_port"] == 6972)
    assert rep.returncode == 1 and f", {n6972} connections" in rep.stderr

    bad = run("inspect", str(CAPTURE), "--since", "yesterday")
    assert bad.returncode == 2 and "ISO-8601" in bad.stderr and bad.stdout == ""


# -- 4. exit statuses ---------------------------------------------------------------------------

def test_failed_only_listing_an_unverified_chain_exits_1() -> None:
    ok = CAPTURES / "01-cucm-8443-ok"
    r = run("inspect", str(ok / "capture.pcap"), "--failed-only", "--format", "jsonl")  # the public bundle
    recs = jsonl(r.stdout)
    assert recs and all(c["status"] == "ok" and c["verify"]["error"] != "OK" for c in recs) and r.returncode == 1
    r = run("inspect", str(ok / "capture.pcap"), "--failed-only", "--trust-store", str(ok / "truststore.pem"))
    assert r.returncode == 0


@pytest.mark.parametrize("fmt", ["table", "jsonl", "csv"])
def test_closed_stdout_is_quiet_and_the_same_for_every_format(fmt: str) -> None:
    many = [str(CAPTURE)] * 60  # more than a pipe holds: the writer meets the closed pipe
    full = run("inspect", *many, "--format", fmt, "-j", "1")
    assert len(full.stdout) > 1 << 17
    cmd = " ".join([*PCAPTLS, "inspect", *many, "--format", fmt, "-j", "1"])
    r = subprocess.run(["bash", "-c", f"set -o pipefail; {cmd} | head -1 >/dev/null"], capture_output=True, text=True,
                       timeout=300)
    # Nothing but the note of which trust store judged the chains (stderr, for jsonl and csv).
    assert all(line.startswith("trust store: ") for line in r.stderr.splitlines()) and r.returncode == 0


def test_ctrl_c_exits_130() -> None:
    p = subprocess.Popen([*PCAPTLS, "inspect", "-", "--format", "jsonl"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdin is not None and p.stdout is not None
    data = CAPTURE.read_bytes()
    p.stdin.write(data[: _records(data)[40]])
    p.stdin.flush()
    p.stdout.readline()  # a row: it is reading and waiting for more
    p.send_signal(signal.SIGINT)
    _out, err = p.communicate(timeout=30)
    assert p.returncode == 130 and b"Traceback" not in err and b"Aborted" not in err


# -- 5. input errors ----------------------------------------------------------------------------

def _zip(p: Path) -> Path:
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("capture.pcap", CAPTURE.read_bytes())
    return p


@pytest.mark.parametrize("command", COMMANDS_READING_CAPTURES)
def test_input_errors_say_what_the_file_is_and_print_nothing(command: str, tmp_path: Path) -> None:
    png = ROOT / "docs" / "report-mra-login.png"
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    for path, words in [(png, "a PNG image"), (ROOT / "README.md", "a text file"), (empty, "an empty file"),
                        (_zip(tmp_path / "capture.zip"), "a ZIP archive"), (tmp_path / "nope.pcap", "no such file")]:
        for fmt in (["table", "jsonl"] if command != "report" else ["table"]):
            more = ["--format", fmt] if command != "report" else []
            r = run(command, str(path), *more, *extra_args(command, tmp_path))
            assert r.returncode == 2 and r.stdout == "", (command, path, r.stdout)
            assert r.stderr == f"pcaptls: {path}: {words}" + r.stderr[len(f"pcaptls: {path}: {words}"):]
            assert r.stderr.count("\n") == 1 and "starts with" not in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("command", ["diagnose", "timeline", "report"])
def test_a_log_that_is_not_a_log_is_refused(command: str, tmp_path: Path) -> None:
    png = ROOT / "docs" / "report-mra-login.png"
    for log, words in [(png, "a PNG image, not a text log"), (CAPTURE, "a pcap capture, not a text log")]:
        r = run(command, str(CAPTURE), "--log", str(log), *extra_args(command, tmp_path))
        assert r.returncode == 2 and r.stdout == "" and r.stderr.startswith(f"pcaptls: {log}: {words}"), r.stderr
    ok = run(command, str(CAPTURE), "--log", str(MRA / "expressway.log"), *extra_args(command, tmp_path))
    assert ok.returncode == 1, ok.stderr
