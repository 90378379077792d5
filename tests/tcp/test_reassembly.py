"""TCP reassembly: any segmentation, order, duplication -> the original bytes, gaps reported."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from pcaptls.tcp.reassembly import MAX_OOO_BYTES, HalfStream, seq_diff


class Sink:
    """A consumer that records bytes, with '?' standing for each byte lost in a gap."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.gaps: list[int] = []

    def data(self, chunk: bytes, t: float, frame: int) -> None:
        self.buf += chunk

    def gap(self, n: int, t: float | None) -> None:
        self.gaps.append(n)
        self.buf += b"?" * n


def _stream(isn: int = 1000) -> tuple[HalfStream, Sink]:
    sink = Sink()
    h = HalfStream(sink)
    h.syn(isn - 1)
    return h, sink


def test_seq_diff_wraps() -> None:
    assert seq_diff(5, 0xFFFFFFFB) == 10
    assert seq_diff(0xFFFFFFFB, 5) == -10


def test_in_order_out_of_order_and_retransmission() -> None:
    h, sink = _stream()
    h.segment(1005, b"world", 0, 0, 2)
    h.segment(1000, b"hello", 0, 0, 1)
    h.segment(1000, b"hello", 0, 0, 3)  # retransmission
    h.segment(1003, b"loworld!!", 0, 0, 4)  # overlap with new tail
    assert bytes(sink.buf) == b"helloworld!!"
    assert h.retransmitted == 1 and not sink.gaps


def test_sequence_wraparound() -> None:
    h, sink = _stream(0xFFFFFFF0)
    data = bytes(range(64))
    h.segment(0xFFFFFFF0 + 32 & 0xFFFFFFFF, data[32:], 0, 0, 2)
    h.segment(0xFFFFFFF0, data[:32], 0, 0, 1)
    assert bytes(sink.buf) == data


def test_hole_acked_by_peer_is_a_capture_gap() -> None:
    h, sink = _stream()
    h.segment(1000, b"aaaa", 0, 0, 1)
    h.segment(1010, b"cccc", 0, 0, 3)  # 6 bytes never captured
    assert not sink.gaps
    h.ack(1014)  # the receiver got them: the capture lost them
    assert sink.gaps == [6] and bytes(sink.buf) == b"aaaa??????cccc"


def test_hole_reported_at_flush() -> None:
    h, sink = _stream()
    h.segment(1000, b"aaaa", 0, 0, 1)
    h.segment(1008, b"cccc", 0, 0, 3)
    h.flush()
    assert sink.gaps == [4] and bytes(sink.buf) == b"aaaa????cccc"


def test_snapped_segment_is_a_gap() -> None:
    h, sink = _stream()
    h.segment(1000, b"ab", 3, 0, 1)
    h.segment(1005, b"fg", 0, 0, 2)
    assert bytes(sink.buf) == b"ab???fg" and sink.gaps == [3]


def test_waiting_data_is_bounded() -> None:
    h, sink = _stream()
    chunk = b"x" * 1000
    for i in range(1, MAX_OOO_BYTES // 1000 + 10):
        h.segment(1000 + 10 + i * 1000, chunk, 0, 0, i)
    assert h.ooo_bytes <= MAX_OOO_BYTES
    assert sink.gaps  # gave up on the hole instead of growing


def test_midstream_start_takes_first_seq() -> None:
    sink = Sink()
    h = HalfStream(sink)
    h.segment(777, b"mid", 0, 0, 1)
    h.segment(780, b"dle", 0, 0, 2)
    assert bytes(sink.buf) == b"middle"


@given(
    data=st.binary(min_size=1, max_size=3000),
    cuts=st.lists(st.integers(min_value=1, max_value=3000), max_size=30),
    seed=st.integers(0, 2**32 - 1),
    isn=st.integers(0, 2**32 - 1),
    dup=st.floats(0, 0.5),
)
def test_any_segmentation_and_order_reassembles(data: bytes, cuts: list[int], seed: int, isn: int, dup: float) -> None:
    rng = random.Random(seed)
    points = sorted({c for c in cuts if c < len(data)} | {0, len(data)})
    segs = [(points[i], data[points[i] : points[i + 1]]) for i in range(len(points) - 1)]
    # Retransmissions that straddle boundaries, then any order.
    extra = [(a, data[a : a + rng.randint(1, 200)]) for a, _ in segs if rng.random() < dup]
    segs += extra
    rng.shuffle(segs)
    h, sink = _stream(isn)
    for off, chunk in segs:
        h.segment((isn + off) & 0xFFFFFFFF, chunk, 0, 0, 1)
    h.flush()
    assert bytes(sink.buf) == data and not sink.gaps
