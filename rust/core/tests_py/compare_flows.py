"""Differential test: the Python ``FlowTable`` against the Rust one, connection for connection.

Both run with the same recording TLS double (a side whose first byte is ``X`` is not TLS; a
connection reports when something arrived and side 0's first byte is not ``N``), so what is
compared is the TCP stage alone: which segments open, reuse, close and retire which connection,
in which order results come out, what each side's reader received (chunks, gaps, times,
frames), the TCP anomalies (no_syn, retransmission, cap) and the counters. Tables get a small
cap (many shares) so eviction runs often; sweeps come at random moments.

    .venv/bin/python rust/core/tests_py/compare_flows.py [--cases 20000] [--seed 1] [--bin PATH]
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

from pcaptls.tcp.flows import ACK, FIN, RST, SYN, FlowTable, TcpConnection
from pcaptls.tls.records import IGNORE, RECORDS

MASK = 0xFFFFFFFF


def fb(t: float) -> str:
    return format(struct.unpack("<Q", struct.pack("<d", t))[0], "x")


class FakeReader:
    def __init__(self, side: int, s: FakeSession) -> None:
        self.side = side
        self.s = s

    @property
    def state(self) -> int:
        return IGNORE if self.s.first[self.side] == ord("X") else RECORDS

    def data(self, chunk: bytes, t: float, frame: int) -> None:
        if self.s.first[self.side] is None:
            self.s.first[self.side] = chunk[0] if chunk else None
        self.s.log += f" d{self.side}:{chunk.hex() or '-'}:{fb(t)}:{frame}"

    def gap(self, n: int, t: float | None) -> None:
        if self.s.first[self.side] is None:
            self.s.first[self.side] = ord("?")
        self.s.log += f" g{self.side}:{n}:{'N' if t is None else fb(t)}"


class FakeSession:
    def __init__(self, midstream: bool) -> None:
        self.midstream = midstream
        self.first: list[int | None] = [None, None]
        self.log = ""
        self.readers = (FakeReader(0, self), FakeReader(1, self))
        self.events = [1]
        self.alerts: list[object] = []
        self.certs: list[object] = []

    @property
    def tls(self) -> bool:
        return self.first[0] != ord("N") and (self.first[0] is not None or self.first[1] is not None)

    def ignoring(self) -> bool:
        return all(r.state == IGNORE for r in self.readers)

    def build(self, ends, start, last, first_frame, syn_side, close, anomalies, last_frame=0) -> str | None:  # type: ignore[no-untyped-def]
        if not self.tls:
            return None
        a, b = ends
        s = (f"{a.ip}:{a.port} {b.ip}:{b.port} {fb(start)} {fb(last)} {first_frame} {last_frame} "
             f"{'N' if syn_side is None else syn_side} {'N' if close is None else f'{close[0]}{close[1]}'} "
             f"{'mid' if self.midstream else 'syn'}")
        for x in anomalies:
            s += f" A[{x.kind}|{x.detail}|{'N' if x.time is None else fb(x.time)}|{'N' if x.sender is None else x.sender}]"
        return s + self.log


_settle = TcpConnection.settle


def _logged_settle(self: TcpConnection) -> None:
    if self.session is not None:
        self.session.log += " settle"  # type: ignore[attr-defined]
    _settle(self)


def run_python(ops: list[tuple]) -> list[str]:
    TcpConnection.settle = _logged_settle  # type: ignore[method-assign]
    out: list[str] = []
    on_done = lambda r: out.append(f"R {r}")  # noqa: E731
    ft = FlowTable(FakeSession, on_done, 1)
    for op in ops:
        k = op[0]
        if k == "C":
            ft = FlowTable(FakeSession, on_done, op[1])
            out.append("C")
        elif k == "G":
            _, src, dst, sport, dport, seq, ack, flags, payload, missing, t, frame = op
            ft.segment(src.to_bytes(4, "big"), dst.to_bytes(4, "big"), sport, dport, seq, ack, flags, payload,
                       missing, t, frame)
        elif k == "W":
            ft.sweep(op[1])
        elif k == "X":
            ft.close_all()
        elif k == "E":
            out.append(f"Z {ft.packets} {ft.connections} {ft.evicted} {len(ft.table)}")
    return out


def encode(ops: list[tuple]) -> str:
    lines = []
    for op in ops:
        k = op[0]
        if k == "C":
            lines.append(f"C {op[1]}")
        elif k == "G":
            _, src, dst, sport, dport, seq, ack, flags, payload, missing, t, frame = op
            lines.append(f"G {src} {dst} {sport} {dport} {seq} {ack} {flags} {payload.hex() or '-'} {missing} {fb(t)} {frame}")
        elif k == "W":
            lines.append(f"W {fb(op[1])}")
        else:
            lines.append(k)
    return "\n".join(lines) + "\n"


FLAG_CHOICES = [SYN, SYN | ACK, ACK, ACK, ACK, ACK | 0x08, FIN | ACK, RST, RST | ACK, FIN, SYN | FIN, 0]


def gen_case(rng: random.Random) -> list[tuple]:
    shares = rng.choice((1, 1, 40000, 50000, 66667, 100000, 200000))
    ops: list[tuple] = [("C", shares)]
    hosts = [0x0A000001 + i for i in range(rng.randint(1, 3))]
    ports = [443, 50000, 50001, 50002][: rng.randint(1, 4)]
    isns: dict[tuple[int, int, int, int], int] = {}
    t = rng.uniform(0, 1e9)
    frame = 0
    for _ in range(rng.randint(1, 80)):
        r = rng.random()
        if r < 0.04:
            ops.append(("W", t + rng.choice((0, 4, 6, 30, 61, 599, 601, 1000))))
            continue
        if r < 0.06:
            ops.append(("E",))
            continue
        src, dst = rng.choice(hosts), rng.choice(hosts)
        sport, dport = rng.choice(ports), rng.choice(ports)
        key = (src, sport, dst, dport)
        base = isns.setdefault(key, rng.randint(0, MASK) if rng.random() < 0.7 else (MASK - rng.randint(0, 50)))
        if rng.random() < 0.05:
            isns[key] = base = rng.randint(0, MASK)  # a new ISN on the same 4-tuple (port reuse)
        seq = (base + rng.randint(0, 60)) & MASK if rng.random() < 0.95 else rng.randint(0, MASK)
        rkey = (dst, dport, src, sport)
        peer = isns.get(rkey, rng.randint(0, MASK))
        ack = (peer + rng.randint(0, 70)) & MASK if rng.random() < 0.9 else rng.randint(0, MASK)
        flags = rng.choice(FLAG_CHOICES) if rng.random() < 0.97 else rng.randint(0, 255)
        pr = rng.random()
        if pr < 0.45:
            payload = b""
        else:
            first = rng.choice(b"XXNabc")
            payload = bytes([first]) + rng.randbytes(rng.randint(0, 12))
        missing = 0 if rng.random() < 0.9 else rng.randint(0, 10)
        if rng.random() < 0.1:
            t += rng.choice((61.0, 601.0, 5.5, 0.0))
        t += rng.random() * 0.1
        frame += 1
        ops.append(("G", src, dst, sport, dport, seq, ack, flags, payload, missing, t, frame))
    if rng.random() < 0.5:
        ops.append(("W", t + rng.choice((0, 6, 61, 700))))
    ops.append(("E",))
    if rng.random() < 0.9:
        ops.append(("X",))
    ops.append(("E",))
    return ops


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bin", type=Path)
    args = ap.parse_args()
    exe = args.bin or build_example("flows_feed")
    rng = random.Random(args.seed)
    cases = [gen_case(rng) for _ in range(args.cases)]
    ops = [op for case in cases for op in case]
    py = split_cases(run_python(ops))
    with tempfile.TemporaryFile("w+") as f:
        f.write(encode(ops))
        f.seek(0)
        res = subprocess.run([str(exe)], stdin=f, capture_output=True, text=True, check=True)
    rs = split_cases(res.stdout.splitlines())
    if len(rs) != len(py):
        print(f"case count differs: python {len(py)}, rust {len(rs)}", file=sys.stderr)
        return 1
    bad = [i for i, (a, b) in enumerate(zip(py, rs)) if a != b]
    results = sum(1 for c in py for line in c if line.startswith("R "))
    kinds = {k: sum(line.count(f"A[{k}|") for c in py for line in c) for k in ("no_syn", "retransmission", "cap")}
    evicted = sum(int(c[-1].split()[3]) for c in py if c and c[-1].startswith("Z "))
    print(f"{len(py)} cases, {results} results, anomalies {kinds}, evicted {evicted}; {len(bad)} differ")
    for i in bad[:3]:
        print(f"--- case {i}")
        for x, y in zip(py[i], rs[i]):
            if x != y:
                print(f"  python {x[:300]}\n  rust   {y[:300]}")
                break
        else:
            print(f"  python {len(py[i])} lines, rust {len(rs[i])} lines")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
