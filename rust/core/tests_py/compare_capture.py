"""Differential test of the capture stage: the Python reference (iter_frames + decode, and
analyse() for the stats of plain Ethernet pcap, which Python reads in its own loop) against the
Rust example ``dump_segments``, over every capture in the public corpus and the lab captures, and
over variants made from them: cut at many offsets, gzip-compressed (whole, cut, damaged), pcapng
with nanosecond, 2^-n and odd resolutions, offsets, simple and obsolete packet blocks, big-endian
sections, big-endian and nanosecond pcap, garbled record headers.

    .venv/bin/python rust/core/tests_py/compare_capture.py [--bin PATH] [--keep DIR] [--max-variants N]

Prints one line per differing file (and the first differing lines), then the totals; exit
status 1 if any file differs.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gzip
import os
import random
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

from pcaptls.capture import pcap as pcapmod
from pcaptls.capture.decode import COUNT_KEYS, decode, new_counts
from pcaptls.capture.files import iter_frames
from pcaptls.capture.frames import ReadStats
from pcaptls.errors import InputError

ROOT = Path(__file__).resolve().parents[3]
CORPUS = Path("/work/shared/corpus")
CAPTURES = ROOT / "captures"


def payload_text(p: bytes) -> str:
    return p.hex() if len(p) <= 32 else f"{len(p)}:{zlib.crc32(p):08x}"


def python_dump(path: str) -> str:
    out: list[str] = []
    st = ReadStats(path=path)
    counts = new_counts()
    try:
        for num, ts, lt, data, _wire in iter_frames(path, st):
            s = decode(lt, data, counts)
            if s is None:
                seg = "-"
            else:
                seg = (f"{s[0].hex()} {s[1].hex()} {s[2]} {s[3]} {s[4]} {s[5]} {s[6]} "
                       f"{payload_text(s[7])} {s[8]}")
            out.append(f"{num} {ts!r} {lt} {seg}")
    except InputError as e:
        return f"InputError: {e}\n"
    out.append(f"format {st.format}")
    out.append(f"frames {st.frames}")
    out.append(f"snapped {st.snapped}")
    out.append("linktypes " + ",".join(str(x) for x in sorted(st.linktypes)))
    out.append(f"truncated {st.truncated}")
    if st.truncated is None:
        out.append(f"bytes_read {st.bytes_read}")
    out.append("counts " + " ".join(f"{k}={counts[k]}" for k in COUNT_KEYS))
    return "\n".join(out) + "\n"


def rust_dump(binary: str, path: str) -> str:
    for attempt in range(3):  # a spawn can fail transiently (EFAULT seen under load): try again
        try:
            r = subprocess.run([binary, path], capture_output=True, timeout=300)
            break
        except OSError:
            if attempt == 2:
                raise
    if r.returncode != 0:
        return f"RUST FAILED {r.returncode}: {r.stderr.decode(errors='replace')[-2000:]}"
    return r.stdout.decode()


def compare(binary: str, path: str) -> tuple[str, str | None]:
    try:
        py = python_dump(path)
    except Exception as e:  # noqa: BLE001 - a crash of the reference is worth seeing too
        py = f"PYTHON CRASHED: {type(e).__name__}: {e}\n"
    rs = rust_dump(binary, path)
    if py == rs:
        return path, None
    pl, rl = py.splitlines(), rs.splitlines()
    for i in range(max(len(pl), len(rl))):
        a = pl[i] if i < len(pl) else "<none>"
        b = rl[i] if i < len(rl) else "<none>"
        if a != b:
            return path, f"line {i + 1}:\n  python: {a}\n  rust:   {b}"
    return path, "differ"


# ---------------------------------------------------------------- variants


def read_pcap_frames(data: bytes) -> tuple[int, list[tuple[int, int, bytes, int]], float] | None:
    """(linktype, [(sec, frac, data, orig)], scale) of a whole pcap, or None."""
    if data[:4] not in pcapmod.MAGICS or len(data) < 24:
        return None
    order, scale = pcapmod.MAGICS[data[:4]]
    lt = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
    pos, frames = 24, []
    while pos + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack_from(order + "IIII", data, pos)
        if incl > pcapmod.MAX_FRAME or pos + 16 + incl > len(data):
            break
        frames.append((sec, frac, data[pos + 16: pos + 16 + incl], orig))
        pos += 16 + incl
    return lt, frames, scale


def write_pcap(lt: int, frames, big: bool = False, nanos: bool = False, scale_in: float = 1e-6) -> bytes:
    o = ">" if big else "<"
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = [struct.pack(o + "IHHiIII", magic, 2, 4, 0, 0, 65535, lt)]
    for sec, frac, d, orig in frames:
        if nanos and scale_in == 1e-6:
            frac *= 1000
        out.append(struct.pack(o + "IIII", sec, frac & 0xFFFFFFFF, len(d), orig) + d)
    return b"".join(out)


def ng_block(o: str, btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(o + "II", btype, n) + body + struct.pack(o + "I", n)


def ng_option(o: str, code: int, value: bytes) -> bytes:
    return struct.pack(o + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def write_pcapng(lt: int, frames, scale_in: float, resol: int | None, offset: int = 0, big: bool = False,
                 kinds: str = "epb", snap: int = 0) -> bytes:
    o = ">" if big else "<"
    blocks = [ng_block(o, 0x0A0D0D0A, struct.pack(o + "IHHq", 0x1A2B3C4D, 1, 0, -1))]
    opts = b""
    if resol is not None:
        opts += ng_option(o, 9, bytes([resol]))
    if offset:
        opts += ng_option(o, 14, struct.pack(o + "q", offset))
    opts += struct.pack(o + "HH", 0, 0)
    blocks.append(ng_block(o, 1, struct.pack(o + "HHI", lt, 0, snap) + opts))
    if resol is None:
        per = 10**6
    elif resol & 0x80:
        per = 2 ** (resol & 0x7F)
    else:
        per = 10**resol
    for i, (sec, frac, d, orig) in enumerate(frames):
        ticks = (sec * per + int(frac * scale_in * per)) & 0xFFFFFFFFFFFFFFFF
        kind = kinds[i % len(kinds)] if kinds != "epb" else "e"
        if kind == "s":
            blocks.append(ng_block(o, 3, struct.pack(o + "I", orig) + d))
        elif kind == "p":
            blocks.append(ng_block(o, 2, struct.pack(o + "HHIIII", 0, 0, ticks >> 32, ticks & 0xFFFFFFFF, len(d), orig) + d))
        else:
            blocks.append(ng_block(o, 6, struct.pack(o + "IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(d), orig) + d))
        if kind == "e" and i % 7 == 3:
            blocks.append(ng_block(o, 5, b"stats!!!"))  # a block type the reader passes over
    return b"".join(blocks)


def damage_gzip(gz: bytes, rnd: random.Random) -> list[bytes]:
    out = []
    n = len(gz)
    for _ in range(6):
        b = bytearray(gz)
        i = rnd.randrange(10, max(11, n - 8)) if n > 18 else rnd.randrange(n)
        b[i] ^= 1 << rnd.randrange(8)
        out.append(bytes(b))
    b = bytearray(gz)  # trailer damage: CRC, then length
    b[-5] ^= 0xFF
    out.append(bytes(b))
    b = bytearray(gz)
    b[-1] ^= 0x01
    out.append(bytes(b))
    out.append(gz + b"\0\0\0\0")  # zero padding (skipped)
    out.append(gz + b"\0\0x")  # garbage after padding
    out.append(gz + gz)  # two members
    out.append(gz[:3] + bytes([gz[3] | 0x1E]) + gz[4:])  # header flags
    return out


def cut_points(n: int, rnd: random.Random) -> list[int]:
    pts = {0, 1, 2, 3, 4, 5, 12, 23, 24, 25, 30, 39, 40, 41, 50, n - 1, n - 2, n - 5, n // 2, n // 3}
    pts |= {rnd.randrange(n) for _ in range(8)} if n else set()
    return sorted(p for p in pts if 0 <= p < n)


def make_variants(sources: list[Path], d: Path, seed: int = 1) -> list[Path]:
    rnd = random.Random(seed)
    made: list[Path] = []

    def put(name: str, data: bytes) -> None:
        p = d / name
        p.write_bytes(data)
        made.append(p)

    # Odd inputs
    put("empty.pcap", b"")
    put("text.pcap", b"hello world, not a capture")
    put("gz-not.pcap.gz", b"\x1f\x8bnot gzip at all")
    put("gz-empty.gz", gzip.compress(b"", mtime=0))
    put("gz-short.gz", b"\x1f\x8b\x08")
    put("gz-textinside.gz", gzip.compress(b"hello world", mtime=0))
    put("one.pcap", b"\xd4")
    put("ng-bad-bom.pcapng", b"\x0a\x0d\x0d\x0a\x1c\0\0\0\x11\x22\x33\x44" + b"\0" * 16)
    for i, src in enumerate(sources):
        data = src.read_bytes()
        if len(data) > 4 << 20:
            continue
        tag = f"{i:03d}-{src.stem[:30]}"
        for c in cut_points(len(data), rnd):
            put(f"{tag}-cut{c}{src.suffix}", data[:c])
        gz = gzip.compress(data, mtime=0)
        put(f"{tag}.gz", gz)
        for c in cut_points(len(gz), rnd)[::2]:
            put(f"{tag}-gzcut{c}.gz", gz[:c])
        for j, g in enumerate(damage_gzip(gz, rnd)):
            put(f"{tag}-gzbad{j}.gz", g)
        for j in range(4):  # garbled bytes anywhere (record headers, block lengths, options)
            b = bytearray(data)
            for _ in range(1 + j):
                k = rnd.randrange(len(b)) if b else 0
                if b:
                    b[k] = rnd.randrange(256)
            put(f"{tag}-garble{j}{src.suffix}", bytes(b))
        if len(data) > 100_000:  # long enough for many decompress calls: damage all along the stream
            for level in (0, 1, 9):
                g = gzip.compress(data, compresslevel=level, mtime=0)
                for j in range(25):
                    b = bytearray(g)
                    k = rnd.randrange(10, len(g) - 8)
                    b[k] ^= 1 << rnd.randrange(8)
                    put(f"{tag}-gzl{level}bad{j}.gz", bytes(b))
                for c in sorted(rnd.randrange(len(g)) for _ in range(6)):
                    put(f"{tag}-gzl{level}cut{c}.gz", g[:c])
        parsed = read_pcap_frames(data)
        if parsed is None:
            continue
        lt, frames, scale = parsed
        put(f"{tag}-be.pcap", write_pcap(lt, frames, big=True, scale_in=scale))
        put(f"{tag}-ns.pcap", write_pcap(lt, frames, nanos=True, scale_in=scale))
        put(f"{tag}-be-ns.pcap", write_pcap(lt, frames, big=True, nanos=True, scale_in=scale))
        for resol, off, big, kinds, snap in ((9, 0, False, "epb", 0), (0x80 | 20, 0, False, "epb", 0), (0x80 | 30, 0, True, "epb", 0),
                                              (3, 3600, False, "epb", 0), (None, -7200, True, "esp", 0), (12, 0, False, "epb", 0),
                                              (0x80 | 0, 0, False, "epb", 0), (127, 0, False, "epb", 0), (0x80 | 127, 0, False, "epb", 0),
                                              (25, 0, False, "epb", 0), (6, 0, False, "se", 60), (0, 0, False, "epb", 0)):
            ng = write_pcapng(lt, frames, scale, resol, off, big, kinds, snap)
            name = f"{tag}-ng-{resol}-{off}-{'be' if big else 'le'}-{kinds}-{snap}.pcapng"
            put(name, ng)
        ng = write_pcapng(lt, frames, scale, 9)
        for c in cut_points(len(ng), rnd)[::3]:
            put(f"{tag}-ngcut{c}.pcapng", ng[:c])
        put(f"{tag}-ng.pcapng.gz", gzip.compress(ng, mtime=0))
        if frames:  # a huge tick count: outside years 1..9999
            sec, frac, d0, orig = frames[0]
            put(f"{tag}-ng-farfuture.pcapng", write_pcapng(lt, [(sec * 10**6, frac, d0, orig)] + frames[1:], scale, 9))
            # an absurd record length in the middle
            b = bytearray(data)
            struct.pack_into(pcapmod.MAGICS[data[:4]][0] + "I", b, 24 + 8, 0x7FFFFFFF)
            put(f"{tag}-toolong.pcap", bytes(b))
    return made


def gzip_stress(sources: list[Path], d: Path, count: int, seed: int = 7) -> list[Path]:
    """Gzip files whose deflate data is overwritten with random runs: zlib's own errors (invalid
    block type, code lengths, distances...) at every depth of the stream, so the bytes returned
    before the damage depend on exactly how Python's gzip module calls zlib."""
    rnd = random.Random(seed)
    made = []
    datas = [p.read_bytes() for p in sources]
    datas = [x for x in datas if len(x) < 4 << 20]
    for i in range(count):
        data = rnd.choice(datas)
        g = bytearray(gzip.compress(data, compresslevel=rnd.choice((1, 6, 9)), mtime=0))
        k = rnd.randrange(10, max(11, len(g) - 8))
        for j in range(rnd.randrange(1, 24)):
            if k + j < len(g) - 8:
                g[k + j] = rnd.randrange(256)
        p = d / f"stress{i:05d}.gz"
        p.write_bytes(bytes(g))
        made.append(p)
    return made


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("DUMP_SEGMENTS", "/tmp/target-capture/release/examples/dump_segments"))
    ap.add_argument("--keep", help="write the variants here (default: a temporary folder)")
    ap.add_argument("--no-variants", action="store_true")
    ap.add_argument("--extra", nargs="*", default=[], help="more captures to compare and make variants of")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--gzip-stress", type=int, default=300, help="how many randomly damaged gzip files to add")
    args = ap.parse_args()
    sources = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix in (".pcap", ".pcapng", ".cap", ".gz")
                     or p.is_file() and p.name.endswith((".pcap.gz", ".pcapng.gz")))
    sources += sorted(CAPTURES.rglob("*.pcap*"))
    sources += [Path(p) for p in args.extra]
    # Files that are not captures at all are still compared (both must say InputError the same way).
    others = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p not in sources)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(args.keep) if args.keep else Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        files = [str(p) for p in sources + others]
        if not args.no_variants:
            files += [str(p) for p in make_variants(sources, d, args.seed)]
            files += [str(p) for p in gzip_stress(sources, d, args.gzip_stress, args.seed + 6)]
        files += [str(d / "does-not-exist.pcap"), str(d)]
        bad = 0
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            for path, diff in pool.map(lambda f: compare(args.bin, f), files):
                if diff:
                    bad += 1
                    print(f"DIFF {path}\n{diff}")
        print(f"compared {len(files)} files ({len(sources)} captures, {len(others)} other corpus files, "
              f"{len(files) - len(sources) - len(others)} variants and odd paths): {bad} differ")
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
