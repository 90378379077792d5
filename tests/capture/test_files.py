"""Capture files: every container variant yields the same frames tshark reads."""

from __future__ import annotations

import gzip
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pcaptls.capture.files import iter_frames, read_all
from pcaptls.capture.frames import ReadStats
from pcaptls.errors import InputError, MalformedError, PcaptlsError
from tests.helpers import pcapgen
from tests.helpers.paths import require_corpus_file

# Engine-specific: each test runs on the Rust core and on the Python reference.
pytestmark = pytest.mark.engines


def _frames(path: Path) -> list[tuple[int, float, int, bytes]]:
    return [(n, ts, lt, data) for n, ts, lt, data, _ in iter_frames(path)]


def _tshark_times(path: Path) -> list[str]:
    out = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.time_epoch"], capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.fixture()
def flow_pcap(tmp_path: Path) -> Path:
    wire, _ = pcapgen.handshake_bytes(pcapgen.make_chain(), app_data=b"hello")
    p = tmp_path / "flow.pcap"
    pcapgen.write_pcap(p, pcapgen.tcp_flow(wire))
    return p


@pytest.mark.parametrize("nanos,big", [(False, False), (True, False), (False, True), (True, True)])
def test_pcap_resolutions_and_byte_orders(tmp_path: Path, nanos: bool, big: bool, flow_pcap: Path) -> None:
    frames = [(ts, data) for _, ts, _, data in _frames(flow_pcap)]
    p = tmp_path / "x.pcap"
    pcapgen.write_pcap(p, frames, nanos=nanos, big_endian=big)
    got = _frames(p)
    assert [d for *_, d in got] == [d for _, d in frames]
    assert all(abs(g[1] - f[0]) < 2e-6 for g, f in zip(got, frames))


def test_pcapng_and_nanosecond_pcap_via_editcap(tmp_path: Path, tshark: str) -> None:
    src = require_corpus_file("tls__tls1.2.pcap")
    base = _frames(src)
    for fmt in ("pcapng", "nsecpcap"):
        out = tmp_path / f"x.{fmt}"
        subprocess.run(["editcap", "-F", fmt, str(src), str(out)], check=True)
        got = _frames(out)
        assert [f[3] for f in got] == [f[3] for f in base]
        theirs = [float(x) for x in _tshark_times(out)]
        assert all(abs(a[1] - b) < 1e-6 for a, b in zip(got, theirs))


def _pcapng_block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def test_pcapng_interfaces_with_own_linktype_and_resolution(tmp_path: Path, flow_pcap: Path, tshark: str) -> None:
    """Two interfaces: Ethernet at microseconds, raw IP at 2^-20 s ticks; tshark agrees on times."""
    frames = _frames(flow_pcap)
    shb = _pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idb0 = _pcapng_block(1, struct.pack("<HHI", 1, 0, 65535) + struct.pack("<HHB3x", 9, 1, 6) + b"\0\0\0\0")
    idb1 = _pcapng_block(1, struct.pack("<HHI", 101, 0, 65535) + struct.pack("<HHB3x", 9, 1, 0x80 | 20) + b"\0\0\0\0")
    blocks = [shb, idb0, idb1]
    for i, (_, ts, _, data) in enumerate(frames):
        iface = i % 2
        payload = data if iface == 0 else data[14:]
        ticks = int(ts * 1e6) if iface == 0 else int(ts * (1 << 20))
        blocks.append(_pcapng_block(6, struct.pack("<IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF, len(payload), len(payload)) + payload))
    p = tmp_path / "multi.pcapng"
    p.write_bytes(b"".join(blocks))
    st_ = ReadStats(str(p))
    got = list(iter_frames(p, st_))
    assert st_.linktypes == {1, 101}
    assert len(got) == len(frames)
    theirs = [float(x) for x in _tshark_times(p)]
    assert all(abs(g[1] - t) < 1e-5 for g, t in zip(got, theirs))
    from pcaptls.pipeline.analysis import analyse

    (c,) = analyse(p).connections
    assert c.sni == "server.example.com" and c.status == "ok"


def test_gzip_compressed(tmp_path: Path, flow_pcap: Path) -> None:
    gz = tmp_path / "x.pcap.gz"
    gz.write_bytes(gzip.compress(flow_pcap.read_bytes()))
    assert [f[3] for f in _frames(gz)] == [f[3] for f in _frames(flow_pcap)]


def test_truncated_gzip_reports_cut(tmp_path: Path, flow_pcap: Path) -> None:
    gz = tmp_path / "x.pcap.gz"
    data = gzip.compress(flow_pcap.read_bytes())
    gz.write_bytes(data[: len(data) // 2])
    st_ = ReadStats(str(gz))
    list(iter_frames(gz, st_))
    assert st_.truncated


@pytest.mark.parametrize("content,message", [
    (b"", "empty"),
    (b"hello world, not a capture", "not a pcap"),
    (b"\x1f\x8bnot gzip at all", "gzip"),
])
def test_not_a_capture(tmp_path: Path, content: bytes, message: str) -> None:
    p = tmp_path / "bad"
    p.write_bytes(content)
    with pytest.raises(InputError, match=message):
        list(iter_frames(p))


def test_missing_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        list(iter_frames(tmp_path / "nope.pcap"))
    with pytest.raises(InputError, match="directory"):
        list(iter_frames(tmp_path))


def test_truncated_pcap_keeps_frames_before_cut(tmp_path: Path, flow_pcap: Path) -> None:
    data = flow_pcap.read_bytes()
    whole = _frames(flow_pcap)
    for cut in (len(data) - 1, len(data) - 30, 24 + 16 + 5):
        p = tmp_path / "cut.pcap"
        p.write_bytes(data[:cut])
        st_ = ReadStats(str(p))
        got = list(iter_frames(p, st_))
        assert st_.truncated and "cut" in st_.truncated
        assert [g[3] for g in got] == [w[3] for w in whole[: len(got)]]


def test_absurd_record_length_is_malformed(tmp_path: Path, flow_pcap: Path) -> None:
    data = bytearray(flow_pcap.read_bytes())
    struct.pack_into("<I", data, 24 + 8, 0x7FFFFFFF)
    with pytest.raises(MalformedError):
        list(read_all(bytes(data)))


@given(st.binary(max_size=400))
def test_fuzz_reader_random(data: bytes) -> None:
    for head in (b"\xd4\xc3\xb2\xa1", b"\x0a\x0d\x0d\x0a"):
        try:
            list(read_all(head + data))
        except PcaptlsError:
            pass


@given(st.integers(min_value=0, max_value=2000), st.binary(max_size=64))
def test_fuzz_reader_truncated_and_corrupted(cut: int, junk: bytes) -> None:
    base = pcapgen.pcap_bytes(pcapgen.tcp_flow([(0, b"\x16\x03\x01" + b"x" * 3000)]))
    for blob in (base[:cut], base[:cut] + junk, junk + base[cut:]):
        try:
            list(read_all(blob))
        except PcaptlsError:
            pass


@pytest.mark.parametrize("nanos", [False, True])
def test_pcapng_copy_of_a_pcap_reads_the_same(tmp_path: Path, tshark: str, nanos: bool) -> None:
    """editcap's pcapng copy of a pcap gives the same frames with the same float times (whole
    seconds plus fraction, as in pcap), so every report of the two files is the same."""
    import shutil

    from pcaptls.pipeline.analysis import analyse
    from pcaptls.report.records import connection_record
    from tests.helpers.paths import CAPTURES

    src = CAPTURES / "mra-login" / "capture.pcap"
    if nanos:
        frames = [(t, d) for _n, t, _l, d, _w in iter_frames(src)]
        src = tmp_path / "ns.pcap"
        pcapgen.write_pcap(src, frames, nanos=True)
    ng = tmp_path / "copy.pcapng"
    subprocess.run([shutil.which("editcap") or "editcap", "-F", "pcapng", str(src), str(ng)], check=True)
    a, b = list(iter_frames(src)), list(iter_frames(ng))
    assert [(n, t, d) for n, t, _l, d, _w in a] == [(n, t, d) for n, t, _l, d, _w in b]
    assert [connection_record(c) for c in analyse(src).connections] == [
        connection_record(c) for c in analyse(ng).connections]
