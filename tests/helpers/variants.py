"""Variants of a capture for the engine differential tests: the same traffic written other ways
(big-endian, nanoseconds, snapped, pcapng, gzip) and broken ways (cut anywhere, garbled).

Frames are read with the Python reference reader; every variant is written here, byte by byte.
"""

from __future__ import annotations

import gzip
import random
import struct
from pathlib import Path

from pcaptls.capture.files import iter_frames
from pcaptls.capture.frames import ReadStats


def frames_of(path: Path) -> tuple[list[tuple[float, int, bytes, int]], int]:
    """(time, linktype, data, wire length) of each frame up to any cut, and the first link type."""
    out = [(ts, lt, data, wl) for _n, ts, lt, data, wl in iter_frames(path, ReadStats(path=str(path)))]
    return out, (out[0][1] if out else 1)


def pcap(frames: list[tuple[float, int, bytes, int]], linktype: int, big_endian: bool = False, nanos: bool = False,
         snaplen: int | None = None) -> bytes:
    o = ">" if big_endian else "<"
    scale = 10**9 if nanos else 10**6
    out = [struct.pack(o + "IHHiIII", 0xA1B23C4D if nanos else 0xA1B2C3D4, 2, 4, 0, 0, snaplen or 262144, linktype)]
    for t, _lt, data, wire in frames:
        sec = int(t)
        frac = min(scale - 1, int(round((t - sec) * scale)))
        kept = data if snaplen is None else data[:snaplen]
        out.append(struct.pack(o + "IIII", sec, frac, len(kept), max(wire, len(data))))
        out.append(kept)
    return b"".join(out)


def _block(o: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(o + "II", btype, n) + body + struct.pack(o + "I", n)


def pcapng(frames: list[tuple[float, int, bytes, int]], big_endian: bool = False, tsresol: int = 6) -> bytes:
    """One section, one interface per link type; ``tsresol`` as the if_tsresol option byte."""
    o = ">" if big_endian else "<"
    out = [_block(o, 0x0A0D0D0A, struct.pack(o + "IHHq", 0x1A2B3C4D, 1, 0, -1))]
    ifaces: dict[int, int] = {}
    per = 2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10 ** tsresol
    for t, lt, data, wire in frames:
        if lt not in ifaces:
            ifaces[lt] = len(ifaces)
            opt = struct.pack(o + "HHB3x", 9, 1, tsresol) + struct.pack(o + "HH", 0, 0)
            out.append(_block(o, 1, struct.pack(o + "HHI", lt, 0, 0) + opt))
        ticks = round(t * per)
        out.append(_block(o, 6, struct.pack(o + "IIIII", ifaces[lt], ticks >> 32, ticks & 0xFFFFFFFF, len(data),
                                            max(wire, len(data))) + data))
    return b"".join(out)


def variants(path: Path, rng: random.Random, cuts: int = 6) -> dict[str, bytes]:
    """Name -> bytes of the variants of one capture."""
    frames, lt = frames_of(path)
    raw = path.read_bytes()
    out = {
        "le": pcap(frames, lt),
        "be": pcap(frames, lt, big_endian=True),
        "nanos-be": pcap(frames, lt, big_endian=True, nanos=True),
        "snap96": pcap(frames, lt, snaplen=96),
        "snap300": pcap(frames, lt, snaplen=300),
        "pcapng": pcapng(frames),
        "pcapng-be-ns": pcapng(frames, big_endian=True, tsresol=9),
        "pcapng-2^-20": pcapng(frames, tsresol=0x80 | 20),
        "gzip": gzip.compress(raw, mtime=0),
    }
    for k in range(cuts):
        at = rng.randrange(1, max(2, len(raw)))
        out[f"cut{at}"] = raw[:at]
    gz = out["gzip"]
    out["gzip-cut"] = gz[: max(1, len(gz) * 2 // 3)]
    garbled = bytearray(raw)
    for _ in range(max(1, len(raw) // 2000)):
        garbled[rng.randrange(24, max(25, len(raw)))] = rng.randrange(256)
    out["garbled"] = bytes(garbled)
    return out
