//! Byte streams -> TLS records -> handshake messages -> one `ConnResult` (`pcaptls/tls` in Python).
//!
//! `Tls` is the interface the TCP stage uses; `records` (RecordReader), `session` (TlsSession),
//! `handshake` (message parsers) and `reader` (the bounds-checked Reader) mirror the Python
//! modules of the same names.
#![forbid(unsafe_code)]

pub mod constants;
pub mod handshake;
pub mod reader;
pub mod records;
pub mod sealed;
pub mod session;

use crate::model::{ConnResult, TcpFacts};
use records::RecordReader;
use session::Session;

/// Reader states (`pcaptls.tls.records`): the TCP stage looks at IGNORE.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    Detect,
    Records,
    Resync,
    Ignore,
    Sslv2,
}

/// One connection's TLS layer: the two directions' record readers and the session they report to
/// (`RecordReader` x 2 + `TlsSession` in Python). Made when the connection's first payload arrives.
pub struct Tls {
    readers: [RecordReader; 2],
    session: Session,
}

impl Tls {
    /// `midstream`: the capture started after the TCP handshake (readers start resynchronising).
    pub fn new(midstream: bool) -> Tls {
        Tls {
            readers: [
                RecordReader::new(0, midstream),
                RecordReader::new(1, midstream),
            ],
            session: Session::new(),
        }
    }

    /// Copy encrypted records for a key log from now on (`TlsSession(..., sealed=True)`).
    pub fn keep_sealed(&mut self) {
        self.session.sealed = Some(Box::new(sealed::SealedLog::new()));
    }

    /// In-order bytes of direction `side` (0/1) that arrived in `frame` at time `t`
    /// (`RecordReader.data`).
    pub fn data(&mut self, side: usize, chunk: &[u8], t: f64, frame: u64) {
        if let Some(r) = self.readers.get_mut(side) {
            r.data(&mut self.session, chunk, t, frame);
        }
    }

    /// `nbytes` of direction `side` were not captured (`RecordReader.gap`).
    pub fn gap(&mut self, side: usize, nbytes: u64, t: Option<f64>) {
        if let Some(r) = self.readers.get_mut(side) {
            r.gap(&mut self.session, nbytes, t);
        }
    }

    /// The reader state of direction `side`.
    pub fn state(&self, side: usize) -> State {
        self.readers.get(side).map_or(State::Ignore, |r| r.state)
    }

    /// Both sides are done with TCP data (`Connection.settle`): drop the readers' buffers; the
    /// facts stay for `build`. No more `data`/`gap` calls follow.
    pub fn settle(&mut self) {
        for r in &mut self.readers {
            r.release();
        }
    }

    /// Is there anything to report (`s.tls and (s.events or s.alerts or s.certs)`)?
    pub fn reportable(&self) -> bool {
        self.session.reportable()
    }

    /// Was TLS found on either side (`TlsSession.tls`)?
    pub fn seen_tls(&self) -> bool {
        self.session.tls
    }

    /// The record reader of direction `side` (for tests and the TCP stage's diagnostics).
    pub fn reader(&self, side: usize) -> Option<&RecordReader> {
        self.readers.get(side)
    }

    /// The session's collected facts (for tests).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The finished record (`TlsSession.build`); `ends` are side 0's and side 1's endpoints,
    /// `tcp_anomalies` come first, as in Python.
    pub fn build(&mut self, tcp: TcpFacts) -> ConnResult {
        self.session.build(tcp)
    }
}

/// Mirrors `tests/tls/test_records.py` (same inputs: the real OpenSSL byte streams that
/// `tests/pcapgen.py` made, kept in `testdata/` by `tests_py/make_tls_fixtures.py`).
#[cfg(test)]
mod tests {
    use super::records::{DETECT_LIMIT, MAX_HANDSHAKE};
    use super::*;
    use crate::model::{CloseKind, HandshakeEvent, Ip, Role};

    type Wire = Vec<(usize, Vec<u8>)>;

    /// `[kind u8][side u8][len u32 BE][bytes]`: kind 0 a wire chunk, 1 a DER certificate.
    fn load(raw: &[u8]) -> (Wire, Vec<Vec<u8>>) {
        let (mut wire, mut chain) = (Vec::new(), Vec::new());
        let mut p = 0;
        while p + 6 <= raw.len() {
            let n = u32::from_be_bytes([raw[p + 2], raw[p + 3], raw[p + 4], raw[p + 5]]) as usize;
            let data = raw[p + 6..p + 6 + n].to_vec();
            if raw[p] == 0 {
                wire.push((usize::from(raw[p + 1]), data));
            } else {
                chain.push(data);
            }
            p += 6 + n;
        }
        (wire, chain)
    }

    fn tls12() -> (Wire, Vec<Vec<u8>>) {
        load(include_bytes!("testdata/tls12.bin"))
    }

    /// The TCP facts of the test connection: SYN side, close, time of the last packet.
    fn facts(syn_side: Option<u8>, close: Option<(u8, CloseKind)>, end: f64) -> TcpFacts {
        TcpFacts {
            ends: ends(),
            start: 0.0,
            end,
            first_frame: 1,
            syn_side,
            close,
            close_frame: close.map(|_| 2),
            close_time: close.map(|_| end),
            last_frame: 2,
            anomalies: vec![],
        }
    }

    fn ends() -> [(Ip, u16); 2] {
        [
            (Ip::v4(&[10, 0, 0, 1]), 50000),
            (Ip::v4(&[10, 0, 0, 2]), 443),
        ]
    }

    fn run(wire: &Wire, step: Option<usize>, prefix: (&[u8], &[u8])) -> ConnResult {
        let mut s = Tls::new(false);
        for (side, p) in [(0, prefix.0), (1, prefix.1)] {
            if !p.is_empty() {
                s.data(side, p, 0.0, 1);
            }
        }
        for (i, (side, data)) in wire.iter().enumerate() {
            match step {
                None => s.data(*side, data, i as f64, i as u64 + 1),
                Some(step) => {
                    for c in data.chunks(step) {
                        s.data(*side, c, i as f64, i as u64 + 1);
                    }
                }
            }
        }
        s.build(facts(Some(0), None, 1.0))
    }

    fn is_tls13(c: &ConnResult) -> bool {
        c.version_id.is_some_and(super::constants::is_tls13)
    }

    fn fatal(c: &ConnResult) -> Option<&crate::model::Alert> {
        c.alerts.iter().find(|a| a.level == Some(2) && !a.encrypted)
    }

    /// `TlsConnection.status`
    fn status(c: &ConnResult) -> &'static str {
        if fatal(c).is_some() {
            return "failed";
        }
        let done = c.server_hello_seen
            && if is_tls13(c) {
                c.appdata.0 >= 2
                    || matches!((c.client_appdata_first, c.server_appdata_last), (Some(f), Some(l)) if l > f)
            } else {
                let ccs: Vec<Role> = c
                    .handshake
                    .iter()
                    .filter(|e| e.htype == -1)
                    .map(|e| e.sender)
                    .collect();
                (ccs.contains(&Role::Client) && ccs.contains(&Role::Server))
                    || (c.appdata.0 > 0 && c.appdata.1 > 0)
            };
        if done {
            "ok"
        } else if c.closed_by.is_some() {
            "failed"
        } else {
            "incomplete"
        }
    }

    fn is_ecdhe(code: u32) -> bool {
        // TLS_ECDHE_* suites OpenSSL offers: 0xC0xx and the ChaCha20 ones 0xCCA8/0xCCA9.
        (0xC009..=0xC030).contains(&code) || code == 0xCCA8 || code == 0xCCA9
    }

    #[test]
    fn real_tls12_handshake_any_chunking() {
        let (wire, chain) = tls12();
        for step in [None, Some(1), Some(7), Some(1460)] {
            let c = run(&wire, step, (b"", b""));
            assert_eq!(c.sni.as_deref(), Some("records.example.com"));
            assert_eq!(c.version_id, Some(0x0303));
            assert!(c.cipher_id.is_some_and(is_ecdhe));
            assert_eq!(c.server_certs, chain);
            assert!(c.certificate_request);
            assert_eq!(status(&c), "ok");
            let server: Vec<i32> = c
                .handshake
                .iter()
                .filter(|e| e.sender == Role::Server)
                .map(|e: &HandshakeEvent| e.htype)
                .collect();
            assert_eq!(server[..3], [2, 11, 12]);
        }
    }

    #[test]
    fn trailing_and_starttls_plaintext() {
        let (wire, _) = tls12();
        let prefix: (&[u8], &[u8]) = (
            b"EHLO me\r\nSTARTTLS\r\n",
            b"220 mx ESMTP\r\n250-STARTTLS\r\n220 Ready to start TLS\r\n",
        );
        let c = run(&wire, Some(5), prefix);
        assert_eq!(c.starttls, Some("smtp"));
        assert_eq!(c.sni.as_deref(), Some("records.example.com"));
        assert_eq!(status(&c), "ok");
    }

    #[test]
    fn tls13_certificates_not_visible() {
        let (wire, _) = load(include_bytes!("testdata/tls13.bin"));
        let c = run(&wire, Some(3), (b"", b""));
        assert_eq!(c.version_id, Some(0x0304));
        assert!(c.server_certs.is_empty() && is_tls13(&c));
        assert_eq!(status(&c), "ok");
    }

    #[test]
    fn rejected_self_signed_gives_client_unknown_ca() {
        let (wire, _) = load(include_bytes!("testdata/rejected12.bin"));
        let c = run(&wire, None, (b"", b""));
        let a = fatal(&c).expect("fatal alert");
        assert_eq!((a.sender, a.code), (Role::Client, Some(48))); // unknown_ca
        assert_eq!(status(&c), "failed");
    }

    #[test]
    fn gap_inside_application_data_is_harmless() {
        let (wire, _) = tls12();
        let mut s = Tls::new(false);
        for (i, (side, data)) in wire.iter().enumerate() {
            if data.len() > 20000 {
                s.data(*side, &data[..5000], 0.0, i as u64);
                s.gap(*side, 100, Some(0.0));
                s.data(*side, &data[5100..], 0.0, i as u64);
            } else {
                s.data(*side, data, 0.0, i as u64);
            }
        }
        let c = s.build(facts(Some(0), None, 1.0));
        assert_eq!(status(&c), "ok");
        assert!(!c.anomalies.iter().any(|a| a.kind == "desync"));
    }

    #[test]
    fn gap_in_handshake_resyncs() {
        let (wire, _) = tls12();
        let mut s = Tls::new(false);
        for (i, (side, data)) in wire.iter().enumerate() {
            if *side == 1 && i == 1 {
                s.data(*side, &data[..300], 0.0, i as u64);
                s.gap(*side, (data.len() - 300) as u64, Some(0.0));
            } else {
                s.data(*side, data, 0.0, i as u64);
            }
        }
        let c = s.build(facts(Some(0), None, 1.0));
        assert_eq!(c.version_id, Some(0x0303));
        assert!(c.server_certs.is_empty());
        assert!(c.anomalies.iter().any(|a| a.kind == "gap"));
        assert!(c
            .handshake
            .iter()
            .any(|e| e.sender == Role::Client && e.htype == 16));
    }

    #[test]
    fn plaintext_protocol_is_given_up_on() {
        let mut s = Tls::new(false);
        let line = b"GET / HTTP/1.1\r\n".repeat(62);
        for _ in 0..DETECT_LIMIT / 1000 + 2 {
            s.data(0, &line, 0.0, 1);
        }
        assert_eq!(s.state(0), State::Ignore);
        assert!(!s.seen_tls());
        assert!(s.reader(0).is_some_and(|r| r.buf.is_empty()));
    }

    #[test]
    fn huge_handshake_message_is_capped() {
        let mut s = Tls::new(false);
        let mut head = b"\x16\x03\x01\x40\x00\x01".to_vec();
        head.extend_from_slice(&((16u32 << 20) - 1).to_be_bytes()[1..]);
        head.extend_from_slice(b"\x03\x03");
        head.extend(std::iter::repeat_n(0u8, 0x4000 - 6));
        s.data(0, &head, 0.0, 1);
        let mut rec = b"\x16\x03\x01\x40\x00".to_vec();
        rec.extend(std::iter::repeat_n(0u8, 0x4000));
        for _ in 0..100 {
            s.data(0, &rec, 0.0, 2);
        }
        let r = s.reader(0).unwrap();
        assert!(r.hs.len() <= MAX_HANDSHAKE && r.buf.len() < 0x4000 + 5);
        assert!(s.session().anomalies.iter().any(|a| a.kind == "cap"));
    }

    /// `test_fuzz_session_random_bytes`, with a seeded generator instead of hypothesis.
    #[test]
    fn fuzz_session_random_bytes() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..3000 {
            let mut s = Tls::new(next() % 2 == 0);
            for _ in 0..next() % 20 {
                let side = (next() % 2) as usize;
                let n = (next() % 300) as usize;
                let data: Vec<u8> = (0..n)
                    .map(|_| match next() % 8 {
                        0 => 3,
                        1 => 0x16,
                        _ => next() as u8,
                    })
                    .collect();
                s.data(side, &data, 0.0, 1);
                if data.first() == Some(&0) {
                    s.gap(side, data.len() as u64, None);
                }
            }
            s.build(facts(None, None, 1.0));
        }
    }

    /// `test_fuzz_session_mutated_real_handshake`, seeded.
    #[test]
    fn fuzz_session_mutated_real_handshake() {
        let (wire, _) = tls12();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..500 {
            let mut s = Tls::new(next() % 2 == 0);
            for (side, chunk) in wire.iter().take(4) {
                let mut b = chunk.clone();
                for _ in 0..next() % 9 {
                    if !b.is_empty() {
                        let i = (next() % b.len() as u64) as usize;
                        b[i] = next() as u8;
                    }
                }
                let cut = (next() % (b.len() as u64 + 1)) as usize;
                s.data(*side, &b[..cut], 0.0, 1);
            }
            s.build(facts(Some(0), None, 1.0));
        }
    }

    #[test]
    fn tls13_rejection_is_a_failure_not_success() {
        let (wire, _) = load(include_bytes!("testdata/rejected13.bin"));
        let last_plain = wire.last().unwrap().1.clone();
        assert_eq!(last_plain[0], 0x15);
        let mut encrypted_alert = b"\x17\x03\x03\x00\x13".to_vec();
        encrypted_alert.extend([0u8; 19]);
        for (last, plain) in [(last_plain, true), (encrypted_alert, false)] {
            let mut s = Tls::new(false);
            let mut msgs: Vec<(usize, Vec<u8>)> = wire[..wire.len() - 1].to_vec();
            msgs.push((0, last));
            for (i, (side, data)) in msgs.iter().enumerate() {
                s.data(*side, data, i as f64, i as u64 + 1);
            }
            let c = s.build(facts(Some(0), Some((0, CloseKind::Fin)), 9.0));
            assert!(is_tls13(&c));
            assert_eq!(status(&c), "failed");
            if plain {
                assert_eq!(fatal(&c).map(|a| a.code), Some(Some(48))); // unknown_ca
            } else {
                // reason: "... likely a TLS 1.3 alert ..."
                assert!(fatal(&c).is_none() && c.closed_by.is_some() && c.appdata.0 == 1);
            }
        }
    }

    /// The desync -> resync chain is a loop here (Python recurses, and a long enough chain in
    /// one chunk raises RecursionError there): every link is reported, up to the cap.
    #[test]
    fn long_desync_chain_does_not_recurse() {
        let mut s = Tls::new(true);
        let pat = b"\x17\x03\x03\x00\x01A\x17\x03\x03\xff\xff".repeat(20_000);
        s.data(0, &pat, 0.0, 1);
        let c = s.build(facts(None, None, 1.0));
        let caps: Vec<&str> = c
            .anomalies
            .iter()
            .filter(|a| a.kind == "cap")
            .map(|a| a.detail.as_str())
            .collect();
        assert_eq!(caps, ["39967 more anomalies not kept (first 32 kept)"]);
        assert_eq!(c.appdata, (20_000, 0)); // side 0 has the higher port: the client
    }

    #[test]
    fn anomaly_texts() {
        let mut s = Tls::new(false);
        // A ClientHello whose cipher_suites vector claims 4 bytes but has 2.
        let mut body = vec![3, 3];
        body.extend([0u8; 32]);
        body.push(0); // session_id
        body.extend([0, 4, 0x13, 0x01]);
        let mut msg = vec![1, 0, 0, body.len() as u8];
        msg.extend(&body);
        let mut rec = vec![0x16, 3, 1, 0, msg.len() as u8];
        rec.extend(&msg);
        s.data(0, &rec, 1.5, 1);
        s.data(
            1,
            b"\x15\x03\x03\x00\x02\x02\x28\x17\x03\x03\x00\x01\x00\x99\x03\x03\x00\x00",
            2.0,
            2,
        );
        s.gap(1, 7, None);
        let c = s.build(facts(Some(0), None, 1.0));
        let got: Vec<(&str, &str, Option<Role>)> = c
            .anomalies
            .iter()
            .map(|a| (a.kind, a.detail.as_str(), a.sender))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "malformed",
                    "CLIENT_HELLO: cipher_suites: need 4 bytes at offset 37, have 2",
                    Some(Role::Client)
                ),
                (
                    "desync",
                    "bytes 9903030000 are not a TLS record header",
                    Some(Role::Server)
                ),
                (
                    "gap",
                    "7 bytes not captured; resynchronising on the next record",
                    Some(Role::Server)
                ),
            ]
        );
        assert_eq!(c.alerts.len(), 1);
        assert_eq!((c.alerts[0].level, c.alerts[0].code), (Some(2), Some(40)));
    }
}
