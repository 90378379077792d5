"""A capture read as it arrives on a pipe (``tcpdump -w - | pcaptls inspect -``): connections
handed on as they end, not when the input ends.

A file is read to its end before anything is reported: its connections are retired when they
have lingered (or at the end) and come out in start order. A live stream may never end, so here
the reading runs on its own thread and, whenever the input pauses (nothing to read for
:data:`PAUSE` seconds) or at least every :data:`EVERY` seconds, every connection that has closed
(RST, or FIN both ways) is handed on at once (:meth:`pcaptls.tcp.flows.FlowTable.report_closed`),
in start order within each batch. What is still open at the end of input comes last. A
connection reported at a pause misses only packets after it closed (a late ACK) in its end time.

The Python reference pipeline follows the packets here (the Rust engine reads files); the
connections are the same either way. gzip-compressed input is read too.
"""

from __future__ import annotations

import os
import queue
import select
import threading
import time
import zlib
from collections.abc import Iterator

from ..capture import pcap, pcapng
from ..capture.decode import decode, new_counts
from ..capture.frames import ReadStats
from ..errors import InputError, MalformedError, PcaptlsError, TruncatedError
from ..inputs.kinds import describe
from ..tcp import flows as _flows
from ..tls.model import TlsConnection
from ..tls.session import TlsSession
from . import analysis
from .result import Analysis, connection_order

PAUSE = 0.2  # seconds without input that count as a pause
EVERY = 1.0  # seconds between reports while input keeps coming
CHUNK = 1 << 16


class StreamScan:
    """Iterate for batches of finished connections; :attr:`analysis` is the summary once done.

    The first bytes are read (and checked to be a capture) when it is made: a stream that is
    not one raises :class:`InputError` before anything is reported."""

    def __init__(self, fd: int, name: str) -> None:
        self.fd = fd
        self.name = name
        self.stats = ReadStats(path=name)
        self.analysis: Analysis | None = None
        self._gz: zlib._Decompress | None = None
        head = self._read_head()
        kind = pcap.sniff(head[:4]) or pcapng.sniff(head[:4])
        if kind is None:
            raise InputError(f"{name}: {describe(self._raw_head[:512], head if self._gz else None)}, "
                             "not a capture (pcap or pcapng, optionally gzip-compressed)")
        self.stats.format = ("gzip " if self._gz else "") + kind
        self._fmt = pcapng if kind.endswith("pcapng") else pcap
        self._first = head
        self._out: queue.Queue[list[TlsConnection] | BaseException | None] = queue.Queue(maxsize=64)

    def _read_head(self) -> bytes:
        raw = b""
        while len(raw) < 4:
            b = os.read(self.fd, CHUNK)
            if not b:
                break
            raw += b
        self._raw_head = raw
        if raw[:2] == b"\x1f\x8b":
            self._gz = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out = self._inflate(raw)
            while len(out) < 4:
                b = os.read(self.fd, CHUNK)
                if not b:
                    break
                self._raw_head += b
                out += self._inflate(b)
            return out
        return raw

    def _inflate(self, data: bytes) -> bytes:
        assert self._gz is not None
        try:
            out = self._gz.decompress(data)
            while self._gz.eof and self._gz.unused_data[:2] == b"\x1f\x8b":  # `cat a.gz b.gz`
                rest = self._gz.unused_data
                self._gz = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out += self._gz.decompress(rest)
            return out
        except zlib.error as e:
            raise MalformedError(f"gzip data is corrupt: {e}") from e

    def __iter__(self) -> Iterator[list[TlsConnection]]:
        worker = threading.Thread(target=self._run, name="pcaptls-stdin", daemon=True)
        worker.start()
        while True:
            item = self._out.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _run(self) -> None:
        try:
            self.analysis = self._scan()
            self._out.put(None)
        except BaseException as e:  # handed to the reading thread, raised there
            self._out.put(e)

    def _scan(self) -> Analysis:
        keys = analysis._KEYS
        sink = analysis.Collector(None, None, keys)
        layer = (lambda midstream: TlsSession(midstream, sealed=True)) if sink.sealed else TlsSession
        flows = _flows.FlowTable(layer, sink.add)
        counts = new_counts()
        st = self.stats
        last_report = time.monotonic()

        def report() -> None:
            nonlocal last_report
            last_report = time.monotonic()
            flows.report_closed()
            if sink.kept:
                batch = sorted(sink.kept, key=connection_order)
                sink.kept.clear()
                self._out.put(batch)

        def chunks() -> Iterator[bytes]:
            st.bytes_read += len(self._raw_head)
            yield self._first
            while True:
                ready = select.select([self.fd], [], [], PAUSE)[0]
                if not ready or time.monotonic() - last_report >= EVERY:
                    report()
                    if not ready:
                        select.select([self.fd], [], [])  # nothing more to say until input comes
                try:
                    data = os.read(self.fd, CHUNK)
                except OSError as e:
                    raise TruncatedError(f"read error: {e}") from e
                if not data:
                    if self._gz is not None and not self._gz.eof:
                        raise TruncatedError("the gzip stream ends before its end marker (input cut short)")
                    return
                st.bytes_read += len(data)
                if self._gz is not None:
                    data = self._inflate(data)
                    if not data:
                        continue
                yield data

        sweep = _flows.SWEEP_EVERY - 1
        with analysis._no_full_gc():
            try:
                for num, ts, linktype, data, _wirelen in self._fmt.frames(chunks(), st):
                    if not num & sweep:
                        flows.sweep(ts)
                    s = decode(linktype, data, counts)
                    if s is not None:
                        flows.segment(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], ts, num)
            except TruncatedError as e:
                st.truncated = str(e)
            except MalformedError as e:
                st.truncated = f"corrupt data: {e}"
            except PcaptlsError:
                raise
            flows.close_all()
            report()
        return Analysis(path=self.name, connections=[], rows=None, stats=st, counts=counts,
                        tcp_segments=flows.packets, tcp_connections=flows.connections,
                        evicted=flows.evicted, anomalies=dict(sorted(sink.anomalies.items())))
