"""analysis: a capture split over processes by connection gives the serial answer, on both engines."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import pytest

from pcaptls.capture.frames import Frame, ReadStats
from pcaptls.errors import PcaptlsError
from pcaptls.pipeline import analysis
from pcaptls.pipeline.analysis import analyse, analyse_frames
from tests.helpers.paths import CAPTURES, corpus_files

# -- a capture split over processes by connection (analyse(jobs=N)) ---------------------------

ALL_FILES = sorted(CAPTURES.glob("*/*.pcap")) + list(corpus_files())


def _outcome(path: Path, jobs: int):  # type: ignore[no-untyped-def]
    try:
        a = analyse(path, jobs=jobs)
    except PcaptlsError as e:
        return type(e), str(e)
    return _outcome_of(a)


def _outcome_of(a):  # type: ignore[no-untyped-def]
    return (a.connections, a.counts, a.tcp_segments, a.tcp_connections, a.evicted, a.anomalies,
            a.stats.frames, a.stats.snapped, a.stats.truncated, a.stats.bytes_read)


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.engines
def test_split_equals_serial(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every share reads every frame and keeps only its connections; merged, the result is the
    serial one, on pcap, pcapng and every link type."""
    monkeypatch.setattr(analysis, "SPLIT_MIN", 0)
    monkeypatch.setattr(analysis, "SPLIT_MIN_OPENS", 0)
    serial = _outcome(path, 1)
    for jobs in (2, 3):
        assert _outcome(path, jobs) == serial


@pytest.mark.engines
def test_split_shares_are_disjoint_and_balanced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each connection is in exactly one share; with many client ports the shares are even."""
    from benchmarks import gen_capture

    path = tmp_path / "b.pcap"
    gen_capture.generate(3, path, seed=5, pool=gen_capture.session_pool(("rsa2048",)))
    whole = analyse(path)
    shares = [analysis._share(str(path), None, k, 2) for k in (0, 1)]
    keys = [[(c.start, c.first_frame) for c in s.connections] for s in shares]
    assert not set(keys[0]) & set(keys[1])
    assert sorted(keys[0] + keys[1]) == [(c.start, c.first_frame) for c in whole.connections]
    assert min(map(len, keys)) > 0.35 * len(whole.connections)
    monkeypatch.setattr(analysis, "SPLIT_MIN", 0)
    monkeypatch.setattr(analysis, "SPLIT_MIN_OPENS", 0)
    assert analyse(path, jobs=2).connections == whole.connections


def test_split_sweeps_like_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    """Idle sweeps happen at the same frames in every share, so the same connections are retired."""
    from pcaptls.tcp import flows
    from tests.helpers import craft

    monkeypatch.setattr(flows, "SWEEP_EVERY", 512)
    frames = list(craft.syn_flood(5_000, rate=2.0))
    serial = analyse_frames(iter(_numbered(frames)), ReadStats("x"))
    shares = [analyse_frames(iter(_numbered(frames)), ReadStats("x"), None, k, 2) for k in (0, 1)]
    assert serial.evicted > 3_000
    assert sum(s.evicted for s in shares) == serial.evicted
    assert sum(s.tcp_connections for s in shares) == serial.tcp_connections


def _numbered(frames: Iterable[tuple[float, bytes]]) -> Iterator[Frame]:
    return ((i + 1, t, 1, d, len(d)) for i, (t, d) in enumerate(frames))


@pytest.mark.engines
def test_rows_are_made_in_each_share(monkeypatch: pytest.MonkeyPatch) -> None:
    """analyse(make_row=f): f runs in the process that followed the connection (a closure is fine:
    workers are forked), the rows come back in time order, the counts are unchanged."""
    import os

    monkeypatch.setattr(analysis, "SPLIT_MIN", 0)
    monkeypatch.setattr(analysis, "SPLIT_MIN_OPENS", 0)
    path = CAPTURES / "mra-login" / "capture.pcap"
    serial = analyse(path)
    here = os.getpid()

    def f(c):  # type: ignore[no-untyped-def]
        return (c.sni, c.server.port, os.getpid() == here)

    for jobs in (1, 2, 3):
        a = analyse(path, jobs=jobs, make_row=f)
        assert a.connections == [] and a.rows is not None
        proj = list(a.rows)
        assert [(s, n, p[:2]) for s, n, p in proj] == [
            (c.start, c.first_frame, (c.sni, c.server.port)) for c in serial.connections]
        assert (a.anomalies, a.tcp_segments, a.counts) == (serial.anomalies, serial.tcp_segments, serial.counts)
        elsewhere = [p[2] for _s, _n, p in proj].count(False)
        assert (elsewhere == 0) == (jobs == 1)


# -- a command's preparation (while_scanning) -------------------------------------------------

def _preparing(log: Path):  # type: ignore[no-untyped-def]
    """An idempotent preparation that notes, in ``log``, each process that did the work."""
    import os

    done: dict[str, int] = {}

    def prepare() -> None:
        if "pid" not in done:
            done["pid"] = os.getpid()
            with open(log, "a") as f:
                f.write(f"{os.getpid()}\n")

    return prepare, done


@pytest.mark.engines
def test_preparation_runs_once_before_a_split_forks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A capture split over processes: the preparation runs here, before the fork, and every
    worker starts with it done (the scans would keep both cores busy while each did its own)."""
    import os

    monkeypatch.setattr(analysis, "SPLIT_MIN", 0)
    monkeypatch.setattr(analysis, "SPLIT_MIN_OPENS", 0)
    monkeypatch.setattr(analysis, "WARM_UP_MIN", 0)
    log = tmp_path / "prepared"
    prepare, done = _preparing(log)
    with analysis.while_scanning(prepare):
        a = analyse(CAPTURES / "mra-login" / "capture.pcap", jobs=2, make_row=lambda c: done.get("pid"))
    rows = [r for _start, _frame, r in a.rows or ()]
    assert len(rows) == 9 and set(rows) == {os.getpid()}
    assert log.read_text() == f"{os.getpid()}\n"


@pytest.mark.engines
def test_workers_prepare_only_when_they_make_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several captures read at once: a worker that makes rows prepares for them (once); one
    that hands its connections back leaves the preparation to the command's process."""
    import os

    from pcaptls.commands.common import analyse_many

    monkeypatch.setattr(analysis, "WARM_UP_MIN", 0)
    paths = [str(p) for p in sorted(CAPTURES.glob("0[1-4]*/capture.pcap"))]
    for make_row in (None, lambda path, c: done.get("pid")):
        log = tmp_path / f"prepared-{make_row is None}"
        log.touch()
        prepare, done = _preparing(log)
        with analysis.while_scanning(prepare):
            results = analyse_many(paths, 2, make_row)
        assert all(not isinstance(r, PcaptlsError) for r in results)
        pids = log.read_text().split()
        if make_row is None or analysis._engine.selected() == "python":  # the reference has no warm-up
            assert pids == []
        else:
            assert pids and str(os.getpid()) not in pids and len(set(pids)) == len(pids)
            rows = [r for a in results for _s, _f, r in a.rows or ()]  # type: ignore[union-attr]
            assert rows and set(rows) <= {int(p) for p in pids}


def test_sample_counts_connection_openings_as_tshark(tshark: str) -> None:
    """The Rust engine's look at a capture's start (pcaptls._core.sample) counts the segments
    with SYN and no ACK that tshark counts, on lab and corpus captures read whole."""
    import subprocess

    from pcaptls import _core

    paths = [CAPTURES / "mra-login" / "capture.pcap", CAPTURES / "08-messy-network" / "capture.pcap",
             *corpus_files()[:8]]
    for path in paths:
        frames, read, opens = _core.sample(str(path), 1 << 30)
        out = subprocess.run([tshark, "-n", "-r", str(path), "-Y", "tcp.flags.syn==1 && tcp.flags.ack==0",
                              "-T", "fields", "-e", "frame.number"], capture_output=True, text=True, check=True,
                             timeout=60).stdout
        assert opens == len(out.split()), path
        assert read == path.stat().st_size and frames > 0
    assert _core.sample(str(paths[0]), 0)[::2] == (0, 0)  # one read, no frame
    assert _core.sample(__file__, 1 << 20) is None  # not a capture


def test_split_only_where_connections_are_dense(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the Rust engine a capture is split over processes only when its start opens at least
    SPLIT_MIN_OPENS connections per MiB (a retry storm), not for a few long connections; the
    Python engine always splits. Both answers are the serial one."""
    from pcaptls.pipeline import engines
    from tests.helpers import pcapgen

    if not engines.rust_available():
        pytest.skip("the Rust engine is not built")
    monkeypatch.setattr(analysis, "SPLIT_MIN", 0)
    splits: list[str] = []
    real = analysis._split
    monkeypatch.setattr(analysis, "_split", lambda path, *a: splits.append(Path(path).name) or real(path, *a))
    wire, err = pcapgen.handshake_bytes(pcapgen.make_chain(), app_data=b"x" * 400_000)
    assert err is None
    sparse = tmp_path / "sparse.pcap"
    pcapgen.write_pcap(sparse, pcapgen.tcp_flow(wire))  # one connection, 0.4 MB
    storm = tmp_path / "storm.pcap"
    short, err = pcapgen.handshake_bytes(pcapgen.make_chain())
    assert err is None
    pcapgen.retry_storm(storm, short, 400)
    for path in (sparse, storm):
        serial = analyse(path, engine="rust")
        assert analyse(path, jobs=2, engine="rust").connections == serial.connections
        assert analyse(path, jobs=2, engine="python").connections == serial.connections
    assert splits == ["sparse.pcap", "storm.pcap", "storm.pcap"]  # Rust: the storm only; Python: both
