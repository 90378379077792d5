"""Classic libpcap files: micro- and nanosecond timestamps, either byte order."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Iterator

from ..errors import MalformedError, TruncatedError

if TYPE_CHECKING:
    from .frames import Frame, ReadStats

MAX_FRAME = 1 << 20  # no link layer carries more; a larger length means a corrupt record

MAGICS = {  # magic -> (struct byte order, seconds per timestamp tick)
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}


# What is wrong where a pcap ends early (the Rust reader says the same, word for word).
def header_cut(frames: int, have: int) -> str:
    return f"record header cut after frame {frames} ({have} of 16 bytes)"


def too_long(frame: int, incl: int) -> str:
    return f"frame {frame} claims {incl} bytes (corrupt record header)"


def frame_cut(frame: int, have: int, incl: int) -> str:
    return f"frame {frame} cut: {have} of {incl} bytes present"


def sniff(head: bytes) -> str | None:
    return "pcap" if head[:4] in MAGICS else None


def frames(chunks: Iterator[bytes], st: "ReadStats") -> Iterator["Frame"]:
    """Frames of a pcap byte stream given as chunks; raises TruncatedError at a cut record."""
    buf = b""
    for chunk in chunks:
        buf += chunk
        if len(buf) >= 24:
            break
    if len(buf) < 24:
        raise TruncatedError(f"pcap file header needs 24 bytes, file has {len(buf)}")
    order, scale = MAGICS[buf[:4]]
    _vmaj, _vmin, _zone, _sig, snaplen, network = struct.unpack_from(order + "HHiIII", buf, 4)
    linktype = network & 0x0FFFFFFF  # upper bits carry FCS length information
    st.linktypes.add(linktype)
    rec = struct.Struct(order + "IIII")
    unpack = rec.unpack_from
    pos = 24
    n = 0
    end = len(buf)
    for_more = iter(chunks)
    while True:
        if end - pos < 16:
            more = next(for_more, None)
            if more is None:
                if end - pos:
                    raise TruncatedError(header_cut(n, end - pos))
                return
            buf = buf[pos:] + more
            pos, end = 0, len(buf)
            continue
        sec, frac, incl, orig = unpack(buf, pos)
        if incl > MAX_FRAME:
            raise MalformedError(too_long(n + 1, incl))
        stop = pos + 16 + incl
        if stop > end:
            # Gather chunks until the record is whole and join once: a big record spans many.
            parts = [buf[pos:]]
            have = end - pos
            while have < stop - pos:
                more = next(for_more, None)
                if more is None:
                    raise TruncatedError(frame_cut(n + 1, have - 16, incl))
                parts.append(more)
                have += len(more)
            buf = b"".join(parts)
            pos, end = 0, len(buf)
            continue
        n += 1
        if incl < orig:
            st.snapped += 1
        yield (n, sec + frac * scale, linktype, buf[pos + 16 : stop], orig)
        pos = stop
        st.frames = n
