"""Several capture files -> one, so rotated captures give one connection table.

``tcpdump -C``, ``editcap -c`` and Expressway's diagnostic logging (up to 20 files per
interface) cut one recording into files. Analysed one by one, a connection that spans a cut
becomes two halves, each missing its hellos or its end. :func:`merge` writes the frames of all
the files into one temporary capture, in time order, which either engine then reads as one
recording (frame numbers count across the files, as ``mergecap`` numbers them).

Classic pcap files are merged record by record by timestamp (a stable k-way merge: rotated
files come out concatenated, captures of two interfaces interleaved); their link types must
agree. pcapng files (what ``editcap`` writes by default) are concatenated as sections (a pcapng
file may hold several), in the order of their first frames. A mix of the two formats, or of link types, is not merged: the caller
reads the files separately and says so.
"""

from __future__ import annotations

import heapq
import shutil
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from ..errors import PcaptlsError
from .files import iter_frames, open_capture

_MAGICS = {  # magic as read little-endian -> (byte order, nanosecond timestamps)
    0xA1B2C3D4: ("<", False), 0xA1B23C4D: ("<", True),
    0xD4C3B2A1: (">", False), 0x4D3CB2A1: (">", True),
}
_REC = struct.Struct("IIII")
MAX_RECORD = 1 << 28  # a record length beyond this is corrupt data, not a frame


@dataclass
class Merged:
    """What :func:`merge` wrote, or why it did not: ``path`` is ``None`` when it could not."""

    path: str | None
    why_not: str | None = None
    problems: list[str] = field(default_factory=list)  # files cut short: merged up to the cut


@dataclass
class _Pcap:
    path: str
    src: BinaryIO
    order: str
    nanos: bool
    snaplen: int
    linktype: int


def merge(paths: Sequence[str], dest: str) -> Merged:
    """Write ``paths`` as one capture at ``dest`` (see the module's docstring).

    Raises :class:`~pcaptls.errors.InputError` for a file that is not a capture."""
    kinds: list[str] = []
    opened: list[tuple[str, BinaryIO]] = []
    try:
        for p in paths:
            src, kind = open_capture(p)
            opened.append((p, src))
            kinds.append("pcapng" if kind.endswith("pcapng") else "pcap")
        if all(k == "pcapng" for k in kinds):
            return _concat_pcapng(opened, dest)
        if all(k == "pcap" for k in kinds):
            return _merge_pcap(opened, dest)
        return Merged(None, "pcap and pcapng files mixed")
    finally:
        for _p, src in opened:
            close = getattr(src, "close", None)
            if close:
                close()


def _merge_pcap(opened: list[tuple[str, BinaryIO]], dest: str) -> Merged:
    files: list[_Pcap] = []
    problems: list[str] = []
    for p, src in opened:
        head = src.read(24)
        if len(head) < 24:
            problems.append(f"{p}: pcap file header cut short; file left out of the merge")
            continue
        (magic,) = struct.unpack("<I", head[:4])
        order, nanos = _MAGICS[magic]
        _vmaj, _vmin, _tz, _sig, snaplen, linktype = struct.unpack(order + "HHiIII", head[4:24])
        files.append(_Pcap(p, src, order, nanos, snaplen, linktype & 0x0FFFFFFF))
    if not files:
        return Merged(None, "no readable capture", problems)
    if len({f.linktype for f in files}) > 1:
        return Merged(None, "link types differ: " + ", ".join(sorted({str(f.linktype) for f in files})), problems)
    nanos = any(f.nanos for f in files)
    scale = 1_000_000_000 if nanos else 1_000_000
    out_rec = struct.Struct("<IIII")

    def records(i: int, f: _Pcap) -> Iterator[tuple[int, int, int, bytes]]:
        rec = struct.Struct(f.order + "IIII")
        mult = 1000 if nanos and not f.nanos else 1
        n = 0
        while True:
            h = f.src.read(16)
            if not h:
                return
            try:
                if len(h) < 16:
                    raise PcaptlsError("record header cut short")
                sec, frac, incl, orig = rec.unpack(h)
                if incl > MAX_RECORD:
                    raise PcaptlsError(f"record of {incl} bytes")
                data = f.src.read(incl)
                if len(data) < incl:
                    raise PcaptlsError("record cut short")
            except PcaptlsError as e:  # also the gzip reader's errors
                problems.append(f"{f.path}: file ends early after frame {n} ({e}); merged what came before the cut")
                return
            n += 1
            # (time, file, frame): equal times keep file order, then frame order.
            yield (sec * scale + frac * mult, i, n, out_rec.pack(sec, frac * mult, incl, orig) + data)

    with open(dest, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B23C4D if nanos else 0xA1B2C3D4, 2, 4, 0, 0,
                              max(f.snaplen for f in files), files[0].linktype))
        for _t, _i, _n, blob in heapq.merge(*(records(i, f) for i, f in enumerate(files))):
            out.write(blob)
    return Merged(dest, None, problems)


def _first_time(path: str) -> float:
    """The time of a capture's first frame (only the start of the file is read)."""
    for _n, t, _link, _data, _wire in iter_frames(path):
        return t
    return float("inf")


def _concat_pcapng(opened: list[tuple[str, BinaryIO]], dest: str) -> Merged:
    # Rotated pcapng files do not overlap in time, so in the order of their first frames they
    # are in time order; each is a whole section, so their concatenation is a valid pcapng file.
    firsts = [_first_time(p) for p, _src in opened]
    order = sorted(range(len(opened)), key=lambda i: firsts[i])  # stable: equal times keep the given order
    with open(dest, "wb") as out:
        for _p, src in (opened[i] for i in order):
            shutil.copyfileobj(src, out, 1 << 20)
    return Merged(dest)
