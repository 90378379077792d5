"""Run the pipeline over a capture file: frames -> segments -> connections -> results.

This is the library entry point (the CLI and the notebook use it)::

    result = analyse("capture.pcap")
    for conn in result.connections: ...
"""

from __future__ import annotations

import contextlib
import gc
import os
import struct
import traceback
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterable, Iterator

from .capture.decode import ETH_IPV4_TCP, decode, new_counts
from .capture import pcap
from .capture.files import Frame, ReadStats, iter_frames, open_capture
from .errors import MalformedError, PcaptlsError, TruncatedError
from .model import TlsConnection
from .tcp.flows import FlowTable

_CHUNK = 1 << 16  # read size; see capture.files.CHUNK for why it is small


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
    with _no_full_gc():
        return _pipeline(frames, stats, progress)


@contextlib.contextmanager
def _no_full_gc() -> Iterator[None]:
    """Live connections and finished results pile up as long-lived objects, free of reference
    cycles (a retired connection is freed by reference counting). Full collections over them
    find nothing and grow with their number: 10% of the run on a 1 GB capture. They wait
    until the end; young generations are collected as usual."""
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], max(thresholds[2], 1 << 30))
    try:
        yield
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
    return _result(flows, done, counts, stats)


def _result(flows: FlowTable, done: list[TlsConnection], counts: dict[str, int], stats: ReadStats) -> Analysis:
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
    src, kind = open_capture(path)
    try:
        head = src.read(24) if kind == "pcap" else b""
        if len(head) == 24 and struct.unpack_from(pcap.MAGICS[head[:4]][0] + "I", head, 20)[0] & 0x0FFFFFFF == 1:
            stats.format = kind
            with _no_full_gc():
                return _ethernet_pcap(src, head, stats, progress)
    finally:
        src.close()
    return analyse_frames(iter_frames(path, stats), stats, progress)


def _cut(stats: ReadStats, why: str, error: type[PcaptlsError] = TruncatedError) -> None:
    """The file ends early here: say why, as iter_frames does, with a traceback for --debug."""
    stats.truncated = f"corrupt data: {why}" if error is MalformedError else why
    try:
        raise error(why)
    except PcaptlsError:
        stats.trace = traceback.format_exc()


def _ethernet_pcap(src: BinaryIO, head: bytes, stats: ReadStats, progress: Callable[[int], None] | None) -> Analysis:
    """The common case (classic pcap, Ethernet: what tcpdump and Expressway write) in one loop.

    Same result as :func:`analyse_frames` over :func:`iter_frames`, without a frame tuple or a
    frame copy per packet: record and TCP/IP headers are unpacked where they lie in the read
    buffer, and only payloads the TLS stage needs are sliced out (bulk data and ACKs never are).
    """
    order, scale = pcap.MAGICS[head[:4]]
    stats.linktypes.add(1)
    stats.bytes_read = len(head)
    done: list[TlsConnection] = []
    flows = FlowTable(done.append)
    counts = new_counts()
    seg = flows.segment
    bulk = flows.bulk
    headers = ETH_IPV4_TCP.unpack_from
    rec = struct.Struct(order + "IIII").unpack_from
    read_error: list[str] = []

    def read(k: int) -> bytes:
        try:
            return src.read(k)
        except OSError as e:  # a failing disk or network share: report a cut, keep what was read
            read_error.append(f"read error: {e.strerror or e}")
            return b""

    buf = b""
    pos = end = n = snapped = 0
    tick = 0
    while True:
        if end - pos < 16:
            more = read(_CHUNK)
            if not more:
                if read_error:
                    _cut(stats, read_error[0])
                elif end - pos:
                    _cut(stats, f"record header cut after frame {n} ({end - pos} of 16 bytes)")
                break
            stats.bytes_read += len(more)
            buf = buf[pos:] + more
            pos, end = 0, len(buf)
            continue
        sec, frac, incl, orig = rec(buf, pos)
        if incl > pcap.MAX_FRAME:
            _cut(stats, f"frame {n + 1} claims {incl} bytes (corrupt record header)", MalformedError)
            break
        start = pos + 16
        rend = start + incl
        if rend > end:
            more = read(max(_CHUNK, rend - end))
            if not more:
                _cut(stats, read_error[0] if read_error else f"frame {n + 1} cut: {end - start} of {incl} bytes present")
                break
            stats.bytes_read += len(more)
            buf = buf[pos:] + more
            pos, end = 0, len(buf)
            continue
        n += 1
        pos = rend
        if incl < orig:
            snapped += 1
        ts = sec + frac * scale
        if progress is not None and n - tick >= 50_000:
            tick = n
            progress(stats.bytes_read)
        if incl >= 54:
            etype, vihl, total, frag, proto, s_ip, d_ip, sport, dport, seq, ack, doff, flags = headers(buf, start)
            if etype == 0x0800 and vihl == 0x45 and proto == 6 and not frag & 0x3FFF and doff >= 0x50:
                stop = start + 14 + total
                pstart = start + 34 + (doff >> 4) * 4
                if pstart <= stop <= rend:
                    if not bulk((s_ip, sport, d_ip, dport), seq, ack, flags, stop - pstart, ts):
                        seg(s_ip, d_ip, sport, dport, seq, ack, flags, buf[pstart:stop], 0, ts, n)
                    continue
        d = decode(1, buf[start:rend], counts)
        if d is not None:
            seg(d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], ts, n)
    stats.frames = n
    stats.snapped = snapped
    return _result(flows, done, counts, stats)
