"""Just enough classic-pcap handling for the lab: read tcpdump's file, write a cut copy of it,
and summarise the TCP segments so the lab can check that its messy network really was messy.

This is lab tooling, not pcaptls's reader: it trusts its input (a file tcpdump just wrote on an
Ethernet veth) and understands only Ethernet/IPv4/TCP.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
PCAP_MAGIC_US = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1


@dataclass(frozen=True, slots=True)
class Segment:
    index: int  # 0-based position in the file
    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    seq: int
    flags: int
    payload: bytes


def read(path: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """(global header, [(record header, packet bytes)]) of a microsecond little-endian pcap."""
    with open(path, "rb") as fh:
        data = fh.read()
    header = data[: _GLOBAL.size]
    magic, _, _, _, _, _, linktype = _GLOBAL.unpack(header)
    if magic != PCAP_MAGIC_US or linktype != LINKTYPE_ETHERNET:
        raise ValueError(f"{path}: not a little-endian Ethernet pcap (magic {magic:#x}, "
                         f"link type {linktype})")
    records = []
    off = _GLOBAL.size
    while off + _RECORD.size <= len(data):
        rec = data[off : off + _RECORD.size]
        incl = _RECORD.unpack(rec)[2]
        records.append((rec, data[off + _RECORD.size : off + _RECORD.size + incl]))
        off += _RECORD.size + incl
    return header, records


def write(path: str, header: bytes, records: list[tuple[bytes, bytes]]) -> None:
    with open(path, "wb") as fh:
        fh.write(header)
        for rec, pkt in records:
            fh.write(rec)
            fh.write(pkt)


def segments(records: list[tuple[bytes, bytes]]) -> list[Segment]:
    """The IPv4/TCP packets among ``records``, in file order."""
    out = []
    for i, (rec, pkt) in enumerate(records):
        sec, usec = _RECORD.unpack(rec)[:2]
        if len(pkt) < 34 or pkt[12:14] != b"\x08\x00" or pkt[23] != 6:
            continue
        ihl = (pkt[14] & 0x0F) * 4
        total = struct.unpack("!H", pkt[16:18])[0]
        ip = pkt[14 : 14 + total]
        tcp = ip[ihl:]
        sport, dport, seq = struct.unpack("!HHI", tcp[:8])
        doff = (tcp[12] >> 4) * 4
        src = ".".join(map(str, ip[12:16]))
        dst = ".".join(map(str, ip[16:20]))
        out.append(Segment(i, sec + usec / 1e6, (src, sport), (dst, dport), seq, tcp[13],
                           bytes(tcp[doff:])))
    return out


def disorder(segs: list[Segment]) -> dict[tuple[tuple[str, int], tuple[str, int]], dict[str, int]]:
    """Per direction of each connection: how many data segments came out of order (a lower
    sequence number after a higher one), and how many repeated bytes already seen."""
    state: dict[tuple, dict[str, int]] = {}
    seen: dict[tuple, set[int]] = {}
    top: dict[tuple, int] = {}
    for s in segs:
        if not s.payload:
            continue
        key = (s.src, s.dst)
        st = state.setdefault(key, {"out_of_order": 0, "repeated": 0})
        if s.seq in seen.setdefault(key, set()):
            st["repeated"] += 1
        elif key in top and s.seq < top[key]:
            st["out_of_order"] += 1
        seen[key].add(s.seq)
        top[key] = max(top.get(key, 0), s.seq + len(s.payload))
    return state
