"""pcapng files: several sections and interfaces, each with its own link type and resolution."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Iterator

from ..errors import MalformedError, TruncatedError

if TYPE_CHECKING:
    from .frames import Frame, ReadStats

MAX_BLOCK = 16 << 20  # far above any real block; a larger length means corruption
MAX_INTERFACES = 1 << 16  # per section; each costs ~130 bytes for a 20-byte block, so more is an attack
# Timestamps a datetime can hold (years 1..9999): 64-bit ticks and offsets reach far beyond.
TS_MIN, TS_MAX = -62135596800.0, 253402300799.0

SHB = 0x0A0D0D0A
IDB = 0x00000001
PB_OBSOLETE = 0x00000002
SPB = 0x00000003
EPB = 0x00000006

_BOM_LE = b"\x4d\x3c\x2b\x1a"
_BOM_BE = b"\x1a\x2b\x3c\x4d"


def sniff(head: bytes) -> str | None:
    return "pcapng" if head[:4] == b"\x0a\x0d\x0d\x0a" else None


def _tsresol(value: int) -> tuple[float, int]:
    """(seconds per tick, ticks per second). RFC pcapng: high bit clear -> 10^-n, set -> 2^-n."""
    if value & 0x80:
        return 2.0 ** -(value & 0x7F), 2 ** (value & 0x7F)
    return 10.0 ** -value, 10 ** value


def _time(ticks: int, scale: float, per: int, offset: float) -> float:
    """Whole seconds plus the fraction, as a pcap record's time is made: the same instant in a
    pcap and a pcapng file is then the same float (ticks * scale rounds differently)."""
    return ticks // per + (ticks % per) * scale + offset


def _interface(body: bytes, order: str) -> tuple[int, int, float, float, int]:
    """(linktype, snaplen, seconds per tick, offset seconds, ticks per second) from an IDB body."""
    if len(body) < 8:
        raise MalformedError("interface description block too short")
    linktype, _res, snaplen = struct.unpack_from(order + "HHI", body, 0)
    scale, per = 1e-6, 1_000_000
    offset = 0.0
    pos = 8
    while pos + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, pos)
        pos += 4
        if code == 0:
            break
        value = body[pos : pos + length]
        if len(value) < length:
            raise MalformedError("interface option runs past its block")
        if code == 9 and length >= 1:
            scale, per = _tsresol(value[0])
        elif code == 14 and length == 8:
            offset = float(struct.unpack(order + "q", value)[0])
        pos += (length + 3) & ~3
    return linktype, snaplen, scale, offset, per


def frames(chunks: Iterator[bytes], st: "ReadStats") -> Iterator["Frame"]:
    """Frames of a pcapng byte stream; raises TruncatedError where a block is cut."""
    buf = b""
    pos = 0
    end = 0
    order = "<"
    hdr = struct.Struct("<II")
    epb = struct.Struct("<IIIII")
    ifaces: list[tuple[int, int, float, float, int]] = []
    n = 0
    it = iter(chunks)
    while True:
        if end - pos < 12:
            more = next(it, None)
            if more is None:
                if end - pos:
                    raise TruncatedError(f"block header cut after frame {n}")
                return
            buf = buf[pos:] + more
            pos, end = 0, len(buf)
            continue
        if buf[pos : pos + 4] == b"\x0a\x0d\x0d\x0a":
            bom = buf[pos + 8 : pos + 12]
            if bom == _BOM_LE:
                order = "<"
            elif bom == _BOM_BE:
                order = ">"
            else:
                raise MalformedError(f"section header with unknown byte-order magic {bom.hex()}")
            hdr = struct.Struct(order + "II")
            epb = struct.Struct(order + "IIIII")
            ifaces = []  # interface ids are per section
        btype, blen = hdr.unpack_from(buf, pos)
        if blen < 12 or blen % 4 or blen > MAX_BLOCK:
            raise MalformedError(f"block of type 0x{btype:x} after frame {n} has impossible length {blen}")
        stop = pos + blen
        if stop > end:
            # Gather chunks until the block is whole and join once: a big block spans many.
            parts = [buf[pos:]]
            have = end - pos
            while have < blen:
                more = next(it, None)
                if more is None:
                    raise TruncatedError(f"block of type 0x{btype:x} cut after frame {n}: {have} of {blen} bytes")
                parts.append(more)
                have += len(more)
            buf = b"".join(parts)
            pos, end = 0, len(buf)
            continue
        if btype == EPB:
            if blen < 32:
                raise MalformedError(f"enhanced packet block after frame {n} too short")
            iface, hi, lo, caplen, origlen = epb.unpack_from(buf, pos + 8)
            if iface >= len(ifaces):
                raise MalformedError(f"packet for undeclared interface {iface}")
            if 28 + caplen > blen - 4:
                raise MalformedError(f"packet data runs past its block after frame {n}")
            linktype, _snap, scale, offset, per = ifaces[iface]
            ts = _time((hi << 32) | lo, scale, per, offset)
            if not TS_MIN <= ts <= TS_MAX:
                raise MalformedError(f"packet after frame {n} is timestamped {ts:.3g} s from 1970, outside years 1..9999")
            n += 1
            if caplen < origlen:
                st.snapped += 1
            st.frames = n
            yield (n, ts, linktype, buf[pos + 28 : pos + 28 + caplen], origlen)
        elif btype == IDB:
            if len(ifaces) >= MAX_INTERFACES:
                raise MalformedError(f"more than {MAX_INTERFACES} interfaces in one section after frame {n}")
            iface_info = _interface(buf[pos + 8 : stop - 4], order)
            ifaces.append(iface_info)
            st.linktypes.add(iface_info[0])
        elif btype == SPB:
            if not ifaces:
                raise MalformedError("simple packet block before any interface")
            (origlen,) = struct.unpack_from(order + "I", buf, pos + 8)
            linktype, snap, _scale, _offset, _per = ifaces[0]
            caplen = min(origlen, blen - 16, snap or origlen)
            n += 1
            st.frames = n
            # No timestamp in a simple packet block; 0.0 marks it as unknown.
            yield (n, 0.0, linktype, buf[pos + 12 : pos + 12 + caplen], origlen)
        elif btype == PB_OBSOLETE:
            if blen < 32:
                raise MalformedError("packet block too short")
            iface, _drops, hi, lo, caplen, origlen = struct.unpack_from(order + "HHIIII", buf, pos + 8)
            if iface >= len(ifaces) or 28 + caplen > blen - 4:
                raise MalformedError("bad packet block")
            linktype, _snap, scale, offset, per = ifaces[iface]
            ts = _time((hi << 32) | lo, scale, per, offset)
            if not TS_MIN <= ts <= TS_MAX:
                raise MalformedError(f"packet after frame {n} is timestamped {ts:.3g} s from 1970, outside years 1..9999")
            n += 1
            st.frames = n
            yield (n, ts, linktype, buf[pos + 28 : pos + 28 + caplen], origlen)
        pos = stop
