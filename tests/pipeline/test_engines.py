"""The Rust engine and the Python reference give the same answer on everything pcaptls reads.

Compared field by field (every connection, every anomaly, the read statistics and counters) on
the lab captures, every capture of the public corpus, variants of them written other ways or
broken (:mod:`variants`), and the hostile files; `inspect --format jsonl` byte for byte on the
lab and corpus captures. The mutation fuzzer (``tests/fuzz``, target ``engines``) does the same
on random inputs.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from pcaptls.cli import main
from pcaptls.errors import InputError
from pcaptls.pipeline.analysis import Analysis, analyse
from pcaptls.pipeline.engines import rust_available
from tests.helpers import craft, variants
from tests.helpers.paths import CAPTURES, corpus_files

pytestmark = pytest.mark.skipif(not rust_available(), reason="the Rust engine (pcaptls._core) is not built")

LAB = sorted(p for p in CAPTURES.rglob("*.pcap*") if p.is_file())


def facts(a: Analysis) -> dict[str, object]:
    """Everything an analysis says, but the connections."""
    st = a.stats
    return {
        "format": st.format, "frames": st.frames, "snapped": st.snapped, "linktypes": sorted(st.linktypes),
        "truncated": st.truncated, "counts": a.counts, "tcp_segments": a.tcp_segments,
        "tcp_connections": a.tcp_connections, "evicted": a.evicted, "anomalies": a.anomalies,
    }


def same(path: Path, jobs: int = 1) -> int:
    """Both engines on ``path``: equal, or the first difference is the failure. Returns the
    number of connections compared."""
    try:
        py = analyse(path, engine="python", jobs=jobs)
    except InputError as e:
        with pytest.raises(InputError) as rs:
            analyse(path, engine="rust", jobs=jobs)
        assert str(rs.value) == str(e)
        return 0
    rs = analyse(path, engine="rust", jobs=jobs)
    assert facts(rs) == facts(py), path
    assert len(rs.connections) == len(py.connections), path
    for r, p in zip(rs.connections, py.connections):
        assert r == p, f"{path}: {p.id} differs"
    return len(py.connections)


def test_rust_engine_is_the_default() -> None:
    from pcaptls.pipeline import engines

    assert engines.selected() == "rust"


@pytest.mark.parametrize("path", LAB, ids=lambda p: str(p.relative_to(CAPTURES)))
def test_lab_captures(path: Path) -> None:
    same(path)


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_corpus(path: Path) -> None:
    same(path)


VARIANT_SEEDS = [CAPTURES / "mra-login" / "capture.pcap", CAPTURES / "08-messy-network" / "capture.pcap",
                 CAPTURES / "08-messy-network" / "midstream.pcap"]


@pytest.mark.parametrize("path", VARIANT_SEEDS + corpus_files()[:12:3], ids=lambda p: p.name)
def test_variants(path: Path, tmp_path: Path) -> None:
    rng = random.Random(path.name)
    for name, data in variants.variants(path, rng).items():
        f = tmp_path / f"{name}.pcap"
        f.write_bytes(data)
        same(f)


def test_hostile_files(tmp_path: Path) -> None:
    for name, (path, _needle) in craft.bad_files(tmp_path).items():
        same(path)


def test_hostile_floods(tmp_path: Path) -> None:
    """Many connections: SYN flood, tiny flows, hellos left open, a handshake that never ends."""
    for name, frames in (("syn", craft.syn_flood(3000)), ("tiny", craft.tiny_flows(2000)),
                         ("hellos", craft.tiny_tls_flows(2000))):
        same(craft.write_frames(tmp_path / f"{name}.pcap", frames))
    assert same(craft.never_ending_handshake(tmp_path / "never.pcap", 3 << 20)) == 1


def test_split_matches(tmp_path: Path) -> None:
    """--jobs 2 (two processes, each scanning one share with the Rust engine) gives the serial answer."""
    import pcaptls.pipeline.analysis as analysis

    old = analysis.SPLIT_MIN, analysis.SPLIT_MIN_OPENS
    analysis.SPLIT_MIN = analysis.SPLIT_MIN_OPENS = 0
    try:
        for path in VARIANT_SEEDS:
            assert same(path, jobs=2) > 0
    finally:
        analysis.SPLIT_MIN, analysis.SPLIT_MIN_OPENS = old


def _jsonl(engine: str, paths: list[Path]) -> str:
    r = CliRunner().invoke(main, ["--engine", engine, "inspect", "--format", "jsonl", "--jobs", "1", *map(str, paths)])
    assert r.exit_code in (0, 1, 2), r.output
    return r.stdout


def test_inspect_jsonl_byte_identical() -> None:
    corpus = corpus_files()  # beside the checkout; without it, the lab alone
    rust, python = _jsonl("rust", LAB + corpus), _jsonl("python", LAB + corpus)
    assert rust.count("\n") > (150 if corpus else 50)
    assert rust == python


def test_engine_choice_errors_are_one_line(tmp_path: Path) -> None:
    """A wrong PCAPTLS_ENGINE is a usage error: one line, exit 2, nothing on stdout."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, PCAPTLS_ENGINE="fast")
    r = subprocess.run([sys.executable, "-m", "pcaptls.cli", "inspect", str(LAB[0])], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert "PCAPTLS_ENGINE='fast'" in r.stderr and "auto, rust, python" in r.stderr
    r = CliRunner().invoke(main, ["--engine", "fast", "inspect", str(LAB[0])])
    assert r.exit_code == 2 and "fast" in r.output


def test_rust_objects_are_what_their_constructors_make() -> None:
    # pcaptls._core sets each slot of TlsConnection, Alert, HandshakeEvent, Endpoint and Anomaly itself
    # instead of calling their __init__ (faster): the objects must be exactly what
    # cls(*fields) makes, every field set, and the classes must have no __post_init__.
    from dataclasses import fields

    from pcaptls.tcp.facts import Anomaly, Endpoint
    from pcaptls.tls.model import Alert, HandshakeEvent, TlsConnection

    def rebuilt(x: object) -> object:
        return type(x)(*(getattr(x, f.name) for f in fields(x)))  # type: ignore[arg-type]

    for cls in (TlsConnection, Alert, HandshakeEvent, Endpoint, Anomaly):
        assert not hasattr(cls, "__post_init__"), cls
    seen = anomalies = 0
    for path in LAB:
        for c in analyse(path, engine="rust").connections:
            anomalies += len(c.anomalies)
            for x in (c, c.client, c.server, *c.alerts, *c.handshake, *c.anomalies):
                assert type(x) in (TlsConnection, Alert, HandshakeEvent, Endpoint, Anomaly)
                assert rebuilt(x) == x and repr(rebuilt(x)) == repr(x) and hash(rebuilt(x)) == hash(x)
                seen += 1
    assert seen > 500 and anomalies > 0
