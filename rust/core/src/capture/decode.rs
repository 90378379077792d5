//! Link layer -> IP (VLANs, PPPoE, MPLS, GRE, VXLAN, Geneve, IP-in-IP) -> TCP: `pcaptls/capture/decode.py`.
//!
//! One pass per frame, no allocation: the segment borrows its payload from the frame. Every
//! branch, bound and count mirrors the Python function named in its doc comment, including the
//! quirks (tunnels decode the datagram cut at the outer IP length; VXLAN/Geneve bounds are
//! checked against the whole frame).
#![forbid(unsafe_code)]

use crate::model::Ip;

/// Frames that carried no TCP segment, by why (`pcaptls.capture.decode.COUNT_KEYS`, same order).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Counts {
    pub not_ip: u64,
    pub not_tcp: u64,
    pub fragment: u64,
    pub malformed: u64,
    pub unknown_link: u64,
    pub tunnel: u64,
}

impl Counts {
    /// `(key, value)` in `COUNT_KEYS` order, for reports that print the Python dict.
    pub fn items(&self) -> [(&'static str, u64); 6] {
        [
            ("not_ip", self.not_ip),
            ("not_tcp", self.not_tcp),
            ("fragment", self.fragment),
            ("malformed", self.malformed),
            ("unknown_link", self.unknown_link),
            ("tunnel", self.tunnel),
        ]
    }
}

/// One TCP segment, borrowing its payload from the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    pub src: Ip,
    pub dst: Ip,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub payload: &'a [u8],
    /// Payload bytes the IP header announces but the capture did not keep (snaplen).
    pub missing: u32,
}

// Link types (tcpdump.org/linktypes.html), as in decode.py.
pub const LINKTYPE_NULL: u32 = 0;
pub const LINKTYPE_ETHERNET: u32 = 1;
pub const LINKTYPE_PPP: u32 = 9;
pub const LINKTYPE_RAW_OLD: u32 = 12;
pub const LINKTYPE_RAW_OPENBSD: u32 = 14;
pub const LINKTYPE_PPP_ETHER: u32 = 51;
pub const LINKTYPE_RAW: u32 = 101;
pub const LINKTYPE_LOOP: u32 = 108;
pub const LINKTYPE_LINUX_SLL: u32 = 113;
pub const LINKTYPE_IPV4: u32 = 228;
pub const LINKTYPE_IPV6: u32 = 229;
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86DD;
const ETH_PPPOE_SESSION: u16 = 0x8864;
const ETH_MPLS: u16 = 0x8847;
const ETH_TEB: u16 = 0x6558;

const IPPROTO_IPIP: u8 = 4;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_IPV6: u8 = 41;
const IPPROTO_GRE: u8 = 47;

const VXLAN_PORT: u16 = 4789;
const GENEVE_PORT: u16 = 6081;
/// `_MAX_DEPTH`: tunnels inside tunnels beyond this are not followed.
const MAX_DEPTH: u32 = 4;

#[inline]
fn byte(data: &[u8], i: usize) -> u8 {
    data.get(i).copied().unwrap_or(0)
}

#[inline]
fn be16(data: &[u8], i: usize) -> u16 {
    match data.get(i..i.wrapping_add(2)) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

#[inline]
fn be32(data: &[u8], i: usize) -> u32 {
    match data.get(i..i.wrapping_add(4)) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

#[inline]
fn ip_at(data: &[u8], off: usize, len: usize) -> Ip {
    let mut bytes = [0u8; 16];
    if let (Some(dst), Some(src)) = (bytes.get_mut(..len), data.get(off..off.saturating_add(len))) {
        dst.copy_from_slice(src);
    }
    Ip {
        len: len as u8,
        bytes,
    }
}

/// `data[:stop]` as Python slices it (a stop past the end is the end).
#[inline]
fn head(data: &[u8], stop: usize) -> &[u8] {
    data.get(..stop).unwrap_or(data)
}

fn is_vlan(etype: u16) -> bool {
    matches!(etype, 0x8100 | 0x88A8 | 0x9100 | 0x9200)
}

fn is_ipv6_ext(proto: u8) -> bool {
    matches!(proto, 0 | 43 | 44 | 60 | 51 | 135 | 139 | 140)
}

/// Decode one frame to a TCP segment, or `None` (and count why). `decode.decode`.
pub fn decode<'a>(linktype: u32, data: &'a [u8], counts: &mut Counts) -> Option<Segment<'a>> {
    match linktype {
        LINKTYPE_ETHERNET => {
            if let Some(s) = fast_ethernet(data) {
                return Some(s);
            }
            ether(data, 0, counts, 0)
        }
        LINKTYPE_LINUX_SLL => {
            if data.len() < 16 {
                counts.malformed += 1;
                return None;
            }
            ethertype(data, 16, be16(data, 14), counts, 0)
        }
        LINKTYPE_LINUX_SLL2 => {
            if data.len() < 20 {
                counts.malformed += 1;
                return None;
            }
            ethertype(data, 20, be16(data, 0), counts, 0)
        }
        LINKTYPE_RAW | LINKTYPE_RAW_OLD | LINKTYPE_RAW_OPENBSD | LINKTYPE_IPV4 | LINKTYPE_IPV6 => {
            ip(data, 0, counts, 0)
        }
        LINKTYPE_NULL | LINKTYPE_LOOP => {
            let Some(&[a, b, c, d]) = data.get(..4) else {
                counts.malformed += 1;
                return None;
            };
            // NULL: address family in the capturing host's byte order; LOOP: network order.
            let fam = if linktype == LINKTYPE_NULL && a != 0 {
                u32::from_le_bytes([a, b, c, d])
            } else {
                u32::from_be_bytes([a, b, c, d])
            };
            if matches!(fam, 2 | 24 | 28 | 30 | 10 | 23) {
                return ip(data, 4, counts, 0);
            }
            counts.not_ip += 1;
            None
        }
        LINKTYPE_PPP => {
            if data.len() < 4 {
                counts.malformed += 1;
                return None;
            }
            let off = if byte(data, 0) == 0xFF { 2 } else { 0 };
            ppp(data, off, counts, 0)
        }
        LINKTYPE_PPP_ETHER => pppoe(data, 0, counts, 0),
        _ => {
            counts.unknown_link += 1;
            None
        }
    }
}

/// The fast path of `decode` (Ethernet II + IPv4 without options + TCP, whole datagram):
/// accepts a subset of what the general path accepts and gives the same segment for it.
#[inline]
fn fast_ethernet(data: &[u8]) -> Option<Segment<'_>> {
    let h = data.get(..54)?;
    let etype = be16(h, 12);
    let vihl = byte(h, 14);
    let total = be16(h, 16) as usize;
    let frag = be16(h, 20);
    let proto = byte(h, 23);
    if etype != ETH_IPV4 || vihl != 0x45 || proto != IPPROTO_TCP || frag & 0x3FFF != 0 {
        return None;
    }
    let doff = byte(h, 46);
    let stop = 14 + total;
    let pstart = 34 + (doff >> 4) as usize * 4;
    if doff >= 0x50 && pstart <= stop && stop <= data.len() {
        return Some(Segment {
            src: ip_at(h, 26, 4),
            dst: ip_at(h, 30, 4),
            sport: be16(h, 34),
            dport: be16(h, 36),
            seq: be32(h, 38),
            ack: be32(h, 42),
            flags: byte(h, 47),
            payload: data.get(pstart..stop)?,
            missing: 0,
        });
    }
    None
}

/// The general path alone for an Ethernet frame (tests hold the fast path to it).
#[cfg(test)]
pub(super) fn ether_general<'a>(data: &'a [u8], counts: &mut Counts) -> Option<Segment<'a>> {
    ether(data, 0, counts, 0)
}

/// `_ether`
fn ether<'a>(data: &'a [u8], off: usize, counts: &mut Counts, depth: u32) -> Option<Segment<'a>> {
    if data.len() < off.saturating_add(14) {
        counts.malformed += 1;
        return None;
    }
    ethertype(data, off + 14, be16(data, off + 12), counts, depth)
}

/// `_ethertype`
fn ethertype<'a>(
    data: &'a [u8],
    mut off: usize,
    mut etype: u16,
    counts: &mut Counts,
    depth: u32,
) -> Option<Segment<'a>> {
    while is_vlan(etype) {
        if data.len() < off.saturating_add(4) {
            counts.malformed += 1;
            return None;
        }
        etype = be16(data, off + 2);
        off += 4;
    }
    match etype {
        ETH_IPV4 | ETH_IPV6 => ip(data, off, counts, depth),
        ETH_PPPOE_SESSION => pppoe(data, off, counts, depth),
        ETH_MPLS => {
            while data.len() >= off.saturating_add(4) {
                let bottom = byte(data, off + 2) & 1;
                off += 4;
                if bottom != 0 {
                    return ip(data, off, counts, depth);
                }
            }
            counts.malformed += 1;
            None
        }
        _ => {
            counts.not_ip += 1;
            None
        }
    }
}

/// `_pppoe`
fn pppoe<'a>(data: &'a [u8], off: usize, counts: &mut Counts, depth: u32) -> Option<Segment<'a>> {
    if data.len() < off.saturating_add(8) {
        counts.malformed += 1;
        return None;
    }
    ppp(data, off + 6, counts, depth)
}

/// `_ppp`
fn ppp<'a>(data: &'a [u8], off: usize, counts: &mut Counts, depth: u32) -> Option<Segment<'a>> {
    if data.len() < off.saturating_add(2) {
        counts.malformed += 1;
        return None;
    }
    let proto = be16(data, off);
    if proto == 0x0021 || proto == 0x0057 {
        return ip(data, off + 2, counts, depth);
    }
    counts.not_ip += 1;
    None
}

/// `_ip`
fn ip<'a>(data: &'a [u8], off: usize, counts: &mut Counts, depth: u32) -> Option<Segment<'a>> {
    if data.len() <= off {
        counts.malformed += 1;
        return None;
    }
    let first = byte(data, off);
    let (src, dst, mut proto, start, stop);
    match first >> 4 {
        4 => {
            if data.len() < off.saturating_add(20) {
                counts.malformed += 1;
                return None;
            }
            let ihl = (first & 0x0F) as usize * 4;
            let mut total = be16(data, off + 2) as usize;
            if ihl < 20 || total < ihl {
                if total == 0 && ihl >= 20 {
                    total = data.len() - off; // TSO frames captured before segmentation carry 0
                } else {
                    counts.malformed += 1;
                    return None;
                }
            }
            let frag = be16(data, off + 6) & 0x3FFF;
            proto = byte(data, off + 9);
            if frag != 0 {
                counts.fragment += 1;
                return None;
            }
            src = ip_at(data, off + 12, 4);
            dst = ip_at(data, off + 16, 4);
            start = off + ihl;
            stop = off + total; // drop Ethernet padding beyond the IP datagram
        }
        6 => {
            if data.len() < off.saturating_add(40) {
                counts.malformed += 1;
                return None;
            }
            let plen = be16(data, off + 4) as usize;
            proto = byte(data, off + 6);
            src = ip_at(data, off + 8, 16);
            dst = ip_at(data, off + 24, 16);
            let mut s = off + 40;
            stop = if plen != 0 { s + plen } else { data.len() }; // jumbograms carry 0
            while is_ipv6_ext(proto) {
                if data.len() < s.saturating_add(8) {
                    counts.malformed += 1;
                    return None;
                }
                let hlen = if proto == 44 {
                    if be16(data, s + 2) & 0xFFF9 != 0 {
                        counts.fragment += 1; // offset != 0 or more fragments follow
                        return None;
                    }
                    8
                } else if proto == 51 {
                    (byte(data, s + 1) as usize + 2) * 4
                } else {
                    (byte(data, s + 1) as usize + 1) * 8
                };
                proto = byte(data, s);
                s += hlen;
            }
            start = s;
        }
        _ => {
            counts.not_ip += 1;
            return None;
        }
    }
    if proto == IPPROTO_TCP {
        return tcp(data, start, stop, src, dst, counts);
    }
    if depth < MAX_DEPTH {
        if proto == IPPROTO_IPIP || proto == IPPROTO_IPV6 {
            counts.tunnel += 1;
            return ip(head(data, stop), start, counts, depth + 1);
        }
        if proto == IPPROTO_GRE {
            return gre(head(data, stop), start, counts, depth + 1);
        }
        if proto == IPPROTO_UDP && data.len() >= start.saturating_add(8) {
            let dport = be16(data, start + 2);
            if dport == VXLAN_PORT && data.len() >= start.saturating_add(16) {
                counts.tunnel += 1;
                return ether(head(data, stop), start + 16, counts, depth + 1);
            }
            if dport == GENEVE_PORT && data.len() >= start.saturating_add(16) {
                counts.tunnel += 1;
                let optlen = (byte(data, start + 8) & 0x3F) as usize * 4;
                let ptype = be16(data, start + 10);
                let inner = start + 16 + optlen;
                if ptype == ETH_TEB {
                    return ether(head(data, stop), inner, counts, depth + 1);
                }
                return ethertype(head(data, stop), inner, ptype, counts, depth + 1);
            }
        }
    }
    counts.not_tcp += 1;
    None
}

/// `_gre`
fn gre<'a>(data: &'a [u8], off: usize, counts: &mut Counts, depth: u32) -> Option<Segment<'a>> {
    if data.len() < off.saturating_add(4) {
        counts.malformed += 1;
        return None;
    }
    let flags = byte(data, off);
    let ptype = be16(data, off + 2);
    let hlen = 4
        + if flags & 0x80 != 0 { 4 } else { 0 }
        + if flags & 0x20 != 0 { 4 } else { 0 }
        + if flags & 0x10 != 0 { 4 } else { 0 };
    counts.tunnel += 1;
    if ptype == ETH_TEB {
        return ether(data, off + hlen, counts, depth);
    }
    ethertype(data, off + hlen, ptype, counts, depth)
}

/// `_tcp`
fn tcp<'a>(
    data: &'a [u8],
    off: usize,
    stop: usize,
    src: Ip,
    dst: Ip,
    counts: &mut Counts,
) -> Option<Segment<'a>> {
    if data.len() < off.saturating_add(20) {
        // Snapped inside the TCP header: nothing usable.
        counts.malformed += 1;
        return None;
    }
    let hlen = (byte(data, off + 12) >> 4) as usize * 4;
    if hlen < 20 || off + hlen > stop {
        counts.malformed += 1;
        return None;
    }
    let pstart = off + hlen;
    let have = data.len();
    let (payload, missing): (&[u8], usize) = if have >= stop {
        (data.get(pstart..stop).unwrap_or(&[]), 0)
    } else if pstart > have {
        (&[], stop - pstart) // snapped frame: keep what was captured, say how much is missing
    } else {
        (data.get(pstart..have).unwrap_or(&[]), stop - have)
    };
    Some(Segment {
        src,
        dst,
        sport: be16(data, off),
        dport: be16(data, off + 2),
        seq: be32(data, off + 4),
        ack: be32(data, off + 8),
        flags: byte(data, off + 13),
        payload,
        missing: u32::try_from(missing).unwrap_or(u32::MAX),
    })
}
