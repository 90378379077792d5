"""Fill corpus/<target>/ (gitignored) with seeds made from real inputs, for `cargo fuzz run`.

    .venv/bin/python rust/core/fuzz/seeds.py        (from the checkout root; any cwd works)

- capture, pipeline: every *.pcap / *.pcapng under ../shared/corpus (beside the checkout, skipped
  if absent) and captures/, as they are, plus gzip-compressed copies of the smaller ones (the
  reader takes gzip too).
- decode: every distinct frame of those files (read by the Python reference reader), prefixed with
  its link type as 2 bytes big-endian, as fuzz_targets/decode.rs expects.
- tls: scripts (fuzz_targets/tls.rs) replaying the real OpenSSL byte streams of
  src/tls/testdata/*.bin: whole, handshake only, midstream, with a gap, with a STARTTLS prefix.

Seeds are named by their SHA-1, as libFuzzer names its own, so rerunning adds nothing twice.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import sys
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
ROOT = FUZZ.parents[2]  # the checkout: rust/core/fuzz -> .
sys.path.insert(0, str(ROOT))
from pcaptls.capture.files import ReadStats, iter_frames  # noqa: E402

CORPUS = FUZZ / "corpus"
SOURCES = [ROOT.parent / "shared" / "corpus", ROOT / "captures"]
TESTDATA = FUZZ.parent / "src" / "tls" / "testdata"
GZIP_BELOW = 64 * 1024  # gzip copies of captures smaller than this


def put(target: str, data: bytes) -> bool:
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    p = d / hashlib.sha1(data).hexdigest()
    if p.exists():
        return False
    p.write_bytes(data)
    return True


def captures() -> list[Path]:
    out: list[Path] = []
    for src in SOURCES:
        if not src.is_dir():
            print(f"seeds: {src} not found, skipped", file=sys.stderr)
            continue
        out += sorted(p for p in src.rglob("*") if p.suffix in (".pcap", ".pcapng") and p.is_file())
    return out


# -- tls scripts: byte 0 bit 0 = midstream; then (ctl, n) chunks: ctl bit 0 = side, bit 7 = gap
# of n*8+1 bytes, else n*8+1 data bytes follow (fewer at the end of the input).


def load(raw: bytes) -> list[tuple[int, bytes]]:
    """The wire chunks (kind 0) of a testdata .bin: [kind u8][side u8][len u32 BE][bytes]."""
    wire, p = [], 0
    while p + 6 <= len(raw):
        kind, side, n = struct.unpack_from(">BBI", raw, p)
        if kind == 0:
            wire.append((side, raw[p + 6 : p + 6 + n]))
        p += 6 + n
    return wire


def pieces(n: int) -> list[int]:
    """Split n bytes into lengths of the form k*8+1 (k < 256), as the script can express them."""
    out = []
    while n > 0:
        if n <= 2041 and n % 8 == 1:
            take = n
        elif n > 2041:
            take = 2041
        else:
            take = 1
        out.append(take)
        n -= take
    return out


def data(side: int, b: bytes) -> bytes:
    out, p = b"", 0
    for take in pieces(len(b)):
        out += bytes([side, (take - 1) // 8]) + b[p : p + take]
        p += take
    return out


def gap(side: int, nbytes: int) -> bytes:
    return b"".join(bytes([0x80 | side, (t - 1) // 8]) for t in pieces(nbytes))


def tls_scripts() -> list[bytes]:
    out = []
    for f in sorted(TESTDATA.glob("*.bin")):
        wire = load(f.read_bytes())
        if not wire:
            continue
        whole = b"".join(data(s, b) for s, b in wire)
        hs = b"".join(data(s, b[:4096]) for s, b in wire)  # application data cut short
        out += [b"\x00" + whole, b"\x00" + hs, b"\x01" + hs]
        # a gap in the middle of the server's first flight, then the rest
        s1, b1 = next(((s, b) for s, b in wire if s == 1), wire[0])
        cut = min(len(b1) // 3, 300)
        g = b"".join(
            data(s, b[:cut]) + gap(s, len(b) - cut) if (s, b) == (s1, b1) else data(s, b[:4096])
            for s, b in wire
        )
        out.append(b"\x00" + g)
        # plaintext before TLS (SMTP STARTTLS)
        pre = data(0, b"EHLO me\r\nSTARTTLS\r\n")
        pre += data(1, b"220 mx ESMTP\r\n250-STARTTLS\r\n220 Ready to start TLS\r\n")
        out.append(b"\x00" + pre + hs)
    return out


def main() -> None:
    n = {"capture": 0, "pipeline": 0, "decode": 0, "tls": 0}
    for path in captures():
        raw = path.read_bytes()
        variants = [raw] + ([gzip.compress(raw, mtime=0)] if len(raw) < GZIP_BELOW else [])
        for v in variants:
            for t in ("capture", "pipeline"):
                n[t] += put(t, v)
        st = ReadStats(path=str(path))
        for _num, _ts, linktype, frame, _wirelen in iter_frames(path, st):
            if linktype <= 0xFFFF:
                n["decode"] += put("decode", struct.pack(">H", linktype) + frame)
    for s in tls_scripts():
        n["tls"] += put("tls", s)
    for t, k in n.items():
        total = len(list((CORPUS / t).iterdir())) if (CORPUS / t).is_dir() else 0
        print(f"corpus/{t}: {k} new, {total} in all")


if __name__ == "__main__":
    main()
