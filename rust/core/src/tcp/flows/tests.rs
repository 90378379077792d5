//! FlowTable with a recording TLS double (the Python tests for this stage run whole captures;
//! these cover the same behaviours: port reuse, no SYN, who closed, linger, eviction).
use super::*;
use crate::model::{Anomaly, Role};

/// Records what reached it: side 0's and side 1's bytes ('?' for each lost byte), and calls.
struct Double {
    midstream: bool,
    bytes: [Vec<u8>; 2],
    settled: bool,
}

impl TlsLayer for Double {
    fn start(midstream: bool) -> Self {
        Double {
            midstream,
            bytes: [Vec::new(), Vec::new()],
            settled: false,
        }
    }
    fn data(&mut self, side: usize, chunk: &[u8], _t: f64, _frame: u64) {
        assert!(!self.settled);
        self.bytes[side].extend_from_slice(chunk);
    }
    fn gap(&mut self, side: usize, nbytes: u64, _t: Option<f64>) {
        assert!(!self.settled);
        self.bytes[side].extend(std::iter::repeat_n(b'?', nbytes as usize));
    }
    /// A side whose stream starts with 'X' is not TLS.
    fn state(&self, side: usize) -> State {
        if self.bytes[side].first() == Some(&b'X') {
            State::Ignore
        } else {
            State::Detect
        }
    }
    fn settle(&mut self) {
        self.settled = true;
    }
    fn reportable(&self) -> bool {
        self.bytes
            .iter()
            .any(|b| !b.is_empty() && b.first() != Some(&b'X'))
    }
    fn build(&mut self, tcp: TcpFacts) -> ConnResult {
        let TcpFacts {
            ends,
            start,
            end,
            first_frame,
            syn_side,
            close,
            close_frame,
            close_time,
            last_frame,
            anomalies: tcp_anomalies,
        } = tcp;
        let role = |s: u8| if s == 0 { Role::Client } else { Role::Server };
        ConnResult {
            client: ends[0],
            server: ends[1],
            start,
            end,
            first_frame,
            sni: Some(format!(
                "{}|{}|{}",
                String::from_utf8_lossy(&self.bytes[0]),
                String::from_utf8_lossy(&self.bytes[1]),
                if self.midstream { "mid" } else { "syn" }
            )),
            client_version: None,
            offered_versions: vec![],
            offered_ciphers: vec![],
            offered_groups: vec![],
            offered_sigalgs: vec![],
            alpn_offered: vec![],
            alpn: None,
            version_id: None,
            cipher_id: None,
            hello_retry: false,
            server_certs: vec![],
            client_certs: vec![],
            certificate_request: false,
            kex_group: None,
            alerts: vec![],
            handshake: vec![],
            closed_by: close.map(|c| role(c.0)),
            close_kind: close.map(|c| c.1),
            starttls: None,
            saw_syn: syn_side.is_some(),
            client_hello_seen: false,
            server_hello_seen: false,
            appdata: (0, 0),
            client_appdata_first: None,
            server_appdata_last: None,
            client_extensions: vec![],
            client_point_formats: vec![],
            client_hello_sslv2: false,
            server_legacy_version: None,
            server_extensions: vec![],
            session_id_echoed: false,
            ticket_offered: false,
            close_frame,
            close_time,
            last_frame,
            anomalies: tcp_anomalies
                .into_iter()
                .map(|a| Anomaly {
                    kind: a.kind,
                    detail: a.detail,
                    time: a.time,
                    sender: a.side.map(role),
                })
                .collect(),
            sealed: None,
        }
    }
}

type Table = FlowTable<Double>;

const C: [u8; 4] = [10, 0, 0, 1];
const S: [u8; 4] = [10, 0, 0, 2];

/// A segment from side `from` (0 = C:50000, 1 = S:443).
fn seg(from: u8, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Segment<'_> {
    let (src, sport, dst, dport) = if from == 0 {
        (C, 50000, S, 443)
    } else {
        (S, 443, C, 50000)
    };
    Segment {
        src: Ip::v4(&src),
        dst: Ip::v4(&dst),
        sport,
        dport,
        seq,
        ack,
        flags,
        payload,
        missing: 0,
    }
}

/// A whole connection: handshake, one exchange, FIN both ways (client first), last ACK.
fn flow(ft: &mut Table, t0: f64, isn: (u32, u32), frame0: u64) {
    let (c, s) = isn;
    let segs = [
        seg(0, c, 0, SYN, b""),
        seg(1, s, c + 1, SYN | ACK, b""),
        seg(0, c + 1, s + 1, ACK, b""),
        seg(0, c + 1, s + 1, ACK, b"hello"),
        seg(1, s + 1, c + 6, ACK, b"world"),
        seg(0, c + 6, s + 6, FIN | ACK, b""),
        seg(1, s + 6, c + 7, FIN | ACK, b""),
        seg(0, c + 7, s + 7, ACK, b""),
    ];
    for (i, sg) in segs.iter().enumerate() {
        ft.segment(sg, t0 + i as f64 * 0.01, frame0 + i as u64);
    }
}

fn sni(r: &ConnResult) -> &str {
    r.sni.as_deref().unwrap_or("")
}

#[test]
fn port_reuse_starts_new_connection() {
    let mut ft = Table::with_layer(1);
    flow(&mut ft, 100.0, (100, 200), 1);
    assert!(ft.done.is_empty()); // settled, lingering
                                 // Same 4-tuple, new ISNs; reset by the server.
    ft.segment(&seg(0, 9000, 0, SYN, b""), 110.0, 20);
    ft.segment(&seg(1, 7000, 9001, SYN | ACK, b""), 110.01, 21);
    ft.segment(&seg(0, 9001, 7001, ACK, b"again"), 110.02, 22);
    ft.segment(&seg(1, 7001, 9006, RST | ACK, b""), 110.03, 23);
    ft.close_all();
    assert_eq!(ft.connections, 2);
    assert_eq!(ft.packets, 12);
    let [a, b] = &ft.done[..] else {
        panic!("{} results", ft.done.len())
    };
    assert!(a.start < b.start);
    assert_eq!(
        (a.closed_by, a.close_kind),
        (Some(Role::Client), Some(CloseKind::Fin))
    );
    assert_eq!(
        (b.closed_by, b.close_kind),
        (Some(Role::Server), Some(CloseKind::Rst))
    );
    assert_eq!(sni(a), "hello|world|syn");
    assert_eq!(sni(b), "again||syn");
    assert_eq!(a.end, 100.07); // the late ACK still moves `last`
    assert!(a.anomalies.is_empty() && b.anomalies.is_empty());
}

#[test]
fn syn_on_open_connection_is_reuse_only_with_new_isn_after_three_segments() {
    let mut ft = Table::with_layer(1);
    ft.segment(&seg(0, 100, 0, SYN, b""), 1.0, 1);
    ft.segment(&seg(1, 200, 101, SYN | ACK, b""), 2.0, 2);
    ft.segment(&seg(0, 555, 0, SYN, b""), 2.05, 3); // other ISN, but 2 segments so far
    ft.segment(&seg(0, 101, 201, ACK, b"hi"), 2.1, 4);
    ft.segment(&seg(0, 100, 0, SYN, b""), 2.15, 5); // 4 segments, same ISN: same connection
    assert_eq!(ft.connections, 1);
    ft.segment(&seg(0, 556, 0, SYN, b""), 2.3, 6); // 5 segments, other ISN: a new connection
    assert_eq!(ft.connections, 2);
    assert_eq!(ft.done.len(), 1);
    assert_eq!(sni(&ft.done[0]), "hi||syn");
}

#[test]
fn capture_without_syn() {
    let mut ft = Table::with_layer(1);
    ft.segment(&seg(1, 5000, 700, ACK, b"srv"), 3.0, 1);
    ft.segment(&seg(0, 700, 5003, ACK, b"cli"), 3.5, 2);
    ft.close_all();
    let [r] = &ft.done[..] else { panic!() };
    // Side 0 is the sender of the first segment seen, whoever it is.
    assert_eq!(r.client.1, 443);
    assert_eq!(sni(r), "srv|cli|mid");
    assert!(!r.saw_syn);
    assert_eq!(r.anomalies[0].kind, "no_syn");
    assert_eq!(
        r.anomalies[0].detail,
        "capture starts after the TCP handshake"
    );
    assert_eq!(r.anomalies[0].time, Some(3.0));
}

#[test]
fn syn_ack_seen_first_marks_the_peer_as_opener() {
    let mut ft = Table::with_layer(1);
    ft.segment(&seg(1, 200, 101, SYN | ACK, b""), 1.0, 1);
    ft.segment(&seg(0, 101, 201, ACK, b"abc"), 1.1, 2);
    ft.close_all();
    let [r] = &ft.done[..] else { panic!() };
    assert!(r.saw_syn);
    assert_eq!(sni(r), "|abc|syn");
}

#[test]
fn reset_for_unknown_connection_is_ignored() {
    let mut ft = Table::with_layer(1);
    ft.segment(&seg(0, 1, 0, RST, b""), 1.0, 1);
    ft.segment(&seg(0, 1, 0, RST | ACK, b""), 1.0, 2);
    assert_eq!((ft.packets, ft.connections, ft.entries()), (2, 0, 0));
    ft.segment(&seg(0, 1, 0, RST, b"x"), 1.0, 3); // with payload: a connection
                                                  // Opened; the RST closes it, but only a dead (not TLS) connection is retired at once.
    assert_eq!((ft.connections, ft.entries()), (1, 2));
}

#[test]
fn not_tls_both_ways_goes_dead_and_leaves_at_close() {
    let mut ft = Table::with_layer(1);
    ft.segment(&seg(0, 100, 0, SYN, b""), 1.0, 1);
    ft.segment(&seg(1, 200, 101, SYN | ACK, b""), 1.0, 2);
    ft.segment(&seg(0, 111, 201, ACK, b"later"), 1.0, 3); // waits behind a hole
    ft.segment(&seg(0, 101, 201, ACK, b"XXXXXXXXXX"), 1.0, 4);
    assert_eq!(ft.live(), 1);
    ft.segment(&seg(1, 201, 116, ACK, b"X"), 1.0, 5);
    let slot = ft
        .table
        .get(&Key {
            a: Ip::v4(&C),
            b: Ip::v4(&S),
            ap: 50000,
            bp: 443,
        })
        .unwrap()
        .0;
    let conn = ft.conn(slot).unwrap();
    assert!(conn.dead && conn.half[0].ooo.is_empty() && conn.half[0].ooo_bytes == 0);
    ft.segment(&seg(0, 116, 202, FIN | ACK, b""), 1.0, 6);
    assert_eq!(ft.live(), 1);
    ft.segment(&seg(1, 202, 117, FIN | ACK, b""), 1.0, 7);
    assert_eq!((ft.live(), ft.entries()), (0, 0)); // dead and closed: retired at once
    assert!(ft.done.is_empty()); // nothing to report
}

#[test]
fn closed_connections_linger_then_leave_unevicted() {
    let mut ft = Table::with_layer(1);
    flow(&mut ft, 0.0, (1, 2), 1);
    ft.sweep(30.0);
    assert_eq!(ft.live(), 1);
    ft.sweep(60.5);
    assert_eq!((ft.live(), ft.evicted, ft.done.len()), (0, 0, 1));
}

#[test]
fn idle_connections_are_evicted_at_sweep() {
    let mut ft = Table::with_layer(1);
    ft.segment(&seg(0, 1, 0, ACK, b"a"), 0.0, 1);
    ft.sweep(600.0);
    assert_eq!(ft.live(), 1);
    ft.sweep(600.5);
    assert_eq!((ft.live(), ft.evicted, ft.done.len()), (0, 1, 1));
}

#[test]
fn full_table_evicts_the_idlest_with_a_cap_anomaly() {
    // 100_000 shares: a cap of 2 connections (4 entries).
    let mut ft = Table::with_layer(100_000);
    let mk = |port: u16, t: f64, ft: &mut Table, frame: u64| {
        let s = Segment {
            sport: port,
            ..seg(0, 1, 0, ACK, b"z")
        };
        ft.segment(&s, t, frame);
    };
    mk(1, 5.0, &mut ft, 1);
    mk(2, 3.0, &mut ft, 2);
    mk(3, 9.0, &mut ft, 3); // evicts port 2 (idlest)
    assert_eq!((ft.live(), ft.evicted, ft.done.len()), (2, 1, 1));
    let r = &ft.done[0];
    assert_eq!(r.client.1, 2);
    let cap = r.anomalies.iter().find(|a| a.kind == "cap").unwrap();
    assert_eq!(
        cap.detail,
        "retired early: connection table full (200000 live connections); later packets of it start a new record"
    );
    assert_eq!(cap.time, Some(9.0));
    assert_eq!(r.anomalies[0].kind, "no_syn"); // inserted first
                                               // Ties on `last` go by opening order.
    mk(4, 1.0, &mut ft, 4); // port 1 (t 5) and port 3 (t 9): evicts port 1
    mk(5, 1.0, &mut ft, 5); // port 3 (t 9) and port 4 (t 1): evicts port 4
    mk(6, 1.0, &mut ft, 6); // port 3 (t 9), port 5 (t 1): evicts port 5
    let ports: Vec<u16> = ft.done.iter().map(|r| r.client.1).collect();
    assert_eq!(ports, vec![2, 1, 4, 5]);
    ft.close_all();
    let ports: Vec<u16> = ft.done.iter().map(|r| r.client.1).collect();
    assert_eq!(ports, vec![2, 1, 4, 5, 3, 6]);
    assert_eq!(ft.evicted, 4);
}

#[test]
fn close_all_finishes_in_opening_order_and_flushes_holes() {
    let mut ft = Table::with_layer(1);
    for port in [7u16, 3, 9] {
        let s = Segment {
            sport: port,
            ..seg(0, 10, 0, ACK, b"ab")
        };
        ft.segment(&s, 1.0, 1);
        let s = Segment {
            sport: port,
            ..seg(0, 15, 0, ACK, b"cd")
        };
        ft.segment(&s, 1.0, 2);
    }
    ft.close_all();
    let ports: Vec<u16> = ft.done.iter().map(|r| r.client.1).collect();
    assert_eq!(ports, vec![7, 3, 9]);
    assert_eq!(sni(&ft.done[0]), "ab???cd||mid");
}

#[test]
fn peer_ack_past_a_hole_reports_a_gap() {
    let mut ft = Table::with_layer(1);
    ft.segment(&seg(0, 100, 0, SYN, b""), 1.0, 1);
    ft.segment(&seg(1, 200, 101, SYN | ACK, b""), 1.0, 2);
    ft.segment(&seg(0, 101, 201, ACK, b"ab"), 1.0, 3);
    ft.segment(&seg(0, 106, 201, ACK, b"fg"), 1.0, 4);
    ft.segment(&seg(1, 201, 108, ACK, b""), 1.0, 5);
    ft.segment(&seg(0, 101, 201, ACK, b"ab"), 1.0, 6); // retransmission
    ft.close_all();
    let r = &ft.done[0];
    assert_eq!(sni(r), "ab???fg||syn");
    let a = &r.anomalies[0];
    assert_eq!(
        (a.kind, a.detail.as_str(), a.sender),
        (
            "retransmission",
            "1 retransmitted segments",
            Some(Role::Client)
        )
    );
}

#[test]
fn self_connection_is_never_listed() {
    let mut ft = Table::with_layer(1);
    let s = Segment {
        dst: Ip::v4(&C),
        dport: 50000,
        ..seg(0, 1, 0, ACK, b"me")
    };
    ft.segment(&s, 1.0, 1);
    ft.segment(&Segment { seq: 3, ..s }, 1.0, 2);
    assert_eq!((ft.entries(), ft.live()), (1, 1));
    ft.sweep(10_000.0);
    ft.close_all();
    assert!(ft.done.is_empty()); // as in Python: its only entry is side 1, which _conns() skips
    assert_eq!(ft.evicted, 0);
}

#[test]
fn settle_keeps_result_until_linger() {
    let mut ft = Table::with_layer(1);
    flow(&mut ft, 0.0, (1, 2), 1);
    let slot = ft.table.values().next().unwrap().0;
    let conn = ft.conn(slot).unwrap();
    assert!(conn.dead && conn.tls.as_ref().unwrap().settled);
    // A FIN sent again (or a late RST) on a settled connection is part of it: it stays for
    // its linger, so the next copy cannot open a phantom connection (issue 14).
    ft.segment(&seg(1, 8, 9, FIN | ACK, b""), 0.2, 10);
    ft.segment(&seg(1, 8, 9, FIN | ACK, b""), 0.6, 11);
    assert_eq!((ft.live(), ft.done.len()), (1, 0));
    ft.sweep(0.6 + CLOSED_LINGER + 1.0);
    assert_eq!((ft.live(), ft.done.len()), (0, 1));
}

#[test]
fn quiet_closed_connection_is_handed_on_at_the_sweep_after_close_delay() {
    let mut ft = Table::with_layer(1);
    flow(&mut ft, 0.0, (1, 2), 1); // its last packet at 0.07 s
    ft.sweep(0.07 + CLOSE_DELAY - 0.5);
    assert_eq!((ft.live(), ft.done.len()), (1, 0)); // not quiet long enough
    ft.sweep(0.07 + CLOSE_DELAY + 0.5);
    assert_eq!((ft.live(), ft.done.len()), (1, 1)); // handed on, still in the table
    assert_eq!(ft.done[0].end, 0.07);
    // A FIN sent again is absorbed: no phantom, nothing reported twice.
    ft.segment(&seg(1, 8, 9, FIN | ACK, b""), 7.0, 20);
    ft.segment(&seg(1, 8, 9, FIN | ACK, b"late"), 7.5, 21);
    ft.sweep(7.5 + CLOSED_LINGER + 1.0);
    ft.close_all();
    assert_eq!((ft.live(), ft.done.len()), (0, 1));
}

#[test]
fn late_packet_hands_on_without_a_sweep() {
    // The record ends at the last packet before a CLOSE_DELAY silence whether or not a sweep
    // came between: the late packet itself hands it on first.
    let mut ft = Table::with_layer(1);
    flow(&mut ft, 0.0, (1, 2), 1);
    ft.segment(&seg(1, 8, 9, FIN | ACK, b""), 1.0, 20); // within the delay: part of the record
    ft.segment(&seg(1, 8, 9, FIN | ACK, b""), 1.0 + CLOSE_DELAY + 0.1, 21);
    assert_eq!(ft.done.len(), 1);
    assert_eq!((ft.done[0].end, ft.done[0].last_frame), (1.0, 20));
    ft.close_all();
    assert_eq!(ft.done.len(), 1);
}

/// SYN, SYN-ACK, then the client's `data` (ISNs 1 and 2; frames 1-3, 10 ms apart).
fn opened(ft: &mut Table, data: &[u8]) {
    ft.segment(&seg(0, 1, 0, SYN, b""), 0.0, 1);
    ft.segment(&seg(1, 2, 2, SYN | ACK, b""), 0.01, 2);
    ft.segment(&seg(0, 2, 3, ACK, data), 0.02, 3);
}

#[test]
fn connection_waiting_behind_a_hole_is_not_handed_on_early() {
    let mut ft = Table::with_layer(1);
    opened(&mut ft, b"ab");
    ft.segment(&seg(0, 6, 3, ACK, b"ef"), 0.03, 4); // "cd" is missing
    ft.segment(&seg(0, 8, 3, RST, b""), 0.04, 5);
    ft.sweep(0.04 + CLOSE_DELAY + 1.0);
    assert_eq!(ft.done.len(), 0); // the hole may still be filled: it waits for its linger
    ft.sweep(0.04 + CLOSED_LINGER + 1.0);
    assert_eq!(ft.done.len(), 1);
}

#[test]
fn fin_then_reset_is_closed() {
    // A FIN from one side answered by a RST: closed (before, only FIN both ways or a RST first
    // counted, so such a connection waited for IDLE_TIMEOUT and was counted as evicted).
    let mut ft = Table::with_layer(1);
    opened(&mut ft, b"hi");
    ft.segment(&seg(0, 4, 3, FIN | ACK, b""), 0.03, 4);
    ft.segment(&seg(1, 3, 5, RST, b""), 0.04, 5);
    ft.sweep(0.04 + CLOSE_DELAY + 1.0);
    assert_eq!(ft.done.len(), 1);
    assert_eq!(ft.done[0].close_kind, Some(CloseKind::Fin)); // the first close is the one told
    // A SYN on the same 4-tuple, even with the same ISN, starts a new connection.
    ft.segment(&seg(0, 1, 0, SYN, b""), 10.0, 6);
    ft.segment(&seg(0, 2, 3, ACK, b"again"), 10.02, 7);
    ft.sweep(10.02 + CLOSED_LINGER + 1.0);
    ft.close_all();
    assert_eq!((ft.done.len(), ft.evicted), (2, 0));
}

#[test]
fn connection_state_is_small() {
    let conn = std::mem::size_of::<Connection<Tls>>();
    let half = std::mem::size_of::<HalfStream>();
    eprintln!("Connection: {conn} bytes, HalfStream: {half} bytes");
    // 320 until issue 20 added the close's frame and time and the last packet's frame (24 bytes).
    assert!(conn <= 328, "{conn}");
}
