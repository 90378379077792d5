"""Bad and truncated capture files through the real command line.

Every bad file: one line on stderr naming the file and the problem, exit status 2, no traceback
(``--debug`` shows one). Every truncated file: what came before the cut is reported exactly as
if the file had ended there, the cut is reported, exit status 2.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcaptls.capture.files import iter_frames
from pcaptls.capture.frames import ReadStats
from pcaptls.pipeline.analysis import analyse, analyse_frames
from pcaptls.report.records import connection_record
from tests.helpers import craft, pcapgen

# Engine-specific: each test runs on the Rust core and on the Python reference.
pytestmark = pytest.mark.engines

PCAPTLS = [sys.executable, "-m", "pcaptls.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([*PCAPTLS, *args], capture_output=True, text=True, timeout=300, env=env)


def one_line(stderr: str) -> str:
    assert stderr.count("\n") == 1 and stderr.endswith("\n"), stderr
    assert "Traceback" not in stderr
    return stderr


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    return craft.bad_files(tmp_path_factory.mktemp("bad"))


@pytest.fixture(scope="module")
def two_flows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real handshakes one after the other (the second starts after the first has closed)."""
    wire = craft.real_handshake()
    frames = pcapgen.tcp_flow(wire) + pcapgen.tcp_flow(wire, pcapgen.Endpoints(cport=50001), t0=craft.T0 + 5)
    p = tmp_path_factory.mktemp("flows") / "two.pcap"
    pcapgen.write_pcap(p, frames)
    return p


@pytest.mark.parametrize("name", [
    "empty", "text", "elf", "header_only_cut", "garbage_after_header", "pcapng_absurd_length",
    "pcapng_unaligned_length", "pcapng_bad_bom", "pcapng_undeclared_iface", "pcapng_interface_flood", "not_gzip",
    "gzip_of_text", "gzip_cut",
])
@pytest.mark.parametrize("fmt", ["table", "jsonl"])
def test_bad_file_one_line_exit_2(bad, name: str, fmt: str) -> None:  # type: ignore[no-untyped-def]
    path, needle = bad[name]
    r = run("inspect", str(path), "--format", fmt)
    assert r.returncode == 2, (r.stdout, r.stderr)
    line = one_line(r.stderr)
    assert str(path) in line and needle in line, line
    if fmt == "jsonl" and name != "gzip_cut":
        assert r.stdout == ""  # nothing was decoded before the damage


@pytest.mark.parametrize("name", ["empty", "garbage_after_header", "not_gzip"])
def test_bad_file_debug_shows_traceback(bad, name: str) -> None:  # type: ignore[no-untyped-def]
    path, needle = bad[name]
    r = run("inspect", str(path), "--debug")
    assert r.returncode == 2
    assert "Traceback (most recent call last)" in r.stderr and "pcaptls/" in r.stderr
    assert r.stderr.rstrip("\n").splitlines()[-1].startswith("pcaptls: ") and needle in r.stderr


def test_bad_files_among_good_ones(bad, two_flows: Path) -> None:  # type: ignore[no-untyped-def]
    """One line per bad file; the good capture is still reported in full."""
    paths = [str(bad["empty"][0]), str(two_flows), str(bad["not_gzip"][0])]
    r = run("inspect", *paths, "--format", "jsonl")
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 2 and paths[0] in lines[0] and paths[2] in lines[1] and "Traceback" not in r.stderr
    assert len(r.stdout.splitlines()) == 2


def test_missing_file_and_directory(tmp_path: Path) -> None:
    for p in (tmp_path / "nope.pcap", tmp_path):
        r = run("inspect", str(p))
        assert r.returncode == 2 and "Traceback" not in r.stderr and str(p) in r.stderr


@pytest.mark.parametrize("linktype", [147, 4242, 0x0FFFFFFF])
def test_unknown_link_type_is_named(tmp_path: Path, linktype: int) -> None:
    frames = pcapgen.tcp_flow(craft.real_handshake())
    p = craft.write_frames(tmp_path / "odd.pcap", frames, linktype=linktype)
    r = run("inspect", str(p), "--format", "jsonl")
    assert r.returncode == 2 and r.stdout == ""
    line = one_line(r.stderr)
    assert str(p) in line and "link type" in line and str(linktype) in line


def test_unknown_link_type_beside_a_known_one(tmp_path: Path) -> None:
    """A pcapng with an Ethernet interface and one pcaptls cannot read: the Ethernet TLS is
    reported, the other interface's frames are named on stderr."""
    frames = pcapgen.tcp_flow(craft.real_handshake())
    blob = craft.pcapng_shb() + craft.pcapng_idb(1) + craft.pcapng_idb(189)
    for i, (t, data) in enumerate(frames):
        blob += craft.pcapng_epb(t, data, iface=0) + craft.pcapng_epb(t, b"\x00" * 20, iface=1)
    p = tmp_path / "mixed.pcapng"
    p.write_bytes(blob)
    r = run("inspect", str(p), "--format", "jsonl")
    assert r.returncode == 2
    line = one_line(r.stderr)
    assert "189" in line and str(len(frames)) in line
    (rec,) = [json.loads(x) for x in r.stdout.splitlines()]
    assert rec["sni"] == "hostile.example.com" and rec["status"] == "ok"


# -- truncation --------------------------------------------------------------------------------

def _records_of_first(path: Path, n: int) -> list[dict]:  # type: ignore[type-arg]
    """What pcaptls reports for the first ``n`` frames of ``path`` alone: the truth for a cut."""
    frames = list(iter_frames(path))[:n]
    a = analyse_frames(iter(frames), ReadStats(path=str(path)))
    return [connection_record(c) for c in a.connections]


def _cut_points(size: int) -> list[int]:
    return sorted({25, 24 + 8, 24 + 16 + 10, size // 7, size // 3, size // 2, size - 300, size - 1})


def test_truncated_pcap_reports_everything_before_the_cut(two_flows: Path, tmp_path: Path) -> None:
    data = two_flows.read_bytes()
    for cut in _cut_points(len(data)):
        p = tmp_path / f"cut{cut}.pcap"
        p.write_bytes(data[:cut])
        a = analyse(p)
        assert a.truncated and ("cut" in a.truncated), (cut, a.truncated)
        got = [connection_record(c) for c in a.connections]
        assert got == _records_of_first(two_flows, a.stats.frames), cut


def test_truncated_capture_through_cli(two_flows: Path, tmp_path: Path) -> None:
    data = two_flows.read_bytes()
    half = tmp_path / "half.pcap"
    half.write_bytes(data[: len(data) * 3 // 4])
    for fmt in ("jsonl", "table", "csv"):
        r = run("inspect", str(half), "--format", fmt)
        assert r.returncode == 2
        line = one_line(r.stderr)
        assert str(half) in line and "ends early" in line and "cut" in line
    r = run("inspect", str(half), "--format", "jsonl")
    recs = [json.loads(x) for x in r.stdout.splitlines()]
    assert recs[0]["status"] == "ok" and recs[0]["sni"] == "hostile.example.com"
    assert len(recs) == 2 and recs[1]["status"] != "ok"  # the second handshake, cut in the middle
    table = run("inspect", str(half)).stdout
    assert "file ends early" in table  # and the summary says so too


def test_truncated_debug_shows_traceback(two_flows: Path, tmp_path: Path) -> None:
    data = two_flows.read_bytes()
    p = tmp_path / "cut.pcap"
    p.write_bytes(data[:-5])
    r = run("inspect", str(p), "--format", "jsonl", "--debug")
    assert r.returncode == 2 and "Traceback (most recent call last)" in r.stderr and "TruncatedError" in r.stderr
    assert r.stdout.count("\n") == 2


@pytest.mark.parametrize("kind", ["pcapng", "gzip", "pcapng.gz"])
def test_truncated_pcapng_and_gzip(two_flows: Path, tmp_path: Path, kind: str) -> None:
    frames = list(iter_frames(two_flows))
    blob = craft.pcapng_shb() + craft.pcapng_idb(1) + b"".join(craft.pcapng_epb(t, d) for _, t, _, d, _ in frames)
    if kind == "gzip":
        blob = gzip.compress(two_flows.read_bytes())
    elif kind == "pcapng.gz":
        blob = gzip.compress(blob)
    whole = tmp_path / f"whole.{kind}"
    whole.write_bytes(blob)
    p = tmp_path / f"cut.{kind}"
    # An odd length: never a pcapng block boundary (4-aligned), where the file would end cleanly.
    p.write_bytes(blob[: len(blob) * 3 // 5 | 1])
    a = analyse(p)
    assert a.truncated and 0 < a.stats.frames < len(frames)
    assert [connection_record(c) for c in a.connections] == _records_of_first(whole, a.stats.frames)
    r = run("inspect", str(p), "--format", "jsonl")
    assert r.returncode == 2 and str(p) in one_line(r.stderr)
    assert len(r.stdout.splitlines()) == len(a.connections) >= 1


@settings(max_examples=60)
@given(st.data())
def test_any_cut_reports_what_came_before(two_flows: Path, tmp_path_factory, data) -> None:  # type: ignore[no-untyped-def]
    blob = two_flows.read_bytes()
    cut = data.draw(st.integers(24, len(blob) - 1))
    p = tmp_path_factory.mktemp("anycut") / "c.pcap"
    p.write_bytes(blob[:cut])
    a = analyse(p)
    frames = list(iter_frames(two_flows))
    whole = sum(16 + len(f[3]) for f in frames[: a.stats.frames]) + 24
    assert a.stats.frames == len(frames) or whole <= cut
    assert (a.truncated is None) == (cut == whole)
    assert [connection_record(c) for c in a.connections] == _records_of_first(two_flows, a.stats.frames)


def test_certs_command_on_bad_and_cut_files(bad, two_flows: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, needle = bad["garbage_after_header"]
    r = run("certs", str(path), "--export", str(tmp_path / "out"))
    assert r.returncode == 2 and str(path) in one_line(r.stderr)
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(two_flows.read_bytes()[:-3])
    r = run("certs", str(cut), "--export", str(tmp_path / "out2"))
    assert r.returncode == 2 and str(cut) in one_line(r.stderr) and "ends early" in r.stderr


def test_bad_files_in_parallel_keep_their_traceback(bad, engine: str) -> None:  # type: ignore[no-untyped-def]
    """With --jobs the errors come back from worker processes: one line each, and --debug still
    shows where each was raised."""
    # Files that start as captures (so they reach the engines) and fail there.
    paths = [str(bad["header_only_cut"][0]), str(bad["pcapng_bad_bom"][0])]
    r = run("inspect", *paths, "--jobs", "2", "--format", "jsonl")
    assert r.returncode == 2 and r.stderr.count("\n") == 2 and "Traceback" not in r.stderr
    r = run("inspect", *paths, "--jobs", "2", "--format", "jsonl", "--debug")
    assert r.returncode == 2 and r.stderr.count("Traceback (most recent call last)") == 2
    # Where it was raised: the Python reader, or where the Rust engine's cut is turned into an error.
    assert ("in iter_frames" if engine == "python" else "in _cut") in r.stderr


def test_diagnostic_bundle_cut_short(two_flows: Path, tmp_path: Path) -> None:
    """A .tar.gz bundle copied while being written: the captures before the cut are read, the cut
    is named on stderr, exit 2."""
    big = craft.never_ending_handshake(tmp_path / "big.pcap", 3 << 20)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, src in (("eth0_diagnostic_logging_tcpdump00_vcsc.pcap", two_flows),
                          ("eth0_diagnostic_logging_tcpdump01_vcsc.pcap", big)):
            tar.add(src, arcname=f"diag/{name}")
    cut = tmp_path / "diagnostic_logging_vcsc.tar.gz"
    cut.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    r = run("timeline", str(cut), "--format", "jsonl")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert any(str(cut) in line and "ends early" in line for line in r.stderr.splitlines())
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert any(row.get("sni") == "hostile.example.com" for row in rows), rows[:3]


@pytest.mark.parametrize("command", ["timeline", "diagnose", "certs"])
def test_unknown_link_type_named_by_every_command(tmp_path: Path, command: str) -> None:
    p = craft.write_frames(tmp_path / "odd.pcap", pcapgen.tcp_flow(craft.real_handshake()), linktype=4242)
    extra = ["--export", str(tmp_path / "out")] if command == "certs" else []
    r = run(command, str(p), *extra)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert any("link type 4242" in line and str(p) in line for line in r.stderr.splitlines()), r.stderr


def test_bundle_cut_inside_a_capture_keeps_every_byte_there(two_flows: Path, tmp_path: Path) -> None:
    """The capture member the cut falls in is extracted up to the last byte that decompresses
    (tarfile's own reader dropped up to its copy buffer, 1 MiB, of it)."""
    import zlib

    from pcaptls.inputs.bundle import open_bundle

    big = craft.never_ending_handshake(tmp_path / "big.pcap", 3 << 20)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(two_flows, arcname="diag/eth0_diagnostic_logging_tcpdump00_vcsc.pcap")
        tar.add(big, arcname="diag/eth0_diagnostic_logging_tcpdump01_vcsc.pcap")
    data = buf.getvalue()
    cut = tmp_path / "diagnostic_logging_vcsc.tar.gz"
    cut.write_bytes(data[: len(data) * 3 // 4])
    there = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[: len(data) * 3 // 4])
    b = open_bundle(str(cut))
    try:
        first, second = (Path(p).read_bytes() for p in b.captures)
        assert first == two_flows.read_bytes()
        start = there.find(big.read_bytes()[:4096])  # after member 0 and the headers (ustar/pax)
        assert 0 < len(second) < big.stat().st_size and second == there[start:start + len(second)]
        assert len(second) == min(len(there) - start, big.stat().st_size)
        assert b.problems and "ends early" in b.problems[0] and "cut after" in b.problems[0]
    finally:
        b.cleanup()
