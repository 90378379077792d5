//! Tests of the capture stage, mirroring tests/capture/test_decode.py and test_files.py (the
//! frames scapy builds there are built here by hand, with the same layers and values).
#![forbid(unsafe_code)]

use super::decode::{decode, Counts};
use super::reader::FrameReader;

const HELLO: &[u8] =
    b"\x16\x03\x01\x00\x2a\x01\x00\x00\x26\x03\x03 stand-in for a ClientHello: decode.example.com";

fn tcp(payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&51000u16.to_be_bytes());
    t.extend_from_slice(&8443u16.to_be_bytes());
    t.extend_from_slice(&1000u32.to_be_bytes());
    t.extend_from_slice(&1u32.to_be_bytes());
    t.extend_from_slice(&[0x50, 0x18, 0x20, 0x00, 0, 0, 0, 0]); // PA
    t.extend_from_slice(payload);
    t
}

fn ip4(src: [u8; 4], dst: [u8; 4], proto: u8, flags_frag: u16, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 1]);
    p.extend_from_slice(&flags_frag.to_be_bytes());
    p.extend_from_slice(&[64, proto, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(payload);
    p
}

fn v6(last: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    a[15] = last;
    a
}

fn ip6(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[next, 64]);
    p.extend_from_slice(&v6(1));
    p.extend_from_slice(&v6(2));
    p.extend_from_slice(payload);
    p
}

fn eth(etype: u16, payload: &[u8]) -> Vec<u8> {
    let mut e = vec![0u8; 12];
    e.extend_from_slice(&etype.to_be_bytes());
    e.extend_from_slice(payload);
    e
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

const A: [u8; 4] = [10, 1, 1, 1];
const B: [u8; 4] = [10, 2, 2, 2];

fn inner4() -> Vec<u8> {
    ip4(A, B, 6, 0, &tcp(HELLO))
}

/// test_decode.CASES: (name, linktype, frame).
fn cases() -> Vec<(&'static str, u32, Vec<u8>)> {
    let outer = |proto: u8, p: &[u8]| ip4([192, 0, 2, 1], [192, 0, 2, 2], proto, 0, p);
    vec![
        ("ethernet", 1, eth(0x0800, &inner4())),
        (
            "vlan",
            1,
            eth(0x8100, &cat(&[&[0, 10, 0x08, 0x00], &inner4()])),
        ),
        (
            "qinq",
            1,
            eth(
                0x88A8,
                &cat(&[&[0, 100, 0x81, 0x00], &[0, 10, 0x08, 0x00], &inner4()]),
            ),
        ),
        (
            "sll",
            113,
            cat(&[
                &[0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00],
                &inner4(),
            ]),
        ),
        (
            "sll2",
            276,
            cat(&[
                &[
                    0x86, 0xDD, 0, 0, 0, 0, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0,
                ],
                &ip6(6, &tcp(HELLO)),
            ]),
        ),
        ("raw", 101, inner4()),
        (
            "null",
            0,
            cat(&[
                &[2, 0, 0, 0],
                &ip4([127, 0, 0, 1], [127, 0, 0, 2], 6, 0, &tcp(HELLO)),
            ]),
        ),
        (
            "pppoe",
            1,
            eth(
                0x8864,
                &cat(&[&[0x11, 0, 0, 1, 0, 0], &[0x00, 0x21], &inner4()]),
            ),
        ),
        (
            "ipv6-ext",
            1,
            eth(
                0x86DD,
                &ip6(
                    0,
                    &cat(&[
                        &[43, 0, 1, 4, 0, 0, 0, 0],
                        &[60, 0, 0, 0, 0, 0, 0, 0],
                        &[6, 0, 1, 4, 0, 0, 0, 0],
                        &tcp(HELLO),
                    ]),
                ),
            ),
        ),
        (
            "ipv6-atomic-fragment",
            1,
            eth(
                0x86DD,
                &ip6(44, &cat(&[&[6, 0, 0, 0, 0, 0, 0, 7], &tcp(HELLO)])),
            ),
        ),
        (
            "gre",
            1,
            eth(0x0800, &outer(47, &cat(&[&[0, 0, 0x08, 0x00], &inner4()]))),
        ),
        (
            "vxlan",
            1,
            eth(
                0x0800,
                &outer(
                    17,
                    &udp(
                        5555,
                        4789,
                        &cat(&[&[8, 0, 0, 0, 0, 0, 42, 0], &eth(0x0800, &inner4())]),
                    ),
                ),
            ),
        ),
        (
            "geneve",
            1,
            eth(
                0x0800,
                &outer(
                    17,
                    &udp(
                        5555,
                        6081,
                        &cat(&[&[0, 0, 0x65, 0x58, 0, 0, 0, 0], &eth(0x0800, &inner4())]),
                    ),
                ),
            ),
        ),
        ("ipip", 101, outer(4, &inner4())),
    ]
}

#[test]
fn link_layers_and_tunnels() {
    for (name, linktype, frame) in cases() {
        let mut counts = Counts::default();
        let s = decode(linktype, &frame, &mut counts);
        let s = s.unwrap_or_else(|| panic!("{name}: {counts:?}"));
        assert_eq!(
            (s.sport, s.dport, s.seq, s.ack, s.flags),
            (51000, 8443, 1000, 1, 0x18),
            "{name}"
        );
        assert_eq!(s.payload, HELLO, "{name}");
        assert_eq!(s.missing, 0, "{name}");
        let tunnels = u64::from(matches!(name, "gre" | "vxlan" | "geneve" | "ipip"));
        assert_eq!(
            counts,
            Counts {
                tunnel: tunnels,
                ..Counts::default()
            },
            "{name}"
        );
    }
}

#[test]
fn snapped_frame_reports_missing_bytes() {
    let data = eth(0x0800, &inner4());
    let s = decode(1, &data[..100], &mut Counts::default()).unwrap();
    assert_eq!(s.payload.len(), 100 - 54);
    assert_eq!(s.missing as usize, HELLO.len() - (100 - 54));
    // Snapped inside the TCP header: malformed.
    let mut c = Counts::default();
    assert!(decode(1, &data[..50], &mut c).is_none());
    assert_eq!(c.malformed, 1);
}

#[test]
fn fragment_and_non_tcp_are_counted() {
    let mut counts = Counts::default();
    assert!(decode(
        1,
        &eth(
            0x0800,
            &ip4([1, 1, 1, 1], [2, 2, 2, 2], 6, 0x2000, &tcp(HELLO))
        ),
        &mut counts
    )
    .is_none());
    assert!(decode(
        1,
        &eth(
            0x0800,
            &ip4([127, 0, 0, 1], [127, 0, 0, 1], 17, 0, &udp(53, 53, b"x"))
        ),
        &mut counts
    )
    .is_none());
    assert!(decode(1, &eth(0x0806, &[b'x'; 28]), &mut counts).is_none());
    assert!(decode(147, b"whatever", &mut counts).is_none());
    assert_eq!(
        counts,
        Counts {
            fragment: 1,
            not_tcp: 1,
            not_ip: 1,
            unknown_link: 1,
            ..Counts::default()
        }
    );
}

#[test]
fn tso_zero_total_length_takes_the_frame() {
    let mut p = inner4();
    p[2] = 0;
    p[3] = 0;
    let f = eth(0x0800, &p);
    let s = decode(1, &f, &mut Counts::default()).unwrap();
    assert_eq!(s.payload, HELLO);
}

#[test]
fn tunnels_see_the_datagram_cut_at_the_outer_length() {
    // The outer IP header says its datagram ends 10 payload bytes into the inner segment.
    let inner = inner4();
    let mut outer = ip4([192, 0, 2, 1], [192, 0, 2, 2], 4, 0, &inner);
    let short = (20 + 40 + 10) as u16;
    outer[2..4].copy_from_slice(&short.to_be_bytes());
    let s = decode(101, &outer, &mut Counts::default()).unwrap();
    assert_eq!(s.payload, &HELLO[..10]);
    assert_eq!(s.missing as usize, HELLO.len() - 10);
}

#[test]
fn tunnel_depth_is_limited() {
    let mut p = inner4();
    for _ in 0..4 {
        p = ip4([192, 0, 2, 1], [192, 0, 2, 2], 4, 0, &p);
    }
    let mut c = Counts::default();
    assert!(decode(101, &p, &mut c).is_some());
    assert_eq!(c.tunnel, 4);
    let p = ip4([192, 0, 2, 1], [192, 0, 2, 2], 4, 0, &p);
    let mut c = Counts::default();
    assert!(decode(101, &p, &mut c).is_none());
    assert_eq!((c.tunnel, c.not_tcp), (4, 1));
}

#[test]
fn mpls_null_loop_ppp() {
    let mut c = Counts::default();
    let f = eth(
        0x8847,
        &cat(&[&[0, 1, 0x20, 64], &[0, 2, 0x21, 64], &inner4()]),
    );
    assert_eq!(decode(1, &f, &mut c).unwrap().payload, HELLO);
    // NULL with a big-endian family (first byte 0), LOOP always big-endian; AF_INET6 on BSDs = 24/28/30.
    assert!(decode(0, &cat(&[&[0, 0, 0, 2], &inner4()]), &mut c).is_some());
    assert!(decode(108, &cat(&[&[0, 0, 0, 24], &ip6(6, &tcp(HELLO))]), &mut c).is_some());
    assert!(decode(108, &cat(&[&[2, 0, 0, 0], &inner4()]), &mut c).is_none());
    assert!(decode(9, &cat(&[&[0xFF, 0x03, 0x00, 0x21], &inner4()]), &mut c).is_some());
    assert!(decode(9, &cat(&[&[0x00, 0x21], &inner4()]), &mut c).is_some());
    assert_eq!(
        c,
        Counts {
            not_ip: 1,
            ..Counts::default()
        }
    );
}

/// A small deterministic generator (xorshift) for the property and fuzz tests.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn fast_path_gives_the_general_result() {
    let mut rng = Rng(77);
    let base = eth(0x0800, &inner4());
    for _ in 0..50000 {
        let mut f = base.clone();
        for _ in 0..rng.below(3) {
            let i = 12 + rng.below(48); // Ethernet type .. TCP header
            f[i] = if rng.below(2) == 0 {
                rng.next() as u8
            } else {
                f[i] ^ (1 << rng.below(8))
            };
        }
        f.truncate(f.len() - rng.below(80));
        let (mut a, mut b) = (Counts::default(), Counts::default());
        let fast = decode(1, &f, &mut a);
        let general = super::decode::ether_general(&f, &mut b);
        assert_eq!(fast, general);
        assert_eq!(a, b);
    }
}

#[test]
fn decode_never_panics_on_mutated_frames() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let base = cases();
    for _ in 0..20000 {
        let (_, lt, f) = &base[rng.below(base.len())];
        let mut f = f.clone();
        for _ in 0..1 + rng.below(6) {
            let i = rng.below(f.len());
            f[i] = rng.next() as u8;
        }
        f.truncate(rng.below(f.len() + 1).max(f.len() / 2));
        let lt = if rng.below(10) == 0 {
            rng.below(300) as u32
        } else {
            *lt
        };
        let mut c = Counts::default();
        let s = decode(lt, &f, &mut c);
        let counted: u64 = c
            .items()
            .iter()
            .map(|(k, v)| if *k == "tunnel" { 0 } else { *v })
            .sum();
        assert_eq!(counted, u64::from(s.is_none()));
    }
}

// ------------------------------------------------------------------ files

/// `pcapgen.write_pcap`: (ts, data) frames; micro or nano, either byte order.
fn pcap_bytes(frames: &[(u32, u32, Vec<u8>)], nanos: bool, big: bool, linktype: u32) -> Vec<u8> {
    let w32 = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = Vec::new();
    out.extend_from_slice(&w32(if nanos { 0xA1B2_3C4D } else { 0xA1B2_C3D4 }));
    out.extend_from_slice(&w16(2));
    out.extend_from_slice(&w16(4));
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&w32(65535));
    out.extend_from_slice(&w32(linktype));
    for (sec, frac, d) in frames {
        for v in [*sec, *frac, d.len() as u32, d.len() as u32] {
            out.extend_from_slice(&w32(v));
        }
        out.extend_from_slice(d);
    }
    out
}

fn flow() -> Vec<(u32, u32, Vec<u8>)> {
    (0..20u32)
        .map(|i| {
            (
                1_700_000_000 + i,
                i * 12345,
                eth(
                    0x0800,
                    &ip4(A, B, 6, 0, &tcp(&vec![i as u8; i as usize * 50])),
                ),
            )
        })
        .collect()
}

/// (num, ts, linktype, data, wirelen)
type Owned = (u64, f64, u32, Vec<u8>, u32);

fn read(data: Vec<u8>) -> (Vec<Owned>, FrameReader) {
    let mut r = FrameReader::from_bytes("mem", data).expect("a capture");
    let mut out = Vec::new();
    while let Some(f) = r.next_frame() {
        out.push((f.num, f.ts, f.linktype, f.data.to_vec(), f.wirelen));
    }
    (out, r)
}

#[test]
fn pcap_resolutions_and_byte_orders() {
    let frames = flow();
    for (nanos, big) in [(false, false), (true, false), (false, true), (true, true)] {
        let (got, r) = read(pcap_bytes(&frames, nanos, big, 1));
        assert_eq!(got.len(), frames.len());
        let scale = if nanos { 1e-9 } else { 1e-6 };
        for (g, f) in got.iter().zip(&frames) {
            assert_eq!(g.3, f.2);
            assert_eq!(g.1, f64::from(f.0) + f64::from(f.1) * scale);
        }
        assert_eq!(r.stats.format, "pcap");
        assert_eq!(r.stats.frames, 20);
        assert_eq!(r.stats.truncated, None);
        assert_eq!(
            r.stats.linktypes.iter().copied().collect::<Vec<_>>(),
            vec![1]
        );
    }
}

fn ng_block(btype: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    while !body.len().is_multiple_of(4) {
        body.push(0);
    }
    let n = (12 + body.len()) as u32;
    cat(&[
        &btype.to_le_bytes(),
        &n.to_le_bytes(),
        &body,
        &n.to_le_bytes(),
    ])
}

fn shb() -> Vec<u8> {
    ng_block(
        0x0A0D_0D0A,
        &cat(&[
            &0x1A2B_3C4Du32.to_le_bytes(),
            &[1, 0, 0, 0],
            &(-1i64).to_le_bytes(),
        ]),
    )
}

fn idb(linktype: u16, snap: u32, tsresol: Option<u8>, offset: Option<i64>) -> Vec<u8> {
    let mut body = cat(&[&linktype.to_le_bytes(), &[0, 0], &snap.to_le_bytes()]);
    if let Some(r) = tsresol {
        body.extend_from_slice(&[9, 0, 1, 0, r, 0, 0, 0]);
    }
    if let Some(o) = offset {
        body.extend_from_slice(&[14, 0, 8, 0]);
        body.extend_from_slice(&o.to_le_bytes());
    }
    body.extend_from_slice(&[0, 0, 0, 0]);
    ng_block(1, &body)
}

fn epb(iface: u32, ticks: u64, data: &[u8], orig: u32) -> Vec<u8> {
    let hdr = cat(&[
        &iface.to_le_bytes(),
        &((ticks >> 32) as u32).to_le_bytes(),
        &(ticks as u32).to_le_bytes(),
        &(data.len() as u32).to_le_bytes(),
        &orig.to_le_bytes(),
    ]);
    ng_block(6, &cat(&[&hdr, data]))
}

#[test]
fn pcapng_interfaces_with_own_linktype_and_resolution() {
    let frames = flow();
    let mut blocks = cat(&[
        &shb(),
        &idb(1, 65535, Some(6), None),
        &idb(101, 65535, Some(0x80 | 20), None),
    ]);
    let mut want = Vec::new();
    for (i, (sec, frac, d)) in frames.iter().enumerate() {
        let ts = f64::from(*sec) + f64::from(*frac) * 1e-6;
        if i % 2 == 0 {
            let ticks = u64::from(*sec) * 1_000_000 + u64::from(*frac);
            blocks.extend(epb(0, ticks, d, d.len() as u32));
            want.push((1u32, d.clone(), ts));
        } else {
            let ticks = (ts * f64::from(1u32 << 20)) as u64;
            blocks.extend(epb(1, ticks, &d[14..], d.len() as u32 - 14));
            let t = (ticks >> 20) as f64 + (ticks & 0xFFFFF) as f64 * 2f64.powi(-20);
            want.push((101, d[14..].to_vec(), t));
        }
    }
    let (got, r) = read(blocks);
    assert_eq!(
        r.stats.linktypes.iter().copied().collect::<Vec<_>>(),
        vec![1, 101]
    );
    assert_eq!(r.stats.format, "pcapng");
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((g.2, &g.3, g.1), (w.0, &w.1, w.2));
        assert!((g.1 - w.2).abs() < 1e-5);
    }
}

#[test]
fn pcapng_extreme_resolutions_offsets_and_range() {
    // 10^-127 and 2^-127 s ticks (ticks // per == 0), an offset, and a far-future stamp.
    let d = eth(0x0800, &inner4());
    let blocks = cat(&[
        &shb(),
        &idb(1, 0, Some(127), Some(3600)),
        &idb(1, 0, Some(0x80 | 127), Some(-7200)),
        &idb(1, 0, Some(0), None),
        &epb(0, u64::MAX, &d, 9999),
        &epb(1, 5, &d, 1),
        &epb(2, 1_700_000_000, &d, 1),
        &epb(2, 300_000_000_000, &d, 1),
    ]);
    let (got, r) = read(blocks);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].1, (u64::MAX as f64) * 10f64.powf(-127.0) + 3600.0);
    assert_eq!(got[1].1, 5.0 * 2f64.powf(-127.0) - 7200.0);
    assert_eq!(got[2].1, 1_700_000_000.0);
    assert_eq!(r.stats.snapped, 1);
    assert_eq!(
        r.stats.truncated.as_deref(),
        Some("corrupt data: packet after frame 3 is timestamped 3e+11 s from 1970, outside years 1..9999")
    );
}

#[test]
fn pow10_matches_cpython() {
    // CRC-32 of the little-endian bits of CPython's 10.0 ** -i for i in 0..=127.
    let mut crc = flate2::Crc::new();
    for i in 0..=127u8 {
        crc.update(&10f64.powf(-f64::from(i)).to_bits().to_le_bytes());
    }
    assert_eq!(crc.sum(), 0x0cff_77d7);
}

#[test]
fn pcapng_simple_and_obsolete_packet_blocks() {
    let d = eth(0x0800, &inner4());
    let spb = |orig: u32, data: &[u8]| ng_block(3, &cat(&[&orig.to_le_bytes(), data]));
    let pb = cat(&[
        &0u16.to_le_bytes(),
        &0u16.to_le_bytes(),
        &0u32.to_le_bytes(),
        &7u32.to_le_bytes(),
        &(d.len() as u32).to_le_bytes(),
        &(d.len() as u32).to_le_bytes(),
        &d,
    ]);
    let blocks = cat(&[
        &shb(),
        &idb(1, 60, None, None),
        &spb(d.len() as u32, &d),
        &ng_block(3, &[]),
        &ng_block(2, &pb),
    ]);
    let (got, r) = read(blocks);
    assert_eq!(got.len(), 3);
    assert_eq!(
        (got[0].1, got[0].3.len(), got[0].4),
        (0.0, 60, d.len() as u32)
    ); // snaplen caps SPB data
    assert_eq!(got[1].3.len(), 0); // a 12-byte SPB: no data
    assert_eq!(got[2].1, 7.0 * 1e-6);
    assert_eq!(r.stats.snapped, 0);
    assert_eq!(r.stats.truncated, None);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzip_compressed() {
    let plain = pcap_bytes(&flow(), false, false, 1);
    let (a, ra) = read(plain.clone());
    let (b, rb) = read(gzip(&plain));
    assert_eq!(
        a.iter().map(|f| &f.3).collect::<Vec<_>>(),
        b.iter().map(|f| &f.3).collect::<Vec<_>>()
    );
    assert_eq!(rb.stats.format, "gzip pcap");
    assert_eq!(rb.stats.bytes_read, ra.stats.bytes_read); // decompressed bytes, as Python counts them
}

#[test]
fn truncated_gzip_reports_cut() {
    let gz = gzip(&pcap_bytes(&flow(), false, false, 1));
    let (_, r) = read(gz[..gz.len() / 2].to_vec());
    assert_eq!(
        r.stats.truncated.as_deref(),
        Some("gzip stream ends early: Compressed file ended before the end-of-stream marker was reached")
    );
    let mut bad = gz.clone();
    let n = bad.len();
    bad[n - 8] ^= 0xFF;
    let (_, r) = read(bad);
    assert!(r
        .stats
        .truncated
        .unwrap()
        .starts_with("corrupt data: gzip data is corrupt: CRC check failed 0x"));
}

#[test]
fn not_a_capture() {
    let msg = |d: &[u8]| {
        FrameReader::from_bytes("bad", d.to_vec())
            .err()
            .map(|e| e.0)
    };
    assert_eq!(msg(b"").as_deref(), Some("bad: empty file, not a capture"));
    assert_eq!(
        msg(b"hello world, not a capture").as_deref(),
        Some("bad: not a pcap or pcapng capture (starts with 68656c6c)")
    );
    assert_eq!(
        msg(b"\x1f\x8bnot gzip at all").as_deref(),
        Some("bad: gzip data is corrupt: Unknown compression method")
    );
    assert_eq!(
        msg(b"\x1f\x8b\x08").as_deref(),
        Some("bad: gzip stream ends early: Compressed file ended before the end-of-stream marker was reached")
    );
    assert_eq!(
        msg(&gzip(b"")).as_deref(),
        Some("bad: empty file, not a capture")
    );
}

#[test]
fn missing_and_directory() {
    let dir = std::env::temp_dir();
    let missing = dir.join("pcaptls-capture-test-nope.pcap");
    let m = missing.to_str().unwrap();
    assert_eq!(
        FrameReader::open(m).err().unwrap().0,
        format!("{m}: no such file")
    );
    let d = dir.to_str().unwrap();
    assert_eq!(
        FrameReader::open(d).err().unwrap().0,
        format!("{d}: is a directory, not a capture file")
    );
}

#[test]
fn open_reads_a_file_like_from_bytes() {
    let data = pcap_bytes(&flow(), true, true, 1);
    let p = std::env::temp_dir().join(format!("pcaptls-capture-test-{}.pcap", std::process::id()));
    std::fs::write(&p, &data).unwrap();
    let mut r = FrameReader::open(p.to_str().unwrap()).unwrap();
    let mut n = 0;
    while r.next_frame().is_some() {
        n += 1;
    }
    std::fs::remove_file(&p).unwrap();
    assert_eq!(
        (n, r.stats.bytes_read, r.stats.truncated.clone()),
        (20, data.len() as u64, None)
    );
}

#[test]
fn truncated_pcap_keeps_frames_before_cut() {
    let data = pcap_bytes(&flow(), false, false, 1);
    let (whole, _) = read(data.clone());
    for cut in [data.len() - 1, data.len() - 30, 24 + 16 + 5, 24 + 5, 10] {
        let (got, r) = read(data[..cut].to_vec());
        let t = r.stats.truncated.clone().unwrap();
        assert!(t.contains("cut") || t.contains("needs 24 bytes"), "{t}");
        assert_eq!(
            got.iter().map(|f| &f.3).collect::<Vec<_>>(),
            whole[..got.len()].iter().map(|f| &f.3).collect::<Vec<_>>()
        );
    }
    let (_, r) = read(data[..24 + 16 + 5].to_vec());
    assert_eq!(
        r.stats.truncated.as_deref(),
        Some("frame 1 cut: 5 of 54 bytes present")
    );
    let (_, r) = read(data[..24 + 5].to_vec());
    assert_eq!(
        r.stats.truncated.as_deref(),
        Some("record header cut after frame 0 (5 of 16 bytes)")
    );
    let (_, r) = read(data[..10].to_vec());
    assert_eq!(
        r.stats.truncated.as_deref(),
        Some("pcap file header needs 24 bytes, file has 10")
    );
}

#[test]
fn absurd_record_length_is_malformed() {
    let mut data = pcap_bytes(&flow(), false, false, 1);
    data[24 + 8..24 + 12].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    let (got, r) = read(data);
    assert!(got.is_empty());
    assert_eq!(
        r.stats.truncated.as_deref(),
        Some("corrupt data: frame 1 claims 2147483647 bytes (corrupt record header)")
    );
}

#[test]
fn fuzz_reader_random_truncated_and_corrupted() {
    let mut rng = Rng(12345);
    let base = pcap_bytes(
        &[(0, 0, eth(0x0800, &ip4(A, B, 6, 0, &tcp(&[b'x'; 3000]))))],
        false,
        false,
        1,
    );
    let ng = cat(&[
        &shb(),
        &idb(1, 0, Some(9), None),
        &epb(0, 77, &[1, 2, 3], 3),
    ]);
    let gz = gzip(&base);
    for i in 0..4000 {
        let blob: Vec<u8> = match i % 4 {
            0 => {
                let head: &[u8] = if rng.below(2) == 0 {
                    b"\xd4\xc3\xb2\xa1"
                } else {
                    b"\x0a\x0d\x0d\x0a"
                };
                let n = rng.below(400);
                cat(&[head, &(0..n).map(|_| rng.next() as u8).collect::<Vec<_>>()])
            }
            1 => base[..rng.below(2000).min(base.len())].to_vec(),
            2 => {
                let mut b = if rng.below(2) == 0 {
                    base.clone()
                } else {
                    ng.clone()
                };
                for _ in 0..1 + rng.below(8) {
                    let k = rng.below(b.len());
                    b[k] = rng.next() as u8;
                }
                b
            }
            _ => {
                let mut g = gz.clone();
                let k = 10 + rng.below(g.len() - 10);
                g[k] = rng.next() as u8;
                g
            }
        };
        if let Ok(mut r) = FrameReader::from_bytes("fuzz", blob) {
            let mut c = Counts::default();
            while let Some(f) = r.next_frame() {
                let _ = decode(f.linktype, f.data, &mut c);
            }
        }
    }
}
