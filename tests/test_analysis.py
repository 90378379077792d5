"""analysis: the one-loop path for Ethernet pcap gives exactly what the general pipeline gives."""

from __future__ import annotations

from pathlib import Path

import pytest

import pcapgen
from conftest import CAPTURES, corpus_files
from pcaptls.analysis import analyse, analyse_frames
from pcaptls.capture.files import ReadStats, iter_frames


def _general(path: Path):  # type: ignore[no-untyped-def]
    st = ReadStats(str(path))
    return analyse_frames(iter_frames(path, st), st)


def _same(path: Path) -> None:
    fast, slow = analyse(path), _general(path)
    assert fast.connections == slow.connections
    assert (fast.stats.frames, fast.stats.snapped, fast.stats.truncated, fast.stats.format) == (
        slow.stats.frames, slow.stats.snapped, slow.stats.truncated, slow.stats.format)
    assert (fast.counts, fast.tcp_segments, fast.tcp_connections, fast.anomalies) == (
        slow.counts, slow.tcp_segments, slow.tcp_connections, slow.anomalies)


FILES = sorted(CAPTURES.glob("*/*.pcap")) + [p for p in corpus_files() if p.suffix == ".pcap"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fast_path_equals_general_pipeline(path: Path) -> None:
    _same(path)


def test_fast_path_on_cut_and_snapped_files(tmp_path: Path) -> None:
    wire, _ = pcapgen.handshake_bytes(pcapgen.make_chain(rsa_bits=4096), app_data=b"x" * 50000)
    frames = pcapgen.tcp_flow(wire)
    p = tmp_path / "f.pcap"
    pcapgen.write_pcap(p, frames)
    data = p.read_bytes()
    for cut in (len(data), len(data) - 1, len(data) - 700, 24 + 7, 24, 3000):
        q = tmp_path / f"cut{cut}.pcap"
        q.write_bytes(data[:cut])
        _same(q)
    s = tmp_path / "snap.pcap"
    pcapgen.write_pcap(s, frames, snaplen=120)
    _same(s)
    n = tmp_path / "nanos-be.pcap"
    pcapgen.write_pcap(n, frames, nanos=True, big_endian=True)
    _same(n)
