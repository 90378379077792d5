"""Run the pipeline over a capture file: frames -> segments -> connections -> results.

This is the library entry point (the CLI and the notebook use it)::

    result = analyse("capture.pcap")
    for conn in result.connections: ...

A capture is read in one or more *shares*: share ``k`` of ``shares`` follows the TCP connections
whose ports fall in it, so that one capture can be split over processes (:mod:`.forks`). Each
share runs on the selected engine (:mod:`.engines`): the Rust core, or the pure-Python reference
pipeline below; both give the same result.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import MalformedError, PcaptlsError, TruncatedError
from . import engines as _engine
from . import forks
from .result import Analysis, connection_order, merge, row_order
from .spill import Runs

if TYPE_CHECKING:
    # Types only: the Rust engine's first frame comes sooner when the Python reference's
    # modules (capture readers, flow table) load only when it runs, and the connection model
    # while the scan runs (pcaptls._core imports it once its thread is reading).
    from ..capture.frames import Frame, ReadStats
    from ..tcp.flows import FlowTable
    from ..tls.keylog import KeyLog
    from ..tls.model import TlsConnection

SPLIT_MIN = 32 << 20  # smaller captures are read in one process: a second costs more than it saves
# With the Rust engine one share already keeps two cores busy (its scan thread, and this one
# turning connections into rows as they come): a second share, which reads and decodes the
# whole file again, pays only where the per-connection work dominates, in captures dense in
# connections. Measured on 2 cores (inspect --format jsonl, one share against two): bulk
# 300 MB (10 connections per MiB) 0.32 against 0.40 s, 1 GB 0.50 against 0.63 s,
# handshake-heavy 300 MB (27 per MiB) 0.41 against 0.51 s; the 100,000-connection retry storm
# (640 per MiB) 5.0 against 3.3 s. The density is guessed from the file's first SAMPLE bytes
# (a few milliseconds), which overstate it (connections open as a capture starts): splitting
# stays the choice when unsure.
SPLIT_MIN_OPENS = 100  # TCP connection openings (SYN without ACK) per MiB
SAMPLE = 4 << 20



def analyse_frames(frames: Iterable[Frame], stats: ReadStats, progress: Callable[[int], None] | None = None,
                   share: int = 0, shares: int = 1) -> Analysis:
    """The pipeline over already-read frames (in-memory captures, tests, fuzzing).

    ``share``/``shares``: analyse only the TCP connections whose ports fall in share ``share``
    of ``shares`` (see :func:`analyse`); share 0 also counts the frames that carry no TCP."""
    with _no_full_gc():
        return _pipeline(frames, stats, progress, share, shares, Collector(None, None))


class Collector:
    """Where one share's finished TLS connections go: kept, or (``make_row``) made into rows as
    each finishes and kept in :class:`~pcaptls.pipeline.spill.Runs` (on disk past a bound, with
    ``spill``)."""

    __slots__ = ("anomalies", "keys", "kept", "make_row", "runs", "sealed")

    def __init__(self, make_row: Callable[[TlsConnection], Any] | None, spill: str | None,
                 keys: KeyLog | None = None) -> None:
        self.make_row = make_row
        # Session secrets to try: the engines then copy encrypted records (``sealed``) and each
        # connection is decrypted here, before anything else sees it (pcaptls.tls.unseal).
        self.keys = keys if keys else None
        self.sealed = self.keys is not None
        self.kept: list[TlsConnection] = []
        self.runs = None if make_row is None else Runs(row_order, spill)
        self.anomalies: dict[str, int] = {}  # by kind, over all connections

    def add(self, c: TlsConnection) -> None:
        if c.sealed is not None and self.keys is not None:
            from ..tls.unseal import unseal  # here: decryption (and its ciphers) load only with keys

            c = unseal(c, self.keys)
        for a in c.anomalies:
            self.anomalies[a.kind] = self.anomalies.get(a.kind, 0) + 1
        if self.runs is None:
            self.kept.append(c)
        else:
            self.runs.add((c.start, c.first_frame, self.make_row(c)))  # type: ignore[misc]


@contextlib.contextmanager
def _no_full_gc() -> Iterator[None]:
    """Live connections and finished results pile up as long-lived objects, free of reference
    cycles (a retired connection is freed by reference counting). Full collections over them
    find nothing and grow with their number: 10% of the run on a 1 GB capture. They wait
    until the end. Young collections come every 20,000 allocations rather than 700: the Rust
    engine hands over connections a batch at a time (about ten objects each, one with 43
    slots), and a command that makes them into rows drops them before the next batch; at 700,
    each was traversed while still alive, and again in the middle generation (2-3 us of the
    10-16 us a storm's connection took to build)."""
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], 20_000), thresholds[1], max(thresholds[2], 1 << 30))
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def _pipeline(frames: Iterable[Frame], stats: ReadStats, progress: Callable[[int], None] | None,
              share: int, shares: int, sink: Collector) -> Analysis:
    """The reference pipeline, one frame at a time: decode, then the flow table, whose
    connections each get a TLS session."""
    from ..capture.decode import decode, new_counts
    from ..tcp import flows as _flows
    from ..tcp.flows import FlowTable
    from ..tls.session import TlsSession

    layer = functools.partial(TlsSession, sealed=True) if sink.sealed else TlsSession
    flows = FlowTable(layer, sink.add, shares)
    counts = new_counts()
    # Only share 0 counts frames without TCP: it decodes every frame, so its counts are the whole file's.
    dcounts = counts if share == 0 else new_counts()
    split = shares > 1
    sweep = _flows.SWEEP_EVERY - 1
    for num, ts, linktype, data, _wirelen in frames:
        if not num & sweep:
            flows.sweep(ts)
            if progress is not None:
                progress(stats.bytes_read)
        s = decode(linktype, data, dcounts)
        if s is not None and not (split and (s[2] ^ s[3]) % shares != share):
            flows.segment(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], ts, num)
    return _result(flows, sink, counts, stats)


def _result(flows: FlowTable, sink: Collector, counts: dict[str, int], stats: ReadStats) -> Analysis:
    flows.close_all()
    sink.kept.sort(key=connection_order)
    return Analysis(
        path=stats.path,
        connections=sink.kept,
        rows=sink.runs,
        stats=stats,
        counts=counts,
        tcp_segments=flows.packets,
        tcp_connections=flows.connections,
        evicted=flows.evicted,
        anomalies=dict(sorted(sink.anomalies.items())),  # by kind: the same however it was split
    )


def analyse(path: str | os.PathLike[str], progress: Callable[[int], None] | None = None, jobs: int = 1,
            make_row: Callable[[TlsConnection], Any] | None = None, spill: str | None = None,
            engine: str | None = None, keys: KeyLog | None = None) -> Analysis:
    """Analyse one capture file. Raises :class:`~pcaptls.errors.InputError` if it is not one.

    A file cut short is analysed up to the cut; ``result.truncated`` says where and why.

    ``jobs`` > 1 splits a capture of :data:`SPLIT_MIN` bytes or more over that many processes.
    Each reads the whole file but follows only the TCP connections whose ports fall in its
    share ((sport ^ dport) % jobs, the same for both directions), so every connection is
    reassembled whole in exactly one process; the shares are merged in time order. The result
    is the serial one (tests check it), except under a flood that fills the live-connection
    table: its cap (:data:`~pcaptls.tcp.flows.MAX_CONNECTIONS`) is divided between the shares.
    With the Rust engine and no ``make_row`` the shares are threads of this process instead
    (:func:`_rust_threads`): the connections themselves are wanted here.

    ``make_row``: a function of a connection (a report line, say) run where the connection was
    followed, as it finishes, so that this work is split too and only its results cross
    between processes; see :attr:`Analysis.rows`. It may be a closure: workers are
    forked. ``spill``: a private folder (:func:`pcaptls.pipeline.spill.folder`) where rows wait
    in sorted runs once there are many, so memory does not grow with the number of
    connections; it must outlive the iteration of ``rows``.

    ``engine``: ``"rust"``, ``"python"`` or ``None`` (the environment's choice, see
    :mod:`pcaptls.pipeline.engines`); both give the same result.

    ``keys``: TLS session secrets (:mod:`pcaptls.tls.keylog`) to decrypt handshakes and alerts
    with; the secrets of a pcapng file's Decryption Secrets Blocks are used in any case.
    """
    path = os.fspath(path)
    if keys is None:
        keys = _KEYS
    if engine is not None:
        # Workers are forked and read the choice from the environment, as the CLI sets it.
        with _engine_env(engine):
            return analyse(path, progress, jobs, make_row, spill, keys=keys)
    keys = _with_capture_secrets(path, keys)
    if jobs > 1 and forks.can_fork():
        try:
            size = os.path.getsize(path)
        except OSError:
            size = 0
        if size >= SPLIT_MIN and _dense(path):
            return _split(path, progress, jobs, make_row, spill, keys)
    return _share(path, progress, 0, 1, make_row, spill, keys)


def _dense(path: str) -> bool:
    """Is splitting this capture worth it (see :data:`SPLIT_MIN_OPENS`)? Always, with the
    Python engine: its one thread does everything."""
    if _engine.selected() != "rust":
        return True
    from .. import _core

    sample = _core.sample(path, SAMPLE)
    if sample is None:  # not a capture it can read: the scan will say why
        return True
    _frames, read, opens = sample
    return read == 0 or opens * (1 << 20) >= SPLIT_MIN_OPENS * read


# Session secrets a command was given (``--keylog``): see :func:`using_keys`.
_KEYS: KeyLog | None = None


@contextlib.contextmanager
def using_keys(keys: KeyLog | None) -> Iterator[None]:
    """Inside the ``with`` block, :func:`analyse` tries ``keys`` when it is given none."""
    global _KEYS
    old, _KEYS = _KEYS, keys
    try:
        yield
    finally:
        _KEYS = old


def keys_in_use() -> KeyLog | None:
    """The secrets :func:`using_keys` set (what :func:`analyse` tries when given none): for
    work that runs elsewhere (a Dask worker) and must be handed them."""
    return _KEYS


def _with_capture_secrets(path: str, keys: KeyLog | None) -> KeyLog | None:
    """``keys`` and the secrets ``path`` carries itself (pcapng Decryption Secrets Blocks)."""
    from ..capture import pcap

    try:
        with open(path, "rb") as f:
            if pcap.sniff(f.read(4)):  # a pcap file has no such blocks: the readers need not load
                return keys
    except OSError:
        pass  # said by the engine, as for any capture it cannot open
    from ..tls import keylog

    found = keylog.from_capture(path)
    if not found:
        return keys
    if keys:
        merged = keylog.KeyLog()
        merged.merge(keys)
        merged.merge(found)
        return merged
    return found


def _split(path: str, progress: Callable[[int], None] | None, jobs: int,
           make_row: Callable[[TlsConnection], Any] | None, spill: str | None,
           keys: KeyLog | None = None) -> Analysis:
    if make_row is None and _engine.selected() == "rust":
        return _rust_threads(path, progress, jobs, spill, keys)
    # The command's own preparation (its trust store, say) once, here, before the fork: the
    # workers inherit it. Done after the fork, while the shares are scanned, it would be done
    # once per process while the scans already keep every core busy. Measured (inspect
    # --format jsonl, medians of 10 interleaved runs, quiet machine): handshake-heavy 300 MB
    # 0.57 s prepared before the fork, 0.65 s prepared in each process after it (CPU 0.85
    # against 1.08 s); bulk 300 MB 0.37 against 0.36 s (CPU 0.54 against 0.61 s); the storm of
    # 100,000 connections 3.78 s either way. Workers loading it when first needed cost the same.
    for _pid, fn in _WHILE_SCANNING:
        fn()
    # fork: the workers start as copies of this process (``make_row``, what is imported and
    # prepared); only their results cross back.
    with contextlib.ExitStack() as workers:
        others = [workers.enter_context(forks.Forked(_share, path, None, k, jobs, make_row, spill, keys))
                  for k in range(1, jobs)]
        # This process takes share 0 and shows progress.
        results = [_share(path, progress, 0, jobs, make_row, spill, keys)]
        results += [w.result() for w in others]
    return merge(results)


@contextlib.contextmanager
def _engine_env(engine: str) -> Iterator[None]:
    old = os.environ.get(_engine.ENV)
    os.environ[_engine.ENV] = _engine.selected(engine)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(_engine.ENV, None)
        else:
            os.environ[_engine.ENV] = old


def _share(path: str, progress: Callable[[int], None] | None, share: int, shares: int,
           make_row: Callable[[TlsConnection], Any] | None = None, spill: str | None = None,
           keys: KeyLog | None = None) -> Analysis:
    sink = Collector(make_row, spill, keys)
    if _engine.selected() == "rust":
        return _rust_share(path, progress, share, shares, sink)
    from ..capture.files import iter_frames
    from ..capture.frames import ReadStats

    stats = ReadStats(path=path)
    with _no_full_gc():
        return _pipeline(iter_frames(path, stats), stats, progress, share, shares, sink)


# Work a command needs whatever the capture holds (loading its trust store, say), done while the
# Rust engine's thread reads a large capture rather than before it starts or once the first
# connection arrives (or, for a capture split over processes, once before they fork: see
# _split). See :func:`while_scanning`.
_WHILE_SCANNING: list[tuple[int, Callable[[], object]]] = []
WARM_UP_MIN = 8 << 20  # smaller captures are read before the work would pay off


@contextlib.contextmanager
def while_scanning(fn: Callable[[], object]) -> Iterator[None]:
    """Run ``fn`` (idempotent) while the Rust engine scans a capture of :data:`WARM_UP_MIN`
    bytes or more, inside the ``with`` block, and before a capture split over processes forks
    them: in this process, and in each worker process that makes rows (``make_row``: what
    ``fn`` prepares is for them). A worker that only hands its connections back (several
    captures read at once for a command that wants the connections) leaves it to this process."""
    entry = (os.getpid(), fn)
    _WHILE_SCANNING.append(entry)
    try:
        yield
    finally:
        _WHILE_SCANNING.remove(entry)


def _rust_share(path: str, progress: Callable[[int], None] | None, share: int, shares: int,
                sink: Collector) -> Analysis:
    """One share of one capture through the Rust engine: it scans on its own thread (the GIL
    released) while this one turns finished connections into results."""
    scan = _rust_scan(path, share, shares, sink)
    _warm_up(path, sink.make_row is not None)
    add = sink.add
    with _no_full_gc():
        for batch in scan:
            for c in batch:
                add(c)
            if progress is not None:
                progress(scan.bytes_read)
    return _rust_analysis(path, scan, sink)


def _rust_threads(path: str, progress: Callable[[int], None] | None, shares: int, spill: str | None,
                  keys: KeyLog | None) -> Analysis:
    """Every share of one capture through the Rust engine in this process, each scanned on a
    thread of its own, their connections taken in turn: the split for a caller that wants the
    connections themselves (no ``make_row``). Worker processes would each build their share's
    connections only to pickle them for this process to build again (on a retry storm of
    100,000 connections, 2.7 s of the 6.9 s a split took, against 2.7 s in one process)."""
    sinks = [Collector(None, spill, keys) for _ in range(shares)]
    scans = [_rust_scan(path, k, shares, sink) for k, sink in enumerate(sinks)]
    _warm_up(path, False)
    live = list(zip(scans, sinks))
    with _no_full_gc():
        while live:
            for pair in list(live):
                batch = next(pair[0], None)  # the other scans go on reading meanwhile
                if batch is None:
                    live.remove(pair)
                    continue
                add = pair[1].add
                for c in batch:
                    add(c)
            if progress is not None:
                progress(min(scan.bytes_read for scan in scans))
    return merge([_rust_analysis(path, scan, sink) for scan, sink in zip(scans, sinks)])


def _rust_scan(path: str, share: int, shares: int, sink: Collector) -> Any:
    from .. import _core

    # raises InputError for a file that is not a capture
    return _core.Scan(path, share, shares, sealed=True) if sink.sealed else _core.Scan(path, share, shares)


def _warm_up(path: str, makes_rows: bool) -> None:
    here = os.getpid()
    wanted = [fn for pid, fn in _WHILE_SCANNING if makes_rows or pid == here]
    if wanted:
        try:
            big = os.path.getsize(path) >= WARM_UP_MIN
        except OSError:
            big = False
        if big:
            for fn in wanted:
                fn()


def _rust_analysis(path: str, scan: Any, sink: Collector) -> Analysis:
    """A finished scan's result."""
    from ..capture.frames import ReadStats

    s = scan.summary()
    stats = ReadStats(path=path, format=s["format"], frames=s["frames"], bytes_read=s["bytes_read"],
                      snapped=s["snapped"], linktypes=set(s["linktypes"]))
    cut = s["truncated"]
    if cut is not None:
        # The same reason and error class as the Python reader's, with a traceback for --debug.
        corrupt = cut.startswith("corrupt data: ")
        _cut(stats, cut[len("corrupt data: "):] if corrupt else cut, MalformedError if corrupt else TruncatedError)
    sink.kept.sort(key=connection_order)
    return Analysis(
        path=path,
        connections=sink.kept,
        rows=sink.runs,
        stats=stats,
        counts=s["counts"],  # counted by share 0 only, as in _pipeline
        tcp_segments=s["tcp_segments"],
        tcp_connections=s["tcp_connections"],
        evicted=s["evicted"],
        anomalies=dict(sorted(sink.anomalies.items())),
    )


def _cut(stats: ReadStats, why: str, error: type[PcaptlsError] = TruncatedError) -> None:
    """The file ends early here: say why, as iter_frames does, with a traceback for --debug."""
    import traceback

    stats.truncated = f"corrupt data: {why}" if error is MalformedError else why
    try:
        raise error(why)
    except PcaptlsError:
        stats.trace = traceback.format_exc()
