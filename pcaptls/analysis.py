"""Run the pipeline over a capture file: frames -> segments -> connections -> results.

This is the library entry point (the CLI and the notebook use it)::

    result = analyse("capture.pcap")
    for conn in result.connections: ...
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .capture.decode import ETH_IPV4_TCP, decode, new_counts
from .capture.files import Frame, ReadStats, iter_frames
from .model import TlsConnection
from .tcp.flows import FlowTable


@dataclass(slots=True)
class Analysis:
    """What one capture held: TLS connections in time order, and what could not be read."""

    path: str
    connections: list[TlsConnection]
    stats: ReadStats
    counts: dict[str, int]  # frames by why they carried no TCP (not_ip, fragment, malformed, ...)
    tcp_segments: int = 0
    tcp_connections: int = 0
    evicted: int = 0
    anomalies: dict[str, int] = field(default_factory=dict)  # by kind, over all TLS connections

    @property
    def truncated(self) -> str | None:
        return self.stats.truncated


def analyse_frames(frames: Iterable[Frame], stats: ReadStats, progress: Callable[[int], None] | None = None) -> Analysis:
    """The pipeline over already-read frames (in-memory captures, tests, fuzzing)."""
    # Live connections and finished results pile up as long-lived objects, free of reference
    # cycles (a retired connection is freed by reference counting). Full collections over them
    # find nothing and grow with their number: 10% of the run on a 1 GB capture. They wait
    # until the end; young generations are collected as usual.
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], max(thresholds[2], 1 << 30))
    try:
        return _pipeline(frames, stats, progress)
    finally:
        gc.set_threshold(*thresholds)


def _pipeline(frames: Iterable[Frame], stats: ReadStats, progress: Callable[[int], None] | None) -> Analysis:
    done: list[TlsConnection] = []
    flows = FlowTable(done.append)
    counts = new_counts()
    seg = flows.segment
    bulk = flows.bulk
    headers = ETH_IPV4_TCP.unpack_from
    tick = 0
    for num, ts, linktype, data, _wirelen in frames:
        if progress is not None and num - tick >= 50_000:
            tick = num
            progress(stats.bytes_read)
        if linktype == 1 and len(data) >= 54:
            # decode()'s fast path, inlined: most segments (ACKs, bulk application data) are then
            # accounted for by the flow table without a payload slice or a segment tuple.
            etype, vihl, total, frag, proto, src, dst, sport, dport, seq, ack, doff, flags = headers(data)
            if etype == 0x0800 and vihl == 0x45 and proto == 6 and not frag & 0x3FFF and doff >= 0x50:
                stop = 14 + total
                pstart = 34 + (doff >> 4) * 4
                if pstart <= stop <= len(data):
                    if not bulk((src, sport, dst, dport), seq, ack, flags, stop - pstart, ts):
                        seg(src, dst, sport, dport, seq, ack, flags, data[pstart:stop], 0, ts, num)
                    continue
        s = decode(linktype, data, counts)
        if s is not None:
            seg(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], ts, num)
    flows.close_all()
    done.sort(key=lambda c: (c.start, c.first_frame))
    anomalies: dict[str, int] = {}
    for c in done:
        for a in c.anomalies:
            anomalies[a.kind] = anomalies.get(a.kind, 0) + 1
    return Analysis(
        path=stats.path,
        connections=done,
        stats=stats,
        counts=counts,
        tcp_segments=flows.packets,
        tcp_connections=flows.connections,
        evicted=flows.evicted,
        anomalies=anomalies,
    )


def analyse(path: str | os.PathLike[str], progress: Callable[[int], None] | None = None) -> Analysis:
    """Analyse one capture file. Raises :class:`~pcaptls.errors.InputError` if it is not one.

    A file cut short is analysed up to the cut; ``result.truncated`` says where and why.
    """
    stats = ReadStats(path=os.fspath(path))
    return analyse_frames(iter_frames(path, stats), stats, progress)
