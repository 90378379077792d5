"""Link layer -> IP (through VLANs, PPPoE and tunnels) -> TCP, in one pass per frame.

The reference decoder (the Rust engine's rust/core/src/capture/decode.rs is held equal to it):
one function call per frame, no objects for frames that are not TCP. It returns a plain tuple ``(src, dst, sport, dport, seq, ack, flags, payload, missing)`` where
``src``/``dst`` are packed addresses (4 or 16 bytes) and ``missing`` is how many payload bytes
the IP header announces but the capture did not keep (snaplen); or ``None`` for frames that
carry no TCP. Frames that are not TCP or cannot be decoded are counted in ``counts``.
"""

from __future__ import annotations

import struct
from typing import Optional

Segment = tuple[bytes, bytes, int, int, int, int, int, bytes, int]

# Link types (tcpdump.org/linktypes.html)
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_PPP = 9
LINKTYPE_RAW_OLD = 12  # raw IP on some BSDs
LINKTYPE_RAW_OPENBSD = 14
LINKTYPE_PPP_ETHER = 51
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
LINKTYPES = frozenset({
    LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_PPP, LINKTYPE_RAW_OLD, LINKTYPE_RAW_OPENBSD, LINKTYPE_PPP_ETHER,
    LINKTYPE_RAW, LINKTYPE_LOOP, LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2,
})  # the link types decode() reads; frames of any other are counted as unknown_link

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN = (0x8100, 0x88A8, 0x9100, 0x9200)
ETH_PPPOE_SESSION = 0x8864
ETH_MPLS = 0x8847
ETH_TEB = 0x6558  # transparent Ethernet bridging (GRE carrying Ethernet)

IPPROTO_IPIP = 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
IPPROTO_GRE = 47
_IPV6_EXT = {0, 43, 44, 60, 51, 135, 139, 140}  # hop-by-hop, routing, fragment, dstopts, AH, ...

VXLAN_PORT = 4789
GENEVE_PORT = 6081

_TCP = struct.Struct("!HHIIBB")
_HH = struct.Struct("!HH")
_MAX_DEPTH = 4  # tunnels inside tunnels beyond this are not worth following

COUNT_KEYS = ("not_ip", "not_tcp", "fragment", "malformed", "unknown_link", "tunnel")


def new_counts() -> dict[str, int]:
    return dict.fromkeys(COUNT_KEYS, 0)


def decode(linktype: int, data: bytes, counts: dict[str, int]) -> Optional[Segment]:
    """Decode one frame to a TCP segment tuple, or ``None`` (and count why)."""
    if linktype == LINKTYPE_ETHERNET:
        return _ether(data, 0, counts, 0)
    if linktype == LINKTYPE_LINUX_SLL:
        if len(data) < 16:
            counts["malformed"] += 1
            return None
        return _ethertype(data, 16, _HH.unpack_from(data, 12)[1], counts, 0)
    if linktype == LINKTYPE_LINUX_SLL2:
        if len(data) < 20:
            counts["malformed"] += 1
            return None
        return _ethertype(data, 20, _HH.unpack_from(data, 0)[0], counts, 0)
    if linktype in (LINKTYPE_RAW, LINKTYPE_RAW_OLD, LINKTYPE_RAW_OPENBSD, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return _ip(data, 0, counts, 0)
    if linktype == LINKTYPE_NULL or linktype == LINKTYPE_LOOP:
        if len(data) < 4:
            counts["malformed"] += 1
            return None
        # NULL: address family in the capturing host's byte order; LOOP: network order.
        fam = int.from_bytes(data[:4], "little" if linktype == LINKTYPE_NULL and data[0] else "big")
        if fam == 2 or fam in (24, 28, 30, 10, 23):
            return _ip(data, 4, counts, 0)
        counts["not_ip"] += 1
        return None
    if linktype == LINKTYPE_PPP:
        if len(data) < 4:
            counts["malformed"] += 1
            return None
        off = 2 if data[0] == 0xFF else 0  # address/control bytes may be compressed away
        return _ppp(data, off, counts, 0)
    if linktype == LINKTYPE_PPP_ETHER:
        return _pppoe(data, 0, counts, 0)
    counts["unknown_link"] += 1
    return None


def _ether(data: bytes, off: int, counts: dict[str, int], depth: int) -> Optional[Segment]:
    if len(data) < off + 14:
        counts["malformed"] += 1
        return None
    return _ethertype(data, off + 14, (data[off + 12] << 8) | data[off + 13], counts, depth)


def _ethertype(data: bytes, off: int, etype: int, counts: dict[str, int], depth: int) -> Optional[Segment]:
    while etype in ETH_VLAN:  # 802.1Q / QinQ: 4 bytes each, any number of tags
        if len(data) < off + 4:
            counts["malformed"] += 1
            return None
        etype = (data[off + 2] << 8) | data[off + 3]
        off += 4
    if etype == ETH_IPV4 or etype == ETH_IPV6:
        return _ip(data, off, counts, depth)
    if etype == ETH_PPPOE_SESSION:
        return _pppoe(data, off, counts, depth)
    if etype == ETH_MPLS:
        while len(data) >= off + 4:
            bottom = data[off + 2] & 1
            off += 4
            if bottom:
                return _ip(data, off, counts, depth)
        counts["malformed"] += 1
        return None
    counts["not_ip"] += 1
    return None


def _pppoe(data: bytes, off: int, counts: dict[str, int], depth: int) -> Optional[Segment]:
    if len(data) < off + 8:
        counts["malformed"] += 1
        return None
    return _ppp(data, off + 6, counts, depth)


def _ppp(data: bytes, off: int, counts: dict[str, int], depth: int) -> Optional[Segment]:
    if len(data) < off + 2:
        counts["malformed"] += 1
        return None
    proto = (data[off] << 8) | data[off + 1]
    if proto == 0x0021 or proto == 0x0057:
        return _ip(data, off + 2, counts, depth)
    counts["not_ip"] += 1
    return None


def _ip(data: bytes, off: int, counts: dict[str, int], depth: int) -> Optional[Segment]:
    if len(data) <= off:
        counts["malformed"] += 1
        return None
    ver = data[off] >> 4
    if ver == 4:
        if len(data) < off + 20:
            counts["malformed"] += 1
            return None
        ihl = (data[off] & 0x0F) * 4
        total = (data[off + 2] << 8) | data[off + 3]
        if ihl < 20 or total < ihl:
            if total == 0 and ihl >= 20:  # TSO frames captured before segmentation carry 0
                total = len(data) - off
            else:
                counts["malformed"] += 1
                return None
        frag = ((data[off + 6] << 8) | data[off + 7]) & 0x3FFF
        proto = data[off + 9]
        if frag:
            counts["fragment"] += 1
            return None
        src = data[off + 12 : off + 16]
        dst = data[off + 16 : off + 20]
        start = off + ihl
        stop = off + total  # drop Ethernet padding beyond the IP datagram
    elif ver == 6:
        if len(data) < off + 40:
            counts["malformed"] += 1
            return None
        plen = (data[off + 4] << 8) | data[off + 5]
        proto = data[off + 6]
        src = data[off + 8 : off + 24]
        dst = data[off + 24 : off + 40]
        start = off + 40
        stop = start + plen if plen else len(data)  # jumbograms carry 0
        while proto in _IPV6_EXT:
            if len(data) < start + 8:
                counts["malformed"] += 1
                return None
            if proto == 44:
                if ((data[start + 2] << 8) | data[start + 3]) & 0xFFF9:
                    counts["fragment"] += 1  # offset != 0 or more fragments follow
                    return None
                hlen = 8
            elif proto == 51:
                hlen = (data[start + 1] + 2) * 4
            else:
                hlen = (data[start + 1] + 1) * 8
            proto = data[start]
            start += hlen
    else:
        counts["not_ip"] += 1
        return None
    if proto == IPPROTO_TCP:
        return _tcp(data, start, stop, src, dst, counts)
    if depth < _MAX_DEPTH:
        if proto == IPPROTO_IPIP or proto == IPPROTO_IPV6:
            counts["tunnel"] += 1
            return _ip(data[:stop], start, counts, depth + 1)
        if proto == IPPROTO_GRE:
            return _gre(data[:stop], start, counts, depth + 1)
        if proto == IPPROTO_UDP and len(data) >= start + 8:
            dport = (data[start + 2] << 8) | data[start + 3]
            if dport == VXLAN_PORT and len(data) >= start + 16:
                counts["tunnel"] += 1
                return _ether(data[:stop], start + 16, counts, depth + 1)
            if dport == GENEVE_PORT and len(data) >= start + 16:
                counts["tunnel"] += 1
                optlen = (data[start + 8] & 0x3F) * 4
                ptype = (data[start + 10] << 8) | data[start + 11]
                inner = start + 16 + optlen
                if ptype == ETH_TEB:
                    return _ether(data[:stop], inner, counts, depth + 1)
                return _ethertype(data[:stop], inner, ptype, counts, depth + 1)
    counts["not_tcp"] += 1
    return None


def _gre(data: bytes, off: int, counts: dict[str, int], depth: int) -> Optional[Segment]:
    if len(data) < off + 4:
        counts["malformed"] += 1
        return None
    flags = data[off]
    ptype = (data[off + 2] << 8) | data[off + 3]
    hlen = 4 + (4 if flags & 0x80 else 0) + (4 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
    counts["tunnel"] += 1
    if ptype == ETH_TEB:
        return _ether(data, off + hlen, counts, depth)
    return _ethertype(data, off + hlen, ptype, counts, depth)


def _tcp(data: bytes, off: int, stop: int, src: bytes, dst: bytes, counts: dict[str, int]) -> Optional[Segment]:
    if len(data) < off + 20:
        # Snapped inside the TCP header: nothing usable.
        counts["malformed"] += 1
        return None
    sport, dport, seq, ack, doff, flags = _TCP.unpack_from(data, off)
    hlen = (doff >> 4) * 4
    if hlen < 20 or off + hlen > stop:
        counts["malformed"] += 1
        return None
    pstart = off + hlen
    have = len(data)
    if have >= stop:
        return (src, dst, sport, dport, seq, ack, flags, data[pstart:stop], 0)
    # Snapped frame: keep what was captured, say how much is missing.
    if pstart > have:
        return (src, dst, sport, dport, seq, ack, flags, b"", stop - pstart)
    return (src, dst, sport, dport, seq, ack, flags, data[pstart:have], stop - have)
