"""Differential test: the Python ``HalfStream`` against the Rust one, call for call.

Generates seeded random operation sequences (reordering, duplicates, overlaps, holes, acks past
holes, wraparound near 2^32, ``missing`` bytes, the out-of-order caps, flush/skip_hole), runs them
through ``pcaptls.tcp.reassembly.HalfStream`` with a recording consumer, and through the Rust
``HalfStream`` (``examples/reassembly_feed.rs``, which speaks the line protocol described there),
then compares every recorded call (data chunk hex + t + frame, gap n + t) and the final state.

    .venv/bin/python rust/core/tests_py/compare_reassembly.py [--cases 50000] [--seed 1] [--bin PATH]

Without ``--bin`` the example is built with cargo (``CARGO_TARGET_DIR`` is honoured).
"""

from __future__ import annotations

import argparse
import random
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import build_example, split_cases

from pcaptls.tcp.reassembly import MAX_OOO_BYTES, MAX_OOO_SEGMENTS, HalfStream

MASK = 0xFFFFFFFF


def fbits(t: float) -> str:
    return format(struct.unpack("<Q", struct.pack("<d", t))[0], "x")


class Recorder:
    def __init__(self, out: list[str]) -> None:
        self.out = out

    def data(self, chunk: bytes, t: float, frame: int) -> None:
        self.out.append(f"D {chunk.hex() or '-'} {fbits(t)} {frame}")

    def gap(self, n: int, t: float | None) -> None:
        self.out.append(f"P {n} {'N' if t is None else fbits(t)}")


def _opt(v: int | None) -> str:
    return "N" if v is None else str(v)


def run_python(ops: list[tuple]) -> list[str]:
    out: list[str] = []
    h = HalfStream(Recorder(out))
    for op in ops:
        k = op[0]
        if k == "C":
            h = HalfStream(Recorder(out))
            out.append("C")
        elif k == "S":
            h.syn(op[1])
        elif k == "G":
            _, seq, payload, missing, t, frame = op
            h.segment(seq, payload, missing, t, frame)
        elif k == "A":
            h.ack(op[1])
        elif k == "K":
            h.skip_hole(op[1])
        elif k == "F":
            h.flush()
        elif k == "E":
            out.append(
                f"Z {_opt(h.next)} {_opt(h.acked)} {h.ooo_bytes} {h.retransmitted} {h.gaps} {h.gap_bytes} "
                f"{h.delivered} [{','.join(str(s) for s in h.ooo)}]"
            )
    return out


def encode(ops: list[tuple]) -> str:
    lines = []
    for op in ops:
        k = op[0]
        if k == "G":
            _, seq, payload, missing, t, frame = op
            lines.append(f"G {seq} {payload.hex() or '-'} {missing} {fbits(t)} {frame}")
        elif k in ("S", "A"):
            lines.append(f"{k} {op[1]}")
        elif k == "K":
            lines.append(f"K {'N' if op[1] is None else fbits(op[1])}")
        else:
            lines.append(k)
    return "\n".join(lines) + "\n"


# -- case generators ---------------------------------------------------------------------------

def _isn(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.35:
        return (MASK + 1 - rng.randint(1, 6000)) & MASK  # wraps inside the stream
    if r < 0.45:
        return rng.choice((0, 1, MASK, 0x7FFFFFFF, 0x80000000, 0x80000001))
    return rng.randint(0, MASK)


def _t(rng: random.Random) -> float:
    r = rng.random()
    if r < 0.1:
        return 0.0
    if r < 0.2:
        return float(rng.randint(0, 2**31))
    return rng.uniform(0, 2e9)


def gen_stream(rng: random.Random, big: bool = False) -> list[tuple]:
    """One byte stream cut into segments, mangled like a capture mangles it."""
    n = rng.randint(0, 60000 if big else rng.choice((50, 400, 3000)))
    data = rng.randbytes(n)
    isn = _isn(rng)
    ops: list[tuple] = [("C",)]
    if rng.random() < 0.7:
        ops.append(("S", (isn - 1) & MASK))
    ncuts = rng.randint(0, min(n, 600 if big else 40))
    points = sorted({rng.randint(1, max(1, n)) for _ in range(ncuts)} | {0, n})
    segs = [(points[i], points[i + 1]) for i in range(len(points) - 1)]
    # Overlapping retransmissions and duplicates.
    for a, b in list(segs):
        if rng.random() < 0.2:
            a2 = max(0, a - rng.randint(0, 50))
            segs.append((a2, min(n, b + rng.randint(-20, 200))))
        if rng.random() < 0.1:
            segs.append((a, b))
    # Drops (holes).
    drop = rng.choice((0, 0, 0.05, 0.2))
    segs = [s for s in segs if rng.random() >= drop]
    # Order: as sent, a little reordered, or shuffled.
    mode = rng.random()
    if mode < 0.3:
        rng.shuffle(segs)
    elif mode < 0.7:
        for i in range(len(segs) - 1):
            if rng.random() < 0.2:
                j = min(len(segs) - 1, i + rng.randint(1, 5))
                segs[i], segs[j] = segs[j], segs[i]
    frame = rng.randint(0, 1000)
    for a, b in segs:
        if b < a:
            a, b = b, a
        payload = data[a:b]
        missing = 0
        r = rng.random()
        if r < 0.08 and payload:  # snapped: the tail was on the wire but not captured
            keep = rng.randint(0, len(payload))
            missing = len(payload) - keep
            payload = payload[:keep]
        elif r < 0.1:
            missing = rng.randint(0, 5000)
        elif r < 0.105:
            missing = rng.choice((MASK, 0x80000000, 0x7FFFFFFF, rng.randint(0, MASK)))
        frame += rng.randint(0, 3)
        ops.append(("G", (isn + a) & MASK, payload, missing, _t(rng), frame))
        r = rng.random()
        if r < 0.25:
            off = rng.randint(-200, n + 200) if rng.random() < 0.9 else rng.randint(0, MASK)
            ops.append(("A", (isn + off) & MASK))
        elif r < 0.27:
            ops.append(("K", rng.choice((None, _t(rng)))))
        if rng.random() < 0.05:
            ops.append(("E",))
    r = rng.random()
    if r < 0.7:
        ops.append(("F",))
    elif r < 0.8:
        ops.append(("K", None))
    ops.append(("E",))
    return ops


def gen_chaos(rng: random.Random) -> list[tuple]:
    """Segments at random sequence numbers near a base: every branch, no consistency."""
    base = _isn(rng)
    span = rng.choice((20, 200, 3000, 1 << 20))
    ops: list[tuple] = [("C",)]
    if rng.random() < 0.5:
        ops.append(("S", (base + rng.randint(-span, span)) & MASK))
    frame = 0
    for _ in range(rng.randint(1, 60)):
        r = rng.random()
        if r < 0.65:
            seq = (base + rng.randint(-span, span)) & MASK if rng.random() < 0.95 else rng.randint(0, MASK)
            payload = rng.randbytes(rng.choice((0, 1, 2, 5, 17, 100, rng.randint(0, 400))))
            m = rng.random()
            missing = 0 if m < 0.7 else rng.randint(0, 50) if m < 0.95 else rng.choice((MASK, 1 << 31, rng.randint(0, MASK)))
            frame += 1
            ops.append(("G", seq, payload, missing, _t(rng), frame))
        elif r < 0.85:
            ops.append(("A", (base + rng.randint(-span, 2 * span)) & MASK if rng.random() < 0.9 else rng.randint(0, MASK)))
        elif r < 0.9:
            ops.append(("K", rng.choice((None, _t(rng)))))
        elif r < 0.93:
            ops.append(("F",))
        elif r < 0.95:
            ops.append(("S", rng.randint(0, MASK)))
        else:
            ops.append(("E",))
    if rng.random() < 0.7:
        ops.append(("F",))
    ops.append(("E",))
    return ops


def gen_caps(rng: random.Random) -> list[tuple]:
    """Enough waiting data to hit MAX_OOO_SEGMENTS or MAX_OOO_BYTES behind a hole."""
    isn = _isn(rng)
    ops: list[tuple] = [("C",), ("S", (isn - 1) & MASK)]
    frame = 0
    if rng.random() < 0.5:  # many small segments
        count = MAX_OOO_SEGMENTS + rng.randint(-5, 40)
        size = rng.randint(1, 8)
        stride = size + rng.choice((0, 0, 1, 3))
    else:  # big ones
        size = rng.choice((1400, 4000, 9000))
        count = MAX_OOO_BYTES // size + rng.randint(-3, 10)
        stride = size + rng.choice((0, 0, 1))
    hole = rng.randint(1, 100)
    order = list(range(count))
    if rng.random() < 0.5:
        rng.shuffle(order)
    for i in order:
        frame += 1
        payload = rng.randbytes(size) if size <= 8 else bytes([i & 0xFF]) * size
        ops.append(("G", (isn + hole + i * stride) & MASK, payload, 0, float(frame), frame))
        if rng.random() < 0.01:
            ops.append(("A", (isn + rng.randint(0, count * stride)) & MASK))
    if rng.random() < 0.5:
        ops.append(("G", isn, rng.randbytes(hole), 0, 0.5, frame + 1))
    ops.append(("F",) if rng.random() < 0.8 else ("E",))
    ops.append(("E",))
    return ops


def gen_case(rng: random.Random) -> list[tuple]:
    r = rng.random()
    if r < 0.004:
        return gen_caps(rng)
    if r < 0.01:
        return gen_stream(rng, big=True)
    if r < 0.6:
        return gen_stream(rng)
    return gen_chaos(rng)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bin", type=Path)
    ap.add_argument("--batch", type=int, default=5000)
    args = ap.parse_args()
    exe = args.bin or build_example("reassembly_feed")
    rng = random.Random(args.seed)
    total = calls = 0
    bad: list[tuple[int, list[tuple], list[str], list[str]]] = []
    kinds = {"D": 0, "P": 0}
    while total < args.cases:
        batch = [gen_case(rng) for _ in range(min(args.batch, args.cases - total))]
        ops = [op for case in batch for op in case]
        py = split_cases(run_python(ops))
        with tempfile.TemporaryFile("w+") as f:
            f.write(encode(ops))
            f.seek(0)
            res = subprocess.run([str(exe)], stdin=f, capture_output=True, text=True, check=True)
        rs = split_cases(res.stdout.splitlines())
        if len(rs) != len(py):
            print(f"case count differs: python {len(py)}, rust {len(rs)}", file=sys.stderr)
            return 1
        for i, (a, b) in enumerate(zip(py, rs)):
            calls += len(a)
            for line in a:
                if line[0] in kinds:
                    kinds[line[0]] += 1
            if a != b:
                bad.append((total + i, batch[i], a, b))
        total += len(batch)
    print(f"{total} cases, {calls} recorded lines (data calls {kinds['D']}, gap calls {kinds['P']}); "
          f"{len(bad)} differ")
    for idx, case, a, b in bad[:3]:
        print(f"--- case {idx}: {len(case)} ops")
        for j, (x, y) in enumerate(zip(a, b)):
            if x != y:
                print(f"  first difference at line {j}:\n    python {x[:200]}\n    rust   {y[:200]}")
                break
        else:
            print(f"  python {len(a)} lines, rust {len(b)} lines")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
