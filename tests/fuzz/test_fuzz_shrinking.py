"""Hypothesis over every fuzz target: the same targets as :mod:`engine`, with inputs Hypothesis
can shrink to a minimal example when something breaks.

The default profile runs each a few hundred times inside the normal suite; ``make fuzz``
(profile ``long``) runs each 50,000 times.
"""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pcaptls.capture.decode import LINKTYPES
from pcaptls.errors import PcaptlsError
from tests.fuzz import engine

# Mutated certificates make cryptography warn (negative serials ...): expected here.
pytestmark = pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")

# A mutation Hypothesis can shrink: at ``pos`` (modulo the length) delete ``cut`` bytes and
# insert ``ins``; an optional final truncation.
edits = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 40), st.binary(max_size=6)), max_size=6)


def apply(seed: bytes, ed: list[tuple[int, int, bytes]], end: int | None = None) -> bytes:
    b = bytearray(seed)
    for pos, cut, ins in ed:
        p = pos % (len(b) + 1)
        b[p : p + cut] = ins
    return bytes(b[:end] if end is not None else b)


def mutated(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.builds(apply, st.sampled_from(seeds), edits, st.none() | st.integers(0, 1 << 16))


def _run(name: str, data: bytes) -> None:
    try:
        engine.TARGETS[name].run(data)
    except PcaptlsError:
        if name not in engine.MAY_REJECT:
            raise


@given(mutated(engine.pcap_seeds() + engine.pcapng_seeds())
       | st.builds(lambda h, b: h + b, st.sampled_from([b"\xd4\xc3\xb2\xa1", b"\x0a\x0d\x0d\x0a"]), st.binary(max_size=400)))
def test_capture_reader(data: bytes) -> None:
    _run("capture", data)


@given(st.sampled_from(sorted(LINKTYPES) + [3, 200]), mutated(engine.frame_seeds()) | st.binary(max_size=120))
def test_decode(linktype: int, frame: bytes) -> None:
    _run("decode", struct.pack("!H", linktype) + frame)


@given(st.data())
def test_reassembly_any_order_gives_the_stream(data: st.DataObject) -> None:
    """Segments covering a stream, in any order, duplicated and overlapping: the exact stream."""
    n = data.draw(st.integers(1, 6000))
    cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), max_size=30))) if n > 1 else []
    bounds = [0, *cuts, n]
    segs = [(a, b - a) for a, b in zip(bounds, bounds[1:])]
    segs += data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(1, 2000)), max_size=5))
    order = data.draw(st.permutations(segs))
    isn = data.draw(st.integers(0, 0xFFFFFFFF))
    head = struct.pack("!BIIB", 0, n, isn, 0)
    _run("reassembly", head + b"".join(struct.pack("!IHB", o, min(ln, n - o), 0) for o, ln in order))


@given(st.integers(1, 2), st.integers(1, 80000), st.integers(0, 0xFFFFFFFF),
       st.lists(st.tuples(st.integers(0, 0xFFFFFFFF), st.integers(0, 3000), st.integers(0, 255)), max_size=40))
def test_reassembly_random_segments(mode: int, n: int, isn: int, segs: list[tuple[int, int, int]]) -> None:
    head = struct.pack("!BIIB", mode, n, isn, 0)
    _run("reassembly", head + b"".join(struct.pack("!IHB", o, ln, f) for o, ln, f in segs))


@given(st.integers(0, 3), st.sampled_from(range(len(engine.record_seeds()))), st.data())
def test_tls_records_and_session(flags: int, which: int, data: st.DataObject) -> None:
    wire = engine.record_seeds()[which]
    out = bytearray([flags])
    for side, d in wire:
        if data.draw(st.booleans()):
            d = data.draw(mutated([d]))
        step = data.draw(st.sampled_from([0, 1, 3, 100, 1460]))
        gap = data.draw(st.integers(0, 20)) == 0
        out += struct.pack("!BBHI", side, gap, step, len(d)) + d
    _run("tls_records", bytes(out))


@given(st.sampled_from(engine.handshake_seeds()), edits, st.integers(0, 1), st.none() | st.sampled_from([1, 2, 11, 12]))
def test_handshake_parsers(seed: tuple[int, bytes], ed: list[tuple[int, int, bytes]], tls13: int, other: int | None) -> None:
    htype, body = seed
    _run("handshake", bytes([other or htype, tls13]) + apply(body, ed))


@given(mutated(engine.pcap_seeds()[:4] + engine.pcapng_seeds()[:2]))
def test_whole_pipeline(data: bytes) -> None:
    _run("pipeline", data)


@given(st.lists(mutated([x.encode() for x in engine.log_seeds()]) | st.binary(max_size=200), min_size=1, max_size=12))
def test_log_parser(lines: list[bytes]) -> None:
    _run("logs", b"\n".join(x.replace(b"\n", b" ") for x in lines))


@given(mutated(engine.pcap_seeds()))
def test_split_shares_merge_to_the_serial_result(data: bytes) -> None:
    _run("split", data)


@pytest.mark.skipif("engines" not in engine.TARGETS, reason="the Rust engine is not built")
@given(mutated(engine.pcap_seeds() + engine.pcapng_seeds()))
def test_rust_engine_agrees_with_the_python_reference(data: bytes) -> None:
    _run("engines", data)


def teardown_module() -> None:
    while engine._SCRATCH:  # the file-reading targets' scratch file
        os.unlink(engine._SCRATCH.pop())
